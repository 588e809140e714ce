"""Writers append, the sealer hashes: an event is one INSERT on the writer's path and sealed
right after its commit; verify covers the sealed part and counts the unsealed tail; on
PostgreSQL a number whose transaction rolled back is passed only once it is final, and one
still in flight is never skipped; parallel writers all end up in one chain."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, select

from engine import audit
from engine.db import count_statements

from .test_audit_store import attacker

POSTGRES_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _event(database, seq: int) -> audit.AuditEvent:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return s.exec(select(audit.AuditEvent).where(audit.AuditEvent.seq == seq)).one()


def _verify(database) -> audit.VerifyReport:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return audit.verify(s, batch=3)


def _seal(database) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return audit.seal(s)


def test_an_event_is_one_insert_and_sealed_after_its_commit(demo, database) -> None:  # type: ignore[no-untyped-def]
    before = _verify(database)
    uow = database.begin()
    with count_statements(database.engine) as seen:
        event = audit.record(uow.session, "hoffmann", "Lea Hoffmann", "task.claimed", paper_id=demo.paper_id)
    statements = [statement for statement in seen if not statement.startswith("BEGIN")]  # SQLite's own
    assert len(statements) == 1 and statements[0].startswith("INSERT INTO audit_event"), seen
    assert event.seq == before.last_seq + 1
    uow.commit()
    uow.close()
    sealed = _event(database, event.seq)
    assert sealed.prev_seq == before.last_seq and sealed.prev_hash == before.last_hash and sealed.hash
    report = _verify(database)
    assert report.ok and report.last_seq == event.seq and report.unsealed == 0


def test_the_writer_seals_in_its_own_transaction_and_a_failed_commit_takes_the_seal_back(demo, database) -> None:  # type: ignore[no-untyped-def]
    before = _verify(database)
    uow = database.begin()
    event = audit.record(uow.session, "x", "X", "task.commented", details={"text": "nie committet"})
    seen: list[str | None] = []

    def failing_commit() -> None:  # the seal ran just before, in the same transaction
        seen.append(uow.session.execute(text("SELECT hash FROM audit_event WHERE seq = :s"),
                                        {"s": event.seq}).scalar())
        raise RuntimeError("Verbindung verloren")

    uow.session.commit = failing_commit  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        uow.commit()
    uow.rollback()
    uow.close()
    assert seen[0] is not None  # hashed inside the writer's transaction, before its commit
    report = _verify(database)  # and taken back with it: the head where it was, no event
    assert report.ok and (report.last_seq, report.last_hash, report.unsealed) == (
        before.last_seq, before.last_hash, 0)


def test_verify_covers_the_sealed_part_and_counts_the_unsealed_tail(demo, database) -> None:  # type: ignore[no-untyped-def]
    sealed = _verify(database)
    with Session(database.engine) as s:  # committed without the unit of work: nothing seals it yet
        for i in range(3):
            audit.record(s, "x", "X", "task.commented", details={"text": f"Notiz {i}"})
        s.commit()
    report = _verify(database)
    assert report.ok and (report.last_seq, report.unsealed) == (sealed.last_seq, 3)
    with database.unit_of_work(write=False) as s:
        assert audit.checkpoint(s).seq == sealed.last_seq  # a checkpoint names the sealed head only
    assert _seal(database) == 3
    report = _verify(database)
    assert report.ok and (report.last_seq, report.unsealed) == (sealed.last_seq + 3, 0)


def test_an_unsealed_event_changed_before_its_seal_is_refused_and_a_sealed_hash_too(demo, database) -> None:  # type: ignore[no-untyped-def]
    with Session(database.engine) as s:
        seq = audit.record(s, "x", "X", "task.commented").seq
        s.commit()
    for statement in (f"UPDATE audit_event SET actor = 'mallory', hash = 'x' WHERE seq = {seq}",
                      f"UPDATE audit_event SET actor = 'mallory' WHERE seq = {seq}",
                      "UPDATE audit_event SET hash = 'x' WHERE seq = 2",
                      f"DELETE FROM audit_event WHERE seq = {seq}"):
        with pytest.raises(DBAPIError, match="nur fortschreibbar"), database.engine.begin() as conn:
            conn.execute(text(statement))
    assert _seal(database) == 1 and _verify(database).ok


def test_an_event_slipped_in_below_the_sealed_head_is_named(demo, database) -> None:  # type: ignore[no-untyped-def]
    head = _verify(database).last_seq
    with attacker(database) as conn:  # a number freed and the row put in again without hash
        table = audit.AuditEvent.__table__  # type: ignore[attr-defined]
        row = dict(conn.execute(table.select().where(table.c.seq == 3)).mappings().one())
        conn.execute(text("DELETE FROM audit_event WHERE seq = 3"))
        row.update(id=row["id"] + 100_000, prev_seq=None, prev_hash=None, hash=None, actor="mallory")
        conn.execute(table.insert(), [row])
    report = _verify(database)
    assert (report.ok, report.first_bad) == (False, 3) and "nach der Versiegelung eingefügt" in report.problem
    assert head > 3


def _older_transactions_ended(database) -> None:  # type: ignore[no-untyped-def]
    """Every transaction older than the sealer's horizon has ended, as far as this test goes:
    the one that held the missing number rolled back. PostgreSQL's transaction ids are the
    cluster's, so a long transaction of another test or benchmark in another database would
    hold the horizon back for its whole duration; the horizon is moved to the present instead
    (the sealer's own check is exercised by the test of a number still in flight)."""
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET horizon_xmax = "
                          "pg_snapshot_xmin(pg_current_snapshot())::text::bigint"))


@POSTGRES_ONLY
def test_a_rolled_back_number_is_passed_once_final_and_a_removed_event_is_still_named(demo, database) -> None:  # type: ignore[no-untyped-def]
    start = _verify(database).last_seq
    lost = database.begin()
    audit.record(lost.session, "x", "X", "task.commented", details={"text": "zurückgerollt"})
    lost.rollback()  # its number start + 1 stays unused
    lost.close()
    with database.unit_of_work() as s:
        after = audit.record(s, "x", "X", "task.commented", details={"text": "danach"}).seq
    assert after == start + 2
    # The commit's seal met the gap while nothing told it final: the horizon is noted.
    assert _event(database, after).hash is None
    with database.engine.begin() as conn:
        horizon = conn.execute(text("SELECT horizon_seq FROM audit_head")).scalar()
    assert horizon == after
    _older_transactions_ended(database)
    assert _seal(database) == 1
    sealed = _event(database, after)
    assert sealed.prev_seq == start and _verify(database).ok
    with database.unit_of_work() as s:
        newest = audit.record(s, "x", "X", "task.commented").seq
    with attacker(database) as conn:  # removing a sealed event is still told from that gap
        conn.execute(text("DELETE FROM audit_event WHERE seq = :n"), {"n": after})
    report = _verify(database)
    assert (report.first_bad, report.problem) == (after, f"Ereignis {after} fehlt (danach folgt Ereignis {newest})")


@POSTGRES_ONLY
def test_a_number_still_in_flight_is_never_skipped(demo, database) -> None:  # type: ignore[no-untyped-def]
    start = _verify(database).last_seq
    slow = database.begin()
    early = audit.record(slow.session, "x", "X", "task.commented", details={"text": "früh vergeben"}).seq
    with database.unit_of_work() as s:
        late = audit.record(s, "y", "Y", "task.commented", details={"text": "später vergeben"}).seq
    assert (early, late) == (start + 1, start + 2)
    for _ in range(3):  # however often it runs, the sealer waits for the number in flight
        assert _seal(database) == 0
    assert _event(database, late).hash is None
    slow.commit()  # and its own commit's seal takes both, in order
    slow.close()
    first, second = _event(database, early), _event(database, late)
    assert (first.prev_seq, second.prev_seq, second.prev_hash) == (start, early, first.hash)
    report = _verify(database)
    assert report.ok and report.last_seq == late and report.unsealed == 0


@POSTGRES_ONLY
def test_a_number_taken_after_an_older_transaction_began_is_never_skipped(demo, database) -> None:  # type: ignore[no-untyped-def]
    """The horizon covers a writer whose transaction id is younger than the last one to end: an
    older transaction (its id first) takes the later number and commits while the younger one
    still holds the earlier number. A horizon from the snapshot (one past the last ended id)
    would lie at or below the younger writer's id and let the sealer pass its number."""
    start = _verify(database).last_seq
    older = database.begin()
    older.session.execute(text("SELECT pg_current_xact_id()"))  # its id before the other's
    younger = database.begin()
    early = audit.record(younger.session, "x", "X", "task.commented", details={"text": "früh vergeben"}).seq
    late = audit.record(older.session, "y", "Y", "task.commented", details={"text": "später vergeben"}).seq
    assert (early, late) == (start + 1, start + 2)
    older.commit()  # its seal meets the gap and leaves it to a seal after the commit
    older.close()
    for _ in range(3):  # while the younger writer runs, no seal passes its number
        assert _seal(database) == 0
    assert _event(database, late).hash is None
    younger.commit()
    younger.close()
    first, second = _event(database, early), _event(database, late)
    assert (first.prev_seq, second.prev_seq, second.prev_hash) == (start, early, first.hash)
    report = _verify(database)
    assert report.ok and report.last_seq == late and report.unsealed == 0


@POSTGRES_ONLY
def test_parallel_writers_all_end_up_in_one_chain(demo, database) -> None:  # type: ignore[no-untyped-def]
    start = _verify(database)
    failures: list[BaseException] = []
    barrier = threading.Barrier(4)

    def write(name: str) -> None:
        try:
            barrier.wait()
            for i in range(25):
                with database.unit_of_work() as s:
                    audit.record(s, name, name.title(), "task.commented", details={"n": i})
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(f"writer{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    _seal(database)  # whatever a seal that gave way left
    report = _verify(database)
    assert report.ok and report.unsealed == 0, report.problem
    assert report.events == start.events + 100 and report.last_seq == start.last_seq + 100


def test_with_the_schedulers_sealing_a_commit_leaves_its_event_to_the_sealer(demo, database) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from engine.db import Database
    from notifications.scheduler import Sealer

    with Database(replace(database.settings, audit_seal="scheduler")) as web:
        with web.unit_of_work() as s:
            seq = audit.record(s, "x", "X", "task.commented").seq
        assert _event(database, seq).hash is None  # the writer did nothing after its commit
        assert Sealer(web).turn() == 1
    report = _verify(database)
    assert report.ok and report.last_seq == seq and report.unsealed == 0


def test_an_unknown_sealing_is_refused_in_german() -> None:
    from engine.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="RATSFLOW_AUDIT_SEAL='nie': erwartet commit oder scheduler"):
        load_settings(env={"RATSFLOW_AUDIT_SEAL": "nie"})
