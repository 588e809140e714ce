"""What a model's user tasks declare by name, and the Python that carries it out.

A user task names, in its ``spiffworkflow:properties``:

* ``dueDate``: how its due date (and the Sitzung it concerns) is found —
  ``agendaClosing`` (the agenda closing of the session it will go on: the planned one, or
  the Gremium's next session that fits the Beratungsfolge's order) or ``afterSession``
  (a number of working days after the session it was put on, from the Gremium's rules);
  ``invitationDeadline`` (the Ladungsfrist of the session process's own Sitzung);
* ``completableFrom``: what must hold before it can be completed — ``sessionStart``
  (a result is recorded only once its session has begun), ``agendaResultsRecorded``
  (every item on the session's agenda has its result);
* ``effect`` (any task or event): what it does to the council's records, a name of
  ``engine.process.effects.EFFECTS``;
* ``role`` (any element): the part it plays that Python looks for — ``invitation`` (the
  session process's task "send the invitation"), ``agendaClosing`` (its timer at the agenda
  closing). Python finds an element by its role, never by its id (:data:`REQUIRED_ROLES`);
* ``endState`` (an end event): how the Vorlage ends when its Beratungsfolge ends there —
  ``withdrawn`` (zurückgezogen) or ``done`` (abgeschlossen, also where nothing is declared).

A form field's ``x-options`` names where its run-time choices come from, a name of
:data:`CHOICE_SOURCES` (e.g. ``sitzungen_des_gremiums``).

Deploy refuses a name that is not in :data:`DECLARABLE` (``engine.workflow.runtime``), a
model of a kind (its process id) that lacks a role of :data:`REQUIRED_ROLES` or declares it
twice, and an unknown choice source; so a new model needs no Python edit, and nothing here
branches on a form's, a task's or an element's name.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from sqlalchemy import and_, bindparam, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from engine.calendar import deadlines, meetings
from engine.calendar.meetings import meeting_label, note_agenda_numbers
from engine.council import (
    HEAD_ROLES,
    PAPER_DONE,
    PAPER_WITHDRAWN,
    AgendaItem,
    Consultation,
    Meeting,
    Membership,
    Organization,
    Person,
)
from engine.db import UNIT_KEYS, hold, memo, remembered
from engine.settings import TIMEZONE
from engine.types import ascii_int
from engine.words import N_
from engine.workflow.forms import Choice
from engine.workflow.runtime import KIND_END_EVENT, KIND_TIMER_EVENT, KIND_USER_TASK, ROLE_PROPERTY

DUE_PROPERTY = "dueDate"
GUARD_PROPERTY = "completableFrom"
EFFECT_PROPERTY = "effect"
END_STATE_PROPERTY = "endState"

#: The process ids of the two kinds of model the engine starts itself.
BERATUNGSFOLGE = "beratungsfolge"
SITZUNG = "sitzung"
LIFECYCLE = "vorlage"

ROLE_INVITATION = "invitation"
ROLE_AGENDA_CLOSING = "agendaClosing"
#: The Beschlusskontrolle's step (the implementation lists of the Gremien read its tasks).
ROLE_IMPLEMENTATION = "implementation"
#: What kind of element may play a role (checked at deploy).
ROLE_KINDS = {ROLE_INVITATION: KIND_USER_TASK, ROLE_AGENDA_CLOSING: KIND_TIMER_EVENT,
              ROLE_IMPLEMENTATION: KIND_USER_TASK}
#: Kind of model (process id) → the roles Python relies on: each declared by exactly one element.
REQUIRED_ROLES: dict[str, dict[str, str]] = {
    SITZUNG: {role: ROLE_KINDS[role] for role in (ROLE_INVITATION, ROLE_AGENDA_CLOSING)},
    LIFECYCLE: {ROLE_IMPLEMENTATION: KIND_USER_TASK},
}
#: For model versions deployed before roles were declared: the element with this effect.
ROLE_BY_EFFECT = {ROLE_INVITATION: "sendInvitation", ROLE_AGENDA_CLOSING: "closeAgenda"}

#: An end event's declared ``endState`` → the Vorlage's status when its Beratungsfolge ends there.
END_WITHDRAWN, END_DONE = "withdrawn", "done"
END_STATES = {END_WITHDRAWN: PAPER_WITHDRAWN, END_DONE: PAPER_DONE}
#: Where a declaration belongs (checked at deploy).
PROPERTY_KINDS = {END_STATE_PROPERTY: KIND_END_EVENT}


@dataclass(frozen=True)
class Subject:
    """What a task is about: its Gremium, its Beratung (Beratungsfolge), its Sitzung (the
    session process's own)."""

    organization_id: int | None
    consultation: Consultation | None = None
    meeting: Meeting | None = None
    #: The day chosen in an earlier step (``faellig_am`` in the task's data: the
    #: Beschlusskontrolle's day, chosen at the Ausfertigung), for the rule ``dayChosen``.
    chosen_day: date | None = None


@dataclass(frozen=True)
class SessionWindow:
    """Which Sitzungen a Beratung may still go on, and why others are out."""

    after: datetime  # a session must begin later than this
    postponed_in: Meeting | None  # the session where it was last vertagt
    previous: Meeting | None  # the session of the previous Beratung
    previous_organization: str | None

    def refusal(self, meeting: Meeting) -> str | None:
        """Why ``meeting`` cannot be chosen (German, for the form), or None."""
        day = f"{meeting.start.astimezone(TIMEZONE):%d.%m.%Y}"
        if self.previous is not None and meeting.start <= self.previous.start:
            return (f"Die Sitzung am {day} liegt nicht nach der Sitzung der vorigen Beratung "
                    f"({self.previous_organization}, "
                    f"{self.previous.start.astimezone(TIMEZONE):%d.%m.%Y}).")
        if self.postponed_in is not None and meeting.start <= self.postponed_in.start:
            return (f"Die Beratung wurde in der Sitzung vom "
                    f"{self.postponed_in.start.astimezone(TIMEZONE):%d.%m.%Y} vertagt; "
                    "bitte eine spätere Sitzung wählen.")
        if meeting.start <= self.after:
            return f"Die Sitzung am {day} hat schon stattgefunden."
        return None


def _start_of_today(now: datetime) -> datetime:
    """Midnight of ``now``'s day in Europe/Berlin: sessions from then on are ahead."""
    return datetime.combine(now.astimezone(TIMEZONE).date(), time(0), TIMEZONE)


def _window_after(now: datetime) -> datetime:
    """The session window's first bound: just before today began."""
    return _start_of_today(now) - timedelta(microseconds=1)


def session_window(session: Session, consultation: Consultation | None, now: datetime) -> SessionWindow:
    """Sessions from today on, after the last postponement and after the previous Beratung."""
    after = _window_after(now)
    if consultation is None or consultation.id is None:
        return SessionWindow(after, None, None, None)
    return _window(session, consultation.id, after)[1]


def consultation_in_context(session: Session, consultation_id: int, now: datetime) -> Consultation | None:
    """A Beratung read together with its session window, its planned session and its TOP
    there (one query, held for the unit of work; :func:`session_window` then reads nothing)."""
    return _window(session, consultation_id, _window_after(now))[0]


def _window(session: Session, consultation_id: int,
            after: datetime) -> tuple[Consultation | None, SessionWindow]:
    return remembered(session, ("session_window", consultation_id, after),  # type: ignore[no-any-return]
                      lambda: _session_window(session, consultation_id, after))


_POSTPONED_NOW = "ratsflow_postponed"
UNIT_KEYS.add(_POSTPONED_NOW)


def postponed_now(session: Session, consultation_id: int | None, meeting: Meeting) -> None:
    """Note a Beratung vertagt in this unit of work (its result row may not be written yet)."""
    session.info.setdefault(_POSTPONED_NOW, {})[consultation_id] = meeting


def _latest_agenda_meeting(consultation_id: Any, result: str | None = None) -> Any:
    """The id of the latest session a Beratung was on the agenda of (with ``result``)."""
    query = (select(AgendaItem.meeting_id).join(Meeting, col(Meeting.id) == AgendaItem.meeting_id)
             .where(AgendaItem.consultation_id == consultation_id))
    if result is not None:
        query = query.where(AgendaItem.result == result)
    return query.order_by(col(Meeting.start).desc()).limit(1).scalar_subquery()


@functools.cache
def _window_query(chosen: bool = False) -> Any:
    """The statement of :func:`_session_window`, built once (building it cost more than
    running it); with ``chosen``, also the session ``meeting_id`` with its TOP numbers if it
    is one of the Gremium ``organization_id``'s coming sessions (from ``today``, not
    cancelled): a completion's submitted session comes with the window, no statement of its
    own."""
    current, previous = aliased(Consultation), aliased(Consultation)
    planned_at, postponed_at, previous_at = aliased(Meeting), aliased(Meeting), aliased(Meeting)
    # The ids first, for this one Beratung (its subqueries run once), then the rows by key: a
    # correlated subquery in a join's ON would run once per session of the database.
    ids = (
        sa_select(
            col(current.id).label("consultation_id"),
            (select(AgendaItem.number).where(AgendaItem.consultation_id == current.id,
                                             AgendaItem.meeting_id == current.meeting_id)
             .limit(1).scalar_subquery()).label("planned_top"),
            _latest_agenda_meeting(current.id, "vertagt").label("postponed_id"),
            col(previous.organization_id).label("previous_organization_id"),
            func.coalesce(_latest_agenda_meeting(previous.id),
                          previous.meeting_id).label("previous_meeting_id"))
        .outerjoin(previous, and_(col(previous.paper_id) == current.paper_id,
                                  col(previous.position) == col(current.position) - 1))
        .where(col(current.id) == bindparam("consultation_id"))
    ).subquery()
    query = (
        sa_select(current, planned_at, ids.c.planned_top, postponed_at, previous_at, col(Organization.name))
        .select_from(ids)
        .join(current, col(current.id) == ids.c.consultation_id)
        .outerjoin(planned_at, col(planned_at.id) == current.meeting_id)
        .outerjoin(postponed_at, col(postponed_at.id) == ids.c.postponed_id)
        .outerjoin(Organization, col(Organization.id) == ids.c.previous_organization_id)
        .outerjoin(previous_at, col(previous_at.id) == ids.c.previous_meeting_id)
    )
    if not chosen:
        return query
    chosen_at = aliased(Meeting)
    numbers = select(func.aggregate_strings(col(AgendaItem.number), "|")) \
        .where(AgendaItem.meeting_id == chosen_at.id).scalar_subquery()
    return query.add_columns(chosen_at, numbers).outerjoin(chosen_at, and_(
        col(chosen_at.id) == bindparam("meeting_id"),
        col(chosen_at.organization_id) == bindparam("organization_id"),
        col(chosen_at.cancelled) == False,  # noqa: E712
        col(chosen_at.start) >= bindparam("today")))


def _session_window(session: Session, consultation_id: int,
                    after: datetime) -> tuple[Consultation | None, SessionWindow]:
    """The Beratung, its planned session and TOP number there, its last postponement, the
    previous Beratung's Gremium and its (latest, else planned) session: one query."""
    row = session.execute(_window_query(), {"consultation_id": consultation_id}).first()
    if row is None:
        return None, SessionWindow(after, None, None, None)
    return _window_of(session, consultation_id, after, row)


def _window_of(session: Session, consultation_id: int, after: datetime,
               row: Any) -> tuple[Consultation | None, SessionWindow]:
    consultation, planned, top, postponed, previous_meeting, previous_org = row[:6]
    hold(session, consultation, planned, postponed, previous_meeting)
    if planned is not None:
        meetings.note_top_number(session, consultation_id, planned.id, top)
    noted = session.info.get(_POSTPONED_NOW, {}).get(consultation_id)
    if noted is not None and (postponed is None or noted.start > postponed.start):
        postponed = noted
    for meeting in (postponed, previous_meeting):
        if meeting is not None and meeting.start > after:
            after = meeting.start
    return consultation, SessionWindow(after, postponed, previous_meeting, previous_org)


def next_fitting_meeting(session: Session, organization_id: int | None, consultation: Consultation | None,
                         window: SessionWindow) -> Meeting | None:
    """The planned session if it fits the window, else the Gremium's next one that does."""
    if consultation is not None and consultation.meeting_id is not None:
        planned = session.get(Meeting, consultation.meeting_id)
        if planned is not None and not planned.cancelled and window.refusal(planned) is None:
            return planned
    return session.exec(
        select(Meeting).where(Meeting.organization_id == organization_id,
                              Meeting.cancelled == False,  # noqa: E712
                              col(Meeting.start) > window.after)
        .order_by(col(Meeting.start))
    ).first()


@dataclass(frozen=True)
class Due:
    due: date | None
    meeting: Meeting | None


DueRule = Callable[[Session, Subject, datetime], Due]

def day_after(duration: str, now: datetime) -> date:
    """The day an ISO 8601 duration after ``now`` ends (P3D: three days on, in Europe/Berlin):
    a due or follow-up date a model (Camunda's ``dueDate``) gives as a duration."""
    parsed = TimerEventDefinition.parse_iso_duration(duration.strip())
    ends: datetime = now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
    return ends.astimezone(TIMEZONE).date()


def due_of(rule: str, session: Session, subject: Subject, now: datetime) -> Due:
    """A task's due date by its declared rule: a named rule, or a duration from today."""
    if rule in DUE_RULES:
        return DUE_RULES[rule](session, subject, now)
    return Due(day_after(rule, now), None)


#: Why a task is due at once when its rule's date had already passed as it arose.
_PASSED = {"agendaClosing": "Der Tagesordnungsschluss ({day}) war schon vorbei.",
           "afterSession": "Die Frist für das Ergebnis ({day}) war schon vorbei.",
           "invitationDeadline": "Die Ladungsfrist ({day}) war schon vorbei."}


def due_at_the_earliest(rule: str, due: date | None, now: datetime) -> tuple[date | None, str | None]:
    """A task's due date never lies before the day it arose (or was due anew): a rule's date
    already past makes it due "sofort", that day, and says why (shown on the task, in its
    one reminder). Returns the due date and that reason (None: the rule's date stands)."""
    today = now.astimezone(TIMEZONE).date()
    if due is None or due >= today:
        return due, None
    return today, _PASSED.get(rule, "Die Frist ({day}) war schon vorbei.").format(day=f"{due:%d.%m.%Y}")


def _agenda_closing(session: Session, subject: Subject, now: datetime) -> Due:
    consultation = subject.consultation
    meeting = subject.meeting or next_fitting_meeting(
        session, subject.organization_id, consultation, session_window(session, consultation, now))
    if meeting is None:
        return Due(None, None)
    return Due(deadlines.deadlines_for_meeting(session, meeting).agenda_closing, meeting)


def _meeting_of(session: Session, subject: Subject) -> Meeting | None:
    if subject.meeting is not None:
        return subject.meeting
    consultation = subject.consultation
    return session.get(Meeting, consultation.meeting_id) if consultation and consultation.meeting_id \
        else None


def _after_session(session: Session, subject: Subject, now: datetime) -> Due:
    meeting = _meeting_of(session, subject)
    if meeting is None:
        return Due(None, None)
    day = meeting.start.astimezone(TIMEZONE).date()
    return Due(deadlines.result_due(day, *deadlines.gremium_rules(session, meeting.organization_id)), meeting)


def _invitation_deadline(session: Session, subject: Subject, now: datetime) -> Due:
    meeting = _meeting_of(session, subject)
    if meeting is None:
        return Due(None, None)
    return Due(deadlines.deadlines_for_meeting(session, meeting).invitation, meeting)


#: How many working days a department has for its step (Mitzeichnung, Freigabe, Ausfertigung).
DEPARTMENT_WORKING_DAYS = 5


def _five_working_days(session: Session, subject: Subject, now: datetime) -> Due:
    """Five working days after the step was asked for (holidays of the body's Bundesland)."""
    state = deadlines.gremium_rules(session, subject.organization_id)[1] \
        if subject.organization_id is not None else None
    today = now.astimezone(TIMEZONE).date()
    return Due(deadlines.add_working_days(today, DEPARTMENT_WORKING_DAYS, state), None)


def _day_chosen(session: Session, subject: Subject, now: datetime) -> Due:
    """The day chosen in an earlier step (the Beschlusskontrolle's, at the Ausfertigung)."""
    return Due(subject.chosen_day, None)


DUE_RULES: dict[str, DueRule] = {
    "agendaClosing": _agenda_closing,
    "afterSession": _after_session,
    "invitationDeadline": _invitation_deadline,
    "fiveWorkingDays": _five_working_days,
    "dayChosen": _day_chosen,
}

Guard = Callable[[Session, Meeting | None, datetime], str | None]


def _session_started(session: Session, meeting: Meeting | None, now: datetime) -> str | None:
    if meeting is None:
        return "Die Beratung steht auf keiner Tagesordnung."
    if meeting.start > now:
        start = meeting.start.astimezone(TIMEZONE)
        return (f"Das Ergebnis kann erst erfasst werden, wenn die Sitzung begonnen hat: "
                f"{start:%d.%m.%Y} um {start:%H:%M} Uhr.")
    return None


def _agenda_results_recorded(session: Session, meeting: Meeting | None, now: datetime) -> str | None:
    if meeting is None:
        return "Die Aufgabe gehört zu keiner Sitzung."
    if meeting.start > now:
        return _session_started(session, meeting, now)
    open_items = session.exec(select(AgendaItem.number, AgendaItem.name).where(
        AgendaItem.meeting_id == meeting.id, col(AgendaItem.result).is_(None))).all()
    if open_items:
        named = ", ".join(f"TOP {number}" if number else name for number, name in open_items[:5])
        more = f" und {len(open_items) - 5} weitere" if len(open_items) > 5 else ""
        return f"Es fehlen noch Ergebnisse der Tagesordnung: {named}{more}."
    return None


GUARDS: dict[str, Guard] = {
    "sessionStart": _session_started,
    "agendaResultsRecorded": _agenda_results_recorded,
}


@dataclass
class Offered:
    """A form field's run-time choices, the objects behind them (by value), the value to
    show at first, and which sessions fit (when sessions are offered)."""

    choices: list[Choice]
    behind: dict[Any, Any] = field(default_factory=dict)
    initial: Any = None
    window: SessionWindow | None = None


#: A choice source's last argument when every choice is wanted (a form to show); a
#: completion passes the submitted value instead and gets that choice only, if it is one.
EVERY_CHOICE: Any = object()

ChoiceSource = Callable[[Session, int | None, Consultation | None, datetime, Any], Offered]


@functools.cache
def _coming_sessions(one: bool = False) -> Any:
    """A Gremium's sessions from a day on, not cancelled, each with its agenda's TOP numbers
    (``|``-joined: the agenda step's next free number comes without a query of its own);
    with ``one``, only the session ``meeting_id`` if it is one of them."""
    numbers = select(func.aggregate_strings(col(AgendaItem.number), "|")) \
        .where(AgendaItem.meeting_id == Meeting.id).scalar_subquery()
    query = (select(Meeting, numbers).where(Meeting.organization_id == bindparam("organization_id"),
                                            Meeting.cancelled == False,  # noqa: E712
                                            col(Meeting.start) >= bindparam("today"))
             .order_by(col(Meeting.start)))
    return query.where(col(Meeting.id) == bindparam("meeting_id")) if one else query


def _window_and_session(session: Session, consultation_id: int, now: datetime,
                        params: dict[str, Any]) -> tuple[SessionWindow, list[Any]]:
    """A Beratung's session window and the submitted session (as ``_coming_sessions(True)``
    rows: none, or it with its TOP numbers): one statement, the window then held for the
    unit of work as :func:`session_window` holds it."""
    after = _window_after(now)
    key = ("session_window", consultation_id, after)
    row = None if key in memo(session) else session.execute(
        _window_query(True), {"consultation_id": consultation_id, **params}).first()
    if row is None:  # the window read before in this unit of work (or no such Beratung)
        return _window(session, consultation_id, after)[1], list(session.exec(_coming_sessions(True),
                                                                             params=params).all())
    found = _window_of(session, consultation_id, after, row)
    memo(session)[key] = found
    chosen, numbers = row[6], row[7]
    return found[1], [] if chosen is None else [(chosen, numbers)]


def _meeting_id(value: Any) -> int | None:
    """A submitted session's id, or None if the value cannot be one."""
    if isinstance(value, str):
        number = ascii_int(value.strip())
    elif isinstance(value, float) and value.is_integer():  # JSON 12.0: the form's number field takes it
        number = int(value)
    else:
        number = value if isinstance(value, int) and not isinstance(value, bool) else None
    return number if number is not None and 0 < number < 2**31 else None


def _sessions_of_the_gremium(session: Session, organization_id: int | None,
                             consultation: Consultation | None, now: datetime,
                             only: Any = EVERY_CHOICE) -> Offered:
    """The Gremium's coming sessions that fit the Beratungsfolge's order; the planned one, if
    it still fits, shown at first. With ``only`` (a completion's submitted value) just that
    session, if it is one of them: a Gremium with many sessions ahead is not read whole
    for every completion."""
    params: dict[str, Any] = {"organization_id": organization_id, "today": _start_of_today(now)}
    if only is not EVERY_CHOICE:
        params["meeting_id"] = _meeting_id(only)
        if params["meeting_id"] is None:
            return Offered([], {}, None, session_window(session, consultation, now))
        if consultation is not None and consultation.id is not None:
            window, rows = _window_and_session(session, consultation.id, now, params)
        else:
            window = session_window(session, consultation, now)
            rows = session.exec(_coming_sessions(True), params=params).all()
    else:
        window = session_window(session, consultation, now)
        rows = session.exec(_coming_sessions(), params=params).all()
    for meeting, numbers in rows:
        note_agenda_numbers(session, meeting.id, numbers.split("|") if numbers else [])
    meetings = [meeting for meeting, _ in rows]
    offered = [m for m in meetings if window.refusal(m) is None]
    behind: dict[Any, Any] = {m.id: m for m in offered}
    planned = consultation.meeting_id if consultation is not None else None
    choices = [Choice(m.id, meeting_label(m), note=CLOSED if m.agenda_closed else None) for m in offered]
    return Offered(choices, behind, planned if planned in behind else None, window)


def _current_memberships(organization_id: Any, day: date) -> Any:
    return (col(Membership.organization_id) == organization_id) & (
        col(Membership.start_date).is_(None) | (col(Membership.start_date) <= day)) & (
        col(Membership.end_date).is_(None) | (col(Membership.end_date) >= day))


def _heads_of_the_body(session: Session, organization_id: int | None,
                       consultation: Consultation | None, now: datetime, only: Any = EVERY_CHOICE) -> Offered:
    """Dringlichkeitsentscheidung: the Hauptverwaltungsbeamte of the Gremium's Körperschaft
    (a current membership in one of its organizations with a role of :data:`HEAD_ROLES`)."""
    today = now.astimezone(TIMEZONE).date()
    body = select(Organization.body_id).where(Organization.id == organization_id).scalar_subquery()
    rows = session.exec(select(Person).distinct().join(Membership, col(Membership.person_id) == Person.id)
                        .join(Organization, col(Organization.id) == Membership.organization_id)
                        .where(col(Organization.body_id) == body, col(Membership.role).in_(HEAD_ROLES),
                               col(Membership.start_date).is_(None) | (col(Membership.start_date) <= today),
                               col(Membership.end_date).is_(None) | (col(Membership.end_date) >= today))
                        .order_by(col(Person.family_name), col(Person.given_name), col(Person.id))).all()
    return Offered([Choice(p.id, p.name) for p in rows], {p.id: p for p in rows})


def _members_of_the_gremium(session: Session, organization_id: int | None,
                            consultation: Consultation | None, now: datetime,
                            only: Any = EVERY_CHOICE) -> Offered:
    """Dringlichkeitsentscheidung: the Gremium's current members (any membership role)."""
    today = now.astimezone(TIMEZONE).date()
    rows = session.exec(select(Person).distinct().join(Membership, col(Membership.person_id) == Person.id)
                        .where(_current_memberships(organization_id, today))
                        .order_by(col(Person.family_name), col(Person.given_name), col(Person.id))).all()
    return Offered([Choice(p.id, p.name) for p in rows], {p.id: p for p in rows})


#: A session whose agenda has closed: offered, but a new TOP there needs a reason.
CLOSED = N_("Tagesordnung geschlossen")

#: A form field's ``x-options`` → where its choices come from at run time.
CHOICE_SOURCES: dict[str, ChoiceSource] = {
    "sitzungen_des_gremiums": _sessions_of_the_gremium,
    "hauptverwaltungsbeamte": _heads_of_the_body,
    "mitglieder_des_gremiums": _members_of_the_gremium,
}

#: Property name → the names a model may use (checked at deploy).
#: The effect names are added by ``engine.process.effects``, which carries them out.
#: A document a task's page offers (the generated Beschlussauszug at the Ausfertigung).
DOCUMENT_PROPERTY = "document"
DOCUMENTS = {"beschlussauszug"}

DECLARABLE: dict[str, set[str]] = {DUE_PROPERTY: set(DUE_RULES), GUARD_PROPERTY: set(GUARDS),
                                   DOCUMENT_PROPERTY: DOCUMENTS,
                                   ROLE_PROPERTY: set(ROLE_KINDS), END_STATE_PROPERTY: set(END_STATES)}
