"""APScheduler, started only where asked (``ratsflow serve`` for the embedded default).

Exactly one scheduler fires jobs at a time: it must hold the leader lock (a PostgreSQL
advisory lock, or a file lock next to the SQLite database). Jobs are plain functions that
are safe to run twice, each with an explicit id; the database, not APScheduler's job
store, is the source of truth.
"""

from __future__ import annotations

import fcntl
import logging
from dataclasses import dataclass
from typing import IO, Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text

from engine import audit
from engine.db import Database

log = logging.getLogger(__name__)
ADVISORY_LOCK_KEY = 0x7261747366  # "ratsf"


class LeaderLock:
    """Held for the life of the scheduler; a second process does not get it."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._conn: Any = None
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        if self.database.settings.is_sqlite:
            path = self.database.settings.instance_path / "scheduler.lock"
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "w")  # noqa: SIM115 (kept open while leading)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            self._file = handle
            return True
        conn = self.database.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}).scalar()
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._conn is not None:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
            self._conn.close()
            self._conn = None


def verify_audit_chain(database: Database) -> audit.VerifyReport:
    """Job: recompute the audit chain and log loudly if it was tampered with."""
    with database.unit_of_work() as s:
        report = audit.verify(s)
    if report.ok:
        log.info("audit chain verified: %d events", report.events)
    else:
        log.error("audit chain broken: %s", report.problem)
    return report


@dataclass
class RunningScheduler:
    """The scheduler and the leader lock it holds; ``stop`` gives both up."""

    scheduler: BackgroundScheduler
    lock: LeaderLock

    def stop(self) -> None:
        self.scheduler.shutdown()
        self.lock.release()


def start_scheduler(database: Database) -> RunningScheduler | None:
    """Start the in-process scheduler if this process wins the leader lock."""
    lock = LeaderLock(database)
    if not lock.acquire():
        log.warning("another scheduler holds the leader lock; this process runs none")
        return None
    scheduler = BackgroundScheduler(timezone="Europe/Berlin")
    scheduler.add_job(verify_audit_chain, "interval", hours=1, args=[database],
                      id="audit-verify", replace_existing=True, coalesce=True, max_instances=1)
    scheduler.start()
    return RunningScheduler(scheduler, lock)
