"""APScheduler: ``ratsflow scheduler`` as its own process, or in ``ratsflow serve``.

Exactly one scheduler fires jobs at a time: it must hold the leader lock (a PostgreSQL
advisory lock, or a file lock next to the SQLite database). A second process waits as a
standby and tries the lock every :data:`STANDBY_POLL` seconds, so it takes over within
that when the leader dies (the database drops a dead session's advisory lock, the kernel
a dead process's file lock). Jobs are plain functions that are safe to run twice, each
with an explicit id; the database, not APScheduler's job store, is the source of truth:

* ``sweep`` every ``RATSFLOW_SWEEP_SECONDS`` (default :data:`SWEEP_SECONDS`;
  ``notifications.sweep.run_once``): catches up
  whatever came due while nothing ran;
* ``next-due``, a date job at the earliest message waiting in the outbox (a retry, or a
  reminder rendered ahead for its moment), timer, or reminder to render ahead, set again
  after every sweep, for precision between sweeps;
* the sealer, a thread (:class:`Sealer`): hashes appended audit events into the chain as they
  come (with ``RATSFLOW_AUDIT_SEAL=scheduler`` the only one; with ``commit`` it takes what a
  commit's own seal left: it gave way to a sealer at work, or met a gap not yet final);
* ``audit-verify`` every ten minutes (incrementally; the result is kept for the pages).
"""

from __future__ import annotations

import fcntl
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text

from engine import audit, mappe, outbox, search
from engine.calendar import reminders
from engine.db import Database
from engine.files import FileStore
from engine.process import timers
from engine.types import utcnow

from .delivery import Transport, transport_for
from .sweep import LOOKAHEAD, PassReport, run_once

log = logging.getLogger(__name__)
ADVISORY_LOCK_KEY = 0x7261747366  # "ratsf"
SWEEP_SECONDS = 10
#: The sealer's pause when nothing was waiting (how stale an unsealed event gets at most, idle).
SEAL_IDLE_SECONDS = 0.05
STANDBY_POLL = 2.0
DELIVERY_WORKERS = 4


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


def verify_audit_chain(database: Database) -> audit.AuditVerification:
    """Job: verify the audit chain from the last verified event on, keep the result, and log
    loudly if it was tampered with (a new finding is recorded in the chain itself)."""
    with database.unit_of_work() as s:
        result = audit.verify_incrementally(s)
    if result.ok:
        log.info("audit chain verified: %d new events, up to %d", result.events, result.to_seq)
    else:
        log.error("audit chain broken: %s", result.problem)
    return result


class Sealer:
    """Hash appended audit events into the chain, in a loop of its own (two statements a turn
    when none wait); pause :data:`SEAL_IDLE_SECONDS` when none did."""

    def __init__(self, database: Database, idle: float = SEAL_IDLE_SECONDS) -> None:
        self.database, self.idle = database, idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="audit-sealer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def turn(self) -> int:
        with self.database.unit_of_work() as s:
            return audit.seal(s, wait=False)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sealed = self.turn()
            except Exception:
                log.exception("sealing the audit chain failed; the sealer tries again")
                sealed = 0
            if not sealed:
                self._stop.wait(self.idle)


#: How often the search job reads new Anlagen and indexes what bulk writers left.
SEARCH_SECONDS = 15
#: How often the Sitzungsmappen of invited Sitzungen are built ahead (seconds).
MAPPE_SECONDS = 60


def update_search(database: Database) -> search.CatchUp | None:
    """The ``search`` job: text of unread documents, stale index rows (``engine.search``)."""
    try:
        done = search.catch_up(database, FileStore(database.settings.files_path),
                               seconds=SEARCH_SECONDS * 0.8)
    except Exception:
        log.exception("search index update failed; the next run tries again")
        return None
    if done.read or done.indexed:
        log.info("search index: %s", done.summary())
    return done


def prebuild_mappen(database: Database, now: datetime | None = None) -> int:
    """The ``sitzungsmappen`` job: the Mappen of invited Sitzungen built ahead (``engine.mappe``),
    apart from the sweep (WeasyPrint takes seconds; reminders must not wait for it)."""
    settings = database.settings
    try:
        built = mappe.prebuild(database, FileStore(settings.files_path), mappe.Cache(settings.mappe_path),
                               now or utcnow(), seconds=MAPPE_SECONDS * 0.8)
    except Exception:
        log.exception("building Sitzungsmappen ahead failed; the next run tries again")
        return 0
    if built:
        log.info("Sitzungsmappen built ahead: %d", built)
    return built


class Jobs:
    """The jobs of the leading scheduler; ``sweep`` is also what ``--once`` runs."""

    def __init__(self, database: Database, scheduler: BackgroundScheduler,
                 transport: Transport | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.database, self.scheduler, self.clock = database, scheduler, clock
        self.transport = transport or transport_for(database.settings)
        self._lock = threading.Lock()
        self._scheduling = threading.Lock()
        self._stopping = False

    def sweep(self) -> PassReport | None:
        if not self._lock.acquire(blocking=False):  # the date job and the interval met
            return None
        try:
            report = run_once(self.database, self.clock, self.transport, workers=DELIVERY_WORKERS)
        except Exception:
            log.exception("sweep failed; the next one tries again")
            return None
        finally:
            self._lock.release()
        self._set_next_due()
        return report

    def stop_scheduling(self) -> None:
        """From now on a sweep sets no next-due job (the scheduler is being shut down)."""
        with self._scheduling:
            self._stopping = True

    def _set_next_due(self) -> None:
        with self.database.unit_of_work(write=False) as s:
            due = reminders.next_due(s)  # rendered ahead, within the look-ahead window
            ahead = due - LOOKAHEAD if due is not None else None
            moments = [m for m in (ahead, outbox.next_attempt(s), timers.next_due(s)) if m is not None]
        if not moments:
            return
        at = max(min(moments), self.clock())
        with self._scheduling:
            if self._stopping:
                return
            self.scheduler.add_job(self.sweep, "date", run_date=at, id="next-due", replace_existing=True,
                                   misfire_grace_time=None)


@dataclass
class RunningScheduler:
    """The scheduler and the leader lock it holds; ``stop`` gives both up."""

    scheduler: BackgroundScheduler
    lock: LeaderLock
    jobs: Jobs
    sealer: Sealer

    def stop(self) -> None:
        """A sweep under way finishes, without setting its next-due job (APScheduler's
        ``shutdown`` holds the job store while it waits for that very sweep: a stop during a
        sweep hung); then the scheduler and the lock are given up."""
        self.jobs.stop_scheduling()
        self.scheduler.shutdown()
        self.sealer.stop()
        self.lock.release()


def _start(database: Database, lock: LeaderLock, transport: Transport | None) -> RunningScheduler:
    scheduler = BackgroundScheduler(timezone="Europe/Berlin")
    jobs = Jobs(database, scheduler, transport)
    scheduler.add_job(verify_audit_chain, "interval", minutes=10, args=[database],
                      id="audit-verify", replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(update_search, "interval", seconds=SEARCH_SECONDS, args=[database], id="search",
                      replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(prebuild_mappen, "interval", seconds=MAPPE_SECONDS, args=[database],
                      id="sitzungsmappen", replace_existing=True, coalesce=True, max_instances=1)
    scheduler.add_job(jobs.sweep, "interval", seconds=database.settings.sweep_seconds, id="sweep",
                      replace_existing=True, coalesce=True, max_instances=1, next_run_time=utcnow())
    scheduler.start()
    sealer = Sealer(database)
    sealer.start()
    return RunningScheduler(scheduler, lock, jobs, sealer)


def start_scheduler(database: Database, transport: Transport | None = None) -> RunningScheduler | None:
    """Start the in-process scheduler if this process wins the leader lock."""
    lock = LeaderLock(database)
    if not lock.acquire():
        log.warning("another scheduler holds the leader lock; this process runs none")
        return None
    return _start(database, lock, transport)


def run_scheduler(database: Database, stop: threading.Event, transport: Transport | None = None,
                  on_lead: Callable[[], None] | None = None) -> None:
    """``ratsflow scheduler``: wait as a standby until this process leads, then run the jobs
    until ``stop`` is set (SIGTERM/SIGINT)."""
    lock = LeaderLock(database)
    announced = False
    while not stop.is_set():
        if lock.acquire():
            break
        if not announced:
            log.info("standby: another scheduler leads; trying the lock every %.0f s", STANDBY_POLL)
            announced = True
        stop.wait(STANDBY_POLL)
    if stop.is_set():
        return
    transport = transport or transport_for(database.settings)
    log.info("this process leads the scheduler (e-mail: %s)", transport.describe())
    running = _start(database, lock, transport)
    if on_lead is not None:
        on_lead()
    try:
        stop.wait()
    finally:
        running.stop()
