"""Reminders rendered ahead of their moment, and the dispatchers that send them (issue 16).

A sweep renders the reminders due within its look-ahead window into the outbox, each
message already encoded; at the moment only bytes leave. A moved or cancelled session, a
changed preference withdraws what was rendered. Several dispatchers deliver each message
exactly once over persistent SMTP connections, and replace one the server dropped.

A real SMTP server on loopback (aiosmtpd); the clock is moved, never waited for.
"""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy

from sqlmodel import col, select

from engine import audit, outbox
from engine.calendar import reminders
from engine.calendar.reminders import Reminder
from engine.council import Meeting, Person
from engine.outbox import OutboxMessage
from engine.process import sessions
from engine.settings import TIMEZONE
from notifications import delivery
from notifications.delivery import SmtpTransport, dispatch, dispatch_batch, prebuild
from notifications.sweep import LOOKAHEAD, run_once

from .conftest import NOW

ASSEMBLY_MEMBERS = {"martina.becker@example.org", "elif.yilmaz@example.org", "peter.jansen@example.org",
                    "katarzyna.nowak@example.org"}
SENDER = "Sitzungsdienst <sitzungsdienst@example.org>"


def _assembly(database):  # type: ignore[no-untyped-def]
    """The assembly's id, start, and the moment of its members' 1-day reminders."""
    with database.unit_of_work() as s:
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        return assembly.id, assembly.start, assembly.start - timedelta(days=1)


def _day_before(database, meeting_id: int) -> list[tuple[Reminder, OutboxMessage | None]]:  # type: ignore[no-untyped-def]
    """The members' 1-day reminders of the Sitzung with their outbox rows."""
    with database.unit_of_work() as s:
        rows = s.exec(select(Reminder).where(Reminder.meeting_id == meeting_id, Reminder.kind == reminders.KIND_SESSION,
                                             Reminder.lead_minutes == reminders.DAY)).all()
        return [(r, s.get(OutboxMessage, r.outbox_id) if r.outbox_id else None) for r in rows]


def _reminded(smtp, day) -> list:  # type: ignore[no-untyped-def]
    """The 1-day reminders of the assembly on ``day`` that arrived."""
    return [m for m in smtp.inbox.messages if m["Subject"] == f"Erinnerung: VV morgen ({day:%d.%m.%Y}, 15:00 Uhr)"
            and "(1 Tag vorher)" in m.get_body(preferencelist=("plain",)).get_content()]


def _render_ahead(database, smtp, moment) -> SmtpTransport:  # type: ignore[no-untyped-def]
    """The sweep two minutes before the moment: renders, sends none of it."""
    transport = SmtpTransport(smtp.url, SENDER)
    report = run_once(database, moment - timedelta(minutes=2), transport)
    assert report.fired.prepared >= len(ASSEMBLY_MEMBERS)
    smtp.inbox.clear()  # (what was due before: the seed's other reminders)
    return transport


def test_a_reminder_is_rendered_ahead_and_only_its_bytes_leave_at_its_moment(demo, database, smtp):  # type: ignore[no-untyped-def]
    meeting_id, start, moment = _assembly(database)
    transport = _render_ahead(database, smtp, moment)
    with database.unit_of_work() as s:  # a change before then withdraws (no query otherwise)
        assembly = s.get(Meeting, meeting_id)
        assert assembly.rendered_ahead_until == moment
        assert reminders.withdraw_for(s, assembly, moment) == 0  # its moment has come: nothing to look for
    rows = _day_before(database, meeting_id)
    waiting = [m for _, m in rows if m is not None]
    assert {r.status for r, _ in rows} == {reminders.PREPARED} and len(waiting) == len(ASSEMBLY_MEMBERS)
    assert all(m.status == outbox.PENDING and m.next_attempt_at == moment and m.raw for m in waiting)
    assert {m.to_address for m in waiting} == ASSEMBLY_MEMBERS

    run_once(database, moment - timedelta(seconds=1), transport)  # not yet
    day = start.astimezone(TIMEZONE)
    assert _reminded(smtp, day) == []

    run_once(database, moment, transport)
    reminded = _reminded(smtp, day)
    assert {m["To"].addresses[0].addr_spec for m in reminded} == ASSEMBLY_MEMBERS
    assert len({m["Message-ID"] for m in reminded}) == len(reminded) == len(ASSEMBLY_MEMBERS)
    becker = next(m for m in reminded if "becker" in str(m["To"]))
    text = becker.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("Sehr geehrte Frau Becker,") and "(1 Tag vorher)" in text
    assert str(becker["From"]) == SENDER and becker["Date"].datetime == moment
    rows = _day_before(database, meeting_id)
    assert {r.status for r, _ in rows} == {reminders.SENT}
    assert {(m.status, m.raw) for _, m in rows if m is not None} == {(outbox.SENT, None)}
    with database.unit_of_work() as s:
        events = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "reminders.sent")).all()
        at_the_moment = [(e.at, e.details["count"]) for e in events if e.details["meeting_id"] == meeting_id
                         and set(e.details["reminders"]) & {r.id for r, _ in rows}]
        assert at_the_moment == [(moment, len(ASSEMBLY_MEMBERS))]

    run_once(database, moment + timedelta(minutes=10), transport)  # once only
    assert len(_reminded(smtp, day)) == len(ASSEMBLY_MEMBERS)


def test_the_encoded_message_is_the_message_built_at_the_moment(demo, database) -> None:  # type: ignore[no-untyped-def]
    row = OutboxMessage(id=1, message_id="<1@example.org>", to_address="a@example.org", to_name="Jürgen Müller",
                        subject="Erinnerung: Sitzung", body_text="Text äöü", body_html="<p>Text</p>",
                        calendar="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", cause="test", next_attempt_at=NOW)
    raw = prebuild(row)
    assert raw is not None and b"From:" not in raw
    ahead = message_from_bytes(delivery.from_line(SENDER) + raw, policy=policy.default)
    built = message_from_bytes(delivery.encode(row, SENDER), policy=policy.default)
    header_names = [name for name, _ in built.items()]
    names_ahead = [name for name, _ in ahead.items()]
    assert names_ahead == header_names
    assert all(str(ahead[name]) == str(built[name]) for name in header_names if name != "Content-Type")
    parts = [(p.get_content_type(), p.get_content()) for p in built.walk() if not p.is_multipart()]
    parts_ahead = [(p.get_content_type(), p.get_content()) for p in ahead.walk() if not p.is_multipart()]
    assert parts_ahead == parts
    assert prebuild(OutboxMessage(message_id="<2@x>", to_address="kein-at", subject="x", body_text="x",
                                  cause="test", next_attempt_at=NOW)) is None  # the dispatcher says why


def test_a_moved_session_withdraws_what_was_rendered_ahead(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    meeting_id, start, moment = _assembly(database)
    transport = _render_ahead(database, smtp, moment)
    new_start = start + timedelta(days=7)
    with database.unit_of_work() as s:
        sessions.move(s, actor("schmitz"), meeting_id, {
            "date": f"{new_start.astimezone(TIMEZONE):%d.%m.%Y}", "start_time": "15:00",
            "reason": "Terminkollision mit dem Kreistag"}, now=moment - timedelta(minutes=1))
    old = _day_before(database, meeting_id)
    withdrawn = [r for r, _ in old if r.due_at == moment]
    assert withdrawn and {(r.status, r.outbox_id) for r in withdrawn} == {(reminders.CANCELLED, None)}
    with database.unit_of_work() as s:
        waiting = s.exec(select(OutboxMessage).where(OutboxMessage.next_attempt_at == moment)).all()
        assert waiting == []

    run_once(database, moment, transport)
    assert _reminded(smtp, start.astimezone(TIMEZONE)) == []  # the old date: not a word
    moved = [m for m in smtp.inbox.messages if m["Subject"].startswith("Sitzung verlegt")]
    assert {m["To"].addresses[0].addr_spec for m in moved} == ASSEMBLY_MEMBERS
    new_moment = new_start - timedelta(days=1)
    run_once(database, new_moment - timedelta(minutes=1), transport)
    run_once(database, new_moment, transport)
    reminded = _reminded(smtp, new_start.astimezone(TIMEZONE))
    assert {m["To"].addresses[0].addr_spec for m in reminded} == ASSEMBLY_MEMBERS
    assert len(reminded) == len(ASSEMBLY_MEMBERS)


def test_a_cancelled_session_withdraws_what_was_rendered_ahead(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    meeting_id, start, moment = _assembly(database)
    transport = _render_ahead(database, smtp, moment)
    with database.unit_of_work() as s:
        sessions.cancel(s, actor("schmitz"), meeting_id, {"reason": "Keine beratungsreifen Vorlagen"},
                        now=moment - timedelta(minutes=1))
    rows = _day_before(database, meeting_id)
    assert {(r.status, m) for r, m in rows if r.due_at == moment} == {(reminders.CANCELLED, None)}
    run_once(database, moment + LOOKAHEAD, transport)
    assert _reminded(smtp, start.astimezone(TIMEZONE)) == []
    cancelled = [m for m in smtp.inbox.messages if m["Subject"].startswith("Sitzung abgesagt")]
    assert {m["To"].addresses[0].addr_spec for m in cancelled} == ASSEMBLY_MEMBERS


def test_a_changed_preference_withdraws_and_the_next_sweep_respects_it(demo, database, smtp):  # type: ignore[no-untyped-def]
    meeting_id, start, moment = _assembly(database)
    transport = _render_ahead(database, smtp, moment)
    with database.unit_of_work() as s:
        becker = s.exec(select(Person).where(Person.family_name == "Becker")).one()
        reminders.set_preferences(s, becker.id, {reminders.DAY: False})
    rows = {r.person_id: (r, m) for r, m in _day_before(database, meeting_id) if r.due_at == moment}
    assert (rows[becker.id][0].status, rows[becker.id][1]) == (reminders.PENDING, None)
    run_once(database, moment, transport)
    reminded = _reminded(smtp, start.astimezone(TIMEZONE))
    assert {m["To"].addresses[0].addr_spec for m in reminded} == ASSEMBLY_MEMBERS - {"martina.becker@example.org"}
    [(row, message)] = [v for k, v in ((r.person_id, (r, m)) for r, m in _day_before(database, meeting_id))
                        if k == becker.id and v[0].due_at == moment]
    assert (row.status, row.note, message) == (reminders.SKIPPED, "abbestellt", None)


def test_a_message_already_claimed_is_not_withdrawn(demo, database, smtp):  # type: ignore[no-untyped-def]
    meeting_id, _start, moment = _assembly(database)
    transport = _render_ahead(database, smtp, moment)
    with database.unit_of_work() as s:
        claimed = outbox.claim(s, moment)  # a dispatcher is sending them right now
    assert {c.to_address for c in claimed} >= ASSEMBLY_MEMBERS
    with database.unit_of_work() as s:
        assert reminders.withdraw(s, meeting_id=meeting_id) == 0
    rows = [(r, m) for r, m in _day_before(database, meeting_id) if r.due_at == moment]
    assert {(r.status, m.status if m else None) for r, m in rows} == {(reminders.PREPARED, outbox.SENDING)}
    transport.close()


def _queue(database, count: int) -> None:  # type: ignore[no-untyped-def]
    """``count`` messages due now, every other one encoded ahead."""
    with database.unit_of_work() as s:
        for i in range(count):
            message = outbox.enqueue(s, to_address=f"empfaenger{i:04d}@example.org", subject=f"Nachricht {i}",
                                     body_text=f"Guten Tag, Nummer {i}.", cause="test", domain="example.org", now=NOW)
            if i % 2:
                message.raw = prebuild(message)


def test_several_dispatchers_deliver_each_message_once_over_persistent_connections(database, smtp):  # type: ignore[no-untyped-def]
    _queue(database, 120)
    report = dispatch(database, SmtpTransport(smtp.url, SENDER), NOW, batch=10, workers=4)
    assert (report.sent, report.retried, report.failed) == (120, 0, 0)
    received = [m["Message-ID"] for m in smtp.inbox.messages]
    assert len(received) == len(set(received)) == 120
    assert sorted(smtp.inbox.recipients) == [f"empfaenger{i:04d}@example.org" for i in range(120)]
    assert 1 <= len(smtp.inbox.peers) <= 4  # 12 batches, at most one connection per dispatcher
    with database.unit_of_work() as s:
        rows = s.exec(select(OutboxMessage)).all()
        assert {(r.status, r.attempts, r.raw) for r in rows} == {(outbox.SENT, 1, None)}
        assert {r.message_id for r in rows} == set(received)


def test_a_connection_the_server_dropped_is_replaced(database, smtp, monkeypatch):  # type: ignore[no-untyped-def]
    _queue(database, 9)
    transport = SmtpTransport(smtp.url, SENDER)
    try:
        assert dispatch_batch(database, transport, NOW, batch=3).sent == 3  # type: ignore[union-attr]
        # The server drops its clients between two batches: NOOP finds out, a new connection.
        monkeypatch.setattr(delivery, "NOOP_AFTER", 0.0)
        smtp.stop()
        smtp.start()
        assert dispatch_batch(database, transport, NOW, batch=3).sent == 3  # type: ignore[union-attr]
        # Dropped again, found only by the next message: that one waits for its retry (it might
        # have arrived), the rest of the batch goes over a new connection.
        monkeypatch.setattr(delivery, "NOOP_AFTER", 3600.0)
        smtp.stop()
        smtp.start()
        report = dispatch_batch(database, transport, NOW, batch=3)
        assert report is not None and (report.sent, report.retried) == (2, 1)
        with database.unit_of_work() as s:
            [waiting] = s.exec(select(OutboxMessage).where(OutboxMessage.status == outbox.PENDING)).all()
            assert waiting.last_error is not None and waiting.last_error.startswith("Verbindung getrennt")
            retry_at = waiting.next_attempt_at
        assert retry_at == NOW + outbox.backoff(1)
        assert dispatch_batch(database, transport, retry_at, batch=3).sent == 1  # type: ignore[union-attr]
    finally:
        transport.close()
    received = [m["Message-ID"] for m in smtp.inbox.messages]
    assert len(received) == len(set(received)) == 9
    with database.unit_of_work() as s:
        assert {r.status for r in s.exec(select(OutboxMessage).where(col(OutboxMessage.id) > 0))} == {outbox.SENT}
