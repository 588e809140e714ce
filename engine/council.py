"""The council's domain tables, named after OParl 1.1 (see DOMAIN.md).

German words the users know stand next to the OParl names: Paper = Vorlage,
Consultation = Beratung (one step of the Beratungsfolge), Meeting = Sitzung,
AgendaItem = Tagesordnungspunkt (TOP), Organization = Gremium or Verwaltungsbereich.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.types import ascii_int, created_column, modified_column, utc_column
from engine.words import genitive

#: Ergebnis values of a Beratung, with their German labels (DOMAIN.md).
RESULTS: dict[str, str] = {
    "zur_kenntnis_genommen": "zur Kenntnis genommen",
    "empfohlen": "Beschlussempfehlung: zugestimmt",
    "geaendert_empfohlen": "Beschlussempfehlung: geändert zugestimmt",
    "nicht_empfohlen": "Beschlussempfehlung: abgelehnt",
    "beschlossen": "beschlossen",
    "geaendert_beschlossen": "geändert beschlossen",
    "abgelehnt": "abgelehnt",
    "vertagt": "vertagt",
    "verwiesen": "verwiesen",
    "zurueckgezogen": "zurückgezogen",
    # The Genehmigung of a Dringlichkeitsentscheidung (GO NRW § 60 Abs. 1) in the next session.
    "genehmigt": "Dringlichkeitsentscheidung genehmigt",
    "nicht_genehmigt": "Dringlichkeitsentscheidung nicht genehmigt",
}

#: What a refused Genehmigung means (GO NRW § 60 Abs. 1 S. 4), in words for every page.
URGENT_REFUSED_MEANS = ("Der Rat kann die Dringlichkeitsentscheidung aufheben, soweit nicht schon Rechte "
                        "anderer durch die Ausführung des Beschlusses entstanden sind (§ 60 Abs. 1 Satz 4 "
                        "GO NRW).")

#: Membership roles of the Hauptverwaltungsbeamte (Bürgermeister, Landrat, Verbandsvorsteher):
#: who decides a Dringlichkeitsentscheidung together with one member of the Gremium.
HEAD_ROLES = ("Bürgermeister", "Bürgermeisterin", "Oberbürgermeister", "Oberbürgermeisterin", "Landrat",
              "Landrätin", "Verbandsvorsteher", "Verbandsvorsteherin")

PAPER_TYPES = [
    "Standardvorlage",
    "Beschlussvorlage",
    "Mitteilungsvorlage",
    "Antrag",
    "Anfrage",
]

CONSULTATION_ROLES = [
    "Kenntnisnahme",
    "Vorberatung",
    "Entscheidung",
    "Anhörung",
    "Beschlussempfehlung",
]

#: Meeting.meeting_state values (OParl's meetingState) as far as the engine sets them.
MEETING_PLANNED = "terminiert"
MEETING_INVITED = "eingeladen"
MEETING_HELD = "durchgeführt"
MEETING_CANCELLED = "abgesagt"

#: Paper.status values.
PAPER_DRAFT = "Entwurf"
PAPER_IN_CONSULTATION = "in Beratung"
PAPER_DONE = "abgeschlossen"
PAPER_WITHDRAWN = "zurückgezogen"

# Roles a local account can be granted (the BPMN lane names the role of a human task).
ROLE_SECRETARIAT = "Sekretariat"
ROLE_CLERK = "Sachbearbeitung"
#: The head of a department's Dezernat, who releases its Vorlagen (bpmn/vorlage.bpmn, lane "Freigabe").
ROLE_RELEASE = "Freigabe"
ROLE_AUDITOR = "Revision"
ROLE_ADMIN = "Administration"


class Body(SQLModel, table=True):
    """Körperschaft: the council, Kreistag or Zweckverband."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    short_name: str | None = None
    website: str | None = None
    #: Bundesland as ISO 3166-2 subdivision code without "DE-" (NW, BY, BE …): its public
    #: holidays are not working days for the Ladungsfrist (``engine.calendar.deadlines``).
    state: str | None = None
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())


class Organization(SQLModel, table=True):
    """Gremium (Ausschuss, Verbandsversammlung) or Verwaltungsbereich (lead department)."""

    id: int | None = Field(default=None, primary_key=True)
    body_id: int = Field(foreign_key="body.id", index=True)
    name: str
    short_name: str | None = None
    organization_type: str = "Gremium"  # Gremium | Verwaltungsbereich
    classification: str | None = None  # Ausschuss, Parlament, Verbandsversammlung …
    #: The name with article in the genitive ("des Ausschusses für …", "der Verbandsversammlung"),
    #: as the Verwaltung set it; None: derived from the name (:attr:`genitive`).
    name_genitive: str | None = Field(default=None, max_length=300)
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())

    @property
    def genitive(self) -> str:
        """"die Sitzung des Ausschusses für …": the stored form, else one derived from the name."""
        return self.name_genitive or genitive(self.name)


class Person(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    body_id: int = Field(foreign_key="body.id", index=True)
    family_name: str
    given_name: str
    form_of_address: str | None = None
    email: str | None = None
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())

    @property
    def name(self) -> str:
        """As the BIS page writes it: "Zierstedt, Björn"."""
        return f"{self.family_name}, {self.given_name}"


class Membership(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    role: str = "Mitglied"
    voting_right: bool = True
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())


class Meeting(SQLModel, table=True):
    """Sitzung of a Gremium."""

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    reference: str | None = Field(default=None, index=True)  # "SI/2024/131"
    name: str
    start: dt.datetime = Field(sa_column=utc_column(nullable=False, index=True))
    end: dt.datetime | None = Field(default=None, sa_column=utc_column())
    location: str | None = None
    meeting_state: str = MEETING_PLANNED  # terminiert → eingeladen → durchgeführt
    cancelled: bool = False
    #: Raised by every move or cancellation: iCalendar's SEQUENCE, and part of each planned
    #: reminder's key (``engine.calendar.reminders``).
    sequence: int = 0
    #: Until when reminders of this Sitzung may wait in the outbox rendered ahead (the latest
    #: moment the scheduler rendered for): a change before then withdraws them. None: none.
    rendered_ahead_until: dt.datetime | None = Field(default=None, sa_column=utc_column())
    invited: dt.datetime | None = Field(default=None, sa_column=utc_column())
    #: Set when the invitation went out after the Ladungsfrist: why (required then).
    late_invitation_reason: str | None = None
    #: The Ladungsfrist passed with the invitation unsent (flagged on the session).
    invitation_overdue: bool = False
    #: When its agenda closed (the session process's Tagesordnungsschluss, or the invitation
    #: sent earlier); later changes to the agenda need a reason.
    agenda_closed: dt.datetime | None = Field(default=None, sa_column=utc_column())
    #: When the Sekretariat released the Niederschrift (minutes).
    minutes_released: dt.datetime | None = Field(default=None, sa_column=utc_column())
    #: When the session was opened and closed, as the Sekretariat recorded it with the
    #: attendance (``engine.attendance``); None: attendance not recorded.
    opened: dt.datetime | None = Field(default=None, sa_column=utc_column())
    closed: dt.datetime | None = Field(default=None, sa_column=utc_column())
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())


class Paper(SQLModel, table=True):
    """Vorlage."""

    id: int | None = Field(default=None, primary_key=True)
    body_id: int = Field(foreign_key="body.id", index=True)
    reference: str = Field(unique=True)  # "2024/063"
    name: str  # Betreff
    paper_type: str = "Standardvorlage"  # Vorlage-Art
    date: dt.date | None = None
    public: bool = True
    status: str = PAPER_DRAFT
    #: When the Vorlage was released to the public (the start of its Beratungsfolge; an
    #: imported one: when its source published it). None: a draft, public nowhere
    #: (``engine.visibility.published_clause``) – whatever ``public`` says.
    released: dt.datetime | None = Field(default=None, sa_column=utc_column())
    under_direction_of_id: int | None = Field(default=None, foreign_key="organization.id")
    clerk_id: int | None = Field(default=None, foreign_key="person.id")  # Bearbeiter/-in
    facts: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # Sachverhalt
    proposal_heading: str = "Beschlussvorschlag"  # or "Beschlussempfehlung"
    proposal: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    financial_impact: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    personnel_impact: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())


class Consultation(SQLModel, table=True):
    """Beratung: one step of the ordered Beratungsfolge of a Paper."""

    __table_args__ = (UniqueConstraint("paper_id", "position"),)

    id: int | None = Field(default=None, primary_key=True)
    paper_id: int = Field(foreign_key="paper.id", index=True)
    position: int  # 1, 2, … the order of the Beratungsfolge
    organization_id: int = Field(foreign_key="organization.id", index=True)
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id", index=True)
    role: str = "Kenntnisnahme"
    #: The role as the source wrote it (imported from OParl: free text, "unbekannt" …).
    role_text: str | None = None
    authoritative: bool = False
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())


class AgendaItem(SQLModel, table=True):
    """Tagesordnungspunkt; carries the Ergebnis of the Beratung in that Sitzung.

    A Beratung that is vertagt has one AgendaItem per Sitzung it was on.
    """

    __tablename__ = "agenda_item"

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    consultation_id: int | None = Field(default=None, foreign_key="consultation.id", index=True)
    number: str | None = None  # "10.1"
    #: The place in the agenda as an OParl source gave it (imported TOPs); None: by ``number``.
    position: int | None = None
    name: str
    public: bool = True
    result: str | None = None  # a key of RESULTS
    #: The result as the source wrote it (imported from OParl: "einstimmig zugestimmt" …).
    result_text: str | None = None
    resolution_text: str | None = Field(default=None, sa_column=Column(Text))
    votes_yes: int | None = None
    votes_no: int | None = None
    votes_abstain: int | None = None
    #: A non-public item's result reaches the public pages only once a secretary releases it.
    result_released: bool = False
    #: When the TOP was called in the session (its quorum and voters are those present then).
    called_at: dt.datetime | None = Field(default=None, sa_column=utc_column())
    #: GO NRW § 49 Abs. 2: called again after the Gremium could not decide on it (the earlier
    #: session, as the Sekretariat noted it): quorate regardless. None: not so.
    repeat_call: str | None = Field(default=None, max_length=500)
    #: How the result was voted: einstimmig, mehrheitlich, gezaehlt, namentlich (None: not said).
    vote_mode: str | None = Field(default=None, max_length=20)
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())


class UrgentDecision(SQLModel, table=True):
    """Dringlichkeitsentscheidung (GO NRW § 60 Abs. 1): where a Gremium cannot meet in time,
    its Hauptverwaltungsbeamter and one member decide in its place; the Gremium approves
    (Genehmigung) or refuses it in its next session, on the TOP the Beratung was put on."""

    __tablename__ = "urgent_decision"

    id: int | None = Field(default=None, primary_key=True)
    consultation_id: int = Field(foreign_key="consultation.id", index=True)
    paper_id: int = Field(foreign_key="paper.id", index=True)
    organization_id: int = Field(foreign_key="organization.id")
    head_id: int = Field(foreign_key="person.id")
    head_name: str = Field(max_length=300)
    member_id: int = Field(foreign_key="person.id")
    member_name: str = Field(max_length=300)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    result: str = Field(max_length=30)  # a key of RESULTS: beschlossen, geaendert_beschlossen, abgelehnt
    resolution_text: str | None = Field(default=None, sa_column=Column(Text))
    decided_on: dt.date
    recorded_by: str = Field(max_length=200)
    #: The Genehmigung: "genehmigt" or "nicht_genehmigt" (keys of RESULTS); None: still open.
    approval: str | None = Field(default=None, max_length=30)
    approval_note: str | None = Field(default=None, sa_column=Column(Text))
    approved_at: dt.datetime | None = Field(default=None, sa_column=utc_column())
    created: dt.datetime = Field(sa_column=utc_column(nullable=False))


class DeadlineRule(SQLModel, table=True):
    """The deadlines of a Gremium's Geschäftsordnung (one row per Gremium; see DOMAIN.md).

    Ladungsfrist: the invitation goes out at least ``invitation_days`` before the session,
    counted in calendar days or working days (weekends and the Body's public holidays
    skipped), counting the session day or not. The agenda closes ``agenda_days_before``
    days (same unit) before that. A result step is due ``result_working_days`` working
    days after the session.
    """

    __tablename__ = "deadline_rule"

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", unique=True)
    invitation_days: int = 7
    working_days: bool = False
    count_session_day: bool = False
    agenda_days_before: int = 3
    result_working_days: int = 3
    modified: dt.datetime | None = Field(default=None, sa_column=modified_column())


class File(SQLModel, table=True):
    """Anlage of a Paper. The content lives in the instance folder under its SHA-512."""

    id: int | None = Field(default=None, primary_key=True)
    paper_id: int = Field(foreign_key="paper.id", index=True)
    position: int = 1
    name: str  # "Anlage 1 zur Vorlage 2024-063_…"
    file_name: str | None = None
    mime_type: str | None = None
    size: int = 0
    sha_512_checksum: str | None = None  # None: known by name and size only (imported)
    created: dt.datetime | None = Field(default=None, sa_column=created_column())


class OparlTombstone(SQLModel, table=True):
    """An object that left the public (a Vorlage made non-public or deleted, a TOP moved into
    the non-public part, with their Beratungen and Anlagen): the OParl server lists it as
    ``deleted: true`` to clients asking with ``modified_since``, so mirrors remove it.
    Written by ``engine.oparl.server.withdraw``; dropped again when the object is public again."""

    __tablename__ = "oparl_tombstone"

    object_type: str = Field(primary_key=True, max_length=20)  # "paper", "consultation", …
    object_id: int = Field(primary_key=True)
    #: The object's own ``created`` (OParl §2.8 serves it with the tombstone; the object may be gone).
    created: dt.datetime = Field(sa_column=utc_column(nullable=False))
    deleted_at: dt.datetime = Field(sa_column=utc_column(nullable=False, index=True))


class Account(SQLModel, table=True):
    """A login: local (a password hash: argon2id, older ones scrypt) or through an OpenID
    provider (issuer and subject; its roles are mapped from the provider's claim at each login)."""

    __table_args__ = (Index("uq_account_identity", "identity_issuer", "identity_subject", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True)
    password_hash: str  # "" for an account without a local password
    identity_issuer: str | None = None
    identity_subject: str | None = None
    display_name: str
    email: str | None = None
    person_id: int | None = Field(default=None, foreign_key="person.id")
    active: bool = True
    created: dt.datetime | None = Field(default=None, sa_column=created_column())


class Grant(SQLModel, table=True):
    """A role of an account, optionally for one Organization (the Sekretariat *of* a Gremium)."""

    __table_args__ = (UniqueConstraint("account_id", "role", "organization_id"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    role: str
    organization_id: int | None = Field(default=None, foreign_key="organization.id")


def top_key(number: str | None) -> tuple[Any, ...]:
    """TOP "2.10" after "2.9"; items without a number last."""
    if not number:
        return (1,)
    parts: list[Any] = []
    for part in number.split("."):
        value = ascii_int(part, 18)
        parts.append((0, value, "") if value is not None else (1, 0, part))
    return (0, *parts)


def agenda_key(item: AgendaItem) -> tuple[Any, ...]:
    """A Sitzung's TOPs in order: an imported agenda as the source ordered it (``position``),
    TOPs made here by their number (after the imported ones, should a Sitzung have both)."""
    return (item.position is None, item.position or 0, top_key(item.number), item.id or 0)
