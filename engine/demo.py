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

from engine import allowance, attendance, search, tasks
from engine.accounts import Account, Actor, create_account, load_actor
from engine.calendar import deadlines, reminders
from engine.council import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_CLERK,
    ROLE_RELEASE,
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
from engine.files import FileStore
from engine.process import procedures, sessions, timers
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.types import utcnow
from engine.workflow.models import ProcessInstance

SEED = json.loads((Path(__file__).parent / "demo_vorlage_2024_063.json").read_text(encoding="utf-8"))
#: Vorlagen 2024/064–075 and the steps of the secretaries' week (``_load_week``).
WEEK = json.loads((Path(__file__).parent / "demo_week.json").read_text(encoding="utf-8"))
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
    if week:
        _record_the_session(session, m_committee, now)
        _allowances(session, [committee, assembly], now)
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

    def start_lifecycle(self, paper: Paper, username: str, involved: list[int], at: datetime) -> None:
        self._add(paper, at, lambda when: procedures.start_lifecycle(
            self.session, _actor(self.session, username), _id(paper), involved, now=when))

    def complete_step(self, paper: Paper, username: str, step: str, data: dict[str, Any], at: datetime,
                      organization_id: int | None = None) -> None:
        """Complete the open step ``step`` (of ``organization_id``: one of a parallel Mitzeichnung)."""
        def run(when: datetime) -> None:
            query = select(HumanTask).where(HumanTask.paper_id == _id(paper), HumanTask.status == TASK_READY,
                                            HumanTask.bpmn_id == step)
            if organization_id is not None:
                query = query.where(HumanTask.organization_id == organization_id)
            task = self.session.exec(query).one()
            version = self.session.exec(select(ProcessInstance.version).where(
                ProcessInstance.id == task.process_instance_id)).one()
            procedures.complete_task(self.session, _actor(self.session, username), _id(task), data, version,
                                     now=when)
        self._add(paper, at, run)

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


#: The committee's further members in the demo's week (invented names).
COMMITTEE_MORE = [
    ("Schneider", "Ursula", "stellv. Vorsitz"), ("Fischer", "Markus", "Mitglied"),
    ("Meyer", "Sandra", "Mitglied"), ("Weber", "Jürgen", "Mitglied"), ("Schulz", "Andrea", "Mitglied"),
    ("Hoffmeister", "Klaus", "Mitglied"), ("Kaya", "Derya", "Mitglied"), ("Lemmens", "Jan", "Mitglied"),
    ("Braun", "Heike", "Mitglied"), ("Kowalski", "Piotr", "Mitglied"), ("Dahmen", "Ruth", "Mitglied"),
    ("Görgens", "Stefan", "Mitglied"),
    ("Offermann", "Birgit", "stellvertretendes Mitglied"), ("Pauls", "Michael", "stellvertretendes Mitglied"),
]


def _record_the_session(session: Session, meeting: Meeting, now: datetime) -> None:
    """SI/2024/131 as it took place: opened at 15:00, one member excused in advance (her
    stand-in came), one arrived late, one left early; guests from the Verwaltung and the press."""
    if meeting.start > now or meeting.id is None:
        return
    sheet = attendance.read_sheet(session, meeting)
    by_name = {li.name.split(",")[0]: li.person_id for li in sheet.lines}
    data: dict[str, Any] = {"opened": "15:00", "closed": "17:10", "guest-name-0": "Björn Zierstedt",
                            "guest-role-0": "Verwaltung (Wirtschaft und Raum)",
                            "guest-name-1": "Aachener Zeitung", "guest-role-1": "Presse"}
    for li in sheet.lines:
        member = li.kind == attendance.MEMBER
        data[f"status-{li.person_id}"] = attendance.PRESENT if member else attendance.ABSENT
    data[f"status-{by_name['Kaya']}"] = attendance.EXCUSED
    data[f"status-{by_name['Offermann']}"] = attendance.PRESENT
    data[f"for-{by_name['Offermann']}"] = str(by_name["Kaya"])
    data[f"arrived-{by_name['Lemmens']}"] = "15:35"
    data[f"left-{by_name['Braun']}"] = "16:40"
    first = next(iter(sheet.ordered_tops()), None)
    if first is not None:
        data[f"called-{first.item_id}"] = "15:05"
    attendance.record(session, _actor(session, "hoffmann"), meeting.id, data, now=now)
    excused = session.exec(select(attendance.Attendance).where(
        attendance.Attendance.meeting_id == meeting.id,
        attendance.Attendance.person_id == by_name["Kaya"])).one()
    excused.apology_at, excused.apology_note = meeting.start - timedelta(days=3), "Urlaub"
    session.add(excused)
    session.flush()


def _allowances(session: Session, gremien: list[Organization], now: datetime) -> None:
    """The Sitzungsgeld of the committee and the assembly, as the administration set it."""
    admin = _actor(session, "admin")
    for org, amount in zip(gremien, ("25,00", "30,00"), strict=True):
        assert org.id is not None
        allowance.set_rate(session, admin, org.id, {"amount": amount, "valid_from": "01.01.2024"}, now=now)


#: The order of the accounts in the README and the CLI's list.
_ACCOUNT_ORDER = ["zierstedt", "albrecht", "lenz", "kaiser", "brandt", "hoffmann", "weber", "schmitz",
                  "krause", "krueger", "becker", "admin"]


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
    # The AWSG as large as such a committee is (15 seats and two stand-ins), so that its votes
    # in the week (12 to 1) fit who was there.
    for family, given, role in COMMITTEE_MORE:
        seat = person(family, given, f"{given.lower()}.{family.lower()}@example.org")
        session.add(Membership(person_id=_id(seat), organization_id=_id(committee), role=role))
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

    # The Vorlagen and what the users did with them: engine/demo_week.json (its _note says
    # how a day is written). Names there are the Gremien, clerks and Sitzungen above.
    orgs = {"committee": committee, "assembly": assembly, "department": department,
            "mobility": mobility, "digital": digital}
    clerks = {"albrecht": albrecht, "lenz": lenz}
    meetings = {"past_committee": past_committee, "past_assembly": past_assembly,
                "past_mobility": past_mobility, "next_mobility": next_mobility,
                "later_mobility": later_mobility, "m_committee": g.m_committee,
                "m_assembly": g.m_assembly, "later_committee": g.later_committee,
                "later_assembly": g.later_assembly}
    days = {"C": C, "Q": Q, "P": P, "K": K, "today": today}

    def day(ref: Sequence[Any]) -> date:
        base = days[ref[0]] if ref[0] in days else day_of(meetings[ref[0]])
        return base if ref[1] is None else wd(base, ref[1])

    def at(ref: Sequence[Any]) -> datetime:
        return _at(day(ref), *ref[2:])

    def task_data(data: dict[str, Any]) -> dict[str, Any]:
        if "agenda" not in data:
            return data
        agenda: dict[str, Any] = {"meeting_id": meetings[data["agenda"]].id, "top_nummer": data["top"]}
        if not data.get("public", True):
            agenda["oeffentlich"] = False
        return agenda

    for item in WEEK["vorlagen"]:
        anlage = item.get("anlage")
        v = vorlage(
            item["number"], item["name"], item["paper_type"], orgs[item["lead"]], clerks[item["clerk"]],
            [(orgs[org], role, meetings[m] if m else None) for org, role, m in item["consultations"]],
            item["facts"], item["proposal"], item["financial"], item.get("personnel", "Keine."),
            public=item.get("public", True), started=day(item["started"]),
            anlage=(anlage["title"], anlage["lines"]) if anlage else None)
        for step in item["steps"]:
            user, when = step["user"], at(step["at"])
            if step["do"] == "start":
                script.start(v, user, when)
            elif step["do"] == "complete":
                script.complete(v, user, task_data(step["data"]), when)
            elif step["do"] == "claim":
                script.claim(v, user, when)
            elif step["do"] == "assign":
                script.assign(v, user, step["to"], when)
            elif step["do"] == "comment":
                script.comment(v, user, step["text"], when)
            else:
                raise ValueError(f"demo_week.json: unknown step {step['do']!r}")

    accounts += _lifecycle(session, password, g, digital, past_committee, script, vorlage, wd, today, Q)
    return [(u, w) for u, w, _, _ in accounts], sorted(papers)


def _lifecycle(session: Session, password: str, g: _Gremien, digital: Organization, past_committee: Meeting,
               script: _Script, vorlage: Callable[..., Paper], wd: Callable[[date, int], date], today: date,
               Q: date) -> list[tuple[str, str, Person, list[tuple[str, int | None]]]]:
    """Issue 18: Vorlagen 2024/076–079 in their lifecycle (bpmn/vorlage.bpmn) – one in its
    Mitzeichnung after a return, one in its Freigabe, two in their Beschlusskontrolle (one
    overdue) – with the head of Wirtschaft und Raum (brandt, Freigabe) and Finanzen (kaiser)."""
    finance = Organization(body_id=_id(g.body), name="Finanzen", organization_type="Verwaltungsbereich")
    session.add(finance)
    session.flush()
    people = {}
    for username, family, given in (("brandt", "Brandt", "Markus"), ("kaiser", "Kaiser", "Petra")):
        people[username] = Person(body_id=_id(g.body), family_name=family, given_name=given,
                                  email=f"{given.lower()}.{family.lower()}@example.org")
        session.add(people[username])
    session.flush()
    accounts: list[tuple[str, str, Person, list[tuple[str, int | None]]]] = [
        ("brandt", "Leitung Wirtschaft und Raum (Freigabe)", people["brandt"],
         [(ROLE_RELEASE, g.department.id)]),
        ("kaiser", "Sachbearbeitung Finanzen (Mitzeichnung bei finanziellen Auswirkungen)", people["kaiser"],
         [(ROLE_CLERK, finance.id)]),
    ]
    for username, _what, p, grants in accounts:
        create_account(session, username, password, f"{p.given_name} {p.family_name}", grants,
                       person_id=p.id, email=p.email)
    session.flush()
    clerk = session.exec(select(Person).where(Person.family_name == "Albrecht")).one()
    lead, digital_id, finance_id = g.department, _id(digital), _id(finance)
    steps_committee = [(g.committee, "Entscheidung", None)]

    def paper(number: int, name: str, financial: str, facts: str, proposal: str) -> Paper:
        return vorlage(number, name, "Beschlussvorlage", lead, clerk, steps_committee, facts, proposal,
                       financial, started=wd(today, -15))

    def at(day: date, hour: int) -> datetime:
        return _at(day, hour)

    # 2024/076: in its second round of Mitzeichnung, after Mobilität und Digitalisierung returned it.
    v = paper(76, "Digitale Sitzungsunterlagen für die Mitglieder",
              "Im Haushalt 2025 veranschlagt: 18.000 €.",
              "Sachlage: Die Mitglieder erhalten ihre Unterlagen künftig digital.",
              "Die Verbandsversammlung beschließt die Einführung digitaler Sitzungsunterlagen.")
    script.start_lifecycle(v, "albrecht", [digital_id], at(wd(today, -8), 9))
    script.complete_step(v, "albrecht", "Entwurf", {"finanzielle_auswirkungen": "im_haushalt"},
                         at(wd(today, -8), 10))
    script.complete_step(v, "lenz", "Mitzeichnung", {"mitzeichnung": "zurueck", "anmerkung":
                         "Bitte die Barrierefreiheit der Unterlagen (PDF/UA) aufnehmen."},
                         at(wd(today, -6), 11), digital_id)
    script.complete_step(v, "kaiser", "Mitzeichnung", {"mitzeichnung": "mit_anmerkung", "anmerkung":
                         "Deckung aus Produkt 01.11, Sachkonto 5431."}, at(wd(today, -5), 14), finance_id)
    script.complete_step(v, "albrecht", "Entwurf", {
        "finanzielle_auswirkungen": "im_haushalt",
        "ueberarbeitung": "Barrierefreiheit (PDF/UA) im Sachverhalt ergänzt."}, at(wd(today, -2), 9))

    # 2024/077: signed, waiting for its Freigabe.
    v = paper(77, "Fachkräftestrategie der Region", "Keine.",
              "Sachlage: Die Region entwickelt eine gemeinsame Fachkräftestrategie.",
              "Der Ausschuss nimmt die Fachkräftestrategie zur Kenntnis.")
    script.start_lifecycle(v, "albrecht", [digital_id], at(wd(today, -6), 9))
    script.complete_step(v, "albrecht", "Entwurf", {"finanzielle_auswirkungen": "keine"},
                         at(wd(today, -6), 10))
    script.complete_step(v, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, at(wd(today, -3), 15),
                         digital_id)

    # 2024/078 and 2024/079: decided in SI/2024/112, now in their Beschlusskontrolle (078 overdue).
    for number, name, due in ((78, "Förderaufruf Wasserstoff-Modellregion", wd(Q, 10)),
                              (79, "Radverkehrskonzept Region Aachen", wd(today, 40))):
        v = paper(number, name, "Keine.", f"Sachlage: {name}.", f"Der Ausschuss beschließt: {name}.")
        script.start_lifecycle(v, "albrecht", [], at(wd(Q, -25), 9))
        script.complete_step(v, "albrecht", "Entwurf", {"finanzielle_auswirkungen": "keine"},
                             at(wd(Q, -25), 10))
        script.complete_step(v, "brandt", "Freigabe", {"freigabe": "freigeben"}, at(wd(Q, -24), 11))
        script.complete_step(v, "hoffmann", "Tagesordnung", {"meeting_id": past_committee.id},
                             at(wd(Q, -22), 10))
        script.complete_step(v, "hoffmann", "Ergebnis", {"ergebnis": "beschlossen", "beschlusstext":
                             f"Der Ausschuss beschließt: {name}."}, at(Q, 18))
        script.complete_step(v, "albrecht", "Ausfertigung", {"faellig_am": due.isoformat()}, at(wd(Q, 3), 10))
    return accounts


# ----------------------------------------------------------------------------- Anlagen

def _attach(session: Session, files: FileStore, paper: Paper, position: int, name: str,
            content: bytes) -> File:
    """Store ``content`` (a PDF) as an Anlage of ``paper``, as an upload is stored."""
    digest = files.put(session, content)
    search.store_text(session, digest, content, "application/pdf")  # read once, as an upload's
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
