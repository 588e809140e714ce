"""Demo data: Vorlage 2024/063 of the Region Aachen Zweckverband, as on the seed page.

The two Sitzungen (SI/2024/131 on 08.11.2024, SI/2024/128 on 22.11.2024) are moved by
whole weeks, so weekday, order and the 14 days between them stay: the committee's lies a
few days in the past with the Vorlage on its agenda, so the first thing its secretary does
is record the result; the assembly's lies in the future. Persons other than the
Bearbeiter are made up for the demo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import holidays
from sqlmodel import Session, select

from . import procedures
from .accounts import Account, Actor, create_account, load_actor
from .council import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_CLERK,
    ROLE_SECRETARIAT,
    Body,
    Consultation,
    File,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
)
from .settings import TIMEZONE
from .tasks import TASK_READY, HumanTask
from .types import utcnow
from .workflow.models import ProcessInstance

SEED = json.loads((Path(__file__).parent / "demo_vorlage_2024_063.json").read_text(encoding="utf-8"))
COMMITTEE = "Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit"
ASSEMBLY = "Verbandsversammlung des Region Aachen Zweckverband"
ORIGINAL_COMMITTEE_DATE = date(2024, 11, 8)
ORIGINAL_ASSEMBLY_DATE = date(2024, 11, 22)
SESSION_TIME = time(15, 0)


@dataclass
class DemoResult:
    created: bool
    paper_id: int
    accounts: list[tuple[str, str]]  # (username, what they do)
    committee_meeting: Meeting | None = None
    assembly_meeting: Meeting | None = None


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


def free_day(day: date) -> date:
    """``day`` or the same weekday of a later week that is no public holiday in NRW."""
    while day in holidays.country_holidays("DE", subdiv="NW", years=day.year) \
            or (day.month, day.day) in {(12, 24), (12, 31)}:
        day += timedelta(weeks=1)
    return day


def load_demo(session: Session, password: str, now: datetime | None = None) -> DemoResult:
    """Load the demo once; a second call finds Vorlage 2024/063 and changes nothing."""
    existing = session.exec(select(Paper).where(Paper.reference == SEED["reference"])).first()
    if existing is not None:
        return DemoResult(False, existing.id, [])  # type: ignore[arg-type]
    now = now or utcnow()
    procedures.deploy_bundled(session)

    body = Body(name="Region Aachen Zweckverband", short_name="RAZV",
                website="https://regionaachen.de", state="NW")
    session.add(body)
    session.flush()
    committee = Organization(body_id=body.id, name=COMMITTEE, short_name="AWSG",
                             organization_type="Gremium", classification="Ausschuss")
    assembly = Organization(body_id=body.id, name=ASSEMBLY, short_name="VV",
                            organization_type="Gremium", classification="Verbandsversammlung")
    department = Organization(body_id=body.id, name="Wirtschaft und Raum",
                              organization_type="Verwaltungsbereich")
    session.add_all([committee, assembly, department])
    session.flush()

    def person(family: str, given: str, email: str) -> Person:
        p = Person(body_id=body.id, family_name=family, given_name=given, email=email)
        session.add(p)
        session.flush()
        return p

    clerk = person("Zierstedt", "Björn", "bjoern.zierstedt@example.org")
    secretary_c = person("Hoffmann", "Lea", "lea.hoffmann@example.org")
    secretary_a = person("Schmitz", "Jonas", "jonas.schmitz@example.org")
    auditor = person("Krüger", "Anna", "anna.krueger@example.org")
    members = [
        (person("Becker", "Martina", "martina.becker@example.org"), [committee, assembly], "Vorsitz"),
        (person("Wagner", "Thomas", "thomas.wagner@example.org"), [committee], "Mitglied"),
        (person("Yılmaz", "Elif", "elif.yilmaz@example.org"), [committee, assembly], "Mitglied"),
        (person("Jansen", "Peter", "peter.jansen@example.org"), [assembly], "Mitglied"),
        (person("Nowak", "Katarzyna", "katarzyna.nowak@example.org"), [assembly], "Mitglied"),
    ]
    for member, orgs, role in members:
        for org in orgs:
            session.add(Membership(person_id=member.id, organization_id=org.id,
                                   role=role if org is committee else "Mitglied"))

    today = now.astimezone(TIMEZONE).date()
    committee_date, assembly_date = shifted_dates(today)
    m_committee = Meeting(
        organization_id=committee.id, reference="SI/2024/131",
        name="Ordentliche Sitzung des Ausschusses für (eu)regionale Wirtschaft, "
             "Strukturentwicklung und Gesundheit",
        start=datetime.combine(committee_date, SESSION_TIME, TIMEZONE))
    m_assembly = Meeting(
        organization_id=assembly.id, reference="SI/2024/128",
        name="Ordentliche Sitzung der Verbandsversammlung des Region Aachen Zweckverband",
        start=datetime.combine(assembly_date, SESSION_TIME, TIMEZONE))
    # A later Sitzung of each Gremium, so that "vertagt" has somewhere to go.
    later_committee = Meeting(
        organization_id=committee.id, reference="SI/2024/140", name=m_committee.name,
        start=datetime.combine(free_day(committee_date + timedelta(weeks=4)), SESSION_TIME, TIMEZONE))
    later_assembly = Meeting(
        organization_id=assembly.id, reference="SI/2024/141", name=m_assembly.name,
        start=datetime.combine(free_day(assembly_date + timedelta(weeks=4)), SESSION_TIME, TIMEZONE))
    session.add_all([m_committee, m_assembly, later_committee, later_assembly])
    session.flush()

    paper = Paper(
        body_id=body.id, reference=SEED["reference"], name=SEED["name"],
        paper_type=SEED["paper_type"], public=SEED["public"], under_direction_of_id=department.id,
        clerk_id=clerk.id, facts=SEED["facts"], proposal_heading=SEED["proposal_heading"],
        proposal=SEED["proposal"], financial_impact=SEED["financial_impact"],
        personnel_impact=SEED["personnel_impact"],
    )
    session.add(paper)
    session.flush()
    session.add(Consultation(paper_id=paper.id, position=1, organization_id=committee.id,
                             meeting_id=m_committee.id, role="Kenntnisnahme"))
    session.add(Consultation(paper_id=paper.id, position=2, organization_id=assembly.id,
                             meeting_id=m_assembly.id, role="Kenntnisnahme"))
    for i, f in enumerate(SEED["files"], start=1):
        # Known by name and size only: the PDFs themselves are not part of the seed.
        session.add(File(paper_id=paper.id, position=i, name=f["name"], file_name=f"{f['name']}.pdf",
                         mime_type="application/pdf", size=f["size"]))

    accounts = [
        ("zierstedt", "Bearbeiter (Sachbearbeitung, Wirtschaft und Raum)", clerk,
         [(ROLE_CLERK, None)]),
        ("hoffmann", f"Sekretariat {committee.short_name}", secretary_c,
         [(ROLE_SECRETARIAT, committee.id)]),
        ("schmitz", f"Sekretariat {assembly.short_name}", secretary_a,
         [(ROLE_SECRETARIAT, assembly.id)]),
        ("krueger", "Revision (Prüfung)", auditor, [(ROLE_AUDITOR, None)]),
    ]
    for username, _what, p, grants in accounts:
        create_account(session, username, password, f"{p.given_name} {p.family_name}", grants,
                       person_id=p.id, email=p.email)
    create_account(session, "admin", password, "Administration", [(ROLE_ADMIN, None)])
    session.flush()

    # As it happened: started three weeks before the committee session, put on its agenda
    # two weeks before; the result waits for the secretary now.
    committee_start = m_committee.start
    procedures.start_beratungsfolge(session, _actor(session, "zierstedt"), paper.id,  # type: ignore[arg-type]
                                    now=committee_start - timedelta(weeks=3))
    _complete_open(session, "hoffmann", paper.id, {"meeting_id": m_committee.id, "top_nummer": "5"},  # type: ignore[arg-type]
                   now=committee_start - timedelta(weeks=2))
    return DemoResult(True, paper.id, [(u, w) for u, w, _, _ in accounts]  # type: ignore[arg-type]
                      + [("admin", "Administration")], m_committee, m_assembly)


def _complete_open(session: Session, username: str, paper_id: int, data: dict[str, object],
                   now: datetime) -> None:
    """Complete the one open task of a Vorlage as ``username`` did at ``now``."""
    task = session.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                                HumanTask.status == TASK_READY)).one()
    version = session.exec(select(ProcessInstance.version)
                           .where(ProcessInstance.id == task.process_instance_id)).one()
    procedures.complete_task(session, _actor(session, username), task.id, data, version, now=now)  # type: ignore[arg-type]


def _actor(session: Session, username: str) -> Actor:
    account = session.exec(select(Account).where(Account.username == username)).one()
    actor = load_actor(session, account.id)  # type: ignore[arg-type]
    assert actor is not None
    return actor
