"""The audit store refuses UPDATE and DELETE; whoever gets round it with database access
(disabling the trigger) is caught by verify, by sequence number, and truncation after a
checkpoint is noticed. On both databases; the CLI's exit codes; incremental verification."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from engine import audit
from web.cli import main as cli


@contextmanager
def attacker(database) -> Iterator[Connection]:  # type: ignore[no-untyped-def]
    """A connection with the append-only trigger disabled, as someone with database access
    would do it (re-enabled afterwards, so the next test starts guarded)."""
    with database.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
        else:
            audit.drop_append_only(conn)
        yield conn
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
        else:
            audit.install_append_only(conn)


def _verify(database, *marks: audit.Checkpoint) -> audit.VerifyReport:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return audit.verify(s, checkpoints=marks, batch=3)  # small batches: the keyset paging is exercised


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET actor = 'mallory' WHERE seq = 2",
                                       "DELETE FROM audit_event WHERE seq = 2",
                                       "DELETE FROM audit_event"])
def test_the_store_refuses_update_and_delete(demo, database, statement: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DBAPIError, match="nur fortschreibbar"), database.engine.begin() as conn:
        conn.execute(text(statement))
    assert _verify(database).ok


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_truncate_is_refused_too(demo, database) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DBAPIError, match="TRUNCATE verweigert"), database.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_event"))


def test_a_changed_row_is_named(demo, database) -> None:  # type: ignore[no-untyped-def]
    with attacker(database) as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 5"))
    report = _verify(database)
    assert (report.ok, report.first_bad, report.problem) == (False, 5, "Ereignis 5: Inhalt verändert")
    assert report.last_seq == 4  # everything before it holds


def test_a_row_deleted_in_the_middle_is_named(demo, database) -> None:  # type: ignore[no-untyped-def]
    with attacker(database) as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq = 3"))
    report = _verify(database)
    assert (report.first_bad, report.problem) == (3, "Ereignis 3 fehlt (danach folgt Ereignis 4)")


def test_two_rows_reordered_are_named(demo, database) -> None:  # type: ignore[no-untyped-def]
    with attacker(database) as conn:  # swap the sequence numbers of 3 and 4
        conn.execute(text("UPDATE audit_event SET seq = -4 WHERE seq = 4"))
        conn.execute(text("UPDATE audit_event SET seq = 4 WHERE seq = 3"))
        conn.execute(text("UPDATE audit_event SET seq = 3 WHERE seq = -4"))
    report = _verify(database)
    assert report.first_bad == 3 and report.problem.startswith("Ereignis 3: Verkettung unterbrochen")


def test_truncation_after_a_checkpoint_is_noticed(demo, database) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        mark = audit.checkpoint(s)
    assert mark.seq >= 6 and _verify(database, mark).ok
    # The last two events removed, and the head set back so that the chain looks whole.
    with attacker(database) as conn:
        conn.execute(text("DELETE FROM audit_event WHERE seq > :n"), {"n": mark.seq - 2})
        last = conn.execute(text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")).one()
        conn.execute(text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": last[0], "h": last[1]})
    assert _verify(database).ok  # without the checkpoint nobody could tell
    report = _verify(database, mark)
    assert not report.ok and report.problem.startswith(f"Ereignisse nach {mark.seq - 2} fehlen")
    assert f"nennt Ereignis {mark.seq}" in report.problem and "abgeschnitten" in report.problem


def test_a_rewritten_event_does_not_fit_its_checkpoint(demo, database) -> None:  # type: ignore[no-untyped-def]
    """Rewriting the newest event and recomputing its hash fools the chain, not the checkpoint."""
    with database.unit_of_work(write=False) as s:
        mark = audit.checkpoint(s)
    with attacker(database) as conn:
        conn.execute(text("UPDATE audit_event SET hash = :h WHERE seq = :n"), {"h": "f" * 64, "n": mark.seq})
        conn.execute(text("UPDATE audit_head SET hash = :h"), {"h": "f" * 64})
    report = _verify(database, mark)
    assert not report.ok and report.first_bad == mark.seq


def test_the_commands_checkpoint_and_verify(demo, database, settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RATSFLOW_INSTANCE_PATH", str(settings.instance_path))
    kept = tmp_path / "pruefpunkt.json"
    made = CliRunner().invoke(cli, ["audit", "checkpoint", "--out", str(kept)])
    assert made.exit_code == 0
    mark = json.loads(kept.read_text())
    assert json.loads(made.output) == mark and set(mark) == {"seq", "hash", "at"}
    ok = CliRunner().invoke(cli, ["audit", "verify", "--since", str(kept)])
    assert ok.exit_code == 0 and f"Ereignisse bis {mark['seq']}, 1 Prüfpunkt(e) fortgesetzt" in ok.output
    with attacker(database) as conn:
        conn.execute(text("UPDATE audit_event SET details = '{}' WHERE seq = 2"))
    bad = CliRunner().invoke(cli, ["audit", "verify", "--since", str(kept)])
    assert bad.exit_code == 1 and "Ereignis 2: Inhalt verändert" in bad.output
    broken = tmp_path / "kaputt.json"
    broken.write_text("{}")
    refused = CliRunner().invoke(cli, ["audit", "verify", "--since", str(broken)])
    assert refused.exit_code == 1 and "kaputt.json: kein Prüfpunkt" in refused.output


def test_verification_runs_incrementally_and_a_finding_is_recorded_once(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        first = audit.verify_incrementally(s)
        assert first.ok and first.from_seq == 0 and first.events == first.to_seq
        audit.record(s, "x", "X", "test.event")
    with database.unit_of_work() as s:
        second = audit.verify_incrementally(s)
        assert second.ok and (second.from_seq, second.events) == (first.to_seq, 1)
        newest = second.to_seq
    with database.unit_of_work() as s:
        audit.record(s, "x", "X", "test.event")
    with attacker(database) as conn:  # a new event changed before any run saw it
        conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE seq = :n"), {"n": newest + 1})
    for _ in range(2):
        with database.unit_of_work() as s:
            found = audit.verify_incrementally(s)
            assert not found.ok and found.first_bad == newest + 1
    newest += 1
    with database.unit_of_work() as s:
        findings = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "audit.finding")).all()
        assert len(findings) == 1 and findings[0].details["first_bad"] == newest
    # An event a run already found in order, changed afterwards, is caught by the next run too.
    with attacker(database) as conn:
        conn.execute(text("UPDATE audit_event SET actor = 'eve' WHERE seq = :n"), {"n": newest - 1})
    with database.unit_of_work() as s:
        again = audit.verify_incrementally(s)
        assert not again.ok and again.first_bad == newest - 1 and "seit der Prüfung" in (again.problem or "")
    # The last finding is shown at once to auditors and admins, not to others.
    for username in ("krueger", "admin"):
        page = browser().login(username).get("/aufgaben/" if username == "admin" else "/revision/")
        assert f"Ereignis {newest - 1}: seit der Prüfung" in page.get_data(as_text=True), username
    assert "seit der Prüfung" not in browser().login("hoffmann").get("/aufgaben/").get_data(as_text=True)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_app_role_cannot_change_the_history_even_without_the_trigger(demo, database) -> None:  # type: ignore[no-untyped-def]
    role = f"ratsflow_app_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database.settings.database_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
            for statement in audit.app_role_grants(role):
                conn.execute(text(statement))
        with attacker(database) as conn:  # the trigger is off for this transaction's table
            conn.execute(text(f"SET LOCAL ROLE {role}"))
            assert conn.execute(text("SELECT count(*) FROM audit_event")).scalar_one() > 0
            conn.execute(text("SAVEPOINT s"))
            with pytest.raises(DBAPIError, match="permission denied"):
                conn.execute(text("UPDATE audit_event SET actor = 'mallory' WHERE seq = 1"))
            conn.execute(text("ROLLBACK TO SAVEPOINT s"))
            with pytest.raises(DBAPIError, match="permission denied"):
                conn.execute(text("DELETE FROM audit_event WHERE seq = 1"))
            conn.execute(text("ROLLBACK TO SAVEPOINT s"))
            conn.execute(text("RESET ROLE"))
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
        admin.dispose()
    assert _verify(database).ok


def _cli_verify(settings, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RATSFLOW_INSTANCE_PATH", str(settings.instance_path))
    return CliRunner().invoke(cli, ["audit", "verify"])


def test_a_changed_actor_name_of_a_new_event_fails_verify(demo, database, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        event = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.seq == 5)).one()
        assert event.hash_version == audit.HASH_VERSION == 3
    assert _cli_verify(settings, monkeypatch).exit_code == 0
    with attacker(database) as conn:
        conn.execute(text("UPDATE audit_event SET actor_name = 'Mallory' WHERE seq = 5"))
    bad = _cli_verify(settings, monkeypatch)
    assert bad.exit_code == 1 and "Ereignis 5: Inhalt verändert" in bad.output


def test_a_new_event_passed_off_as_the_old_format_fails(demo, database) -> None:  # type: ignore[no-untyped-def]
    with attacker(database) as conn:
        conn.execute(text("UPDATE audit_event SET hash_version = 1 WHERE seq = 5"))
    report = _verify(database)
    assert (report.ok, report.first_bad) == (False, 5)


def _append_old_format_event(database, actor_name: str) -> int:  # type: ignore[no-untyped-def]
    """An event as written before migration 0011: hash without actor_name, hash_version 1."""
    from datetime import UTC, datetime

    with database.unit_of_work() as s:
        head = s.get(audit.AuditHead, 1)
        seq, at = head.seq + 1, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        digest = audit._digest(head.hash, seq, at, "hoffmann", "task.claimed", None, None, {"alt": True})
        s.add(audit.AuditEvent(seq=seq, at=at, actor="hoffmann", actor_name=actor_name, action="task.claimed",
                               details={"alt": True}, prev_hash=head.hash, hash=digest, hash_version=1))
        head.seq, head.hash = seq, digest
    return seq


def test_an_old_format_event_still_verifies(demo, database, settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    seq = _append_old_format_event(database, "Hoffmann")
    with database.unit_of_work() as s:  # and the chain goes on in the new format after it
        audit.record(s, "weber", "Weber", "task.claimed")
    report = _verify(database)
    assert report.ok and report.last_seq == seq + 1, report.problem
    assert _cli_verify(settings, monkeypatch).exit_code == 0


def test_a_changed_session_of_an_event_fails_verify(demo, database) -> None:  # type: ignore[no-untyped-def]
    """Version 3 covers the Sitzung an event is about: pointed at another, it no longer verifies."""
    with database.unit_of_work() as s:
        audit.record(s, "schmitz", "Jonas Schmitz", "meeting.moved", meeting_id=7, details={"meeting_id": 7})
        audit.seal(s)
        seq = s.exec(select(audit.AuditEvent.seq).where(audit.AuditEvent.action == "meeting.moved")).one()
    assert _verify(database).ok
    with attacker(database) as conn:
        conn.execute(text(f"UPDATE audit_event SET meeting_id = 8 WHERE seq = {seq}"))
    report = _verify(database)
    assert (report.ok, report.first_bad, report.problem) == (False, seq, f"Ereignis {seq}: Inhalt verändert")


def test_an_event_of_version_2_holds_its_session_to_its_details(demo, database) -> None:  # type: ignore[no-untyped-def]
    """Written before migration 0016, an event's Sitzung is its details' ``meeting_id`` (the
    migration filled the column so): that verifies, any other value does not."""
    from datetime import UTC, datetime

    with database.unit_of_work() as s:
        audit.seal(s)
        head = s.get(audit.AuditHead, 1)
        seq, at, details = head.seq + 1, datetime(2026, 12, 1, 9, 0, tzinfo=UTC), {"meeting_id": 3}
        digest = audit._digest(head.hash, seq, at, "schmitz", "meeting.moved", None, None, details, "Schmitz", 2,
                               meeting_id=3)
        s.add(audit.AuditEvent(seq=seq, at=at, actor="schmitz", actor_name="Schmitz", action="meeting.moved",
                               details=details, meeting_id=3, prev_hash=head.hash, hash=digest, hash_version=2))
        head.seq, head.hash = seq, digest
    assert _verify(database).ok
    with attacker(database) as conn:
        conn.execute(text(f"UPDATE audit_event SET meeting_id = 4 WHERE seq = {seq}"))
    report = _verify(database)
    assert (report.ok, report.first_bad) == (False, seq)
