"""Demo data: Vorlage 2024/063 of the Region Aachen Zweckverband, as on the seed page.

The two Sitzungen (SI/2024/131 on 08.11.2024, SI/2024/128 on 22.11.2024) are moved by
whole weeks, so weekday, order and the 14 days between them stay: the committee's lies a
few days in the past with the Vorlage on its agenda, so the first thing its secretary does
is record the result; the assembly's lies in the future. Persons other than the
Bearbeiter are made up for the demo.

With ``week=True`` (what ``ratsflow demo`` loads) a secretary's real week comes with it:
twelve further Vorlagen 2024/064 … 2024/075 of the same Zweckverband (invented Betreffe and
texts) across its three Gremien and their Sitzungen, in different steps. They are driven
through the engine's own verbs at past times, in the order it happened, so every task row,
due date and audit event is what the engine writes; a step dated after ``now`` has not
happened yet and is left out. With a :class:`FileStore` the Anlagen are real (small) PDF
files; the two of 2024/063 have exactly the sizes the seed page shows.
"""

from __future__ import annotations

import functools
import json
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import holidays
from sqlmodel import Session, col, select

from . import deadlines, procedures, reminders, sessions, tasks, timers
from .accounts import Account, Actor, create_account, load_actor
from .council import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_CLERK,
    ROLE_SECRETARIAT,
    Body,
    Consultation,
    File,
    Grant,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
)
from .files import FileStore
from .settings import TIMEZONE
from .tasks import TASK_READY, HumanTask
from .types import utcnow
from .workflow.models import ProcessInstance

SEED = json.loads((Path(__file__).parent / "demo_vorlage_2024_063.json").read_text(encoding="utf-8"))
COMMITTEE = "Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit"
ASSEMBLY = "Verbandsversammlung des Region Aachen Zweckverband"
MOBILITY = "Ausschuss für Mobilität und Digitalisierung"
ORIGINAL_COMMITTEE_DATE = date(2024, 11, 8)
ORIGINAL_ASSEMBLY_DATE = date(2024, 11, 22)
SESSION_TIME = time(15, 0)
MOBILITY_TIME = time(17, 0)  # the AMD meets on Thursdays after office hours


@dataclass
class DemoResult:
    created: bool
    paper_id: int
    accounts: list[tuple[str, str]]  # (username, what they do)
    committee_meeting: Meeting | None = None
    assembly_meeting: Meeting | None = None
    week: list[str] = field(default_factory=list)  # references of the week's further Vorlagen


def shifted_dates(today: date) -> tuple[date, date]:
    """The seed's two session dates moved by whole weeks: the committee's a few days ago.

    The committee session is the latest one (same weekday as 08.11.2024) at least two days
    before ``today``, so its result can be recorded at once; the assembly follows 14 days
    later, in the future. Weeks in which either date is a public holiday in North
    Rhine-Westphalia (or Christmas Eve / New Year's Eve) are skipped: one week further
    back if the assembly still lies ahead, else the next free weeks (both in the future).
    """
    latest = ((today - timedelta(days=2)) - ORIGINAL_COMMITTEE_DATE).days // 7
    # Past committee, future assembly if a week allows it; else the first free weeks ahead.
    for weeks in [latest, latest - 1, *range(latest + 1, latest + 60)]:
        shift = timedelta(weeks=weeks)
        dates = ORIGINAL_COMMITTEE_DATE + shift, ORIGINAL_ASSEMBLY_DATE + shift
        if weeks <= latest and dates[1] <= today:
            continue
        closed = holidays.country_holidays("DE", subdiv="NW", years={d.year for d in dates})
        if not any(d in closed or (d.month, d.day) in {(12, 24), (12, 31)} for d in dates):
            return dates
    raise RuntimeError("no free weeks for the demo sessions")  # pragma: no cover


def _closed(day: date) -> bool:
    """A public holiday in NRW, or Christmas Eve / New Year's Eve: no Sitzung that day."""
    return day in holidays.country_holidays("DE", subdiv="NW", years=day.year) \
        or (day.month, day.day) in {(12, 24), (12, 31)}


def free_day(day: date) -> date:
    """``day`` or the same weekday of a later week that is no public holiday in NRW."""
    while _closed(day):
        day += timedelta(weeks=1)
    return day


def free_day_before(day: date) -> date:
    """``day`` or the same weekday of an earlier week that is no public holiday in NRW."""
    while _closed(day):
        day -= timedelta(weeks=1)
    return day


def load_demo(session: Session, password: str, now: datetime | None = None,
              files: FileStore | None = None, week: bool = True) -> DemoResult:
    """Load the demo once; a second call finds Vorlage 2024/063 and changes nothing.

    ``files``: where the Anlagen go (real PDF files); None keeps them as name and size only.
    ``week``: also the secretaries' week around the seed (twelve further Vorlagen).
    """
    existing = session.exec(select(Paper).where(Paper.reference == SEED["reference"])).first()
    if existing is not None:
        return DemoResult(False, existing.id, [])  # type: ignore[arg-type]
    now = now or utcnow()
    procedures.deploy_bundled(session)

    body = Body(name="Region Aachen Zweckverband", short_name="RAZV",
                website="https://regionaachen.de", state="NW")
    session.add(body)
    session.flush()
    committee = Organization(body_id=_id(body), name=COMMITTEE, short_name="AWSG",
                             organization_type="Gremium", classification="Ausschuss")
    assembly = Organization(body_id=_id(body), name=ASSEMBLY, short_name="VV",
                            organization_type="Gremium", classification="Verbandsversammlung")
    department = Organization(body_id=_id(body), name="Wirtschaft und Raum",
                              organization_type="Verwaltungsbereich")
    session.add_all([committee, assembly, department])
    session.flush()

    def person(family: str, given: str, email: str, address: str | None = None) -> Person:
        p = Person(body_id=_id(body), family_name=family, given_name=given, email=email,
                   form_of_address=address)
        session.add(p)
        session.flush()
        return p

    clerk = person("Zierstedt", "Björn", "bjoern.zierstedt@example.org")
    secretary_c = person("Hoffmann", "Lea", "lea.hoffmann@example.org")
    secretary_a = person("Schmitz", "Jonas", "jonas.schmitz@example.org")
    auditor = person("Krüger", "Anna", "anna.krueger@example.org")
    members = [
        (person("Becker", "Martina", "martina.becker@example.org", "Frau"), [committee, assembly], "Vorsitz"),
        (person("Wagner", "Thomas", "thomas.wagner@example.org", "Herr"), [committee], "Mitglied"),
        (person("Yılmaz", "Elif", "elif.yilmaz@example.org", "Frau"), [committee, assembly], "Mitglied"),
        (person("Jansen", "Peter", "peter.jansen@example.org", "Herr"), [assembly], "Mitglied"),
        (person("Nowak", "Katarzyna", "katarzyna.nowak@example.org", "Frau"), [assembly], "Mitglied"),
    ]
    for member, orgs, role in members:
        for org in orgs:
            session.add(Membership(person_id=_id(member), organization_id=_id(org),
                                   role=role if org is committee else "Mitglied"))

    today = now.astimezone(TIMEZONE).date()
    committee_date, assembly_date = shifted_dates(today)
    m_committee = Meeting(
        organization_id=_id(committee), reference="SI/2024/131",
        name="Ordentliche Sitzung des Ausschusses für (eu)regionale Wirtschaft, "
             "Strukturentwicklung und Gesundheit",
        start=datetime.combine(committee_date, SESSION_TIME, TIMEZONE))
    m_assembly = Meeting(
        organization_id=_id(assembly), reference="SI/2024/128",
        name="Ordentliche Sitzung der Verbandsversammlung des Region Aachen Zweckverband",
        start=datetime.combine(assembly_date, SESSION_TIME, TIMEZONE))
    # A later Sitzung of each Gremium, so that "vertagt" has somewhere to go.
    later_committee = Meeting(
        organization_id=_id(committee), reference="SI/2024/140", name=m_committee.name,
        start=datetime.combine(free_day(committee_date + timedelta(weeks=4)), SESSION_TIME, TIMEZONE))
    later_assembly = Meeting(
        organization_id=_id(assembly), reference="SI/2024/141", name=m_assembly.name,
        start=datetime.combine(free_day(assembly_date + timedelta(weeks=4)), SESSION_TIME, TIMEZONE))
    session.add_all([m_committee, m_assembly, later_committee, later_assembly])
    session.flush()

    paper = Paper(
        body_id=_id(body), reference=SEED["reference"], name=SEED["name"],
        paper_type=SEED["paper_type"], public=SEED["public"], under_direction_of_id=department.id,
        clerk_id=clerk.id, facts=SEED["facts"], proposal_heading=SEED["proposal_heading"],
        proposal=SEED["proposal"], financial_impact=SEED["financial_impact"],
        personnel_impact=SEED["personnel_impact"],
    )
    session.add(paper)
    session.flush()
    session.add(Consultation(paper_id=_id(paper), position=1, organization_id=_id(committee),
                             meeting_id=m_committee.id, role="Kenntnisnahme"))
    session.add(Consultation(paper_id=_id(paper), position=2, organization_id=_id(assembly),
                             meeting_id=m_assembly.id, role="Kenntnisnahme"))
    for i, f in enumerate(SEED["files"], start=1):
        if files is None:
            # Known by name and size only: the PDFs themselves are not part of the seed.
            session.add(File(paper_id=_id(paper), position=i, name=f["name"], file_name=f"{f['name']}.pdf",
                             mime_type="application/pdf", size=f["size"]))
        else:
            # A stand-in PDF of the same name and size as the original on the seed page.
            _attach(session, files, paper, i, f["name"], _seed_anlage(f["name"], f["size"]))

    accounts: list[tuple[str, str, Person, list[tuple[str, int | None]]]] = [
        ("zierstedt", "Bearbeiter (Sachbearbeitung, Wirtschaft und Raum)", clerk,
         [(ROLE_CLERK, department.id)]),
        ("hoffmann", f"Sekretariat {committee.short_name}", secretary_c,
         [(ROLE_SECRETARIAT, committee.id)]),
        ("schmitz", f"Sekretariat {assembly.short_name}", secretary_a,
         [(ROLE_SECRETARIAT, assembly.id)]),
        ("krueger", "Revision (Prüfung)", auditor, [(ROLE_AUDITOR, None)]),
        # A member: no role to grant, her memberships make her sessions and reminders hers.
        ("becker", f"Mitglied (Vorsitz {committee.short_name}, {assembly.short_name}): Meine Sitzungen",
         members[0][0], []),
    ]
    for username, _what, p, grants in accounts:
        create_account(session, username, password, f"{p.given_name} {p.family_name}", grants,
                       person_id=p.id, email=p.email)
    create_account(session, "admin", password, "Administration", [(ROLE_ADMIN, None)])
    session.flush()
    listed = [(u, w) for u, w, _, _ in accounts] + [("admin", "Administration")]

    # As it happened: started three weeks before the committee session, put on its agenda
    # two weeks before; the result waits for the secretary now.
    script = _Script(session, now)
    committee_start = m_committee.start
    script.start(paper, "zierstedt", committee_start - timedelta(weeks=3), always=True)
    script.complete(paper, "hoffmann", {"meeting_id": m_committee.id, "top_nummer": "5"},
                    committee_start - timedelta(weeks=2), always=True)
    references: list[str] = []
    if week:
        gremien = _Gremien(body, committee, assembly, department,
                           {p.family_name: p for p, _, _ in members},
                           m_committee, m_assembly, later_committee, later_assembly)
        extra, references = _load_week(session, password, files, today, gremien, script)
        listed = _ordered(listed + extra)
    for meeting in session.exec(select(Meeting)).all():
        script.sitzung(meeting)
    script.run()
    # The Sitzungen ahead get their reminders, as creating them through the app would.
    for meeting in session.exec(select(Meeting).where(Meeting.start > now)):
        reminders.plan_meeting(session, meeting, now)
    # What came due since the last step (agenda closings, session starts) happens now.
    while timers.fire_due(session, now).instances:
        pass
    return DemoResult(True, paper.id, listed, m_committee, m_assembly, references)  # type: ignore[arg-type]


def _complete_open(session: Session, username: str, paper_id: int, data: dict[str, object],
                   now: datetime) -> None:
    """Complete the one open task of a Vorlage as ``username`` did at ``now``."""
    task = _open_task(session, paper_id)
    version = session.exec(select(ProcessInstance.version)
                           .where(ProcessInstance.id == task.process_instance_id)).one()
    procedures.complete_task(session, _actor(session, username), task.id, data, version, now=now)  # type: ignore[arg-type]


def _id(row: Any) -> int:
    """The id of a flushed row."""
    assert row.id is not None
    return int(row.id)


def _open_task(session: Session, paper_id: int) -> HumanTask:
    return session.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                                HumanTask.status == TASK_READY)).one()


def _actor(session: Session, username: str) -> Actor:
    account = session.exec(select(Account).where(Account.username == username)).one()
    actor = load_actor(session, account.id)  # type: ignore[arg-type]
    assert actor is not None
    return actor


# ----------------------------------------------------------------------------- the script

class _Script:
    """What the users did, each step at its own time: replayed in time order through the verbs.

    A step dated after ``now`` has not happened yet and is left out (so are the later steps
    of its Vorlage, which are later still); ``always`` steps (the seed's) run regardless.
    A Vorlage's steps keep the order they are written in: one dated no later than the step
    before it (holidays can squeeze working days together) follows that one by an hour.
    """

    def __init__(self, session: Session, now: datetime) -> None:
        self.session = session
        self.now = now
        self._steps: list[tuple[datetime, int, bool, Callable[[], object]]] = []
        self._last: dict[int, datetime] = {}  # the latest step of each Vorlage so far

    def _add(self, paper: Paper, at: datetime, run: Callable[[datetime], object],
             always: bool = False) -> None:
        last = self._last.get(_id(paper))
        if last is not None and at <= last:
            at = last + timedelta(hours=1)
        self._last[_id(paper)] = at
        self._steps.append((at, len(self._steps), always, functools.partial(run, at)))

    def start(self, paper: Paper, username: str, at: datetime, always: bool = False) -> None:
        self._add(paper, at, lambda when: procedures.start_beratungsfolge(
            self.session, _actor(self.session, username), _id(paper), now=when), always)

    def complete(self, paper: Paper, username: str, data: dict[str, Any], at: datetime,
                 always: bool = False) -> None:
        self._add(paper, at, lambda when: _complete_open(self.session, username, _id(paper), data, when),
                  always)

    def sitzung(self, meeting: Meeting) -> None:
        """The session's process started when it was planned (eight weeks ahead); a session
        already held had its invitation sent by its Sekretariat on the last day of the
        Ladungsfrist."""
        planned = min(meeting.start - timedelta(weeks=8), self.now)
        self._steps.append((planned, -1, True, functools.partial(
            lambda when: sessions.start_process(self.session, meeting, when), planned)))
        if meeting.start > self.now:
            return
        secretary = self.session.exec(select(Account.username).join(
            Grant, col(Grant.account_id) == Account.id).where(
            Grant.role == ROLE_SECRETARIAT, Grant.organization_id == meeting.organization_id)).first()
        if secretary is None:
            return
        invited = datetime.combine(deadlines.deadlines_for_meeting(self.session, meeting).invitation,
                                   time(10), TIMEZONE)
        self._steps.append((invited, len(self._steps), False, functools.partial(
            lambda when: sessions.send_invitation(self.session, _actor(self.session, secretary),
                                                  _id(meeting), {}, now=when), invited)))

    def claim(self, paper: Paper, username: str, at: datetime) -> None:
        self._add(paper, at, lambda when: tasks.claim(self.session, _actor(self.session, username),
                                                      self._task_of(paper), now=when))

    def assign(self, paper: Paper, username: str, to: str, at: datetime) -> None:
        self._add(paper, at, lambda when: tasks.assign(self.session, _actor(self.session, username),
                                                       self._task_of(paper), to, now=when))

    def comment(self, paper: Paper, username: str, text: str, at: datetime) -> None:
        self._add(paper, at, lambda when: tasks.add_comment(
            self.session, _actor(self.session, username), self._task_of(paper), text, now=when))

    def _task_of(self, paper: Paper) -> int:
        return _id(_open_task(self.session, _id(paper)))

    def run(self) -> None:
        for at, _, always, step in sorted(self._steps, key=lambda s: (s[0], s[1])):
            if always or at <= self.now:
                # What came due before this step (an agenda closing, a session start)
                # happens at its moment, as the scheduler would have made it happen.
                while (due := timers.due_before(self.session, min(at, self.now))) and \
                        timers.fire_at(self.session, due[0]):
                    pass
                step()


# ----------------------------------------------------------------------------- the week

@dataclass
class _Gremien:
    body: Body
    committee: Organization
    assembly: Organization
    department: Organization
    members: dict[str, Person]  # by family name
    m_committee: Meeting  # SI/2024/131, a few days ago
    m_assembly: Meeting  # SI/2024/128, 14 days after it
    later_committee: Meeting  # SI/2024/140
    later_assembly: Meeting  # SI/2024/141


#: The order of the accounts in the README and the CLI's list.
_ACCOUNT_ORDER = ["zierstedt", "albrecht", "lenz", "hoffmann", "weber", "schmitz", "krause",
                  "krueger", "becker", "admin"]


def _ordered(accounts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    rank = {u: i for i, u in enumerate(_ACCOUNT_ORDER)}
    return sorted(accounts, key=lambda a: rank.get(a[0], len(rank)))


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), TIMEZONE)


def _mobility_session_with_closed_agenda(session: Session, organization_id: int, state: str | None,
                                         today: date) -> date:
    """The AMD's next session whose agenda has already closed (the latest such one).

    The AMD meets on Thursdays (on the Wednesday before when the Thursday is a holiday).
    Whatever still waits for that agenda is overdue; if no session ahead qualifies
    (holidays), the next free Thursday.
    """
    rules = deadlines.rules_for(session, organization_id)
    first = today + timedelta(days=1)
    first += timedelta(days=(3 - first.weekday()) % 7)
    best: date | None = None
    for k in range(4):
        thursday = first + timedelta(weeks=k)
        day = thursday - timedelta(days=1) if _closed(thursday) else thursday
        if day > today and not _closed(day) \
                and deadlines.meeting_deadlines(day, rules, state).agenda_closing < today:
            best = day
    return best or free_day(first)


def _load_week(session: Session, password: str, files: FileStore | None, today: date,
               g: _Gremien, script: _Script) -> tuple[list[tuple[str, str]], list[str]]:
    """The third Gremium, its Sitzungen, two more secretaries and clerks, Vorlagen 2024/064–075."""
    body, committee, assembly, department = g.body, g.committee, g.assembly, g.department
    state = body.state
    mobility = Organization(body_id=_id(body), name=MOBILITY, short_name="AMD",
                            organization_type="Gremium", classification="Ausschuss")
    digital = Organization(body_id=_id(body), name="Mobilität und Digitalisierung",
                           organization_type="Verwaltungsbereich")
    session.add_all([mobility, digital])
    session.flush()

    def person(family: str, given: str, email: str) -> Person:
        p = Person(body_id=_id(body), family_name=family, given_name=given, email=email)
        session.add(p)
        session.flush()
        return p

    albrecht = person("Albrecht", "Nina", "nina.albrecht@example.org")
    lenz = person("Lenz", "Dominik", "dominik.lenz@example.org")
    weber = person("Weber", "Sabine", "sabine.weber@example.org")
    krause = person("Krause", "Tobias", "tobias.krause@example.org")
    for family, role in [("Nowak", "Vorsitz"), ("Wagner", "Mitglied"), ("Jansen", "Mitglied")]:
        session.add(Membership(person_id=_id(g.members[family]), organization_id=_id(mobility),
                               role=role))
    accounts: list[tuple[str, str, Person, list[tuple[str, int | None]]]] = [
        ("albrecht", "Bearbeiterin (Sachbearbeitung, Wirtschaft und Raum)", albrecht,
         [(ROLE_CLERK, department.id)]),
        ("lenz", "Bearbeiter (Sachbearbeitung, Mobilität und Digitalisierung)", lenz,
         [(ROLE_CLERK, digital.id)]),
        ("weber", f"Sekretariat {committee.short_name} (Kollegin von hoffmann)", weber,
         [(ROLE_SECRETARIAT, committee.id)]),
        ("krause", f"Sekretariat {mobility.short_name}", krause, [(ROLE_SECRETARIAT, mobility.id)]),
    ]
    for username, _what, p, grants in accounts:
        create_account(session, username, password, f"{p.given_name} {p.family_name}", grants,
                       person_id=p.id, email=p.email)
    session.flush()

    # ------------------------------------------------------------------ Sitzungen
    committee_day = g.m_committee.start.astimezone(TIMEZONE).date()
    mobility_name = "Ordentliche Sitzung des Ausschusses für Mobilität und Digitalisierung"

    def meeting(org: Organization, reference: str, name: str, day: date, at: time) -> Meeting:
        m = Meeting(organization_id=_id(org), reference=reference, name=name,
                    start=datetime.combine(day, at, TIMEZONE))
        session.add(m)
        return m

    # AWSG and VV six and four weeks before SI/2024/131; the AMD on Thursdays: one two
    # weeks before SI/2024/131, the next one with its agenda already closed, one later.
    next_mobility_day = _mobility_session_with_closed_agenda(session, _id(mobility), state, today)
    past_committee_day = free_day_before(committee_day - timedelta(weeks=6))
    past_assembly_day = free_day_before(committee_day - timedelta(weeks=4))
    if past_assembly_day <= past_committee_day + timedelta(days=6):  # holidays pushed them together
        past_assembly_day = free_day(committee_day - timedelta(weeks=4))
    past_committee = meeting(committee, "SI/2024/112", g.m_committee.name, past_committee_day, SESSION_TIME)
    past_assembly = meeting(assembly, "SI/2024/117", g.m_assembly.name, past_assembly_day, SESSION_TIME)
    past_mobility = meeting(mobility, "SI/2024/124", mobility_name,
                            free_day_before(committee_day - timedelta(days=15)), MOBILITY_TIME)
    next_mobility = meeting(mobility, "SI/2024/133", mobility_name, next_mobility_day, MOBILITY_TIME)
    later_mobility = meeting(mobility, "SI/2024/143", mobility_name,
                             free_day(next_mobility_day + timedelta(weeks=4)), MOBILITY_TIME)
    session.flush()

    def day_of(m: Meeting) -> date:
        return m.start.astimezone(TIMEZONE).date()

    def wd(day: date, n: int) -> date:
        return deadlines.add_working_days(day, n, state)

    # The days the week is told by: C the seed's committee session (SI/2024/131), Q and P the
    # past sessions of the AWSG and the AMD, K the agenda closing of the AMD's next session.
    C = committee_day
    Q, P = day_of(past_committee), day_of(past_mobility)
    K = deadlines.deadlines_for_meeting(session, next_mobility).agenda_closing

    # ------------------------------------------------------------------ Vorlagen
    papers: dict[str, Paper] = {}

    def vorlage(number: int, name: str, paper_type: str, lead: Organization, clerk: Person,
                steps: Sequence[tuple[Organization, str, Meeting | None]], facts: str, proposal: str,
                financial: str, personnel: str = "Keine.", public: bool = True,
                started: date | None = None, heading: str = "Beschlussvorschlag",
                anlage: tuple[str, Sequence[str]] | None = None) -> Paper:
        reference = f"2024/{number:03d}"
        p = Paper(body_id=_id(body), reference=reference, name=name, paper_type=paper_type, date=started,
                  public=public, under_direction_of_id=lead.id, clerk_id=clerk.id, facts=facts,
                  proposal_heading=heading, proposal=proposal, financial_impact=financial,
                  personnel_impact=personnel)
        session.add(p)
        session.flush()
        for position, (org, role, planned) in enumerate(steps, start=1):
            session.add(Consultation(paper_id=_id(p), position=position, organization_id=_id(org),
                                     meeting_id=planned.id if planned else None, role=role))
        if anlage is not None:
            title, lines = anlage
            anlage_name = f"Anlage 1 zur Vorlage 2024-{number:03d}_{title}"
            content = demo_pdf(anlage_name, [f"{body.name} – Vorlage {reference}: {name}", "", *lines])
            if files is None:
                session.add(File(paper_id=_id(p), position=1, name=anlage_name,
                                 file_name=f"{anlage_name}.pdf", mime_type="application/pdf",
                                 size=len(content)))
            else:
                _attach(session, files, p, 1, anlage_name, content)
        session.flush()
        papers[reference] = p
        return p

    def noted(**extra: Any) -> dict[str, Any]:
        return {"ergebnis": "zur_kenntnis_genommen", **extra}

    def agenda(meeting_: Meeting, top: str, public: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"meeting_id": meeting_.id, "top_nummer": top}
        if not public:
            data["oeffentlich"] = False
        return data

    # 2024/074 — finished: recommended by the AWSG six weeks ago, decided by the VV.
    v = vorlage(
        74, "Klimaanpassung: Regionale Kooperation Starkregenvorsorge", "Beschlussvorlage",
        department, albrecht, [(committee, "Vorberatung", past_committee),
                               (assembly, "Entscheidung", past_assembly)],
        "Sachlage:\n\nStarkregenereignisse wie im Juli 2021 haben gezeigt, dass Vorsorge nicht an "
        "Gemeindegrenzen haltmacht. Die Mitgliedskommunen, die Wasserverbände und der RAZV wollen "
        "Starkregengefahrenkarten, Frühwarnung und die Beratung von Unternehmen künftig gemeinsam "
        "angehen.\n\nDie als Anlage beigefügte Kooperationsvereinbarung regelt Aufgaben, "
        "Datenaustausch und die Finanzierung einer gemeinsamen Koordinierungsstelle beim RAZV.",
        "Die Verbandsversammlung stimmt der als Anlage beigefügten Kooperationsvereinbarung zur "
        "regionalen Starkregenvorsorge zu und beauftragt den Verbandsvorsteher, sie zu unterzeichnen.",
        "Koordinierungsstelle rund 60.000 Euro jährlich, zur Hälfte von den Wasserverbänden getragen.",
        "Eine Stelle (Koordination), im Stellenplan vorgesehen.", started=wd(Q, -16),
        anlage=("Kooperationsvereinbarung Starkregenvorsorge", [
            "Partner: die Mitgliedskommunen, die Wasserverbände der Region und der RAZV.",
            "Gegenstand: gemeinsame Starkregengefahrenkarten, Frühwarnung, Beratung.",
            "Koordinierungsstelle beim RAZV; Kosten je zur Hälfte RAZV und Wasserverbände."]))
    script.start(v, "albrecht", _at(wd(Q, -15), 10))
    script.complete(v, "hoffmann", agenda(past_committee, "3"), _at(wd(Q, -10), 11))
    script.complete(v, "hoffmann", {
        "ergebnis": "empfohlen", "ja": 11, "nein": 0, "enthaltungen": 1,
        "beschlusstext": "Der Ausschuss empfiehlt der Verbandsversammlung, der "
                         "Kooperationsvereinbarung zuzustimmen."}, _at(wd(Q, 1), 9, 30))
    script.complete(v, "schmitz", agenda(past_assembly, "6"), _at(wd(Q, 2), 10))
    script.complete(v, "schmitz", {
        "ergebnis": "beschlossen", "ja": 31, "nein": 0, "enthaltungen": 2,
        "beschlusstext": "Die Verbandsversammlung stimmt der Kooperationsvereinbarung zur "
                         "regionalen Starkregenvorsorge zu."},
        _at(wd(day_of(past_assembly), 1), 10))

    # 2024/067 — three steps: recommended by the AMD, now the AWSG's result (held by weber).
    v = vorlage(
        67, "Strukturwandel im Rheinischen Revier: Priorisierung der regionalen Projektvorschläge",
        "Beschlussvorlage", department, albrecht,
        [(mobility, "Vorberatung", past_mobility), (committee, "Vorberatung", g.m_committee),
         (assembly, "Entscheidung", g.m_assembly)],
        "Sachlage:\n\nFür die nächste Förderrunde nach dem Strukturstärkungsgesetz sind aus der "
        "Region 23 Projektskizzen eingegangen. Die Verwaltung hat sie gemeinsam mit den Kreisen "
        "Düren, Euskirchen und Heinsberg und der StädteRegion Aachen nach Beschäftigungswirkung, "
        "Reifegrad und regionaler Bedeutung bewertet.\n\nDie Bewertungsmatrix und die "
        "vorgeschlagene Rangfolge sind als Anlage beigefügt. Die ersten acht Projekte sollen als "
        "regionale Priorität gegenüber dem Land benannt werden.",
        "Die Verbandsversammlung beschließt die als Anlage beigefügte Priorisierung der regionalen "
        "Projektvorschläge und beauftragt die Verwaltung, die ersten acht Projekte als regionale "
        "Priorität beim Land anzumelden.",
        "Keine unmittelbaren; die Projekte werden von ihren Trägern finanziert.", started=wd(P, -16),
        anlage=("Bewertungsmatrix Projektvorschläge", [
            "23 Projektskizzen, bewertet nach Beschäftigungswirkung (40 %), Reifegrad (30 %)",
            "und regionaler Bedeutung (30 %).",
            "Rang 1–8: regionale Priorität; Rang 9–15: Qualifizierung; Rang 16–23: zurückgestellt."]))
    script.start(v, "albrecht", _at(wd(P, -15), 9, 30))
    script.complete(v, "krause", agenda(past_mobility, "2"), _at(wd(P, -11), 10))
    script.complete(v, "krause", {
        "ergebnis": "empfohlen", "ja": 9, "nein": 1, "enthaltungen": 1,
        "beschlusstext": "Der Ausschuss empfiehlt die Priorisierung mit dem Hinweis, die "
                         "Schnellbusachse Aachen – Jülich mitzudenken."}, _at(wd(P, 1), 10, 30))
    script.complete(v, "hoffmann", agenda(g.m_committee, "4"), _at(wd(C, -9), 10))
    script.assign(v, "hoffmann", "weber", _at(wd(C, -1), 16))

    # 2024/065 — noted by the AMD, now waits for its Kenntnisnahme in SI/2024/131.
    v = vorlage(
        65, "Digitale Gesundheitsregion: Bericht zum Telemedizin-Netzwerk", "Standardvorlage",
        department, albrecht, [(mobility, "Kenntnisnahme", past_mobility),
                               (committee, "Kenntnisnahme", g.m_committee)],
        "Sachlage:\n\nDas Telemedizin-Netzwerk der Gesundheitsregion Aachen verbindet Kliniken, "
        "Hausarztpraxen und Pflegeeinrichtungen aus allen Mitgliedskommunen. Nach dem zweiten "
        "Projektjahr nehmen 41 Einrichtungen teil; rund 2.300 telemedizinische Konsile wurden "
        "durchgeführt, und für den sicheren Austausch von Befunden gilt ein gemeinsamer "
        "Standard.\n\nDer Bericht zeigt außerdem, welche Pflegedienste als Nächstes angebunden "
        "werden sollen und welche Fördermittel dafür beantragt sind.",
        "Die Ausschüsse nehmen den Bericht zur Kenntnis.",
        "Keine; das Netzwerk wird aus Landesmitteln gefördert.", started=wd(P, -14))
    script.start(v, "albrecht", _at(wd(P, -13), 14))
    script.complete(v, "krause", agenda(past_mobility, "3"), _at(wd(P, -10), 11))
    script.complete(v, "krause", noted(), _at(wd(P, 1), 10, 35))
    script.complete(v, "hoffmann", agenda(g.m_committee, "7"), _at(wd(C, -8), 11))

    # 2024/064, 2024/066 — Kenntnisnahme in SI/2024/131, result open (bulk "zur Kenntnis").
    v = vorlage(
        64, "Regionalmarketing Region Aachen: Sachstand Markenentwicklung", "Mitteilungsvorlage",
        department, albrecht, [(committee, "Kenntnisnahme", g.m_committee),
                               (assembly, "Kenntnisnahme", g.m_assembly)],
        "Sachlage:\n\nMit der Kooperationsvereinbarung mit den regionalen Wirtschaftsclustern "
        "(Vorlage 2024/063) hat der RAZV ein Regionalmarketing für die Fach- und "
        "Arbeitskräftegewinnung auf den Weg gebracht. Die beauftragte Agentur hat in vier "
        "Markenwerkstätten mit Unternehmen, Hochschulen und Kommunen ein Markenbild und erste "
        "Kernbotschaften entwickelt.\n\nDie Ergebnisse der Werkstätten liegen als Anlage bei. Als "
        "Nächstes werden Bildsprache und Kampagnenplan abgestimmt.",
        "Der Ausschuss und die Verbandsversammlung nehmen den Sachstand zur Kenntnis.",
        "Die Kosten sind im Wirtschaftsplan (Regionalmarketing) veranschlagt.", started=wd(C, -19),
        anlage=("Ergebnisse der Markenwerkstätten", [
            "Vier Werkstätten mit Unternehmen, Hochschulen und Kommunen der Region.",
            "Kernbotschaften: Technologie und Lebensqualität, drei Länder in einer Stunde,",
            "Arbeiten in der Region mit Zukunft."]))
    script.start(v, "albrecht", _at(wd(C, -18), 10))
    script.complete(v, "hoffmann", agenda(g.m_committee, "6"), _at(wd(C, -11), 9, 30))

    v = vorlage(
        66, "Fachkräftesicherung: Zwischenbericht Welcome Service Region Aachen", "Mitteilungsvorlage",
        department, albrecht, [(committee, "Kenntnisnahme", g.m_committee),
                               (assembly, "Kenntnisnahme", g.later_assembly)],
        "Sachlage:\n\nDer Welcome Service Region Aachen berät internationale Fachkräfte und ihre "
        "Familien beim Ankommen in der Region und unterstützt Unternehmen bei der Anwerbung. In "
        "diesem Jahr fanden 310 Beratungen statt, etwa die Hälfte für Beschäftigte in Gesundheits- "
        "und Pflegeberufen.\n\nDie Verwaltung berichtet über die Zusammenarbeit mit den "
        "Ausländerbehörden der Mitgliedskommunen und über zusätzliche Sprechstunden in Düren und "
        "Heinsberg.",
        "Der Ausschuss und die Verbandsversammlung nehmen den Zwischenbericht zur Kenntnis.",
        "Keine zusätzlichen; die Anlaufstelle ist im Wirtschaftsplan veranschlagt.", started=wd(C, -14))
    script.start(v, "albrecht", _at(wd(C, -13), 11))
    script.complete(v, "weber", agenda(g.m_committee, "8"), _at(wd(C, -8), 14))

    # 2024/068 — recommended in SI/2024/131; the VV's agenda step is due at its closing.
    v = vorlage(
        68, "Euregionale Zusammenarbeit: Beteiligung am Interreg-Projekt „Grenzenlos arbeiten“",
        "Beschlussvorlage", department, albrecht,
        [(committee, "Vorberatung", g.m_committee), (assembly, "Entscheidung", g.m_assembly)],
        "Sachlage:\n\nIm Programm Interreg Euregio Maas-Rhein bereiten Partner aus Belgien, den "
        "Niederlanden und Deutschland ein Projekt vor, das Grenzpendlerinnen und -pendler sowie "
        "Arbeitgeber zu Steuer, Sozialversicherung und der Anerkennung von Abschlüssen berät. "
        "Der RAZV ist als Partner für die deutsche Seite angefragt.\n\nDas Projekt läuft drei "
        "Jahre; der Eigenanteil des RAZV beträgt 40 % seiner Projektkosten.",
        "Die Verbandsversammlung beschließt die Beteiligung des RAZV als Projektpartner am "
        "Interreg-Projekt „Grenzenlos arbeiten“ und stellt den Eigenanteil in den Wirtschaftsplänen "
        "der Projektjahre bereit.",
        "Eigenanteil rund 36.000 Euro je Projektjahr.",
        "Eine halbe Stelle, befristet auf die Projektlaufzeit, aus Projektmitteln finanziert.",
        started=wd(C, -17))
    script.start(v, "albrecht", _at(wd(C, -16), 10))
    script.complete(v, "hoffmann", agenda(g.m_committee, "9"), _at(wd(C, -10), 10))
    script.complete(v, "hoffmann", {"ergebnis": "empfohlen", "ja": 12, "nein": 1, "enthaltungen": 0},
                    _at(C, 18))

    # 2024/069 — vertagt in SI/2024/131: back at the agenda step for a later session.
    v = vorlage(
        69, "Tourismus Eifel: Kofinanzierung der Qualitätsoffensive Wanderwege Nordeifel",
        "Beschlussvorlage", department, albrecht, [(committee, "Entscheidung", g.m_committee)],
        "Sachlage:\n\nDie Eifel Tourismus GmbH und die Naturparke der Region wollen das Netz der "
        "Prädikatswanderwege in der Nordeifel erneuern: Beschilderung, Rastplätze und digitale "
        "Wegeinformationen. Das Land fördert die Maßnahme mit 70 %, wenn die Region die "
        "Kofinanzierung sichert.\n\nDer RAZV soll 30 % der förderfähigen Kosten übernehmen, "
        "höchstens 120.000 Euro über zwei Jahre; die beteiligten Kommunen tragen die laufende "
        "Unterhaltung.",
        "Der Ausschuss beschließt die Kofinanzierung der Qualitätsoffensive Wanderwege Nordeifel "
        "mit bis zu 120.000 Euro, verteilt auf zwei Wirtschaftsjahre.",
        "Bis zu 120.000 Euro; Deckung aus dem Budget Regionalentwicklung.", started=wd(C, -15))
    script.start(v, "albrecht", _at(wd(C, -14), 9))
    script.complete(v, "hoffmann", agenda(g.m_committee, "10"), _at(wd(C, -9), 10, 30))
    script.complete(v, "hoffmann", {
        "ergebnis": "vertagt",
        "beschlusstext": "Vertagt. Die Verwaltung legt zur nächsten Sitzung die Anteile je Kommune "
                         "und die Folgekosten der Unterhaltung vor."}, _at(C, 18, 10))

    # 2024/070 — planned for SI/2024/140; weber took the agenda step and left a note.
    v = vorlage(
        70, "Standortmarketing: Gemeinschaftsstand der Region Aachen auf der EXPO REAL",
        "Beschlussvorlage", department, albrecht,
        [(committee, "Vorberatung", g.later_committee), (assembly, "Entscheidung", g.later_assembly)],
        "Sachlage:\n\nBisher präsentieren sich die Wirtschaftsförderungen der Mitgliedskommunen auf "
        "Fachmessen einzeln. Für die kommende EXPO REAL in München schlägt die Verwaltung einen "
        "gemeinsamen Stand „Region Aachen“ vor, auf dem Kommunen, Hochschulen und "
        "Projektentwickler Gewerbeflächen und Projekte aus dem Revier zeigen.\n\nDer RAZV "
        "übernimmt Standmiete und Organisation; die Mitaussteller beteiligen sich mit einem "
        "Pauschalbetrag.",
        "Die Verbandsversammlung beschließt den Gemeinschaftsstand der Region Aachen auf der "
        "EXPO REAL und ermächtigt die Verwaltung, die Verträge mit der Messegesellschaft und den "
        "Mitausstellern zu schließen.",
        "Rund 85.000 Euro, davon etwa 40.000 Euro durch Beiträge der Mitaussteller gedeckt.",
        started=wd(C, -4))
    script.start(v, "albrecht", _at(wd(C, -3), 10))
    script.claim(v, "weber", _at(wd(C, -2), 9))
    script.comment(v, "weber", "Kostenschätzung der Messegesellschaft ist angefragt; ich setze die "
                   "Vorlage auf die Tagesordnung, sobald sie vorliegt.", _at(wd(C, -2), 9, 5))

    # 2024/071, 2024/072 — waiting for the AMD's agenda, which closed already: overdue.
    v = vorlage(
        71, "Regionale Mobilität: Machbarkeitsstudie Schnellbusachse Aachen – Jülich",
        "Beschlussvorlage", digital, lenz,
        [(mobility, "Vorberatung", next_mobility), (assembly, "Entscheidung", g.later_assembly)],
        "Sachlage:\n\nZwischen Aachen und Jülich fehlt eine schnelle, direkte Verbindung im "
        "öffentlichen Nahverkehr; Beschäftigte der Forschungs- und Gewerbestandorte in Jülich "
        "pendeln überwiegend mit dem Auto. Eine Schnellbuslinie mit wenigen Halten und eigenen "
        "Busspuren an Engstellen könnte die Fahrzeit auf unter 40 Minuten senken.\n\nDie "
        "Verwaltung schlägt vor, gemeinsam mit dem Aachener Verkehrsverbund und den beteiligten "
        "Kreisen eine Machbarkeitsstudie zu Linienführung, Nachfrage, Kosten und Förderung zu "
        "beauftragen.",
        "Die Verbandsversammlung beauftragt die Verwaltung, gemeinsam mit dem Aachener "
        "Verkehrsverbund eine Machbarkeitsstudie für eine Schnellbusachse Aachen – Jülich "
        "auszuschreiben.",
        "Rund 150.000 Euro für die Studie; eine Förderung des Landes von 50 % wird erwartet.",
        started=wd(K, -9))
    script.start(v, "lenz", _at(wd(K, -8), 9, 30))

    v = vorlage(
        72, "Breitbandausbau: Sachstand Gigabit-Förderung in den Mitgliedskommunen",
        "Mitteilungsvorlage", digital, lenz, [(mobility, "Kenntnisnahme", next_mobility)],
        "Sachlage:\n\nDie Verwaltung berichtet halbjährlich über den Ausbau der Gigabit-Netze. Zum "
        "Stichtag können 78 % der Haushalte und 91 % der Gewerbegebiete in der Region mit "
        "Gigabit-Anschlüssen versorgt werden; in den geförderten Ausbaugebieten der Eifel "
        "verzögern sich die Tiefbauarbeiten um rund sechs Monate.\n\nDer Bericht enthält die "
        "Übersicht je Kommune und den Stand der Anträge im Förderprogramm des Bundes.",
        "Der Ausschuss nimmt den Sachstand zur Kenntnis.", "Keine.", started=wd(K, -7))
    script.start(v, "lenz", _at(wd(K, -6), 14))
    script.comment(v, "krause", "Die Zahlen je Kommune fehlen noch, der Fachbereich liefert sie "
                   "nach; dann kommt die Vorlage als Nachtrag auf die Tagesordnung.", _at(K, 15, 30))

    # 2024/073 — non-public: a Vergabe, in the non-public part of the AMD's next session.
    v = vorlage(
        73, "Vergabe: Rahmenvertrag Fachberatung Gigabit-Förderverfahren", "Beschlussvorlage",
        digital, lenz, [(mobility, "Entscheidung", next_mobility)],
        "Sachlage:\n\nFür die Begleitung der Förderverfahren zum Gigabitausbau (Markterkundung, "
        "Auswahlverfahren, Verwendungsnachweise) hat der RAZV Beratungsleistungen europaweit "
        "ausgeschrieben. Es sind vier Angebote eingegangen; das wirtschaftlichste erreicht 87 von "
        "100 Wertungspunkten.\n\nDie Vergabe wird nichtöffentlich beraten, weil die Angebote "
        "Betriebs- und Geschäftsgeheimnisse der Bieter enthalten.",
        "Der Ausschuss beschließt, den Zuschlag für den Rahmenvertrag auf das wirtschaftlichste "
        "Angebot gemäß Vergabevermerk zu erteilen.",
        "Höchstens 240.000 Euro über drei Jahre; gedeckt aus Fördermitteln und dem Budget "
        "Digitalisierung.", public=False, started=wd(K, -8))
    script.start(v, "lenz", _at(wd(K, -7), 10))
    script.complete(v, "krause", agenda(next_mobility, "11", public=False), _at(K, 11))

    # 2024/075 — an Antrag still in Entwurf.
    vorlage(
        75, "Antrag: Prüfauftrag papierlose Gremienarbeit mit digitalen Sitzungsunterlagen", "Antrag",
        digital, lenz, [(mobility, "Vorberatung", later_mobility), (assembly, "Entscheidung", None)],
        "Antragstext:\n\nDie Verwaltung wird beauftragt zu prüfen, wie die Gremien des RAZV "
        "vollständig auf digitale Sitzungsunterlagen umgestellt werden können; Barrierefreiheit, "
        "Datenschutz und die Ausstattung der Mitglieder mit Endgeräten sind dabei zu "
        "berücksichtigen.\n\nBegründung:\n\nDer Versand gedruckter Unterlagen kostet Zeit, Papier "
        "und Porto, und viele Mitglieder arbeiten bereits digital. Mehrere Mitgliedskommunen haben "
        "gute Erfahrungen mit papierlosen Sitzungen gemacht.",
        "Die Verbandsversammlung beauftragt die Verwaltung mit der beantragten Prüfung und einem "
        "Bericht im Ausschuss für Mobilität und Digitalisierung.",
        "Die Prüfung erfolgt mit eigenem Personal.", started=wd(today, -2))

    return [(u, w) for u, w, _, _ in accounts], sorted(papers)


# ----------------------------------------------------------------------------- Anlagen

def _attach(session: Session, files: FileStore, paper: Paper, position: int, name: str,
            content: bytes) -> File:
    """Store ``content`` (a PDF) as an Anlage of ``paper``, as an upload is stored."""
    digest = files.put(session, content)
    row = File(paper_id=_id(paper), position=position, name=name, file_name=f"{name}.pdf",
               mime_type="application/pdf", size=len(content), sha_512_checksum=digest)
    session.add(row)
    return row


def _seed_anlage(name: str, size: int) -> bytes:
    """A stand-in for an Anlage of 2024/063: its name, exactly the size the seed page shows."""
    return demo_pdf_sized(name, [
        "Region Aachen Zweckverband – Vorlage 2024/063:",
        SEED["name"],
        "",
        "Demodokument: Das Original ist als Anlage zur Vorlage im Bürgerinformationssystem",
        "des Region Aachen Zweckverband veröffentlicht. Diese Datei vertritt es in der Demo",
        "mit gleichem Namen und gleicher Größe.",
    ], size)


def _pdf_text(text: str) -> bytes:
    """A PDF literal string in WinAnsiEncoding (the standard 14 fonts' encoding here)."""
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def demo_pdf(title: str, lines: Sequence[str] = (), padding: int = 0) -> bytes:
    """A valid one-page PDF 1.4: ``title`` and ``lines`` set in Helvetica on an A4 page.

    ``padding`` bytes of PDF comment lines stand between the objects and the
    cross-reference table (readers skip them), so a file can be made an exact size.
    """
    content = [b"BT", b"/F1 14 Tf", b"56 780 Td", b"18 TL"]
    for line in textwrap.wrap(title, 62) or [""]:
        content += [_pdf_text(line) + b" Tj", b"T*"]
    content += [b"/F1 10 Tf", b"14 TL", b"T*"]
    for paragraph in lines:
        for line in textwrap.wrap(paragraph, 88) or [""]:
            content += [_pdf_text(line) + b" Tj", b"T*"]
    content.append(b"ET")
    stream = b"\n".join(content) + b"\n"
    info_title = b"<FEFF" + title.encode("utf-16-be").hex().upper().encode() + b">"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
        b"<< /Title " + info_title + b" /Producer (ratsflow demo) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    out += _comment_block(padding)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


def _comment_block(size: int) -> bytes:
    """Exactly ``size`` bytes of PDF comment lines (a lone newline if one byte is left)."""
    width = 72
    full, rest = divmod(size, width)
    block = (b"%" + b" " * (width - 2) + b"\n") * full
    if rest == 1:
        block += b"\n"
    elif rest:
        block += b"%" + b" " * (rest - 2) + b"\n"
    return block


def demo_pdf_sized(title: str, lines: Sequence[str], size: int) -> bytes:
    """The PDF of :func:`demo_pdf`, padded to exactly ``size`` bytes."""
    padding = size - len(demo_pdf(title, lines))
    for _ in range(4):  # the startxref number may grow by a digit; settle it
        if padding < 0:
            raise ValueError(f"the PDF does not fit into {size} bytes")
        padded = demo_pdf(title, lines, padding)
        if len(padded) == size:
            return padded
        padding += size - len(padded)
    raise ValueError(f"cannot pad the PDF to {size} bytes")  # pragma: no cover
