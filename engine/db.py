"""Database engine, the unit of work, and schema upgrades (Alembic)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, create_engine

from engine.settings import PROJECT_ROOT, Settings

MIGRATIONS = PROJECT_ROOT / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL syncs at checkpoints, not at every commit: no corruption on a crash
    # or power loss, but a power loss may take the last commits back (an application crash
    # does not). A commit costs ~0.05 ms instead of ~0.6 ms (an fsync); production councils
    # run on PostgreSQL (docs/operations.md).
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    _cache_long_statements()
    # No pre-ping: it costs a round trip per checkout; recycled connections stay fresh.
    return create_engine(url, pool_size=10, max_overflow=10, pool_recycle=1800)


def _cache_long_statements() -> None:
    """psycopg converts a statement's ``%(name)s`` placeholders once per text and keeps the
    result, but only for statements of at most 50 parameters; the completion's writes, sent
    as one statement (``engine.writes``), have about 60 and were converted anew each time
    (≈ 0.2 ms a completion). Their texts are few (one per shape, ``writes._combined`` keeps
    256), so the limit is raised for them. A psycopg without the limit is left alone."""
    try:
        from psycopg import _queries
    except ImportError:  # pragma: no cover - psycopg is the PostgreSQL driver here
        return
    limit = getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", None)
    if isinstance(limit, int) and limit < 200:
        _queries.MAX_CACHED_STATEMENT_PARAMS = 200


def _sqlite_begin(conn: Connection) -> None:
    """A writing unit of work takes the write lock when it starts (BEGIN IMMEDIATE), so
    two writers queue (busy_timeout) instead of failing on a stale read snapshot;
    read-only units of work start deferred and read alongside (WAL)."""
    read_only = conn.get_execution_options().get("ratsflow_read_only", False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class UnitOfWork:
    """One transaction on one session. The boundary (request, job, command) commits it.

    Callbacks registered with :func:`after_commit` run only after the commit succeeded,
    so nothing (an e-mail, a cache update) leaves before its data is durable; a rollback
    drops them.
    """

    def __init__(self, engine: Engine, write: bool = True, seal_after_commit: bool = True) -> None:
        bind = engine if write else engine.execution_options(ratsflow_read_only=True)
        self.session = Session(bind, expire_on_commit=False)
        self.session.info["after_commit"] = []
        #: Commits so far (a boundary may retry a unit of work only before its first).
        self.commits = 0
        #: ``engine.audit.record`` seals after the commit (setting ``audit_seal``).
        self.session.info["audit_seal_after_commit"] = seal_after_commit

    def commit(self) -> None:
        # Last words of the transaction (``before_commit``): run inside it, just before COMMIT.
        for callback in self.session.info.pop(_BEFORE_COMMIT, []):
            callback()
        self.session.commit()
        self.commits += 1
        callbacks: list[Callable[[], None]] = self.session.info["after_commit"]
        self.session.info["after_commit"] = []
        for callback in callbacks:
            callback()

    def rollback(self) -> None:
        """Drop everything since the last commit (and its queued callbacks); go on afresh."""
        self.session.rollback()
        self.session.info["after_commit"] = []
        self.session.info.pop(_BEFORE_COMMIT, None)

    def close(self) -> None:
        self.session.close()


class Database:
    """Owns the SQLAlchemy engine; hands out one session per unit of work."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)

    def begin(self, write: bool = True) -> UnitOfWork:
        return UnitOfWork(self.engine, write, self.settings.audit_seal == "commit")

    @contextmanager
    def unit_of_work(self, write: bool = True) -> Iterator[Session]:
        """One transaction: commit at the end, roll back on any error."""
        uow = self.begin(write)
        try:
            yield uow.session
        except BaseException:
            uow.rollback()
            uow.close()
            raise
        try:
            uow.commit()
        finally:
            uow.close()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def upgrade(self) -> None:
        """Bring the schema to the newest migration."""
        upgrade_schema(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.dispose()


# ----------------------------------------------------------------------------- read memo

_MEMO = "ratsflow_memo"


def memo(session: Session) -> dict[Any, Any]:
    """Reads held for the unit of work until its next write.

    A hot path reads a row (a Gremium's deadline rules, a Beratung's session window) once
    and asks again later in the same unit of work: the second answer comes from here. Any
    write through the session (a flush, an INSERT/UPDATE/DELETE statement) and the end of the
    transaction empty it, so nothing read here is older than the last write of this unit of
    work; writes of *other* transactions are not seen, as with any read in a transaction.
    """
    found = session.info.get(_MEMO)
    if found is None:
        found = session.info[_MEMO] = {}
    return found


def remembered(session: Session, key: Any, read: Callable[[], Any]) -> Any:
    """``read()`` once per unit of work and key (until the next write)."""
    held = memo(session)
    if key not in held:
        held[key] = read()
    return held[key]


def hold(session: Session, *objects: Any) -> None:
    """Keep objects for the unit of work: the session's identity map holds them only weakly,
    and a later ``session.get`` should find them without a query."""
    session.info.setdefault("held", []).extend(o for o in objects if o is not None)


def forget(session: Session) -> None:
    """Empty :func:`memo` (a write past the session's own execute path is coming)."""
    session.info.pop(_MEMO, None)


def _forget_on_write(state: Any) -> None:
    if not state.is_select:
        forget(state.session)


#: What a unit of work notes in ``session.info`` for itself (read memo, objects held, writes
#: noted ahead of sending): gone when its transaction ends, so a unit of work run again after
#: a rollback (``should_retry``) starts clean.
UNIT_KEYS: set[str] = {_MEMO, "held"}

_BEFORE_COMMIT = "ratsflow_before_commit"
UNIT_KEYS.add(_BEFORE_COMMIT)


def _end_of_unit(session: Any, transaction: Any) -> None:
    if transaction.parent is None:
        for key in UNIT_KEYS:
            session.info.pop(key, None)
    else:
        forget(session)


event.listen(OrmSession, "after_flush", lambda session, _flush_context: forget(session))
event.listen(OrmSession, "after_transaction_end", _end_of_unit)
event.listen(OrmSession, "do_orm_execute", _forget_on_write)


#: SQLSTATEs of a transaction PostgreSQL rolled back so that another could go on: chosen as
#: the victim of a deadlock (40P01), or the loser of a serialization conflict (40001). Nothing
#: of it was kept; PostgreSQL's advice is to run it again.
RETRY_SQLSTATES = frozenset({"40P01", "40001"})


def should_retry(exc: BaseException) -> bool:
    """Whether ``exc`` is a database error whose transaction may simply run again."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in RETRY_SQLSTATES


def before_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` inside the transaction of the unit of work owning ``session``, just
    before its commit (once; a rollback drops it). Outside a unit of work it never runs."""
    session.info.setdefault(_BEFORE_COMMIT, []).append(callback)


def pending_before_commit(session: Session) -> list[Callable[[], None]]:
    """What :func:`before_commit` queued so far in this transaction."""
    return session.info.get(_BEFORE_COMMIT, [])  # type: ignore[no-any-return]


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the unit of work owning ``session`` has committed."""
    session.info.setdefault("after_commit", []).append(callback)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


#: Tables outside the models: SQLite FTS5 tables (``engine.search``) are named so.
FTS_PREFIX = "fts_"


def exists_on(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for one database: a schema item declared for another only
    (``info={"only_on": "postgresql"}``, e.g. a trigram index) is not expected on it."""

    def include(item: Any, name: Any, type_: Any, reflected: bool, _compare_to: Any) -> bool:
        if type_ == "table" and reflected and str(name).startswith(FTS_PREFIX):
            return False  # SQLite's FTS5 tables (engine.search) and their shadow tables
        only_on = getattr(item, "info", {}).get("only_on")
        return only_on is None or only_on == dialect

    return include


def upgrade_schema(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


@contextmanager
def count_statements(engine: Engine) -> Iterator[list[str]]:
    """Collect the SQL statements run on ``engine`` inside the block (for benchmarks)."""
    seen: list[str] = []

    def before(conn: Connection, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
