"""Load over real HTTP, shared by ``tests/test_under_load.py`` (small, in CI),
``benchmarks/bench_under_load.py`` (full size) and ``benchmarks/bench_throughput.py``.

:func:`prepare` makes what the load works on, through the engine's own verbs: the demo (its
dates around the real clock, since the servers run on it), a few upcoming Sitzungen of the
demo's committee, and many started Beratungsfolgen waiting at their first task
("Tagesordnung", the committee's Sekretariat), plus an API token of that Sekretariat.

:func:`complete_tasks` and :func:`move_sessions` are the clients: each client is one
keep-alive connection in its own thread (``tests.serving.Client``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

from sqlmodel import col, select

from engine.accounts import Account, load_actor
from engine.calendar import reminders
from engine.council import AgendaItem, Consultation, Meeting, Organization, Paper
from engine.db import Database
from engine.demo import load_demo
from engine.identity import tokens
from engine.process import procedures, sessions
from engine.settings import TIMEZONE, load_settings
from engine.tasks import TASK_READY, HumanTask
from engine.types import utcnow
from engine.workflow.models import ProcessInstance

from .serving import Client, Job, Outcome, complete_tasks

__all__ = ["Job", "Outcome", "complete_tasks", "prepare", "move_sessions", "run_under_load"]

PASSWORD = "last-passwort"
SECRETARY = "hoffmann"  # Sekretariat of the demo's committee (AWSG): owns "Tagesordnung"
CLERK = "zierstedt"  # Sachbearbeitung of the leading department: starts the Beratungsfolgen
SESSION_PREFIX = "Lastprobe"


@dataclass
class Prepared:
    jobs: list[Job]
    meetings: list[int]
    token: str
    #: E-mail addresses of the committee's members: each is told of every move.
    members: list[str]


def _database(url: str, instance: Path) -> Database:
    return Database(load_settings(env={}, database_url=url, instance_path=instance,
                                  scheduler_in_process=False, secret_key="test-secret"))


def _start_slice(url: str, instance: str, paper_ids: list[int]) -> None:
    """Start the Beratungsfolgen of these Vorlagen (in a process of its own: see ``prepare``)."""
    database = _database(url, Path(instance))
    try:
        for first in range(0, len(paper_ids), 100):
            with database.unit_of_work() as s:
                clerk = s.exec(select(Account).where(Account.username == CLERK)).one()
                actor = load_actor(s, clerk.id)  # type: ignore[arg-type]
                for paper_id in paper_ids[first:first + 100]:
                    procedures.start_beratungsfolge(s, actor, paper_id)
    finally:
        database.dispose()


def prepare(database: Database, *, tasks: int, meetings: int, processes: int = 1,
            now: datetime | None = None) -> Prepared:
    """The demo, ``meetings`` upcoming Sitzungen of its committee and ``tasks`` open
    Tagesordnung tasks (spread over those Sitzungen). Starting a Beratungsfolge costs tens of
    milliseconds; ``processes`` > 1 starts them in that many processes at once."""
    now = now or utcnow()
    today = now.astimezone(TIMEZONE).date()
    with database.unit_of_work() as s:
        demo = load_demo(s, PASSWORD, now=now, week=False)
        seed = s.get(Paper, demo.paper_id)
        assert seed is not None and demo.committee_meeting is not None and demo.assembly_meeting is not None
        committee = s.get(Organization, demo.committee_meeting.organization_id)
        assert committee is not None and committee.id is not None
        secretary = s.exec(select(Account).where(Account.username == SECRETARY)).one()
        assert secretary.id is not None
        boss = load_actor(s, secretary.id)
        meeting_ids = []
        for i in range(meetings):
            meeting = sessions.create_meeting(s, boss, {
                "organization_id": committee.id, "name": f"{SESSION_PREFIX} {i + 1}",
                "date": (today + timedelta(days=30 + 7 * i)).strftime("%d.%m.%Y"), "start_time": "17:00"},
                now=now)
            meeting_ids.append(meeting.id)
        papers = [Paper(body_id=seed.body_id, reference=f"LAST/{i:06d}", name=f"Lastprobe {i}",
                        paper_type=seed.paper_type, public=True,
                        under_direction_of_id=seed.under_direction_of_id, clerk_id=seed.clerk_id)
                  for i in range(tasks)]
        s.add_all(papers)
        s.flush()
        s.add_all([Consultation(paper_id=p.id, position=1, organization_id=committee.id,  # type: ignore[arg-type]
                                role="Kenntnisnahme") for p in papers])
        s.add_all([Consultation(paper_id=p.id, position=2,  # type: ignore[arg-type]
                                organization_id=demo.assembly_meeting.organization_id, role="Kenntnisnahme")
                   for p in papers])
        paper_ids = [p.id for p in papers]
        created = tokens.create(s, boss, secretary.id, "Lastprobe", ["tasks:read", "tasks:write"], None, now=now)
        members = [p.email for p in reminders.members_of(s, committee.id, today + timedelta(days=30))
                   if p.email]
    settings = database.settings
    if processes <= 1:
        _start_slice(settings.database_url, str(settings.instance_path), paper_ids)  # type: ignore[arg-type]
    else:
        slices = [paper_ids[i::processes] for i in range(processes)]
        # spawn: a forked child would share this process's connections
        with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
            for done in [pool.submit(_start_slice, settings.database_url, str(settings.instance_path), part)
                         for part in slices]:
                done.result()
    with database.unit_of_work(write=False) as s:
        rows = s.exec(select(HumanTask.id, ProcessInstance.version, HumanTask.paper_id)
                      .join(ProcessInstance, col(ProcessInstance.id) == HumanTask.process_instance_id)
                      .where(col(HumanTask.paper_id).in_(paper_ids), HumanTask.bpmn_id == "Tagesordnung",
                             HumanTask.status == TASK_READY).order_by(col(HumanTask.id))).all()
    assert len(rows) == tasks, (len(rows), tasks)
    jobs = [Job(task_id, version, meeting_ids[i % len(meeting_ids)])  # type: ignore[arg-type]
            for i, (task_id, version, _paper) in enumerate(rows)]
    return Prepared(jobs, meeting_ids, created.plain, members)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- clients

@dataclass
class Moves:
    """Each move request: (meeting, the reason's tag, status); 302 is a move that happened."""

    requests: list[tuple[int, str, int]] = field(default_factory=list)

    def done(self) -> list[tuple[int, str]]:
        return [(meeting, tag) for meeting, tag, status in self.requests if status == 302]


def move_sessions(port: int, meetings: Sequence[int], movers: int, moves: int, phase: str,
                  password: str = PASSWORD, seed: int = 16) -> Moves:
    """``movers`` logged-in sessions of the Sekretariat each move ``moves`` times, all of them
    the same Sitzung at the same step (the concurrent case), to a random later day; each
    reason carries a tag that names the move, so the e-mails can be traced to it."""
    result = Moves()
    lock = threading.Lock()
    today = utcnow().astimezone(TIMEZONE).date()
    ready = threading.Barrier(movers)

    def work(n: int) -> None:
        client = Client(port).login(SECRETARY, password)
        chance = random.Random(seed * 1000 + n + hash(phase) % 1000)
        try:
            ready.wait()
            for step in range(moves):
                meeting = meetings[step % len(meetings)]
                tag = f"{SESSION_PREFIX}-{phase}-{n}-{step}"
                day = today + timedelta(days=chance.randrange(40, 200))
                try:
                    status, _page = client.post_form(f"/sitzungen/{meeting}/verlegen", {
                        "date": day.strftime("%d.%m.%Y"), "start_time": f"{chance.randrange(8, 20):02d}:00",
                        "reason": f"Grund {tag} ende"})
                except OSError:  # no answer within the client's time-out: recorded as status 0
                    status = 0
                    client.close()
                with lock:
                    result.requests.append((meeting, tag, status))
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(movers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return result


def sequences(database: Database, meeting_ids: Sequence[int]) -> dict[int, int]:
    with database.unit_of_work(write=False) as s:
        return {m.id: m.sequence for m in s.exec(select(Meeting).where(col(Meeting.id).in_(meeting_ids)))}  # type: ignore[misc]


# ----------------------------------------------------------------------------- under load

@dataclass(frozen=True)
class Size:
    tasks: int
    meetings: int
    clients: int
    duplicate_every: int
    movers: int
    moves: int  # per mover and phase (two phases: before and after the kill)
    processes: int = 1
    #: Bound of each wait for e-mails (a hang, not a speed target).
    mail_wait: float = 60.0
    #: The schedulers' ``RATSFLOW_SWEEP_SECONDS``.
    sweep_seconds: int = 1


SMALL = Size(tasks=48, meetings=3, clients=8, duplicate_every=4, movers=3, moves=3, mail_wait=30)


@dataclass
class UnderLoad:
    """What the run saw; ``violations`` is empty when everything held."""

    completions: Outcome
    moves: Moves
    notices: int = 0
    messages: int = 0
    unique_ids: int = 0
    takeover_s: float = 0.0
    seconds: dict[str, float] = field(default_factory=dict)
    verify: str = ""
    violations: list[str] = field(default_factory=list)
    #: The server's and the schedulers' output (for the reason of a 500).
    logs: str = ""


def _notices(inbox: object, meeting_tags: set[str]) -> dict[str, list[str]]:
    """The moved-session notices at the sink, by the tag of the move that caused them
    (the reason stands in the body): tag -> recipients."""
    import re

    found: dict[str, list[str]] = {}
    for message in list(inbox.messages):  # type: ignore[attr-defined]
        body = message.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        for tag in re.findall(rf"Grund ({SESSION_PREFIX}-[\w-]+) ende", text):
            if tag in meeting_tags:
                found.setdefault(tag, []).append(message["To"].addresses[0].addr_spec)
    return found


def _wait(condition: object, timeout: float, poll: float = 0.1) -> bool:
    """Poll ``condition()`` until true, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)  # polling a condition with a bound, not waiting for time to pass
    return True


def run_under_load(database: Database, smtp: object, size: Size, workers: int = 4) -> UnderLoad:
    """4 web workers, 2 schedulers, clients completing tasks and moving sessions; the leading
    scheduler killed (SIGKILL) between the two phases of moves, while the completions go on.
    Every check is collected in ``violations``."""
    import os
    import signal
    import subprocess

    from engine import outbox
    from engine.outbox import OutboxMessage

    from .serving import Lines, Server, end, ratsflow, ratsflow_env

    clock: dict[str, float] = {}
    t0 = time.perf_counter()
    prepared = prepare(database, tasks=size.tasks, meetings=size.meetings, processes=size.processes)
    clock["prepare"] = time.perf_counter() - t0
    settings = database.settings
    env = ratsflow_env(settings.database_url, settings.instance_path,
                       RATSFLOW_SMTP_URL=smtp.url,  # type: ignore[attr-defined]
                       RATSFLOW_SCHEDULER="false",
                       RATSFLOW_RATELIMIT_STORAGE=os.environ.get("RATSFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0"),
                       # A sweep every second: the test waits for deliveries, not for the interval.
                       RATSFLOW_SWEEP_SECONDS=str(size.sweep_seconds))
    server = Server(env, workers)
    leader = standby = None
    leader_log = standby_log = None
    completions: list[Outcome] = []
    try:
        # Both schedulers start at once; whichever takes the leader lock first leads.
        first_process = ratsflow("scheduler", env=env, stderr=subprocess.STDOUT)
        second_process = ratsflow("scheduler", env=env, stderr=subprocess.STDOUT)
        logs = {first_process: Lines(first_process.stdout), second_process: Lines(second_process.stdout)}
        leader, standby = first_process, second_process
        server.wait_ready()
        assert _wait(lambda: any(log.when("Scheduler aktiv.") for log in logs.values())
                     and any(log.when("standby") for log in logs.values()), 60), \
            [log.tail() for log in logs.values()]
        if logs[second_process].when("Scheduler aktiv."):
            leader, standby = second_process, first_process
        leader_log, standby_log = logs[leader], logs[standby]
        clock["processes up"] = time.perf_counter() - t0

        completer = threading.Thread(target=lambda: completions.append(complete_tasks(
            server.port, prepared.token, prepared.jobs, size.clients, size.duplicate_every)), daemon=True)
        completer.start()
        first = move_sessions(server.port, prepared.meetings, size.movers, size.moves, "a")

        # The leader is killed once it has settled the first phase's notices (a kill between
        # the SMTP server's "250" and the settling commit is the one window in which SMTP
        # resends a message, with the same Message-ID: docs/operations.md), while the
        # completions are still running and before the second phase of moves.
        expected_first = len(first.done()) * len(prepared.members)
        tags = {tag for _m, tag, _s in first.requests}

        def first_settled() -> bool:
            if sum(len(v) for v in _notices(smtp.inbox, tags).values()) < expected_first:  # type: ignore[attr-defined]
                return False
            with database.unit_of_work(write=False) as s:
                return s.exec(select(OutboxMessage.id).where(OutboxMessage.status == outbox.SENDING)).first() is None

        takeover = 0.0
        second = Moves()
        if _wait(first_settled, size.mail_wait):
            clock["phase 1 delivered"] = time.perf_counter() - t0
            leader.send_signal(signal.SIGKILL)
            leader.wait(30)
            killed = time.perf_counter()
            second = move_sessions(server.port, prepared.meetings, size.movers, size.moves, "b")
            assert standby_log.wait_for("Scheduler aktiv.", 60), standby_log.tail()
            takeover = (standby_log.when("Scheduler aktiv.") or killed) - killed
        else:  # no kill and no second phase: the checks below say what went missing
            clock["phase 1 NOT delivered"] = time.perf_counter() - t0
        completer.join()
        clock["completions done"] = time.perf_counter() - t0
        moves = Moves(first.requests + second.requests)
        all_tags = {tag for _m, tag, _s in moves.requests}
        expected = len(moves.done()) * len(prepared.members)
        _wait(lambda: sum(len(v) for v in _notices(smtp.inbox, all_tags).values()) >= expected,  # type: ignore[attr-defined]
              size.mail_wait)
        clock["all delivered"] = time.perf_counter() - t0
    finally:
        server.stop()
        end(leader)
        end(standby)
        logs = "".join(server.log.lines + (leader_log.lines if leader_log else [])
                       + (standby_log.lines if standby_log else []))

    result = UnderLoad(completions[0] if completions else Outcome(), moves)
    result.takeover_s = takeover
    result.logs = logs
    print("under load, seconds since start:", {k: round(t, 1) for k, t in clock.items()})
    v = result.violations
    done = result.completions
    v.extend(done.errors[:20])
    for job in prepared.jobs:
        codes = done.statuses.get(job.task_id, [])
        if codes.count(200) != 1 or any(c != 409 for c in codes if c != 200):
            v.append(f"task {job.task_id}: answered {codes} (one 200, the rest 409 wanted)")
    with database.unit_of_work(write=False) as s:
        open_ids = s.exec(select(HumanTask.id).where(
            col(HumanTask.id).in_([j.task_id for j in prepared.jobs]), HumanTask.status == TASK_READY)).all()
        consultations = s.exec(select(HumanTask.consultation_id).where(
            col(HumanTask.id).in_([j.task_id for j in prepared.jobs]))).all()
        items = s.exec(select(AgendaItem.consultation_id).where(
            col(AgendaItem.consultation_id).in_(consultations))).all()
    if open_ids:
        v.append(f"{len(open_ids)} tasks still open after their 200: {list(open_ids)[:10]}")
    if len(items) != len(set(items)) or len(set(items)) != len(prepared.jobs):
        v.append(f"agenda items of the Vorlagen: {len(items)} rows for {len(set(items))} of "
                 f"{len(prepared.jobs)} Vorlagen (one each wanted)")
    refused = [(m, tag, status) for m, tag, status in moves.requests if status not in (302, 409)]
    if refused:
        v.append(f"moves answered other than 302/409: {refused[:10]}")
    done_per_meeting: dict[int, int] = {}
    for meeting, _tag in moves.done():
        done_per_meeting[meeting] = done_per_meeting.get(meeting, 0) + 1
    for meeting, sequence in sequences(database, prepared.meetings).items():
        if sequence != done_per_meeting.get(meeting, 0):
            v.append(f"Sitzung {meeting}: sequence {sequence} after {done_per_meeting.get(meeting, 0)} "
                     "moves (a lost update)")
    notices = _notices(smtp.inbox, all_tags)  # type: ignore[attr-defined]
    result.notices = sum(len(r) for r in notices.values())
    for _meeting, tag in moves.done():
        if sorted(notices.get(tag, [])) != sorted(prepared.members):
            v.append(f"move {tag}: notices to {sorted(notices.get(tag, []))}, wanted one to each member")
    for _meeting, tag, status in moves.requests:
        if status != 302 and notices.get(tag):
            v.append(f"move {tag} answered {status} but told {len(notices[tag])} members")
    ids = [str(m["Message-ID"]) for m in smtp.inbox.messages]  # type: ignore[attr-defined]
    result.messages, result.unique_ids = len(ids), len(set(ids))
    if len(ids) != len(set(ids)):
        v.append(f"{len(ids) - len(set(ids))} duplicate Message-IDs at the SMTP server")
    # The public command, run here (its own database connection) rather than in a new interpreter.
    from click.testing import CliRunner

    from web.cli import main as ratsflow_command

    verify = CliRunner().invoke(ratsflow_command, ["audit", "verify"], env={
        "DATABASE_URL": settings.database_url, "RATSFLOW_INSTANCE_PATH": str(settings.instance_path)})
    result.verify = verify.output.strip()
    if verify.exit_code != 0:
        v.append(f"ratsflow audit verify: {result.verify}")
    clock["verified"] = time.perf_counter() - t0
    result.seconds = clock
    return result


def tracebacks(logs: str, most: int = 3) -> str:
    """The first few tracebacks in the processes' output (why a request answered 500)."""
    parts = logs.split("Traceback (most recent call last):")[1:most + 1]
    return "\n".join("Traceback:" + part[:3000] for part in parts)
