"""Benchmark: 10,000 reminders due in the same minute, delivered to a local SMTP server.

On a throwaway PostgreSQL database (dropped at the end): the migrations, the demo, one
Gremium with N members (default 10,000) and a Sitzung in a day, whose 1-day reminders are
planned by ``engine.calendar.reminders.plan_meeting`` (rows as the engine writes them), all due at
the same moment a few seconds ahead. Then the scheduler's pass (``notifications.sweep.
run_once`` with the scheduler's delivery workers) runs on the real clock from that moment
and delivers to aiosmtpd on 127.0.0.1, run in its own process (as a real server is; in
the benchmark's process it would take the sender's interpreter lock). Printed: time until
all are delivered, lateness (server receive time minus ``due_at``) median / p95 / max,
duplicates by Message-ID.

Second part: 100,000 pending reminder rows; ``ratsflow scheduler`` is started as a process
and timed until it leads and has run its first sweep; its resident memory then.

Run:  .venv/bin/python benchmarks/bench_reminders.py [--members 10000] [--pending 100000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlmodel import select  # noqa: E402

from engine.calendar import reminders  # noqa: E402
from engine.calendar.reminders import Reminder, ReminderRule  # noqa: E402
from engine.council import Meeting, Membership, Organization, Person  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.demo import load_demo  # noqa: E402
from engine.settings import load_settings  # noqa: E402
from notifications.delivery import SmtpTransport  # noqa: E402
from notifications.scheduler import DELIVERY_WORKERS  # noqa: E402
from notifications.sweep import run_once  # noqa: E402

ADMIN = os.environ.get("RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PROJECT = Path(__file__).resolve().parent.parent


class Received:
    """The SMTP server's handler: one line "<receive time> <Message-ID>" per accepted message."""

    def __init__(self, log: Path) -> None:
        self.log = log.open("a", buffering=1, encoding="utf-8")

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        now = time.time()
        content = envelope.content.decode("utf-8", "replace") if isinstance(envelope.content, bytes) \
            else envelope.content
        message_id = next((line.split(":", 1)[1].strip() for line in content.splitlines()
                           if line.lower().startswith("message-id:")), "")
        self.log.write(f"{now:.6f} {message_id}\n")
        return "250 OK"


def serve_smtp(port: int, log: Path) -> None:
    """The receiving server, in its own process as a real one would be (not sharing the
    sender's interpreter); stops on SIGTERM."""
    import signal

    controller = Controller(Received(log), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


def received(log: Path) -> list[tuple[float, str]]:
    if not log.exists():
        return []
    return [(float(at), mid) for at, _, mid in
            (line.partition(" ") for line in log.read_text(encoding="utf-8").splitlines() if line)]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Bare:
    def __init__(self, count: int, seconds: float) -> None:
        self.count, self.seconds = count, seconds


def bare_smtp(db: Database, port: int, workers: int) -> Bare:
    """Send the outbox's rendered messages with plain smtplib, ``workers`` connections."""
    import smtplib
    from concurrent.futures import ThreadPoolExecutor
    from email.message import EmailMessage

    from engine.outbox import OutboxMessage

    with db.unit_of_work(write=False) as s:
        rows = [(m.to_address, m.subject, m.body_text, m.body_html, m.message_id)
                for m in s.exec(select(OutboxMessage).where(OutboxMessage.cause.startswith("reminder:")))]  # type: ignore[attr-defined]
    chunks = [rows[i::workers] for i in range(workers)]

    def send(chunk: list[tuple[str, str, str, str | None, str]]) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for to, subject, text_body, html, message_id in chunk:
                message = EmailMessage()
                message["From"], message["To"], message["Subject"] = "b@example.org", to, subject
                message["Message-ID"] = message_id
                message.set_content(text_body)
                if html:
                    message.add_alternative(html, subtype="html")
                smtp.send_message(message)

    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(send, chunks))
    return Bare(len(rows), time.perf_counter() - t)


def setup_gremium(db: Database, members: int, start: datetime) -> int:
    with db.unit_of_work() as s:
        body_id = s.exec(select(Organization.body_id)).first()
        org = Organization(body_id=body_id, name="Bench-Beirat", short_name="BB")  # type: ignore[arg-type]
        s.add(org)
        s.flush()
        assert org.id is not None
        stamp = datetime.now(UTC)
        persons = [{"body_id": body_id, "family_name": f"Mitglied{i:05d}", "given_name": "Bench",
                    "email": f"m{i:05d}@example.org", "created": stamp, "modified": stamp}
                   for i in range(members)]
        ids = s.execute(insert(Person).returning(Person.id), persons).scalars().all()  # type: ignore[arg-type]
        s.execute(insert(Membership), [{"person_id": pid, "organization_id": org.id, "role": "Mitglied",
                                        "voting_right": True} for pid in ids])
        s.add(ReminderRule(organization_id=org.id, audience=reminders.AUDIENCE_MEMBERS,
                           anchor=reminders.KIND_SESSION, lead_minutes=reminders.DAY))
        meeting = Meeting(organization_id=org.id, name="Sitzung des Bench-Beirats", start=start)
        s.add(meeting)
        s.flush()
        plan = reminders.plan_meeting(s, meeting, datetime.now(UTC))
        return plan.planned


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--serve-smtp", nargs=2, metavar=("PORT", "LOG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_smtp:
        serve_smtp(int(args.serve_smtp[0]), Path(args.serve_smtp[1]))
        return
    name = f"ratsflow_bench_rem_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    instance = Path(tempfile.mkdtemp())
    url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    port = free_port()
    log = instance / "smtp-received.log"
    server = subprocess.Popen([sys.executable, __file__, "--serve-smtp", str(port), str(log)],
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    try:
        settings = load_settings(env={}, database_url=url, instance_path=instance, scheduler_in_process=False,
                                 secret_key="bench")
        db = Database(settings)
        db.upgrade()
        with db.unit_of_work() as s:
            load_demo(s, "bench", week=False)
        t = time.perf_counter()
        due = datetime.now(UTC) + timedelta(seconds=20)
        planned = setup_gremium(db, args.members, due + timedelta(days=1))
        print(f"Reminders benchmark: PostgreSQL {name} (dropped at the end), aiosmtpd on 127.0.0.1:{port} "
              "in its own process")
        print(f"  {planned:,} reminders planned by plan_meeting, all due at {due:%H:%M:%S} UTC "
              f"(setup {time.perf_counter() - t:.1f} s); delivery workers: {DELIVERY_WORKERS}")
        while datetime.now(UTC) < due:  # the benchmark waits for the real moment (not a test)
            time.sleep(0.05)
        started = time.time()
        transport = SmtpTransport(f"smtp://127.0.0.1:{port}", "b@example.org")
        report = run_once(db, lambda: datetime.now(UTC), transport, workers=DELIVERY_WORKERS)
        finished = time.time()
        ours = received(log)
        late = sorted(at - due.timestamp() for at, _ in ours)
        p95 = late[int(0.95 * (len(late) - 1))]
        dupes = len(ours) - len({mid for _, mid in ours})
        print(f"  fired {report.fired.fired:,}, delivered {report.delivered.sent:,} "
              f"(server received {len(ours):,}) in {finished - started:.1f} s from the due moment")
        print(f"  lateness: median {statistics.median(late):.2f} s, p95 {p95:.2f} s, "
              f"max {late[-1]:.2f} s; duplicates by Message-ID: {dupes}")
        print(f"  targets: all within 60 s: {'met' if finished - started <= 60 else 'NOT met'}; "
              f"p95 < 5 s: {'met' if p95 < 5 else 'NOT met'}; "
              f"0 duplicates: {'met' if dupes == 0 else 'NOT met'}")

        # Side by side: the same messages sent bare (smtplib, one persistent connection per
        # delivery worker, no database) to a second server process: the SMTP path's own ceiling.
        bare_port, bare_log = free_port(), instance / "smtp-bare.log"
        bare_server = subprocess.Popen(
            [sys.executable, __file__, "--serve-smtp", str(bare_port), str(bare_log)],
            stdout=subprocess.PIPE, text=True)
        assert bare_server.stdout is not None and bare_server.stdout.readline().strip() == "ready"
        try:
            bare = bare_smtp(db, bare_port, DELIVERY_WORKERS)
        finally:
            bare_server.terminate()
            bare_server.wait(30)
            bare_server.stdout.close()
        rate = len(ours) / (finished - started)
        print(f"  side by side, the same {bare.count:,} messages: ours {finished - started:.1f} s "
              f"({rate:.0f}/s, rendering and bookkeeping included) vs bare smtplib "
              f"{bare.seconds:.1f} s ({bare.count / bare.seconds:.0f}/s, {DELIVERY_WORKERS} connections)")

        # Part 2: start-up with many pending rows.
        with db.unit_of_work() as s:
            meeting_id = s.exec(select(Meeting.id).where(Meeting.name == "Sitzung des Bench-Beirats")).one()
            later = datetime.now(UTC) + timedelta(days=30)
            s.execute(insert(Reminder), [{"key": f"bench/{i}", "kind": reminders.KIND_SESSION,
                                          "meeting_id": meeting_id, "lead_minutes": 0,
                                          "due_at": later + timedelta(seconds=i), "status": reminders.PENDING,
                                          "created": datetime.now(UTC)} for i in range(args.pending)])
        env = {**os.environ, "DATABASE_URL": url, "RATSFLOW_INSTANCE_PATH": str(instance),
               "RATSFLOW_SMTP_URL": f"smtp://127.0.0.1:{port}", "PYTHONUNBUFFERED": "1"}
        t0 = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", "from web.cli import main; main()", "scheduler"],
                                   cwd=PROJECT, env=env, text=True, stderr=subprocess.PIPE)
        assert process.stderr is not None
        lead_at = sweep_at = None
        for line in process.stderr:
            if "Scheduler aktiv." in line and lead_at is None:
                lead_at = time.perf_counter() - t0
            if lead_at is not None and ("Job \"Jobs.sweep" in line and "executed successfully" in line):
                sweep_at = time.perf_counter() - t0
                break
        rss = next((ln.split()[1] for ln in Path(f"/proc/{process.pid}/status").read_text().splitlines()
                    if ln.startswith("VmRSS")), "?")
        process.terminate()
        process.wait(30)
        process.stderr.close()
        print(f"  scheduler start-up with {args.pending:,} pending rows: leads after {lead_at:.2f} s, "
              f"first sweep done after {sweep_at:.2f} s; resident memory {int(rss) / 1024:.0f} MB")
        db.dispose()
    finally:
        server.terminate()
        server.wait(30)
        server.stdout.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
