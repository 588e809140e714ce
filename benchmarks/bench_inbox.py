"""Benchmark: the secretaries' inbox on PostgreSQL with 100,000 open and 1,000,000 completed tasks.

What is built (a throwaway PostgreSQL database, dropped at the end, also on failure):

* The schema by the migrations, the demo (``engine.demo.load_demo``), then a council of 40
  Gremien (the demo's two plus 38) in the demo Body, each with Sitzungen over two years
  (every 2 to 6 weeks), two or three Sekretariat accounts each, and ``sitzungsdienst``, the
  Sekretariat of the four largest Gremien after the demo committee.
* Open tasks, spread unevenly: the demo committee (AWSG, whose Sekretariat is the demo's
  ``hoffmann``) gets 8 %, the other 39 Gremien from about 7.7 % down to about 0.3 %.
  Starting 100,000 Beratungsfolgen through the engine takes about 17 minutes (about 10 ms
  each, measured), so: one Vorlage per Gremium and Sitzung within -60..+70 days is run
  *through the engine* (``procedures.start_beratungsfolge``, as the clerk; for a Sitzung in
  the past also ``procedures.complete_task`` of "Auf die Tagesordnung setzen", so that
  "Ergebnis erfassen" is open). Those rows are the templates. Each further open task is a
  bulk clone (PostgreSQL COPY) of a template of its Gremium: a new Paper (own reference and
  Betreff), its Consultations, a ProcessInstance whose state is the template's serializer
  JSON with the Vorlage and the consultation ids replaced (so it could be completed by the
  engine), the AgendaItem (result step) and the human_task rows with every column the
  engine set: lane, bpmn_id, title, form_key, organization_id, meeting_id, due, context
  JSON, search_text (``engine.tasks.search_text``), created; 10 % get an assignee, some of
  those a follow-up date. The result step's completed agenda step is cloned with it.
* Completed tasks: those cloned agenda steps, and finished Beratungsfolgen (two Beratungen,
  four tasks each: status ``erledigt``, completed, completed_by spread over the Gremium's
  Sekretariat, due from the engine's deadline rules) bulk inserted with COPY; their
  finished ProcessInstance carries the final state of one Beratungsfolge run to the end
  through the engine, copied inside the database. No audit events are written for bulk rows
  (the inbox never reads them).
* Stage 1 loads 10 % of both totals and measures; stage 2 loads the rest and measures
  again, so response sizes and times can be compared at two totals. Then
  ``VACUUM ANALYZE`` (as autovacuum would have done).

What is measured, through the real HTTP stack, with the server in a process of its own:
``benchmarks/timed_server.py`` serves the app (``web.create_app``, werkzeug's threaded server on
127.0.0.1) against the same database; this process is the client, one keep-alive
``http.client`` connection per account, logged in through the login form. Per request:
*server* time is taken in the server process around Flask's WSGI call (routing, login lookup,
SQL, JSON or template rendering, teardown that ends the unit of work) with the serving
thread's CPU time, *app* time between a first ``before_request`` and a last ``after_request``
hook (sent back as ``Server-Timing``), *client* time around the HTTP round trip. After 5
warm-up requests each view is requested ``--requests`` times (default 200); median, p95 and
max are printed with the response size and the number of rows. The floor beneath each view,
in the same run: the SQL statements of one such request (seen through Flask's test client in
this process, same app, same database) sent straight from psycopg, ``--requests`` times.
A deep page is reached by following ``next`` cursors (limit 50) once, then that cursor is
requested repeatedly. The main statements of a view are run under ``EXPLAIN (ANALYZE,
BUFFERS)``; the indexes named by the plans are listed.

Goal (issue 16): every view p95 server time < 20 ms at 100,000 open / 1,000,000 completed.

Run:  .venv/bin/python benchmarks/bench_inbox.py [--open 100000] [--done 1000000] [--requests 200]
      [--quick]  (10,000 open / 100,000 completed, 100 requests per view, one stage; about 1 min)
      [--json]   (last line of stdout: one JSON object with every view's figures and "goals")
      [--keep]   (leave the database for a look at the plans; its name is printed)
"""

from __future__ import annotations

import argparse
import gc
import http.client
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from sqlalchemy import create_engine, event, text  # noqa: E402
from sqlmodel import Session, col, select  # noqa: E402

from benchmarks.timed_server import TimedServer  # noqa: E402
from engine.accounts import Account, Grant, hash_password, load_actor  # noqa: E402
from engine.calendar import deadlines  # noqa: E402
from engine.council import (  # noqa: E402
    CONSULTATION_ROLES,
    PAPER_TYPES,
    ROLE_SECRETARIAT,
    AgendaItem,
    Body,
    Consultation,
    Meeting,
    Organization,
    Paper,
)
from engine.demo import SEED, load_demo  # noqa: E402
from engine.process import procedures
from engine.settings import TIMEZONE, load_settings  # noqa: E402
from engine.tasks import TASK_DONE, TASK_READY, HumanTask, search_text  # noqa: E402
from engine.workflow.models import ProcessInstance  # noqa: E402
from web import create_app  # noqa: E402

PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PASSWORD = "bench-passwort"
WARMUP = 5
TARGET_P95_MS = 20.0
PAGE = 50
DEEP_PAGES = 500
WINDOW = timedelta(days=60)  # open tasks belong to Sitzungen within about ±60 days
BIG_SHARE = 0.08  # the demo committee's share of the open tasks
GREMIEN = 40
SMALL_STAGE = 0.1
CHUNK = 5000

COMMITTEES = [
    ("Haupt- und Finanzausschuss", "HFA"), ("Ausschuss für Planung und Umwelt", "APU"),
    ("Bauausschuss", "BA"), ("Schulausschuss", "SchA"), ("Jugendhilfeausschuss", "JHA"),
    ("Sozialausschuss", "SozA"), ("Kulturausschuss", "KA"), ("Sportausschuss", "SpA"),
    ("Rechnungsprüfungsausschuss", "RPA"), ("Mobilitätsausschuss", "MobA"),
    ("Ausschuss für Digitalisierung", "DigA"), ("Integrationsrat", "IR"),
    ("Seniorenbeirat", "SB"), ("Inklusionsbeirat", "InkB"),
    ("Betriebsausschuss Abfallwirtschaft", "BAW"), ("Betriebsausschuss Gebäudemanagement", "BGM"),
    ("Ausschuss für Klimaschutz", "KSA"), ("Gesundheitsausschuss", "GA"),
    ("Wirtschaftsförderungsausschuss", "WFA"), ("Ausschuss für Tourismus", "TA"),
    ("Personalausschuss", "PA"), ("Wahlprüfungsausschuss", "WPA"),
    ("Ausschuss für Bürgerbeteiligung", "ABB"), ("Feuerwehrausschuss", "FwA"),
    ("Ausschuss für Wohnen", "WoA"), ("Vergabeausschuss", "VgA"),
    ("Bezirksvertretung Mitte", "BV1"), ("Bezirksvertretung Brand", "BV2"),
    ("Bezirksvertretung Eilendorf", "BV3"), ("Bezirksvertretung Haaren", "BV4"),
    ("Bezirksvertretung Kornelimünster/Walheim", "BV5"), ("Bezirksvertretung Laurensberg", "BV6"),
    ("Bezirksvertretung Richterich", "BV7"), ("Ausschuss für Gleichstellung", "GlA"),
    ("Ausschuss für Liegenschaften", "LgA"), ("Ausschuss für Energie", "EnA"),
    ("Umlegungsausschuss", "UA"), ("Ausschuss für Städtepartnerschaften", "StpA"),
]
TOPICS = [
    "Sanierung der Grundschule", "Radweg entlang der Landstraße bei", "Bebauungsplan für",
    "Neubau der Feuerwache", "Haushaltsansatz für Straßenbeleuchtung in",
    "Erweiterung der Kindertagesstätte", "Sanierung des Hallenbads", "Spielplatz am Markt in",
    "Förderantrag Städtebau für", "Lärmschutz an der Bahnstrecke bei",
    "Verkehrsberuhigung im Ortskern von", "Photovoltaik auf städtischen Dächern in",
    "Friedhofssatzung für", "Jahresabschluss der Stadtwerke", "Breitbandausbau in",
    "Baumschutzsatzung für", "Busverbindung nach", "Quartiersmanagement in",
    "Hochwasserschutz am Bach in", "Umbau der Stadtbibliothek", "Parkraumkonzept für",
    "Sportplatz mit Kunstrasen in", "Jugendzentrum in", "Seniorenwohnen in",
    "Dorferneuerung in", "Gewerbegebiet Nord bei", "Wochenmarkt in", "Musikschule in",
    "Partnerschaftsbesuch aus", "Straßenreinigungsgebühren für",
]
PLACES = [
    "Eilendorf", "Brand", "Kornelimünster", "Laurensberg", "Richterich", "Haaren", "Burtscheid",
    "Forst", "Stolberg", "Eschweiler", "Herzogenrath", "Würselen", "Alsdorf", "Baesweiler",
    "Monschau", "Simmerath", "Roetgen", "Übach-Palenberg", "Walheim", "Vaalserquartier",
    "Lichtenbusch", "Verlautenheide", "Hahn", "Breinig", "Vicht", "Zweifall", "Mausbach",
    "Gressenich", "Kohlscheid", "Merkstein",
]
WORD = "radweg"  # one topic in thirty


# ============================================================================ the council

@dataclass
class Gremium:
    id: int
    name: str
    share: float  # of the open (and completed) tasks
    secretaries: list[str]  # usernames
    weights: list[float]  # how the completions spread over them
    meetings: list[tuple[int, datetime]] = field(default_factory=list)  # (id, start), by start


@dataclass
class Council:
    now: datetime
    body_id: int
    department_id: int
    clerk_person_id: int
    clerk_account_id: int
    big: Gremium
    gremien: list[Gremium]
    multi: list[int]  # the Gremien of sitzungsdienst
    agenda_due: dict[int, date] = field(default_factory=dict)  # meeting id → agenda closing
    result_due: dict[int, date] = field(default_factory=dict)  # meeting id → result due

    def by_id(self, org_id: int) -> Gremium:
        return next(x for x in self.gremien if x.id == org_id)


def shares(count: int) -> list[float]:
    """The demo committee 8 %, the others geometric from ~7.7 % down to ~0.3 % (sum 1)."""
    ratio = 24 ** (-1 / (count - 2))
    raw = [ratio ** i for i in range(count - 1)]
    rest = 1 - BIG_SHARE
    return [BIG_SHARE] + [rest * r / sum(raw) for r in raw]


def build_council(db: Any, now: datetime, rng: random.Random) -> Council:
    """The demo, more Gremien up to 40, Sitzungen over two years, Sekretariat accounts.

    The demo's Gremien come first (its committee, hoffmann's, is the big one); each Gremium
    keeps the Sekretariat accounts the demo gave it and gets generated ones up to two (three
    for the committee)."""
    with db.unit_of_work() as s:
        demo = load_demo(s, PASSWORD, now=now)
        committee = s.get(Organization, demo.committee_meeting.organization_id)
        department = s.get(Organization, s.get(Paper, demo.paper_id).under_direction_of_id)
        body = s.get(Body, committee.body_id)
        orgs = [committee] + [o for o in s.exec(select(Organization).where(
            Organization.organization_type == "Gremium").order_by(col(Organization.id)))
            if o.id != committee.id]
        for name, short in COMMITTEES[:max(GREMIEN - len(orgs), 0)]:
            org = Organization(body_id=committee.body_id, name=name, short_name=short,
                               organization_type="Gremium",
                               classification="Bezirksvertretung" if short.startswith("BV")
                               else "Ausschuss")
            s.add(org)
            orgs.append(org)
        s.flush()
        split = shares(len(orgs))
        password_hash = hash_password(PASSWORD)
        accounts: dict[str, Account] = {a.username: a for a in s.exec(select(Account))}
        granted: dict[int, list[str]] = {}
        for username, org_id in s.exec(select(Account.username, Grant.organization_id).join(
                Grant, col(Grant.account_id) == Account.id).where(Grant.role == ROLE_SECRETARIAT)):
            if org_id is not None:
                granted.setdefault(org_id, []).append(username)

        def account(username: str, display: str) -> Account:
            if username not in accounts:
                accounts[username] = Account(username=username, password_hash=password_hash,
                                             display_name=display)
                s.add(accounts[username])
                s.flush()
            return accounts[username]

        gremien = []
        for i, (org, share) in enumerate(zip(orgs, split, strict=True)):
            names = sorted(granted.get(org.id, []), key=lambda u: (u != "hoffmann", u))  # type: ignore[arg-type]
            for k in range(len(names), 3 if i == 0 else 2):
                username = f"sek{i:02d}.{'abc'[k]}"
                acc = account(username, f"Sekretariat {org.short_name or org.name} ({username})")
                s.add(Grant(account_id=acc.id, role=ROLE_SECRETARIAT, organization_id=org.id))
                names.append(username)
            first = 0.5 if i == 0 else 0.6  # hoffmann completes half of the committee's tasks
            weights = [first] + [(1 - first) / (len(names) - 1)] * (len(names) - 1)
            gremien.append(Gremium(org.id, org.name, share, names, weights))  # type: ignore[arg-type]
        # sitzungsdienst: the Sekretariat of the four largest Gremien after the demo committee.
        multi = [x.id for x in gremien[1:5]]
        acc = account("sitzungsdienst", "Zentraler Sitzungsdienst")
        for x in gremien[1:5]:
            s.add(Grant(account_id=acc.id, role=ROLE_SECRETARIAT, organization_id=x.id))
            x.secretaries.append("sitzungsdienst")
            x.weights = [w * 0.7 for w in x.weights] + [0.3]
        # Sitzungen: about 18 months back, 6 months ahead; every 2 (the committee) to 6 weeks.
        today = now.astimezone(TIMEZONE).date()
        serial = 0
        for i, x in enumerate(gremien):
            every = 2 if i == 0 else 3 + i % 4
            day = today - timedelta(days=540 + i % 5) + timedelta(days=(i % 4) - today.weekday())
            while day <= today + timedelta(days=190):
                serial += 1
                start = datetime.combine(day, clock_time(15 + i % 3, 0), TIMEZONE)
                s.add(Meeting(organization_id=x.id, reference=f"SI/{day.year}/B{serial:04d}",
                              name=f"Sitzung: {x.name}", start=start))
                day += timedelta(weeks=every)
        s.flush()
        for x in gremien:
            x.meetings = [(m.id, m.start) for m in s.exec(  # type: ignore[misc]
                select(Meeting).where(Meeting.organization_id == x.id).order_by(col(Meeting.start)))]
        clerk = s.exec(select(Account).where(Account.username == "zierstedt")).one()
        council = Council(now, committee.body_id, department.id, clerk.person_id,  # type: ignore[arg-type]
                          clerk.id, gremien[0], gremien, multi)  # type: ignore[arg-type]
        # Due dates by the engine's deadline rules, once per Sitzung.
        for meeting in s.exec(select(Meeting)):
            day = meeting.start.astimezone(TIMEZONE).date()
            council.agenda_due[meeting.id] = deadlines.deadlines_for_meeting(s, meeting).agenda_closing  # type: ignore[index]
            council.result_due[meeting.id] = deadlines.result_due(  # type: ignore[index]
                day, deadlines.rules_for(s, meeting.organization_id), body.state)  # type: ignore[union-attr]
    return council


def betreff(rng: random.Random) -> str:
    return f"{rng.choice(TOPICS)} {rng.choice(PLACES)}"


#: What a real Vorlage carries besides its Betreff: the seed's Sachverhalt (3 kB), proposal etc.
TEXTS = {k: SEED[k] for k in ("facts", "proposal_heading", "proposal", "financial_impact",
                              "personnel_impact")}


# ============================================================================ engine templates

@dataclass
class Template:
    """One Vorlage whose Beratungsfolge ran through the engine: its rows, to be cloned."""

    org_id: int
    meeting_id: int
    vorlage: dict[str, Any]
    paper: dict[str, Any]
    consultations: list[dict[str, Any]]
    instance: dict[str, Any]
    agenda: list[dict[str, Any]]
    tasks: list[dict[str, Any]]  # open and done rows of the instance


def _columns(row: Any) -> dict[str, Any]:
    return {c.name: getattr(row, c.name) for c in row.__table__.columns}


def _read_template(s: Session, paper_id: int, org_id: int, meeting_id: int) -> Template:
    paper = s.get(Paper, paper_id)
    consultations = list(s.exec(select(Consultation).where(Consultation.paper_id == paper_id)
                                .order_by(col(Consultation.position))))
    instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper_id)).one()
    agenda = list(s.exec(select(AgendaItem).where(col(AgendaItem.consultation_id).in_(
        [c.id for c in consultations])).order_by(col(AgendaItem.id))))
    tasks = list(s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id)
                        .order_by(col(HumanTask.id))))
    vorlage = {"id": paper.id, "reference": paper.reference, "name": paper.name}  # type: ignore[union-attr]
    template = Template(org_id, meeting_id, vorlage, _columns(paper),
                        [_columns(c) for c in consultations], _columns(instance),
                        [_columns(a) for a in agenda], [_columns(t) for t in tasks])
    state = template.instance["state"]
    assert json.dumps(vorlage) in state, "the Vorlage is not where the clone replaces it"
    for c in consultations:
        assert f'"consultation_id": {c.id},' in state, "a consultation id is not where expected"
    return template


def make_templates(db: Any, council: Council, rng: random.Random) -> tuple[dict[int, list[Template]],
                                                                          Template, int]:
    """Through the engine: one Vorlage per Gremium and Sitzung within the window, and one
    Beratungsfolge run to its end. Returns the templates by Gremium, the finished one and the
    number of engine calls."""
    now = council.now
    templates: dict[int, list[Template]] = {}
    calls = 0
    ids = [x.id for x in council.gremien]
    for index, x in enumerate(council.gremien):
        other = council.by_id(ids[(index + 1) % len(ids)])
        with db.unit_of_work() as s:
            clerk = load_actor(s, council.clerk_account_id)
            secretary = load_actor(s, s.exec(select(Account.id).where(
                Account.username == x.secretaries[0])).one())
            made = []
            for meeting_id, start in x.meetings:
                if not now - WINDOW <= start <= now + WINDOW + timedelta(days=10):
                    continue
                paper = Paper(body_id=council.body_id, reference=f"T/{x.id}/{meeting_id}",
                              name=betreff(rng), paper_type=rng.choice(PAPER_TYPES),
                              under_direction_of_id=council.department_id,
                              clerk_id=council.clerk_person_id, **TEXTS)
                s.add(paper)
                s.flush()
                s.add(Consultation(paper_id=paper.id, position=1, organization_id=x.id,
                                   meeting_id=meeting_id, role=rng.choice(CONSULTATION_ROLES)))
                s.add(Consultation(paper_id=paper.id, position=2, organization_id=other.id,
                                   role="Entscheidung"))
                s.flush()
                if start <= now:  # the Sitzung took place: the result is to be recorded
                    started = start - timedelta(days=28)
                    procedures.start_beratungsfolge(s, clerk, paper.id, now=started)  # type: ignore[arg-type]
                    # The next free TOP (a number already taken in that Sitzung is refused).
                    _complete_open(s, secretary, paper.id, {"meeting_id": meeting_id},  # type: ignore[arg-type]
                                   start - timedelta(days=14))
                    calls += 2
                else:
                    started = now - timedelta(days=rng.uniform(1, 20))
                    procedures.start_beratungsfolge(s, clerk, paper.id, now=started)  # type: ignore[arg-type]
                    calls += 1
                made.append((paper.id, meeting_id))
            s.flush()
            templates[x.id] = [_read_template(s, p, x.id, m) for p, m in made]
    finished, fin_calls = _finished_template(db, council)
    return templates, finished, calls + fin_calls


def _complete_open(s: Session, actor: Any, paper_id: int, data: dict[str, Any], at: datetime) -> None:
    task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                          HumanTask.status == TASK_READY)).one()
    version = s.exec(select(ProcessInstance.version)
                     .where(ProcessInstance.id == task.process_instance_id)).one()
    procedures.complete_task(s, actor, task.id, data, version, now=at)  # type: ignore[arg-type]


def _finished_template(db: Any, council: Council) -> tuple[Template, int]:
    """A Beratungsfolge (demo committee, then the assembly) run to its end through the engine."""
    big, assembly = council.gremien[0], council.gremien[1]
    m1 = next((i, st) for i, st in big.meetings if st > council.now - timedelta(days=300))
    m2 = next((i, st) for i, st in assembly.meetings if st > m1[1] + timedelta(days=7))
    with db.unit_of_work() as s:
        clerk = load_actor(s, council.clerk_account_id)
        paper = Paper(body_id=council.body_id, reference="T/FINISHED", name=betreff(random.Random(1)),
                      under_direction_of_id=council.department_id, clerk_id=council.clerk_person_id,
                      **TEXTS)
        s.add(paper)
        s.flush()
        s.add(Consultation(paper_id=paper.id, position=1, organization_id=big.id,
                           meeting_id=m1[0], role="Kenntnisnahme"))
        s.add(Consultation(paper_id=paper.id, position=2, organization_id=assembly.id,
                           meeting_id=m2[0], role="Kenntnisnahme"))
        s.flush()
        procedures.start_beratungsfolge(s, clerk, paper.id, now=m1[1] - timedelta(days=28))  # type: ignore[arg-type]
        steps = [(big, {"meeting_id": m1[0]}, m1[1] - timedelta(days=14)),
                 (big, {"ergebnis": "zur_kenntnis_genommen"}, m1[1] + timedelta(days=1)),
                 (assembly, {"meeting_id": m2[0]}, m1[1] + timedelta(days=2)),
                 (assembly, {"ergebnis": "zur_kenntnis_genommen"}, m2[1] + timedelta(days=1))]
        for gremium, data, at in steps:
            secretary = load_actor(s, s.exec(select(Account.id).where(
                Account.username == gremium.secretaries[0])).one())
            _complete_open(s, secretary, paper.id, data, at)  # type: ignore[arg-type]
        s.flush()
        instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper.id)).one()
        assert instance.completed is not None, "the Beratungsfolge did not finish"
        return _read_template(s, paper.id, big.id, m1[0]), 1 + len(steps)  # type: ignore[arg-type]


# ============================================================================ bulk clones (COPY)

class Ids:
    """The next ids of the tables written by COPY (sequences are set afterwards)."""

    TABLES = ("paper", "consultation", "process_instance", "agenda_item", "human_task")

    def __init__(self, pg: psycopg.Connection) -> None:
        self.next = {t: pg.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {t}").fetchone()[0]  # type: ignore[index]
                     for t in self.TABLES}
        self.serial = pg.execute("SELECT count(*) FROM paper").fetchone()[0]  # type: ignore[index]

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] += 1
        return value

    def reference(self, year: int) -> str:
        self.serial += 1
        return f"{year}/{self.serial:06d}"

    def sync(self, pg: psycopg.Connection) -> None:
        for t in self.TABLES:
            pg.execute(f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), "
                       f"(SELECT coalesce(max(id), 1) FROM {t}))")


def _copy(pg: psycopg.Connection, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    quoted = ", ".join(f'"{c}"' for c in columns)
    with pg.cursor() as cur, cur.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if isinstance(v, dict | list) else v
                            for v in (row[c] for c in columns)])


class Batch:
    """Rows collected per table, written with COPY in foreign-key order. Finished instances
    are written inside the database: their state is the finished template's, copied."""

    ORDER = ("paper", "consultation", "process_instance", "agenda_item", "human_task")

    def __init__(self, pg: psycopg.Connection, finished: Template) -> None:
        self.pg = pg
        self.finished = finished
        self.rows: dict[str, list[dict[str, Any]]] = {t: [] for t in self.ORDER}
        self.instances: list[tuple[int, int, datetime, datetime]] = []  # finished ones
        pg.execute("CREATE TEMP TABLE IF NOT EXISTS bench_finished "
                   "(id int, paper_id int, started timestamptz, updated timestamptz)")

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.rows[table].append(row)

    def flush(self) -> None:
        for table in self.ORDER:
            _copy(self.pg, table, self.rows[table])
            self.rows[table] = []
            if table == "process_instance" and self.instances:
                with self.pg.cursor() as cur, cur.copy("COPY bench_finished FROM STDIN") as copy:
                    for row in self.instances:
                        copy.write_row(row)
                self.pg.execute(
                    "INSERT INTO process_instance (id, model_id, paper_id, state, serializer_version, "
                    "version, status, started, updated, completed) SELECT f.id, t.model_id, f.paper_id, "
                    "t.state, t.serializer_version, t.version, t.status, f.started, f.updated, f.updated "
                    "FROM bench_finished f CROSS JOIN process_instance t WHERE t.id = %s ORDER BY f.id",
                    [self.finished.instance["id"]])
                self.pg.execute("TRUNCATE bench_finished")
                self.instances = []


def quotas(council: Council, total: int) -> list[tuple[Gremium, int]]:
    counts = [int(total * x.share) for x in council.gremien]
    counts[0] += total - sum(counts)
    return list(zip(council.gremien, counts, strict=True))


def _pick(rng: random.Random, gremium: Gremium) -> str:
    return rng.choices(gremium.secretaries, gremium.weights)[0]


@dataclass
class Unit:
    """One Vorlage to write: an open clone or a finished Beratungsfolge, at its start time."""

    at: datetime
    open: tuple[Template, Gremium, timedelta] | None = None
    finished: tuple[Gremium, tuple[int, datetime], Gremium, tuple[int, datetime]] | None = None


def plan_open(council: Council, templates: dict[int, list[Template]], total: int,
              rng: random.Random) -> tuple[list[Unit], int]:
    """``total`` open clones (by Gremium quota, a random template of the Gremium each);
    returns them and the completed agenda steps that come with them."""
    units, done = [], 0
    for gremium, count in quotas(council, total):
        for _ in range(count):
            t = rng.choice(templates[gremium.id])
            shift = timedelta(hours=-rng.uniform(0, 48))  # spread out, never later than now
            units.append(Unit(t.instance["started"] + shift, open=(t, gremium, shift)))
            done += sum(1 for row in t.tasks if row["status"] == TASK_DONE)
    return units, done


def plan_finished(council: Council, tasks: int, rng: random.Random) -> list[Unit]:
    """Finished Beratungsfolgen (two Gremien by share, four tasks each) until ``tasks``."""
    gremien = council.gremien
    weights = [x.share for x in gremien]
    last = council.now - timedelta(days=21)
    past = {x.id: [m for m in x.meetings if m[1] < last] for x in gremien}
    units: list[Unit] = []
    while 4 * len(units) < tasks:
        g1, g2 = rng.choices(gremien, weights, k=2)
        if g1.id == g2.id:
            continue
        m1 = rng.choice(past[g1.id])
        later = [m for m in g2.meetings if m1[1] + timedelta(days=7) < m[1] < last]
        if later:
            units.append(Unit(m1[1] - timedelta(days=28, hours=rng.uniform(0, 72)),
                              finished=(g1, m1, g2, later[0])))
    return units


def write_units(pg: psycopg.Connection, council: Council, finished: Template, units: list[Unit],
                rng: random.Random, ids: Ids) -> None:
    """In the order they started (ids and heap order follow time, Gremien interleaved)."""
    batch = Batch(pg, finished)
    units.sort(key=lambda u: u.at)
    for i, unit in enumerate(units, start=1):
        if unit.open is not None:
            _clone_one(batch, council, *unit.open, rng, ids)
        else:
            _finished_one(batch, council, finished, unit, rng, ids)
        if i % CHUNK == 0:
            batch.flush()
    batch.flush()


def _clone_one(batch: Batch, council: Council, t: Template, gremium: Gremium, shift: timedelta,
               rng: random.Random, ids: Ids) -> None:
    paper_id = ids.take("paper")
    name = betreff(rng)
    reference = ids.reference((t.instance["started"] + shift).year)
    vorlage = {"id": paper_id, "reference": reference, "name": name}
    batch.add("paper", {**t.paper, "id": paper_id, "reference": reference, "name": name,
                        "paper_type": rng.choice(PAPER_TYPES), "created": t.instance["started"] + shift,
                        "modified": t.instance["updated"] + shift})
    consultation_ids: dict[int, int] = {}
    state = t.instance["state"].replace(json.dumps(t.vorlage), json.dumps(vorlage))
    for c in t.consultations:
        new_id = consultation_ids[c["id"]] = ids.take("consultation")
        batch.add("consultation", {**c, "id": new_id, "paper_id": paper_id})
        state = state.replace(f'"consultation_id": {c["id"]},', f'"consultation_id": {new_id},')
    instance_id = ids.take("process_instance")
    batch.add("process_instance", {**t.instance, "id": instance_id, "paper_id": paper_id, "state": state,
                                   "started": t.instance["started"] + shift,
                                   "updated": t.instance["updated"] + shift})
    for a in t.agenda:
        batch.add("agenda_item", {**a, "id": ids.take("agenda_item"), "name": name,
                                  "consultation_id": consultation_ids[a["consultation_id"]],
                                  "created": a["created"] + shift, "modified": a["modified"] + shift})
    for row in t.tasks:
        beratung = {**row["context"]["beratung"],
                    "consultation_id": consultation_ids[row["context"]["beratung"]["consultation_id"]]}
        new = {**row, "id": ids.take("human_task"), "process_instance_id": instance_id,
               "paper_id": paper_id, "consultation_id": consultation_ids[row["consultation_id"]],
               "context": {**row["context"], "beratung": beratung, "vorlage": vorlage},
               "search_text": search_text(reference, name), "created": row["created"] + shift}
        if row["status"] == TASK_DONE:
            new.update(completed=row["completed"] + shift, completed_by=_pick(rng, gremium))
        elif rng.random() < 0.1:  # held by someone of the group
            new["assignee"] = _pick(rng, gremium)
            if rng.random() < 0.3:
                new["follow_up"] = council.now.date() + timedelta(days=rng.randint(0, 14))
        batch.add("human_task", new)


def _finished_one(batch: Batch, council: Council, finished: Template, unit: Unit, rng: random.Random,
                  ids: Ids) -> None:
    """The rows of one finished Beratungsfolge, shaped like the engine-run ``finished``."""
    assert unit.finished is not None
    g1, m1, g2, m2 = unit.finished
    shapes = {(r["bpmn_id"], r["context"]["beratung"]["position"]): r for r in finished.tasks}
    paper_id, name, started = ids.take("paper"), betreff(rng), unit.at
    reference = ids.reference(started.year)
    vorlage = {"id": paper_id, "reference": reference, "name": name}
    ended = m2[1] + timedelta(days=rng.uniform(1, 4))
    batch.add("paper", {**finished.paper, "id": paper_id, "reference": reference, "name": name,
                        "paper_type": rng.choice(PAPER_TYPES), "created": started, "modified": ended})
    instance_id = ids.take("process_instance")
    batch.instances.append((instance_id, paper_id, started, ended))
    agenda_at = m1[1] - timedelta(days=14, hours=rng.uniform(0, 48))
    result_at = m1[1] + timedelta(days=rng.uniform(0.2, 4))
    steps = [  # (gremium, meeting, position, step, created, completed)
        (g1, m1, 1, "Tagesordnung", started, agenda_at),
        (g1, m1, 1, "Ergebnis", agenda_at, result_at),
        (g2, m2, 2, "Tagesordnung", result_at, result_at + timedelta(days=rng.uniform(0.1, 3))),
        (g2, m2, 2, "Ergebnis", result_at + timedelta(days=3), ended)]
    consultation = {}
    for position, (gremium, meeting) in ((1, (g1, m1)), (2, (g2, m2))):
        consultation[position] = ids.take("consultation")
        batch.add("consultation", {**finished.consultations[position - 1], "id": consultation[position],
                                   "paper_id": paper_id, "organization_id": gremium.id,
                                   "meeting_id": meeting[0]})
    for gremium, meeting, position, step, created, completed in steps:
        shape = shapes[(step, position)]
        beratung = {**shape["context"]["beratung"], "consultation_id": consultation[position],
                    "organization_id": gremium.id, "organization_name": gremium.name,
                    "meeting_id": meeting[0] if position == 1 else None}
        due = council.agenda_due[meeting[0]] if step == "Tagesordnung" else council.result_due[meeting[0]]
        batch.add("human_task", {
            **shape, "id": ids.take("human_task"), "process_instance_id": instance_id,
            "paper_id": paper_id, "organization_id": gremium.id,
            "consultation_id": consultation[position], "meeting_id": meeting[0],
            "context": {**shape["context"], "beratung": beratung, "vorlage": vorlage}, "due": due,
            "search_text": search_text(reference, name), "created": created, "completed": completed,
            "completed_by": _pick(rng, gremium), "status": TASK_DONE})


# ============================================================================ HTTP

class Client:
    """One keep-alive HTTP/1.1 connection with its cookies (the login session)."""

    def __init__(self, port: int, username: str | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}
        self.username = username
        if username is None:
            return
        _, _, page, _ = self.request("GET", "/anmelden")
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.decode())
        assert found, "no CSRF token on the login page"
        status, _, body, _ = self.request(
            "POST", "/anmelden", urlencode({"username": username, "password": PASSWORD,
                                            "csrf_token": found.group(1)}),
            {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 302, (status, body[:300])

    def request(self, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, bytes, float]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        t0 = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - t0
        for value in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = value.partition("=")
            cookie = rest.split(";", 1)[0]
            if cookie:
                self.cookies[name.strip()] = cookie
            else:
                self.cookies.pop(name.strip(), None)
        return response.status, response.headers, data, elapsed

    def get(self, path: str) -> tuple[int, Any, bytes, float]:
        return self.request("GET", path)

    def close(self) -> None:
        self.conn.close()


class Probe:
    """What the server process measured (``benchmarks/timed_server.py``), over its own connection."""

    def __init__(self, port: int) -> None:
        self.client = Client(port)

    def times(self) -> list[tuple[float, float]]:
        status, _, body, _ = self.client.get("/_bench/times")
        assert status == 200, body[:300]
        return [(wall, cpu) for wall, cpu in json.loads(body)]

    def prepared(self, like: str) -> dict[str, int]:
        status, _, body, _ = self.client.get("/_bench/prepared?" + urlencode({"like": like}))
        assert status == 200, body[:300]
        return json.loads(body)  # type: ignore[no-any-return]


@dataclass
class Result:
    label: str
    path: str
    server: list[float]
    cpu: list[float]
    app: list[float]
    client: list[float]
    size: int
    rows: int
    sql: list[float] = field(default_factory=list)  # the floor: the request's SQL alone
    statements: int = 0


def rows_of(path: str, body: bytes) -> int:
    if path.startswith("/api/"):
        return len(json.loads(body)["tasks"])
    return body.decode().count('<tr class="')


def measure(client: Client, probe: Probe, label: str, path: str, n: int) -> Result:
    for _ in range(WARMUP):
        status, _, body, _ = client.get(path)
        assert status == 200, (label, status, body[:500])
    probe.times()  # forget the warm-up
    gc.collect()
    app, wall, sizes, rows = [], [], set(), set()
    for _ in range(n):
        status, headers, body, elapsed = client.get(path)
        assert status == 200, (label, status, body[:500])
        timing = headers.get("Server-Timing", "")
        app.append(float(timing.split("dur=")[1]) / 1000 if "dur=" in timing else float("nan"))
        wall.append(elapsed)
        sizes.add(len(body))
        rows.add(rows_of(path, body))
    assert len(rows) == 1, (label, rows)
    taken = probe.times()
    assert len(taken) == n, (label, len(taken), n)
    return Result(label, path, [w for w, _ in taken], [c for _, c in taken], app, wall,
                  max(sizes), rows.pop())


def walk(client: Client, path: str, pages: int) -> tuple[str | None, int, float]:
    """Follow ``next`` from the first page; the cursor of page ``pages`` (or the last one)."""
    t0 = time.perf_counter()
    cursor, depth = None, 1
    sep = "&" if "?" in path else "?"
    while depth < pages:
        status, _, body, _ = client.get(path + (f"{sep}cursor={cursor}" if cursor else ""))
        assert status == 200, body[:300]
        following = json.loads(body)["next"]
        if following is None:
            break
        cursor, depth = following, depth + 1
    return cursor, depth, time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ms(value: float) -> str:
    return f"{value * 1000:7.2f}"


def print_table(title: str, results: list[Result]) -> None:
    print(f"\n{title}")
    print(f"  {'view':50}{'rows':>5}{'bytes':>7} | {'server (WSGI) ms':^23} | {'server CPU ms':^15} | "
          f"{'app ms':^15} | {'client ms':^15} | {'SQL alone ms':^18}")
    print(f"  {'':50}{'':5}{'':7} |{'median':>7}{'p95':>8}{'max':>8} |{'median':>7}{'p95':>8} |"
          f"{'median':>7}{'p95':>8} |{'median':>7}{'p95':>8} |{'stmts':>6}{'median':>7}{'p95':>6}")
    for r in results:
        sql = (f"{r.statements:>6}{ms(statistics.median(r.sql))}{ms(pct(r.sql, 0.95)).strip():>6}"
               if r.sql else f"{'-':>6}")
        print(f"  {r.label[:50]:50}{r.rows:>5}{r.size:>7} |{ms(statistics.median(r.server))}"
              f"{ms(pct(r.server, 0.95)):>8}{ms(max(r.server)):>8} |{ms(statistics.median(r.cpu))}"
              f"{ms(pct(r.cpu, 0.95)):>8} |{ms(statistics.median(r.app))}{ms(pct(r.app, 0.95)):>8} |"
              f"{ms(statistics.median(r.client))}{ms(pct(r.client, 0.95)):>8} |{sql}")


def load_average() -> str:
    """Other processes on this machine compete for the CPUs: shown next to every table."""
    one, five, _ = Path("/proc/loadavg").read_text().split()[:3]
    return f"load average {one} (1 min), {five} (5 min) on {os.cpu_count()} CPUs"


def load_figures() -> tuple[float, float]:
    one, five = Path("/proc/loadavg").read_text().split()[:2]
    return float(one), float(five)


# ============================================================================ the views

@dataclass
class View:
    user: str
    label: str
    path: str
    deep: int = 0  # follow this many pages first (0: the path as it is)
    explain: bool = False


@dataclass
class Picks:
    """Filter values chosen from the data once (at the first stage)."""

    meeting: tuple[int, str]  # an AWSG Sitzung with many overdue result steps
    rare: str  # the reference of one open AWSG Vorlage
    rare_done: str  # the reference of hoffmann's oldest completed task


def views(picks: Picks) -> list[View]:
    api = "/api/v1/tasks"
    meeting_id, meeting_ref = picks.meeting
    return [
        View("hoffmann", "hoffmann: default view (API)", api, explain=True),
        View("hoffmann", "hoffmann: default view (HTML /aufgaben/)", "/aufgaben/"),
        View("hoffmann", "hoffmann: list fragment (HTML /aufgaben/liste)", "/aufgaben/liste"),
        View("hoffmann", f"hoffmann: meeting={meeting_ref}&overdue=true",
             f"{api}?view=gremium&meeting={meeting_id}&overdue=true", explain=True),
        View("hoffmann", f"hoffmann: q={WORD}", f"{api}?q={WORD}", explain=True),
        View("hoffmann", f"hoffmann: q={picks.rare} (one Vorlage)", f"{api}?q={picks.rare}", explain=True),
        View("hoffmann", f"hoffmann: q={WORD} (HTML)", f"/aufgaben/?q={WORD}"),
        View("hoffmann", "hoffmann: view=mine", f"{api}?view=mine"),
        View("hoffmann", "hoffmann: view=group", f"{api}?view=group"),
        View("hoffmann", "hoffmann: sort=created", f"{api}?sort=created"),
        View("hoffmann", "hoffmann: paper_type=Antrag", f"{api}?paper_type=Antrag", explain=True),
        View("hoffmann", "hoffmann: last page", api, deep=10**6, explain=True),
        View("hoffmann", "hoffmann: view=done", f"{api}?view=done", explain=True),
        View("hoffmann", f"hoffmann: view=done, page {DEEP_PAGES}", f"{api}?view=done", deep=DEEP_PAGES),
        View("hoffmann", f"hoffmann: view=done&q={picks.rare_done} (oldest)",
             f"{api}?view=done&q={picks.rare_done}", explain=True),
        View("sitzungsdienst", "sitzungsdienst (4 Gremien): default view", api, explain=True),
        View("sitzungsdienst", f"sitzungsdienst: page {DEEP_PAGES}", api, deep=DEEP_PAGES, explain=True),
        View("admin", "admin (all Gremien): default view", api),
    ]


def run_views(port: int, capture: Capture, pg_url: str, picks: Picks, n: int,
              explain: bool) -> tuple[list[Result], list[str]]:
    clients = {u: Client(port, u) for u in ("hoffmann", "sitzungsdienst", "admin")}
    probe = Probe(port)
    results, explained = [], []
    try:
        for view in views(picks):
            client = clients[view.user]
            path, label = view.path, view.label
            if view.deep:
                cursor, depth, took = walk(client, view.path, view.deep)
                sep = "&" if "?" in view.path else "?"
                path = view.path + (f"{sep}cursor={cursor}" if cursor else "")
                label = f"{label} (page {depth})" if view.deep > DEEP_PAGES else label
                if depth < view.deep and view.deep <= DEEP_PAGES:
                    label = f"{label}: only {depth} pages"
                print(f"  walked {depth} pages of '{view.label}' in {took:.1f} s "
                      f"({took / max(depth - 1, 1) * 1000:.1f} ms/page incl. client)")
            result = measure(client, probe, label, path, n)
            statements = capture.statements(view.user, path)
            result.statements = len(statements)
            result.sql = replay(pg_url, statements, n)
            results.append(result)
            if explain and view.explain:
                explained.append(explain_view(pg_url, label, path, statements))
        plans = probe.prepared("%FROM human_task%LIMIT%")
        explained.append(f"\n--- prepared inbox statements on the server's {plans['connections']} pooled "
                         f"connection(s): {plans['statements']}, executed with generic plans "
                         f"{plans['generic']} times, with custom plans {plans['custom']} times")
    finally:
        for client in [*clients.values(), probe.client]:
            client.close()
    return results, explained


# ============================================================================ the SQL of a request

class Capture:
    """The SQL statements one request runs, seen in this process: the same app on the same
    database through Flask's test client (one logged-in client per account)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.engine = app.extensions["ratsflow.db"].engine
        self.clients: dict[str, Any] = {}

    def _client(self, username: str) -> Any:
        if username not in self.clients:
            client = self.app.test_client()
            page = client.get("/anmelden").get_data(as_text=True)
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token, "no CSRF token on the login page"
            response = client.post("/anmelden", data={"username": username, "password": PASSWORD,
                                                      "csrf_token": token.group(1)})
            assert response.status_code == 302, response.status_code
            self.clients[username] = client
        return self.clients[username]

    def statements(self, username: str, path: str) -> list[tuple[str, Any]]:
        client = self._client(username)
        seen: list[tuple[str, Any]] = []

        def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
                   many: bool) -> None:
            seen.append((statement, parameters))

        event.listen(self.engine, "before_cursor_execute", before)
        try:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        finally:
            event.remove(self.engine, "before_cursor_execute", before)
        return seen


def replay(pg_url: str, statements: list[tuple[str, Any]], n: int) -> list[float]:
    """The floor beneath a request: its statements sent straight from psycopg, in one
    transaction (rolled back), ``n`` times after a warm-up; seconds each."""
    times = []
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as pg:
        for i in range(WARMUP + n):
            t0 = time.perf_counter()
            for statement, parameters in statements:
                pg.execute(statement, parameters).fetchall()
            pg.rollback()
            if i >= WARMUP:
                times.append(time.perf_counter() - t0)
    return times


# ============================================================================ EXPLAIN

INDEX_NAME = re.compile(r"(?:Index(?: Only)? Scan(?: Backward)? using|Bitmap Index Scan on) (\w+)")


def explain_view(pg_url: str, label: str, path: str, statements: list[tuple[str, Any]]) -> str:
    """The main statements of one request, rendered with their parameters, under EXPLAIN ANALYZE."""
    main = [(s, p) for s, p in statements if "FROM human_task" in s and "LIMIT" in s]
    out = [f"\n--- EXPLAIN (ANALYZE, BUFFERS): {label}\n    GET {path[:110]}"]
    with psycopg.connect(pg_url.replace("postgresql+psycopg", "postgresql")) as pg:
        cur = psycopg.ClientCursor(pg)
        for i, (statement, parameters) in enumerate(main[:2]):
            sql = cur.mogrify(statement, parameters)
            short = re.sub(r"^SELECT .*? FROM \(SELECT .*? FROM human_task",
                           "SELECT page.*, … FROM (SELECT human_task.… FROM human_task", sql, flags=re.S)
            out.append(f"    statement {i + 1} of {len(main)} for this page (select lists shortened):")
            out.append("      " + short.replace("\n", "\n      "))
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)  # once to warm, once to show
            plan = [r[0] for r in cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql).fetchall()]
            out.extend("      " + line for line in plan)
            used = sorted(set(INDEX_NAME.findall("\n".join(plan))))
            out.append(f"    indexes used: {', '.join(used) or '-'}")
        pg.rollback()
    return "\n".join(out)


def index_report(pg: psycopg.Connection) -> str:
    rows = pg.execute(
        "SELECT indexrelname, pg_size_pretty(pg_relation_size(indexrelid)), idx_scan, "
        "pg_get_indexdef(indexrelid) FROM pg_stat_user_indexes WHERE relname = 'human_task' "
        "ORDER BY indexrelname").fetchall()
    lines = ["\nIndexes on human_task (size, scans during the whole run):"]
    lines += [f"  {name:36}{size:>9}{scans:>9}  {definition.split(' USING ')[1]}"
              for name, size, scans, definition in rows]
    return "\n".join(lines)


# ============================================================================ main

def counts(pg: psycopg.Connection, council: Council) -> str:
    open_total, done_total = pg.execute(
        "SELECT count(*) FILTER (WHERE status = %s), count(*) FILTER (WHERE status = %s) "
        "FROM human_task", [TASK_READY, TASK_DONE]).fetchone()  # type: ignore[misc]
    big = pg.execute("SELECT count(*) FROM human_task WHERE status = %s AND organization_id = %s",
                     [TASK_READY, council.big.id]).fetchone()[0]  # type: ignore[index]
    multi = pg.execute("SELECT count(*) FROM human_task WHERE status = %s AND organization_id = ANY(%s)",
                       [TASK_READY, council.multi]).fetchone()[0]  # type: ignore[index]
    mine = pg.execute("SELECT count(*) FILTER (WHERE status = %s), count(*) FILTER (WHERE status = %s "
                      "AND assignee = 'hoffmann') FROM human_task WHERE completed_by = 'hoffmann' "
                      "OR assignee = 'hoffmann'", [TASK_DONE, TASK_READY]).fetchone()  # type: ignore[misc]
    per_org = pg.execute("SELECT min(n), max(n) FROM (SELECT count(*) n FROM human_task "
                         "WHERE status = %s GROUP BY organization_id) x", [TASK_READY]).fetchone()
    return (f"{open_total:,} open, {done_total:,} completed tasks; open per Gremium {per_org[0]:,} to "  # type: ignore[index]
            f"{per_org[1]:,}; AWSG (hoffmann) {big:,} open; sitzungsdienst's 4 Gremien {multi:,} open; "  # type: ignore[index]
            f"hoffmann holds {mine[1]:,} and completed {mine[0]:,}")


def pick(pg: psycopg.Connection, council: Council) -> Picks:
    today = council.now.astimezone(TIMEZONE).date()
    # The AWSG Sitzung whose overdue result steps come last in due order (the most to skip).
    meeting = pg.execute(
        "SELECT m.id, m.reference FROM human_task t JOIN meeting m ON m.id = t.meeting_id "
        "WHERE t.status = %s AND t.organization_id = %s AND t.due < %s "
        "GROUP BY m.id, m.reference ORDER BY max(t.due) DESC, count(*) DESC LIMIT 1",
        [TASK_READY, council.big.id, today]).fetchone()
    rare = pg.execute("SELECT p.reference FROM human_task t JOIN paper p ON p.id = t.paper_id "
                      "WHERE t.status = %s AND t.organization_id = %s ORDER BY t.id DESC LIMIT 1",
                      [TASK_READY, council.big.id]).fetchone()
    rare_done = pg.execute("SELECT p.reference FROM human_task t JOIN paper p ON p.id = t.paper_id "
                           "WHERE t.status = %s AND t.completed_by = 'hoffmann' "
                           "ORDER BY t.completed, t.id LIMIT 1", [TASK_DONE]).fetchone()
    return Picks((meeting[0], meeting[1]), rare[0], rare_done[0])  # type: ignore[index]


def load_stage(pg: psycopg.Connection, council: Council, templates: dict[int, list[Template]],
               finished: Template, open_total: int, done_total: int, rng: random.Random,
               ids: Ids) -> str:
    """Open clones and finished Beratungsfolgen up to the totals, written interleaved in the
    order they started; then VACUUM ANALYZE."""
    have_open, have_done = pg.execute(
        "SELECT count(*) FILTER (WHERE status = %s), count(*) FILTER (WHERE status = %s) "
        "FROM human_task", [TASK_READY, TASK_DONE]).fetchone()  # type: ignore[misc]
    t0 = time.perf_counter()
    units, history = plan_open(council, templates, max(open_total - have_open, 0), rng)
    opened = len(units)
    units += plan_finished(council, max(done_total - have_done - history, 0), rng)
    write_units(pg, council, finished, units, rng, ids)
    ids.sync(pg)
    pg.commit()
    t1 = time.perf_counter()
    pg.autocommit = True
    pg.execute("VACUUM (ANALYZE)")
    pg.autocommit = False
    t2 = time.perf_counter()
    return (f"COPY of {opened:,} cloned open tasks (+{history:,} completed agenda steps) and "
            f"{len(units) - opened:,} finished Beratungsfolgen ({4 * (len(units) - opened):,} completed "
            f"tasks) in {t1 - t0:.1f} s; VACUUM ANALYZE {t2 - t1:.1f} s")


def compare(small: list[Result], full: list[Result], small_counts: str, full_counts: str) -> None:
    print("\nResponse size and server time at both totals (same view, same query string):")
    print(f"  small: {small_counts}\n  full:  {full_counts}")
    print(f"  {'view':52}{'rows':>6}{'bytes':>8}{'median':>9}{'p95':>8}  |{'rows':>6}{'bytes':>8}"
          f"{'median':>9}{'p95':>8}")
    for a, b in zip(small, full, strict=True):
        print(f"  {b.label[:52]:52}{a.rows:>6}{a.size:>8}{ms(statistics.median(a.server)):>9}"
              f"{ms(pct(a.server, 0.95)):>8}  |{b.rows:>6}{b.size:>8}{ms(statistics.median(b.server)):>9}"
              f"{ms(pct(b.server, 0.95)):>8}")


def figures(results: list[Result], args: argparse.Namespace, load: tuple[float, float],
            seconds: float) -> dict[str, Any]:
    """The run as one JSON object (``--json``): per view and the goals (p95 < 20 ms each)."""
    def r3(value: float) -> float:
        return round(value * 1000, 3)

    out_views = [{
        "view": r.label, "path": r.path, "rows": r.rows, "bytes": r.size,
        "server_ms": r3(statistics.median(r.server)), "server_p95_ms": r3(pct(r.server, 0.95)),
        "server_max_ms": r3(max(r.server)), "cpu_ms": r3(statistics.median(r.cpu)),
        "client_ms": r3(statistics.median(r.client)), "client_p95_ms": r3(pct(r.client, 0.95)),
        "sql_ms": r3(statistics.median(r.sql)), "sql_p95_ms": r3(pct(r.sql, 0.95)),
        "statements": r.statements,
        "ratio_to_sql": round(statistics.median(r.server) / statistics.median(r.sql), 2),
    } for r in results]
    goals = [{
        "name": f"inbox: {v['view']}", "goal": f"p95 < {TARGET_P95_MS:.0f} ms (server)",
        "measured": v["server_p95_ms"], "p95": v["server_p95_ms"], "unit": "ms",
        "limit": TARGET_P95_MS, "ratio_to_goal": round(v["server_p95_ms"] / TARGET_P95_MS, 3),
    } for v in out_views]
    return {"benchmark": "inbox", "database": "postgresql", "quick": args.quick,
            "open": args.open, "done": args.done, "requests": args.requests,
            "load_1min": load[0], "load_5min": load[1], "cpus": os.cpu_count(),
            "seconds": round(seconds, 1), "views": out_views, "goals": goals,
            "met": all(g["ratio_to_goal"] < 1 for g in goals)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=None, help="open tasks in total (100,000)")
    parser.add_argument("--done", type=int, default=None, help="completed tasks in total (1,000,000)")
    parser.add_argument("--requests", type=int, default=None, help="timed requests per view (200)")
    parser.add_argument("--quick", action="store_true",
                        help="10,000 open / 100,000 completed, 100 requests per view, one stage")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line last")
    parser.add_argument("--keep", action="store_true",
                        help="keep the database at the end (to look at plans); drop it yourself")
    args = parser.parse_args()
    args.open = args.open or (10_000 if args.quick else 100_000)
    args.done = args.done or (100_000 if args.quick else 1_000_000)
    args.requests = args.requests or (100 if args.quick else 200)
    rng = random.Random(20261125)
    now = datetime.now(UTC).replace(microsecond=0)
    name = f"ratsflow_bench_inbox_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    app = server = pg = None
    print(f"Inbox benchmark{' (--quick: reduced totals)' if args.quick else ''}: PostgreSQL database "
          f"{name} (dropped at the end), {args.open:,} open / {args.done:,} completed tasks, "
          f"{args.requests} requests per view.")
    try:
        with tempfile.TemporaryDirectory(prefix="ratsflow-bench-") as tmp:
            t0 = time.perf_counter()
            settings = load_settings(env={}, database_url=url, instance_path=Path(tmp) / "instance",
                                     scheduler_in_process=False, secret_key="bench")
            app = create_app(settings, upgrade=True)  # runs the migrations
            app.extensions["ratsflow.clock"] = lambda: now  # one "today" for data and requests
            db = app.extensions["ratsflow.db"]
            t1 = time.perf_counter()
            council = build_council(db, now, rng)
            t2 = time.perf_counter()
            templates, finished, calls = make_templates(db, council, rng)
            t3 = time.perf_counter()
            count = sum(len(v) for v in templates.values())
            print(f"\nSetup: migrations {t1 - t0:.1f} s; demo + {len(council.gremien)} Gremien, "
                  f"{sum(len(x.meetings) for x in council.gremien):,} Sitzungen, accounts {t2 - t1:.1f} s; "
                  f"through the engine: {count} template Vorlagen + 1 finished Beratungsfolge, "
                  f"{calls} engine calls (start_beratungsfolge / complete_task) in {t3 - t2:.1f} s "
                  f"({(t3 - t2) / calls * 1000:.1f} ms each)")
            pg = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
            ids = Ids(pg)
            server = TimedServer(url, Path(tmp) / "instance", now)
            capture = Capture(app)
            print(f"Server: its own process (pid {server.pid}, benchmarks/timed_server.py: werkzeug, "
                  f"threaded) on 127.0.0.1:{server.port}; client: this process, http.client, one "
                  "keep-alive connection per account. 'SQL alone': the request's statements sent "
                  "straight from psycopg (the floor beneath the app).")

            stages = [(args.open, args.done, True)] if args.quick else [
                (int(args.open * SMALL_STAGE), int(args.done * SMALL_STAGE), False),
                (args.open, args.done, True)]
            measured: list[tuple[str, list[Result]]] = []
            picks: Picks | None = None
            explained: list[str] = []
            loads: tuple[float, float] = (0.0, 0.0)
            for open_total, done_total, last in stages:
                ts = time.perf_counter()
                print(f"\nStage to {open_total:,} open / {done_total:,} completed: "
                      + load_stage(pg, council, templates, finished, open_total, done_total, rng, ids))
                summary = counts(pg, council)
                print(f"  {summary}; setup so far {time.perf_counter() - t0:.0f} s "
                      f"(this stage {time.perf_counter() - ts:.0f} s)")
                if picks is None:
                    picks = pick(pg, council)
                before = load_average()
                loads = load_figures()
                results, explained = run_views(server.port, capture, url, picks, args.requests,
                                               explain=last)
                measured.append((summary, results))
                print_table(f"Stage {len(measured)} ({summary.split(';')[0]}): times in ms over "
                            f"{args.requests} requests per view; {before} before, "
                            f"{load_average().split(' on ')[0]} after", results)

            if len(measured) > 1:
                compare(measured[0][1], measured[1][1], measured[0][0], measured[1][0])
            for block in explained:
                print(block)
            print(index_report(pg))
            full = measured[-1][1]
            worst = max(full, key=lambda r: pct(r.server, 0.95))
            met = all(pct(r.server, 0.95) * 1000 < TARGET_P95_MS for r in full)
            total = time.perf_counter() - t0
            print(f"\nTarget: p95 server time < {TARGET_P95_MS:.0f} ms for every view: "
                  f"{'met' if met else 'NOT met'} (worst p95 {pct(worst.server, 0.95) * 1000:.2f} ms: "
                  f"{worst.label}). Total run {total:.0f} s.")
            if args.json:
                print(json.dumps(figures(full, args, loads, total), ensure_ascii=False))
            return 0 if met else 1
    finally:
        if server is not None:
            server.close()
        if pg is not None:
            pg.close()
        if app is not None:
            app.extensions["ratsflow.db"].dispose()
        if args.keep:
            print(f"Kept the database {name} (--keep): {url}", file=sys.stderr)
        else:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
