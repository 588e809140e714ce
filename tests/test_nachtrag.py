"""Nachtrag (issue 19 point 5): an agenda that changes after its invitation is told to the
Gremium's members by e-mail – once per member and change batch, after the sweep's commit, in
words – through a real SMTP server on loopback. The clock is moved, never waited for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from engine.accounts import Account, load_actor
from engine.audit import AuditEvent
from engine.calendar import agenda, nachtrag, reminders
from engine.council import AgendaItem, File, Meeting, Paper
from engine.demo import demo_pdf
from engine.files import FileStore
from engine.process import sessions
from notifications.delivery import SmtpTransport
from notifications.sweep import run_once

from .conftest import NOW
from .test_mappe import stock_meeting

COMMITTEE_MEMBERS = {"martina.becker@example.org", "thomas.wagner@example.org", "elif.yilmaz@example.org"}


def _actor(database: Any, username: str) -> Any:
    with database.unit_of_work(write=False) as s:
        return load_actor(s, s.exec(select(Account).where(Account.username == username)).one().id)


def _text(message: Any) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[no-any-return]


def _invited(database: Any, smtp: Any) -> tuple[int, SmtpTransport]:
    """SI/2024/140 stocked (tests/test_mappe.py) and invited at NOW; the invitations delivered."""
    meeting_id = stock_meeting(database)
    transport = SmtpTransport(smtp.url, "Sitzungsdienst <sitzungsdienst@example.org>")
    with database.unit_of_work() as s:
        sessions.send_invitation(s, _actor(database, "hoffmann"), meeting_id, {}, now=NOW)
    run_once(database, NOW + timedelta(minutes=1), transport)
    invitations = [m["Subject"] for m in smtp.inbox.messages]
    assert len(invitations) == 3 and all(s.startswith("Einladung:") for s in invitations)
    smtp.inbox.clear()
    return meeting_id, transport


def _item(database: Any, meeting_id: int, name: str) -> int:
    with database.unit_of_work(write=False) as s:
        return s.exec(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting_id,  # type: ignore[no-any-return]
                                                  AgendaItem.name == name)).one()


def test_changes_after_the_invitation_reach_each_member_once_in_words(demo, database, smtp):  # type: ignore[no-untyped-def]
    meeting_id, transport = _invited(database, smtp)
    files = FileStore(database.settings.files_path)
    at = NOW + timedelta(hours=2)
    # The Sekretariat moves TOP 1 down (the agenda is closed: with a reason) …
    with database.unit_of_work() as s:
        agenda.move(s, _actor(database, "hoffmann"), meeting_id, _item(database, meeting_id,
                    "Radverkehrskonzept Innenstadt"), agenda.DOWN, {"reason": "Bericht zuerst"}, now=at)
    # … an Anlage comes to 2024/501, the text of 2024/502 changes, a TOP is added.
    with database.unit_of_work() as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2024/501")).one()
        content = demo_pdf("Stellungnahme ADFC")
        s.add(File(paper_id=paper.id, position=4, name="Stellungnahme ADFC", file_name="Stellungnahme ADFC.pdf",
                   mime_type="application/pdf", size=len(content), sha_512_checksum=files.put(s, content)))
        s.exec(select(Paper).where(Paper.reference == "2024/502")).one().proposal = "Neuer Beschlussvorschlag."
        s.add(AgendaItem(meeting_id=meeting_id, number="2.1", name="Bericht der Geschäftsführung", public=True))
    report = run_once(database, at + timedelta(minutes=1), transport)
    assert report.delivered.sent == 0  # the agenda must stand still first (nachtrag.QUIET)
    # Five minutes later the Foto is withdrawn: the quiet time starts again.
    with database.unit_of_work() as s:
        s.delete(s.exec(select(File).where(File.name == "Foto Kreuzung")).one())
    run_once(database, at + timedelta(minutes=6), transport)
    run_once(database, at + timedelta(minutes=15), transport)
    waited = list(smtp.inbox.messages)
    assert waited == []

    report = run_once(database, at + timedelta(minutes=16), transport)
    assert report.delivered.sent == 3
    mails = list(smtp.inbox.messages)
    assert {m["To"].addresses[0].addr_spec for m in mails} == COMMITTEE_MEMBERS
    with database.unit_of_work(write=False) as s:
        meeting = s.get(Meeting, meeting_id)
        day = f"{meeting.start:%d.%m.%Y}"
        subjects = {m["Subject"] for m in mails}
        assert subjects == {f"Nachtrag zur Tagesordnung: {meeting.name} am {day}"}
    body = _text(smtp.inbox.to("martina.becker@example.org")[0])
    told = [line.strip()[2:] for line in body.splitlines() if line.startswith("  - ")]
    assert told == [  # in the order of the agenda as it is now
        "TOP 2 „Mitteilungen der Verwaltung“ ist jetzt TOP 1.",
        "TOP 1 „Radverkehrskonzept Innenstadt“ (Vorlage 2024/501) ist jetzt TOP 2.",
        "Neue Anlage zu TOP 2 „Radverkehrskonzept Innenstadt“ (Vorlage 2024/501): Stellungnahme ADFC.",
        "Anlage zu TOP 2 „Radverkehrskonzept Innenstadt“ (Vorlage 2024/501) zurückgezogen: Foto Kreuzung.",
        "Neu auf der Tagesordnung (öffentlichen Teil): TOP 2.1 „Bericht der Geschäftsführung“.",
        "Die Vorlage 2024/502 zu TOP 3 wurde geändert.",
    ]
    assert "http://localhost/meine-sitzungen" in body and "Sitzungsmappe" in body
    assert "TOP 2.1  Bericht der Geschäftsführung" in body  # the agenda as it is now

    # Nothing twice: later passes send nothing more; the history names the Nachtrag.
    smtp.inbox.clear()
    again = run_once(database, at + timedelta(hours=3), transport)
    assert again.delivered.sent == 0 and list(smtp.inbox.messages) == []
    with database.unit_of_work(write=False) as s:
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "agenda.supplement_sent")).all()
        rows = s.exec(select(reminders.Reminder).where(reminders.Reminder.kind == reminders.KIND_NACHTRAG)).all()
    told = [(e.details["nachtrag"], e.details["members"]) for e in events]
    assert told == [(1, 3)]
    statuses = sorted(r.status for r in rows)
    assert statuses == [reminders.SENT] * 3


def test_a_change_undone_tells_nothing_and_a_second_batch_is_numbered_on(demo, database, smtp):  # type: ignore[no-untyped-def]
    meeting_id, transport = _invited(database, smtp)
    at = NOW + timedelta(hours=1)
    with database.unit_of_work() as s:
        s.get(AgendaItem, _item(database, meeting_id, "Mitteilungen der Verwaltung")).name = "Mitteilungen"
    run_once(database, at, transport)
    with database.unit_of_work() as s:
        s.get(AgendaItem, _item(database, meeting_id, "Mitteilungen")).name = "Mitteilungen der Verwaltung"
    run_once(database, at + timedelta(minutes=5), transport)
    run_once(database, at + timedelta(minutes=30), transport)
    undone = list(smtp.inbox.messages)
    assert undone == []

    with database.unit_of_work() as s:
        s.delete(s.get(AgendaItem, _item(database, meeting_id, "Mitteilungen der Verwaltung")))
    run_once(database, at + timedelta(hours=1), transport)
    run_once(database, at + timedelta(hours=1, minutes=10), transport)
    bodies = [_text(m) for m in smtp.inbox.messages]
    assert len(bodies) == 3
    assert all("  - Von der Tagesordnung abgesetzt: TOP 2 „Mitteilungen der Verwaltung“." in b for b in bodies)
    with database.unit_of_work(write=False) as s:
        keys = sorted(s.exec(select(reminders.Reminder.key).where(
            reminders.Reminder.kind == reminders.KIND_NACHTRAG)).all())
        notice = s.get(nachtrag.AgendaNotice, meeting_id)
    assert all(k.endswith("/1/s0") for k in keys) and len(keys) == 3 and notice.batches == 1


def test_right_before_the_session_the_nachtrag_does_not_wait(demo, database, smtp):  # type: ignore[no-untyped-def]
    meeting_id, transport = _invited(database, smtp)
    with database.unit_of_work(write=False) as s:
        start = s.get(Meeting, meeting_id).start
    with database.unit_of_work() as s:
        s.get(AgendaItem, _item(database, meeting_id, "Grundstücksankauf Gewerbegebiet Nord")).public = False
        s.add(AgendaItem(meeting_id=meeting_id, number="4", name="Personalangelegenheit", public=False))
    run_once(database, start - timedelta(minutes=5), transport)  # the session reminders go out too
    bodies = [_text(m) for m in smtp.inbox.messages if m["Subject"].startswith("Nachtrag")]
    assert len(bodies) == 3
    assert all("Neu auf der Tagesordnung (nichtöffentlichen Teil): TOP 4 „Personalangelegenheit“." in b
               for b in bodies)
    # Once it has begun, nothing is told any more.
    smtp.inbox.clear()
    with database.unit_of_work() as s:
        s.add(AgendaItem(meeting_id=meeting_id, number="5", name="Verschiedenes", public=True))
    run_once(database, start + timedelta(minutes=1), transport)
    after = [m for m in smtp.inbox.messages if m["Subject"].startswith("Nachtrag")]
    assert after == []


def test_no_nachtrag_before_the_invitation_nor_for_a_cancelled_sitzung(demo, database, smtp):  # type: ignore[no-untyped-def]
    meeting_id = stock_meeting(database)
    transport = SmtpTransport(smtp.url, "Sitzungsdienst <sitzungsdienst@example.org>")
    with database.unit_of_work() as s:
        s.add(AgendaItem(meeting_id=meeting_id, number="5", name="Verschiedenes", public=True))
    run_once(database, NOW, transport)
    run_once(database, NOW + timedelta(hours=1), transport)

    def told() -> tuple[Any, list[Any]]:
        with database.unit_of_work(write=False) as s:
            return (s.get(nachtrag.AgendaNotice, meeting_id), list(s.exec(select(reminders.Reminder).where(
                reminders.Reminder.meeting_id == meeting_id, col(reminders.Reminder.kind) == "nachtrag"))))

    assert told() == (None, [])  # not invited: the agenda is still being built
    smtp.inbox.clear()
    with database.unit_of_work() as s:
        sessions.send_invitation(s, _actor(database, "hoffmann"), meeting_id, {}, now=NOW + timedelta(hours=2))
    with database.unit_of_work() as s:
        s.get(Meeting, meeting_id).cancelled = True
        s.add(AgendaItem(meeting_id=meeting_id, number="6", name="Anfragen", public=True))
    run_once(database, NOW + timedelta(hours=3), transport)
    run_once(database, NOW + timedelta(hours=4), transport)
    notice, rows = told()
    assert notice is not None and notice.batches == 0 and rows == []


def test_changes_in_words_for_parts_renamed_and_replaced_anlagen() -> None:
    before = [{"id": 1, "number": "1", "name": "Haushalt 2027", "public": True,
               "paper": {"id": 9, "reference": "2026/001", "text": "a"}, "files": [[5, "Plan", "aa"]]},
              {"id": 2, "number": "2", "name": "Anfragen", "public": True, "paper": None, "files": []}]
    after = [{"id": 1, "number": "1", "name": "Haushalt 2027", "public": False,
              "paper": {"id": 9, "reference": "2026/001", "text": "a"}, "files": [[5, "Plan", "bb"]]},
             {"id": 2, "number": "2", "name": "Anfragen der Fraktionen", "public": True, "paper": None, "files": []}]
    said = nachtrag.changes(before, after)
    assert said == [
        "TOP 1 „Haushalt 2027“ (Vorlage 2026/001) wird jetzt im nichtöffentlichen Teil beraten.",
        "Anlage zu TOP 1 „Haushalt 2027“ (Vorlage 2026/001) ersetzt: Plan.",
        "TOP 2 heißt jetzt „Anfragen der Fraktionen“ (bisher „Anfragen“).",
    ]
    unchanged = nachtrag.changes(before, before)
    assert unchanged == []


def test_migration_0023_notes_sitzungen_invited_before_it_without_telling(tmp_path, database_url):  # type: ignore[no-untyped-def]
    """A Sitzung invited before 0023 gets its note at the first sweep and no Nachtrag; a change after
    that is told."""
    from sqlalchemy import text
    from sqlmodel import Session

    from engine.db import upgrade_schema

    from .conftest import database_at

    start = NOW + timedelta(days=10)
    with database_at(database_url, tmp_path, "0022") as engine:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO body (id, name, created, modified) VALUES (1, 'Zweckverband', :at, :at)"),
                         {"at": NOW})
            conn.execute(text("INSERT INTO organization (id, body_id, name, organization_type, created, modified) "
                              "VALUES (1, 1, 'Kreistag', 'Gremium', :at, :at)"), {"at": NOW})
            conn.execute(text("INSERT INTO person (id, body_id, family_name, given_name, email, created, modified) "
                              "VALUES (1, 1, 'Becker', 'Martina', 'm@example.org', :at, :at)"), {"at": NOW})
            conn.execute(text("INSERT INTO membership (id, person_id, organization_id, role, voting_right, created, "
                              "modified) VALUES (1, 1, 1, 'Mitglied', true, :at, :at)"), {"at": NOW})
            conn.execute(text(
                "INSERT INTO meeting (id, organization_id, name, start, meeting_state, cancelled, sequence, "
                "invitation_overdue, invited, created, modified) VALUES (1, 1, 'Sitzung', :start, 'eingeladen', "
                "false, 0, false, :at, :at, :at)"), {"at": NOW, "start": start})
            conn.execute(text(
                "INSERT INTO agenda_item (id, meeting_id, number, name, public, result_released, created, modified) "
                "VALUES (1, 1, '1', 'Haushalt', true, false, :at, :at)"), {"at": NOW})
        upgrade_schema(engine, "0023")
        with Session(engine) as s:
            assert nachtrag.detect(s, NOW + timedelta(hours=1)) == 0
            s.commit()
            noted = s.get(nachtrag.AgendaNotice, 1)
            sent = [i["name"] for i in noted.sent]
            assert sent == ["Haushalt"]
            s.add(AgendaItem(id=2, meeting_id=1, number="2", name="Anfragen", public=True))
            s.commit()
            assert nachtrag.detect(s, NOW + timedelta(hours=2)) == 0  # waits (QUIET)
            s.commit()
            assert nachtrag.detect(s, NOW + timedelta(hours=3)) == 1
            s.commit()
            [row] = s.exec(select(reminders.Reminder)).all()
            assert (row.kind, row.person_id, row.note) == (
                "nachtrag", 1, "Neu auf der Tagesordnung (öffentlichen Teil): TOP 2 „Anfragen“.")
