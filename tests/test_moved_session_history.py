"""A moved Sitzung in the Vorlage's history (issue 22): on its timeline and in its export
with the SI number and the date before and after; the session filter exact (only that
Sitzung's events), and session plus event type finds the move. On both databases."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from engine import audit, audit_history
from engine.council import Meeting
from engine.db import upgrade_schema
from engine.process import procedures, sessions
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance

from .conftest import NOW, text_of, throwaway_database


def _meeting(s, reference: str) -> Meeting:  # type: ignore[no-untyped-def]
    return s.exec(select(Meeting).where(Meeting.reference == reference)).one()


def _complete(database, who, paper_id: int, data) -> None:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
        if callable(data):
            data = data(s)
        procedures.complete_task(s, who, task.id, data, version, now=NOW)


def _moved_assembly(database, actor, demo) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Committee's Kenntnisnahme, 2024/063 on SI/2024/128 as TOP 3, then SI/2024/128 moved a
    week later; the old and the new date as a reader sees them."""
    _complete(database, actor("hoffmann"), demo.paper_id, {"ergebnis": "zur_kenntnis_genommen"})
    _complete(database, actor("schmitz"), demo.paper_id,
              lambda s: {"meeting_id": _meeting(s, "SI/2024/128").id, "top_nummer": "3"})
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        old, new = assembly.start.astimezone(TIMEZONE), (assembly.start + timedelta(days=7)).astimezone(TIMEZONE)
        meeting_id = assembly.id
    with database.unit_of_work() as s:
        sessions.move(s, actor("schmitz"), meeting_id, {
            "date": f"{new:%d.%m.%Y}", "start_time": "15:00", "reason": "Terminkollision mit dem Kreistag"},
            now=NOW)
    return f"{old:%d.%m.%Y} {old:%H:%M}", f"{new:%d.%m.%Y} 15:00"


def test_a_moved_session_is_on_the_vorlage_timeline_with_before_and_after(  # type: ignore[no-untyped-def]
        demo, database, actor, browser):
    old, new = _moved_assembly(database, actor, demo)
    page = text_of(browser().login("krueger").get(f"/revision/vorlagen/{demo.paper_id}").get_data(as_text=True))
    assert "Sitzung verlegt" in page
    line = page[page.index("Sitzung verlegt"):]
    assert line.index("SI/2024/128") < line.index(old) < line.index(new) < line.index("Terminkollision")
    assert f"{old} → {new}" in line
    # The move comes after the agenda step and is one of the timeline's events, in order.
    assert page.rindex("„Auf die Tagesordnung setzen“") < page.index("Sitzung verlegt")


def test_the_vorlage_export_and_search_hold_the_move(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    old, new = _moved_assembly(database, actor, demo)
    krueger = browser().login("krueger")
    raw = krueger.get("/revision/export.csv?vorlage=2024/063").get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(raw), delimiter=";"))
    moved = [r for r in rows[1:] if r[5] == "meeting.moved"]
    assert len(moved) == 1 and moved[0][4] == "Sitzung verlegt"
    assert "SI/2024/128" in moved[0][8] and f"{old} → {new}" in moved[0][8]
    # Session plus event type finds the move; and nothing but it.
    found = text_of(krueger.get("/revision/?sitzung=SI/2024/128&ereignis=meeting.moved").get_data(as_text=True))
    assert "Sitzung verlegt" in found and "Terminkollision" in found
    with database.unit_of_work() as s:
        filters = audit_history.parse_filters(s, {"sitzung": "SI/2024/128", "ereignis": "meeting.moved"})
        hits, _ = audit_history.search(s, filters)
        hit_actions = [e.action for e, _ in hits]
        assert hit_actions == ["meeting.moved"]


def test_the_session_filter_is_exact(demo, database, actor):  # type: ignore[no-untyped-def]
    _moved_assembly(database, actor, demo)
    with database.unit_of_work() as s:
        assembly, committee = _meeting(s, "SI/2024/128"), _meeting(s, "SI/2024/131")
        for meeting in (assembly, committee):
            rows, _ = audit_history.search(s, audit_history.parse_filters(s, {"sitzung": str(meeting.reference)}))
            events = [e for e, _ in rows]
            assert events, meeting.reference
            instances = {i for i in s.exec(select(ProcessInstance.id).where(
                ProcessInstance.meeting_id == meeting.id))}
            for event in events:  # each is about this Sitzung, none about another one
                assert event.meeting_id == meeting.id or event.process_instance_id in instances, \
                    (meeting.reference, event.action, event.details)
        committee_rows, _ = audit_history.search(s, audit_history.parse_filters(s, {"sitzung": "SI/2024/131"}))
        committee_actions = {e.action for e, _ in committee_rows}
        assert "meeting.moved" not in committee_actions  # the assembly's move is not the committee's
        assembly_rows, _ = audit_history.search(s, audit_history.parse_filters(s, {"sitzung": "SI/2024/128"}))
        kinds = [(e.action, e.details.get("task")) for e, _ in assembly_rows]
        assert ("meeting.moved", None) in kinds and ("task.completed", "Tagesordnung") in kinds
        # The Kenntnisnahme in the committee's session is not an event of the assembly's.
        assert ("task.completed", "Ergebnis") not in kinds


def test_the_chain_covers_the_session_of_an_event(demo, database, actor):  # type: ignore[no-untyped-def]
    """The session an event names is part of what its hash covers (hash version 3)."""
    _moved_assembly(database, actor, demo)
    with database.unit_of_work() as s:
        audit.seal(s)
        event = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "meeting.moved")).one()
        assert event.meeting_id == _meeting(s, "SI/2024/128").id and event.hash_version == audit.HASH_VERSION
        assert audit.verify(s).ok
        others = s.exec(select(audit.AuditEvent).where(col(audit.AuditEvent.meeting_id).is_not(None))).all()
        assert len(others) > 1


def test_migration_0016_keeps_the_chain_of_older_events(tmp_path, database_url):  # type: ignore[no-untyped-def]
    """Events written before migration 0016 get their details' Sitzung in the new column and
    still verify; the triggers then refuse a change of it."""
    with throwaway_database("sqlite" if database_url.startswith("sqlite") else "postgresql", tmp_path) as url:
        _migrate_old_chain(url)


def _migrate_old_chain(url: str) -> None:
    engine = create_engine(url)
    try:
        upgrade_schema(engine, "0015")
        at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
        last, rows = audit.GENESIS, []
        for seq, details in enumerate([{"meeting_id": 12, "reason": "Raum belegt"}, {"task": "x"},
                                       {"meeting_id": "12"}], start=1):
            digest = audit._digest(last, seq, at, "schmitz", "meeting.moved", None, None, details, "Schmitz", 2,
                                   meeting_id=audit.legacy_meeting_id(details))  # as before 0016
            rows.append({"seq": seq, "at": at, "d": json.dumps(details), "ps": last, "h": digest,
                         "p": seq - 1})
            last = digest
        with engine.begin() as conn:
            for row in rows:
                conn.execute(text(
                    "INSERT INTO audit_event (seq, at, actor, actor_name, action, details, prev_hash, hash, "
                    "hash_version, prev_seq) VALUES (:seq, :at, 'schmitz', 'Schmitz', 'meeting.moved', :d, :ps, "
                    ":h, 2, :p)"), row)
            conn.execute(text("UPDATE audit_head SET seq = 3, hash = :h WHERE id = 1"), {"h": last})
        upgrade_schema(engine, "head")
        with Session(engine) as s:
            filled = [m for m in s.exec(select(audit.AuditEvent.meeting_id).order_by(col(audit.AuditEvent.seq)))]
            assert filled == [12, None, None]  # only an integer Sitzung counts
            report = audit.verify(s)
            assert report.ok and report.last_seq == 3, report.problem
        with pytest.raises(DBAPIError), engine.begin() as conn:
            conn.execute(text("UPDATE audit_event SET meeting_id = 13 WHERE seq = 1"))
    finally:
        engine.dispose()
