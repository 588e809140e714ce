"""Fixtures: every database test runs on real SQLite and on a real PostgreSQL database.

The PostgreSQL database is created for this run and dropped afterwards; nothing relies on
what an earlier run left behind. Between tests all rows are deleted (the schema stays); the
demo is loaded once per database and its rows copied in for each test that asks for it.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel, select

from engine import search
from engine.accounts import Account, create_account, load_actor
from engine.audit import GENESIS, drop_append_only, install_append_only, seal
from engine.council import ROLE_CLERK, ROLE_SECRETARIAT, Consultation, Meeting, Organization, Paper
from engine.db import Database, upgrade_schema
from engine.demo import load_demo
from engine.process import procedures
from engine.settings import load_settings
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance

PG_ADMIN_URL = os.environ.get(
    "RATSFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
PASSWORD = "test-passwort"
#: The clock of the tests: a Tuesday morning in Aachen.
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def pytest_collection_modifyitems(config, items):  # type: ignore[no-untyped-def]
    """A test marked ``sqlite_only`` runs on SQLite alone: its subject (pages, translations,
    login flows, headers) does not depend on the database. Everything about SQL, locking,
    concurrency, migrations, the audit store, the import, the outbox and the scheduler
    stays on both."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgresql = callspec is not None and callspec.params.get("database_url") == "postgresql"
        (dropped if on_postgresql and item.get_closest_marker("sqlite_only") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@contextmanager
def throwaway_database(kind: str, folder: Path) -> Iterator[str]:
    """The URL of a database of its own (a SQLite file in ``folder``, or a PostgreSQL
    database created here), dropped when the block ends."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'ratsflow.sqlite'}"
        return
    name = f"ratsflow_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def database_at(database_url: str, folder: Path, revision: str) -> Iterator[Any]:
    """An engine on a throwaway database of the run's kind (SQLite or PostgreSQL, as
    ``database_url``), migrated up to ``revision``: a migration test fills it as an older
    installation had it, then upgrades on. Disposed and dropped when the block ends."""
    kind = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    with throwaway_database(kind, folder) as url:
        engine = create_engine(url)
        try:
            upgrade_schema(engine, revision)
            yield engine
        finally:
            engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    with throwaway_database(request.param, tmp_path_factory.mktemp("sqlite")) as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    """``RATSFLOW_BASE_URL`` is the Flask test client's own address (http://localhost), as
    ``ratsflow serve`` makes it the address it serves: links and OParl ids begin there."""
    return load_settings(env={"RATSFLOW_BASE_URL": "http://localhost"}, database_url=database_url,
                         instance_path=tmp_path_factory.mktemp("instance"),
                         scheduler_in_process=False, secret_key="test-secret")


@pytest.fixture(scope="session")
def _schema(settings):  # type: ignore[no-untyped-def]
    database = Database(settings)
    database.upgrade()
    yield database
    database.dispose()


def _empty(conn) -> None:  # type: ignore[no-untyped-def]
    """Delete every row (the schema stays); the audit head back at the genesis."""
    # The audit table refuses DELETE (engine.audit.APPEND_ONLY): lifted for the cleanup only.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        drop_append_only(conn)
    for table in reversed(SQLModel.metadata.sorted_tables):
        if table.name == "audit_head":
            conn.execute(text("UPDATE audit_head SET seq = 0, hash = :h, horizon_seq = NULL, horizon_xmax = NULL"),
                         {"h": GENESIS})
        else:
            conn.execute(table.delete())
    if conn.dialect.name != "postgresql":
        install_append_only(conn)
    else:  # the audit's numbers start again at 1 (engine.audit.NEXT_SEQ_PG)
        conn.execute(text("SELECT setval('audit_event_seq', 1, false)"))


@pytest.fixture
def database(_schema):  # type: ignore[no-untyped-def]
    """The database with an empty schema; emptied again after the test."""
    yield _schema
    with _schema.engine.begin() as conn:
        _empty(conn)


@pytest.fixture(scope="session")
def _demo_rows(_schema):  # type: ignore[no-untyped-def]
    """The demo loaded once per database (hashing its passwords and running its workflow take
    most of a second), kept as the rows of every table; the tables emptied again."""
    with _schema.engine.begin() as conn:
        _empty(conn)
    with _schema.unit_of_work() as s:
        result = load_demo(s, PASSWORD, now=NOW, week=False)
    with _schema.unit_of_work() as s:  # as the commit's seal leaves it (engine.audit.seal)
        seal(s)
    with _schema.engine.connect() as conn:
        # The search index is not copied (SQLite keeps its text in an FTS5 table outside the
        # models): the ``demo`` fixture indexes the copied Vorlagen again.
        rows = {table.name: [] if table.name in ("search_entry", "search_paper") else
                [dict(row) for row in conn.execute(table.select()).mappings()]
                for table in SQLModel.metadata.sorted_tables}
    with _schema.engine.begin() as conn:
        _empty(conn)
    return result, rows


@pytest.fixture
def demo(database, _demo_rows):  # type: ignore[no-untyped-def]
    """The seed Vorlage 2024/063 with its Gremien, Sitzungen and accounts (without the demo's
    week of further Vorlagen): the committee session is past, its result step open.

    Loaded once per database (``_demo_rows``): each test gets those rows copied into the
    empty tables, and the ``database`` fixture empties them again afterwards."""
    result, rows = _demo_rows
    with database.engine.begin() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "audit_head":
                conn.execute(table.update().values(**rows[table.name][0]))
            elif rows[table.name]:
                conn.execute(table.insert(), rows[table.name])
        if conn.dialect.name == "postgresql":
            # The rows came with their ids: each sequence goes on after the highest.
            for table in SQLModel.metadata.sorted_tables:
                key = table.autoincrement_column
                if key is not None and rows[table.name]:
                    conn.execute(text("SELECT setval(pg_get_serial_sequence(:t, :c), :v)"),
                                 {"t": table.name, "c": key.name,
                                  "v": max(row[key.name] for row in rows[table.name])})
            conn.execute(text("SELECT setval('audit_event_seq', :v)"),
                         {"v": max(row["seq"] for row in rows["audit_event"])})
    search.rebuild(database)
    return result


@pytest.fixture
def actor(database):  # type: ignore[no-untyped-def]
    def get(username: str):  # type: ignore[no-untyped-def]
        with database.unit_of_work() as s:
            account = s.exec(select(Account).where(Account.username == username)).one()
            return load_actor(s, account.id)
    return get


@pytest.fixture
def draft(database, demo):  # type: ignore[no-untyped-def]
    """Factory: a Vorlage in Entwurf with one Beratung in the seed's first Gremium."""
    def make(reference: str, name: str = "Test") -> int:
        with database.unit_of_work() as s:
            seed = s.get(Paper, demo.paper_id)
            paper = Paper(body_id=seed.body_id, reference=reference, name=name,
                          under_direction_of_id=seed.under_direction_of_id)
            s.add(paper)
            s.flush()
            first = s.exec(select(Consultation).where(Consultation.paper_id == seed.id)
                           .order_by(Consultation.position)).first()
            s.add(Consultation(paper_id=paper.id, position=1, organization_id=first.organization_id))
            return paper.id  # type: ignore[no-any-return]
    return make


@pytest.fixture
def colleague(database, demo):  # type: ignore[no-untyped-def]
    """A second Sekretariat account of the seed's committee: Sabine Weber (weber)."""
    with database.unit_of_work() as s:
        if s.exec(select(Account).where(Account.username == "weber")).first() is None:
            committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one()
            create_account(s, "weber", PASSWORD, "Sabine Weber", [(ROLE_SECRETARIAT, committee.id)])
    return "weber"


@pytest.fixture
def others(database, demo):  # type: ignore[no-untyped-def]
    """Accounts of another Gremium and another department (as the demo's week has them):
    krause, Sekretariat of the AMD, and lenz, Sachbearbeitung of Mobilität und Digitalisierung."""
    with database.unit_of_work() as s:
        if s.exec(select(Account).where(Account.username == "krause")).first() is None:
            seed = s.get(Paper, demo.paper_id)
            mobility = Organization(body_id=seed.body_id, name="Ausschuss für Mobilität und Digitalisierung",
                                    short_name="AMD", organization_type="Gremium", classification="Ausschuss")
            digital = Organization(body_id=seed.body_id, name="Mobilität und Digitalisierung",
                                   organization_type="Verwaltungsbereich")
            s.add_all([mobility, digital])
            s.flush()
            create_account(s, "krause", PASSWORD, "Tobias Krause", [(ROLE_SECRETARIAT, mobility.id)])
            create_account(s, "lenz", PASSWORD, "Dominik Lenz", [(ROLE_CLERK, digital.id)])
    return ("krause", "lenz")


def on_agenda(database, actor, draft, reference: str, name: str, meeting_ref: str = "SI/2024/131",  # type: ignore[no-untyped-def]
              public: bool = True) -> int:
    """A Vorlage in the committee, put on ``meeting_ref``'s agenda two weeks before ``NOW``."""
    paper_id = draft(reference, name)
    clerk, secretary = actor("zierstedt"), actor("hoffmann")
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == meeting_ref)).one()
        procedures.start_beratungsfolge(s, clerk, paper_id, now=NOW - timedelta(weeks=3))
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
        procedures.complete_task(s, secretary, task.id, {"meeting_id": meeting.id, "oeffentlich": public},
                                 version, now=min(NOW, meeting.start) - timedelta(days=10))
    return paper_id


def run_together(attempt, times: int, expected: type[Exception]) -> list[str]:  # type: ignore[no-untyped-def]
    """Run ``attempt`` in ``times`` threads released at once; "ok", "409" or the error each."""
    barrier = threading.Barrier(times)
    outcomes: list[str] = []

    def one() -> None:
        barrier.wait()
        try:
            attempt()
            outcomes.append("ok")
        except expected:
            outcomes.append("409")
        except Exception as exc:  # noqa: BLE001 - any other outcome fails the calling test
            outcomes.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one) for _ in range(times)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


class Clock:
    """The app's clock in tests: starts at ``NOW`` and moves only when told."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(settings, _schema, database, clock):  # type: ignore[no-untyped-def]
    from web import create_app

    application = create_app(settings, upgrade=False)
    application.config.update(TESTING=True)
    application.extensions["ratsflow.clock"] = clock
    yield application
    application.extensions["ratsflow.db"].dispose()


class Browser:
    """The Flask test client with a login and the form's CSRF token."""

    def __init__(self, client) -> None:  # type: ignore[no-untyped-def]
        self.client = client

    def csrf(self) -> str:
        self.client.get("/anmelden")
        with self.client.session_transaction() as sess:
            return sess["csrf"]  # type: ignore[no-any-return]

    def login(self, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
        token = self.csrf()
        response = self.client.post("/anmelden", data={
            "username": username, "password": password, "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)
        # Like a script on the app's pages, API writes with the session cookie send its CSRF token.
        with self.client.session_transaction() as sess:
            self.client.environ_base["HTTP_X_CSRF_TOKEN"] = sess["csrf"]
        return self

    def post(self, url: str, data: dict, **kw):  # type: ignore[no-untyped-def,type-arg]
        with self.client.session_transaction() as sess:
            token = sess.get("csrf", "")
        return self.client.post(url, data={**data, "csrf_token": token}, **kw)

    def get(self, url: str, **kw):  # type: ignore[no-untyped-def]
        return self.client.get(url, **kw)


@pytest.fixture
def browser(app):  # type: ignore[no-untyped-def]
    def make() -> Browser:
        return Browser(app.test_client())
    return make


def text_of(html: str) -> str:
    """The visible text of a page, whitespace collapsed (for asserting what a user reads)."""
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace(
        "&amp;", "&").replace("&#34;", '"').replace("&quot;", '"').strip()


PROJECT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- a real SMTP server

class MailInbox:
    """What a real SMTP server on loopback (aiosmtpd) accepted; ``hold`` makes it stall in DATA."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.recipients: list[str] = []  # every envelope recipient (RCPT TO) of what was accepted
        self.to_lines: list[str] = []  # each message's To: header, read once (not per wait)
        self.peers: set[Any] = set()  # the client connections (address, port) that delivered
        self.changed = threading.Condition()
        self.hold: threading.Event | None = None  # set: DATA waits until it is set again
        self.holding = threading.Event()  # a DATA is being held now

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
        import asyncio
        from email import message_from_bytes, policy

        if self.hold is not None and not self.hold.is_set():
            self.holding.set()
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait)
            return "451 Requested action aborted"  # never accepted: the client was gone
        message = message_from_bytes(envelope.content, policy=policy.default)
        to_line = str(message["To"])
        with self.changed:
            self.messages.append(message)
            self.recipients.extend(envelope.rcpt_tos)
            self.to_lines.append(to_line)
            self.peers.add(session.peer)
            self.changed.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 60, to: str = "") -> bool:
        """Until ``count`` messages (to addresses containing ``to``) arrived, at most ``timeout`` s."""
        # Counted from the To: lines read on arrival: parsing every message's header again on
        # each arrival (while the server waits for this lock) made 1,000 deliveries quadratic.
        seen = 0
        matched = 0

        def arrived() -> bool:
            nonlocal seen, matched
            matched += sum(to in line for line in self.to_lines[seen:])
            seen = len(self.to_lines)
            return matched >= count

        with self.changed:
            return self.changed.wait_for(arrived, timeout)

    def to(self, address: str) -> list[Any]:
        return [m for m in self.messages if address in str(m["To"])]

    def clear(self) -> None:
        with self.changed:
            self.messages.clear()
            self.recipients.clear()
            self.to_lines.clear()
            self.peers.clear()


class SmtpServer:
    def __init__(self) -> None:
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.inbox = MailInbox()
        self.controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():  # type: ignore[no-untyped-def]
    server = SmtpServer()
    server.start()
    yield server
    if server.inbox.hold is not None:
        server.inbox.hold.set()
    server.stop()
