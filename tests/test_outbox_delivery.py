"""Exactly once per message: a message that cannot be built fails alone, a crash mid-batch
never sends an accepted message again, a claim left behind is taken back (issue 21).

A real SMTP server on loopback (aiosmtpd) counts what arrived; the clock is moved, never
waited for.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from engine import outbox
from engine.council import Account, Meeting, Person
from engine.outbox import OutboxMessage
from engine.process import sessions
from notifications import delivery
from notifications.delivery import FolderTransport, SmtpTransport, Unsendable, encode
from notifications.sweep import run_once

from .conftest import NOW, text_of

ASSEMBLY_MEMBERS = {"martina.becker@example.org", "elif.yilmaz@example.org", "peter.jansen@example.org",
                    "katarzyna.nowak@example.org"}
JANSEN = "peter.jansen@example.org"
BAD_NAME = "Max\r\nBcc: x@evil"
LINE_BREAK = "Ungültiger Empfängername: enthält einen Zeilenumbruch"


def _invite_the_assembly(database, actor) -> None:  # type: ignore[no-untyped-def]
    who = actor("schmitz")
    with database.unit_of_work() as s:
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        sessions.send_invitation(s, who, assembly.id, {}, now=NOW)


def _rows(database) -> dict[str, OutboxMessage]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return {r.to_address: r for r in s.exec(select(OutboxMessage))}


def test_a_name_with_a_line_break_fails_alone_and_the_others_go_out_once(  # type: ignore[no-untyped-def]
        demo, database, actor, smtp, browser):
    with database.unit_of_work() as s:
        jansen = s.exec(select(Person).where(Person.family_name == "Jansen")).one()
        jansen.given_name = BAD_NAME  # as a row written before the form refused it, or by an import
        s.add(jansen)
    _invite_the_assembly(database, actor)
    transport = SmtpTransport(smtp.url, "Sitzungsdienst <sitzungsdienst@example.org>")

    reports = []
    moment = NOW
    for _ in range(3):
        reports.append(run_once(database, moment, transport).delivered)
        moment += outbox.LEASE + timedelta(seconds=1)  # a claim left behind would be free again

    good = ASSEMBLY_MEMBERS - {JANSEN}
    counts = [(r.sent, r.failed, r.retried) for r in reports]
    assert counts == [(3, 1, 0), (0, 0, 0), (0, 0, 0)]
    # Each good message arrived once, to its member only: no Bcc, no copy, nothing to x@evil.
    assert sorted(smtp.inbox.recipients) == sorted(good)
    assert len({m["Message-ID"] for m in smtp.inbox.messages}) == len(smtp.inbox.messages) == 3
    assert all(m["Bcc"] is None and "evil" not in m.as_string() for m in smtp.inbox.messages)

    rows = _rows(database)
    bad = rows.pop(JANSEN)
    assert min(r.id for r in rows.values()) < bad.id  # a good message stood before the bad one
    assert (bad.status, bad.attempts, bad.last_error) == (outbox.FAILED, 1, LINE_BREAK)
    assert {(r.status, r.attempts) for r in rows.values()} == {(outbox.SENT, 1)}

    # The admin's Postausgang names the recipient and the reason.
    admin = browser().login("admin")
    page = text_of(admin.get("/verwaltung/postausgang").get_data(as_text=True))
    assert f"{JANSEN} Max Bcc: x@evil Jansen {bad.subject} 1 {LINE_BREAK}" in page

    # "Erneut senden": the admin has seen the reason; the name goes with spaces for the breaks.
    assert admin.post(f"/verwaltung/postausgang/{bad.id}/erneut", {}).status_code == 302
    smtp.inbox.clear()
    run_once(database, moment, transport)
    [again] = smtp.inbox.messages
    assert smtp.inbox.recipients == [JANSEN] and again["Bcc"] is None
    assert again["To"].addresses[0].display_name == "Max Bcc: x@evil Jansen"


class Crash(BaseException):
    """A dispatcher dying mid-batch (nothing catches it, like a kill)."""


def test_a_crash_mid_batch_never_sends_an_accepted_message_again(  # type: ignore[no-untyped-def]
        demo, database, actor, smtp, monkeypatch):
    _invite_the_assembly(database, actor)
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    real_send = delivery.smtplib.SMTP.send
    contents: list[bytes] = []

    def send(client, payload):  # type: ignore[no-untyped-def]
        if isinstance(payload, bytes) and payload.endswith(b"\r\n.\r\n"):  # a content, after its envelope
            contents.append(payload)
            if len(contents) == 3:
                raise Crash  # before the third message's content reached the server
        return real_send(client, payload)

    monkeypatch.setattr(delivery.smtplib.SMTP, "send", send)
    with pytest.raises(Crash):
        run_once(database, NOW, transport)
    assert len(smtp.inbox.messages) == 2
    rows = _rows(database)
    accepted = set(smtp.inbox.recipients)
    # What the server accepted is recorded as sent at once; the rest is still claimed.
    assert {a: r.status for a, r in rows.items()} == {
        a: outbox.SENT if a in accepted else outbox.SENDING for a in ASSEMBLY_MEMBERS}

    monkeypatch.setattr(delivery.smtplib.SMTP, "send", real_send)
    assert run_once(database, NOW + timedelta(seconds=10), transport).delivered.sent == 0  # lease holds
    moment = NOW + outbox.LEASE + timedelta(seconds=1)
    for _ in range(3):
        run_once(database, moment, transport)
        moment += outbox.LEASE
    assert sorted(smtp.inbox.recipients) == sorted(ASSEMBLY_MEMBERS)
    assert {(r.status, r.attempts) for r in _rows(database).values()} <= {(outbox.SENT, 1), (outbox.SENT, 2)}


SLOW_MARK = ("CREATE FUNCTION slow_mark() RETURNS trigger LANGUAGE plpgsql AS "
             "$$ BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$")


def test_each_accepted_message_is_recorded_before_the_next_content_leaves(  # type: ignore[no-untyped-def]
        database, smtp, monkeypatch):
    """The mark of a message is sent while the next one's envelope goes (MAIL, RCPT, DATA);
    the next content leaves only once that mark is committed (read from another connection)."""
    with database.unit_of_work() as s:
        for i in range(6):
            message = outbox.enqueue(s, to_address=f"empfaenger{i}@example.org", subject=f"Nachricht {i}",
                                     body_text=f"Nummer {i}.\n.Zeile mit Punkt", cause="test",
                                     domain="example.org", now=NOW)
            if i % 2:
                message.raw = delivery.prebuild(message)
    real_send = delivery.smtplib.SMTP.send
    seen: list[tuple[int, int]] = []  # (accepted by the server, recorded as sent) as each content leaves

    def send(client, payload):  # type: ignore[no-untyped-def]
        if isinstance(payload, bytes) and payload.endswith(b"\r\n.\r\n"):
            with database.unit_of_work(write=False) as s:
                recorded = len(s.exec(select(OutboxMessage.id).where(OutboxMessage.status == outbox.SENT)).all())
            seen.append((len(smtp.inbox.messages), recorded))
        return real_send(client, payload)

    monkeypatch.setattr(delivery.smtplib.SMTP, "send", send)
    slow = database.engine.dialect.name == "postgresql"
    if slow:  # each mark takes longer than the next message's envelope: the content must wait for it
        with database.engine.begin() as conn:
            conn.exec_driver_sql(SLOW_MARK)
            conn.exec_driver_sql("CREATE TRIGGER slow_mark BEFORE UPDATE ON outbox_message FOR EACH ROW "
                                 f"WHEN (NEW.status = '{outbox.SENT}') EXECUTE FUNCTION slow_mark()")
    try:
        report = delivery.dispatch(database, SmtpTransport(smtp.url, "sitzungsdienst@example.org"), NOW, batch=4)
    finally:
        if slow:
            with database.engine.begin() as conn:
                conn.exec_driver_sql("DROP FUNCTION slow_mark() CASCADE")
    assert (report.sent, report.failed, report.retried) == (6, 0, 0)
    expected = [(n, n) for n in range(6)]
    assert seen == expected
    # A line that starts with a dot arrives as it was written (doubled on the wire, RFC 5321).
    last_lines = [m.get_body(preferencelist=("plain",)).get_content().splitlines()[-1] for m in smtp.inbox.messages]
    assert last_lines == [".Zeile mit Punkt"] * 6


def test_an_unexpected_error_in_one_message_retries_that_one_only(  # type: ignore[no-untyped-def]
        demo, database, actor, smtp, monkeypatch):
    _invite_the_assembly(database, actor)
    real_build = delivery.build_email

    def build(row, sender):  # type: ignore[no-untyped-def]
        if row.to_address == JANSEN:
            raise RuntimeError("kaputt")
        return real_build(row, sender)

    monkeypatch.setattr(delivery, "build_email", build)
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    report = run_once(database, NOW, transport).delivered
    assert (report.sent, report.retried, report.failed) == (3, 1, 0)
    jansen = _rows(database)[JANSEN]
    assert (jansen.status, jansen.last_error) == (outbox.PENDING, "Interner Fehler: RuntimeError: kaputt")
    assert jansen.next_attempt_at == NOW + outbox.backoff(1)
    monkeypatch.setattr(delivery, "build_email", real_build)
    run_once(database, jansen.next_attempt_at, transport)
    run_once(database, jansen.next_attempt_at + outbox.LEASE, transport)
    assert sorted(smtp.inbox.recipients) == sorted(ASSEMBLY_MEMBERS)


def test_a_claim_left_behind_is_taken_back_and_fails_after_the_last_attempt(database):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        outbox.enqueue(s, to_address="a@example.org", subject="Test", body_text="…", cause="test",
                       domain="example.org", now=NOW)
    moment = NOW
    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        with database.unit_of_work() as s:
            [row] = outbox.claim(s, moment)  # and the dispatcher dies before it settles
            assert (row.status, row.attempts) == (outbox.SENDING, attempt)
        with database.unit_of_work() as s:
            assert outbox.claim(s, moment + outbox.LEASE - timedelta(seconds=1)) == []  # lease holds
        moment += outbox.LEASE
    with database.unit_of_work() as s:
        assert outbox.claim(s, moment) == []
        [row] = s.exec(select(OutboxMessage)).all()
        assert (row.status, row.lease_until) == (outbox.FAILED, None)
        assert row.last_error == f"Versand {outbox.MAX_ATTEMPTS}-mal ohne Ergebnis abgebrochen."


def _message(**kw: str) -> OutboxMessage:
    values = {"message_id": "<1@example.org>", "to_address": "a@example.org", "to_name": "Jürgen Müller",
              "subject": "Einladung", "body_text": "Text", "cause": "test", "next_attempt_at": NOW, **kw}
    return OutboxMessage(id=1, **values)


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("to_name", BAD_NAME, LINE_BREAK),
    ("to_name", "Max\nMustermann", LINE_BREAK),
    ("to_name", "Max\u2028Mustermann", LINE_BREAK),
    ("to_name", "Max\x00", "Ungültiger Empfängername: enthält ein Steuerzeichen (U+0000)"),
    ("subject", "Einladung\r\nBcc: x@evil", "Ungültiger Betreff: enthält einen Zeilenumbruch"),
    ("to_address", "a@example.org\r\nBcc: x@evil", "Ungültige Empfängeradresse: enthält einen Zeilenumbruch"),
    ("to_address", "a@example.org, x@evil", "Ungültige Empfängeradresse: a@example.org, x@evil"),
    ("to_address", "kein-at", "Ungültige Empfängeradresse: kein-at"),
    ("to_address", "jürgen@example.org",
     "Ungültige Empfängeradresse: enthält Zeichen außerhalb von ASCII"),
])
def test_data_never_reaches_a_header_with_a_line_break(field: str, value: str, reason: str) -> None:
    with pytest.raises(Unsendable) as refused:
        encode(_message(**{field: value}), "Sitzungsdienst <s@example.org>")
    assert str(refused.value) == reason


def test_a_good_name_is_encoded_not_refused() -> None:
    data = encode(_message(to_name="Müller, Jürgen (Vorsitz)"), "Sitzungsdienst <s@example.org>")
    assert b"\r\nTo: =?utf-8?" in data and b"<a@example.org>" in data and b"Bcc" not in data


def test_the_folder_transport_refuses_the_bad_message_alone(tmp_path: Path) -> None:
    rows = [_message(), _message(to_name=BAD_NAME)]
    rows[1].id = 2
    outcomes = [(row.id, o.error, o.permanent) for row, o in FolderTransport(tmp_path, "s@example.org").deliver(rows)]
    assert outcomes == [(1, None, False), (2, LINE_BREAK, True)]
    written = [p.name for p in tmp_path.iterdir()]
    assert written == ["00000001.eml"]


def test_the_admin_forms_refuse_a_name_with_a_line_break(demo, database, browser):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    with database.unit_of_work() as s:
        jansen = s.exec(select(Person).where(Person.family_name == "Jansen")).one()
        account = s.exec(select(Account).where(Account.username == "schmitz")).one()
    refused = admin.post("/verwaltung/personen", {"family_name": "Mustermann", "given_name": BAD_NAME,
                                                  "email": "max@example.org", "body_id": jansen.body_id})
    assert refused.status_code == 422
    assert "Der Vorname darf keinen Zeilenumbruch und kein Steuerzeichen enthalten." in \
        refused.get_data(as_text=True)
    changed = admin.post(f"/verwaltung/personen/{jansen.id}", {"family_name": "Jan\nsen", "given_name": "Peter",
                                                                "form_of_address": "Herr\tDr.",
                                                                "email": JANSEN})
    html = changed.get_data(as_text=True)
    assert changed.status_code == 422
    assert "Der Nachname darf keinen Zeilenumbruch und kein Steuerzeichen enthalten." in html
    assert "Die Anrede darf keinen Zeilenumbruch und kein Steuerzeichen enthalten." in html
    renamed = admin.post(f"/verwaltung/konten/{account.id}", {"display_name": "Jonas\r\nSchmitz",
                                                               "email": "jonas.schmitz@example.org"})
    assert renamed.status_code == 422
    assert "Der Name darf keinen Zeilenumbruch und kein Steuerzeichen enthalten." in \
        renamed.get_data(as_text=True)
    with database.unit_of_work() as s:
        assert s.exec(select(Person).where(Person.family_name == "Mustermann")).first() is None
        assert s.get(Person, jansen.id).family_name == "Jansen"
        assert s.get(Account, account.id).display_name == account.display_name


def test_a_dispatch_connection_that_cannot_be_closed_is_not_handed_out_again(database, monkeypatch):  # type: ignore[no-untyped-def]
    """A dispatcher's connection carries settings for its pass (PostgreSQL: no waiting for the
    disk, no sequential scans) and its prepared mark; if taking them back fails (the last mark's
    answer an error, the connection gone), the pool discards it instead of handing those
    settings to a request."""
    if database.engine.dialect.name != "postgresql":
        pytest.skip("the pass's settings exist on PostgreSQL only")
    from sqlalchemy import text

    def broken(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("Verbindung verloren")

    database.engine.dispose()
    with pytest.raises(RuntimeError), outbox.dispatching(database.engine):
        monkeypatch.setattr(outbox.DispatchConnection, "wait", broken)
    monkeypatch.undo()
    with database.engine.connect() as connection:
        settings = connection.execute(text(
            "SELECT current_setting('enable_seqscan'), current_setting('synchronous_commit')")).one()
    assert tuple(settings) == ("on", "on")
