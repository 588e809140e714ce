"""The demo with the secretaries' week: Vorlagen 2024/063 … 2024/075 in their steps at ``NOW``."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import SQLModel, func, select

from engine import audit
from engine.audit import AuditEvent, AuditHead
from engine.council import (
    PAPER_DONE,
    PAPER_DRAFT,
    PAPER_IN_CONSULTATION,
    AgendaItem,
    Consultation,
    File,
    Meeting,
    Organization,
    Paper,
)
from engine.demo import _closed, demo_pdf, demo_pdf_sized, load_demo
from engine.files import FileStore
from engine.process import procedures
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask, TaskComment
from engine.workflow.models import INSTANCE_COMPLETED, ProcessInstance

from .conftest import NOW, PASSWORD, text_of

TODAY = NOW.astimezone(TIMEZONE).date()
#: What each Ergebnis may be for each role (vertagt fits every role).
FITS = {"Kenntnisnahme": {"zur_kenntnis_genommen"}, "Vorberatung": {"empfohlen"},
        "Entscheidung": {"beschlossen"}}


@pytest.fixture
def week(database, app):  # type: ignore[no-untyped-def]
    """The demo with the week, its Anlagen in the app's FileStore."""
    with database.unit_of_work() as s:
        return load_demo(s, PASSWORD, now=NOW, files=app.extensions["ratsflow.files"], week=True)


def _paper(s, reference: str) -> Paper:  # type: ignore[no-untyped-def]
    return s.exec(select(Paper).where(Paper.reference == reference)).one()  # type: ignore[no-any-return]


def _open(s, reference: str) -> HumanTask:  # type: ignore[no-untyped-def]
    return s.exec(select(HumanTask).where(HumanTask.paper_id == _paper(s, reference).id,  # type: ignore[no-any-return]
                                          HumanTask.status == TASK_READY)).one()


def test_week_has_thirteen_vorlagen_in_their_steps(week, database):  # type: ignore[no-untyped-def]
    assert week.created and week.week == [f"2024/{n:03d}" for n in range(64, 80)]
    usernames = [u for u, _ in week.accounts]
    assert usernames == ["zierstedt", "albrecht", "lenz", "kaiser", "brandt", "hoffmann", "weber", "schmitz",
                         "krause", "krueger", "becker", "admin"]
    with database.unit_of_work() as s:
        papers = s.exec(select(Paper).order_by(Paper.reference)).all()
        references = [p.reference for p in papers]
        assert references == [f"2024/{n:03d}" for n in range(63, 80)]
        assert {p.paper_type for p in papers} == {
            "Standardvorlage", "Beschlussvorlage", "Mitteilungsvorlage", "Antrag"}
        assert all(p.facts.startswith(("Sachlage:", "Antragstext:")) and p.proposal for p in papers)
        roles = {c.role for c in s.exec(select(Consultation))}
        assert roles == {"Kenntnisnahme", "Vorberatung", "Entscheidung"}
        lengths = {len(procedures.consultations_of(s, p.id)) for p in papers}  # type: ignore[arg-type]
        assert lengths == {1, 2, 3}
        orgs = {o.short_name for o in s.exec(select(Organization).where(Organization.organization_type == "Gremium"))}
        assert orgs == {"AWSG", "VV", "AMD"}

        ready = s.exec(select(HumanTask).where(HumanTask.status == TASK_READY)).all()
        committee = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
        assert committee.start < NOW

        # Several Kenntnisnahme results open in the past SI/2024/131, free for bulk recording.
        notes = [t for t in ready if t.form_key == "ergebnis" and t.meeting_id == committee.id
                 and t.context["beratung"]["role"] == "Kenntnisnahme" and t.assignee is None]
        assert len(notes) >= 3
        assert all(procedures.completion_blocked(s, t, NOW) is None for t in notes)

        # Agenda steps overdue (the agenda has closed, the session lies ahead) and due soon.
        agenda = [t for t in ready if t.form_key == "tagesordnung"]
        overdue = [t for t in agenda if t.due is not None and t.due < TODAY]
        assert {t.context["vorlage"]["reference"] for t in overdue} == {"2024/071", "2024/072"}
        for t in overdue:
            assert s.get(Meeting, t.meeting_id).start > NOW  # type: ignore[union-attr]
        assert TODAY - overdue[0].due <= timedelta(days=1)  # type: ignore[operator]
        soon = [t for t in agenda if t.due is not None and TODAY <= t.due <= TODAY + timedelta(days=2)]
        assert {t.context["vorlage"]["reference"] for t in soon} == {"2024/068"}

        # Held by the colleague: one claimed, one assigned by hoffmann.
        held = {t.context["vorlage"]["reference"]: t for t in ready if t.assignee == "weber"}
        assert set(held) == {"2024/067", "2024/070"}
        actions = {e.action for e in audit.events_for_paper(s, held["2024/067"].paper_id)}  # type: ignore[arg-type]
        assert "task.assigned" in actions
        actions = {e.action for e in audit.events_for_paper(s, held["2024/070"].paper_id)}  # type: ignore[arg-type]
        assert "task.claimed" in actions

        # Vertagt in SI/2024/131: back at the agenda step, which says so.
        postponed = [t for t in ready if t.context.get("postponed_in")]
        assert len(postponed) == 1 and postponed[0].form_key == "tagesordnung"
        assert postponed[0].context["vorlage"]["reference"] == "2024/069"
        assert postponed[0].context["postponed_in"] == committee.start.astimezone(TIMEZONE).date().isoformat()
        item = s.exec(select(AgendaItem).where(AgendaItem.consultation_id == postponed[0].consultation_id)).one()
        assert (item.meeting_id, item.result) == (committee.id, "vertagt")

        # One non-public Vorlage in consultation, in the non-public part of its session.
        hidden = s.exec(select(Paper).where(Paper.public == False)).all()  # noqa: E712
        states = [(p.reference, p.status) for p in hidden]
        assert states == [("2024/073", PAPER_IN_CONSULTATION)]
        item = s.exec(select(AgendaItem).join(Consultation, Consultation.id == AgendaItem.consultation_id)
                      .where(Consultation.paper_id == hidden[0].id)).one()
        assert item.public is False

        # One finished, one draft (and, issue 18, two in their Beschlusskontrolle after their
        # Beratungsfolge, two drafts in Mitzeichnung and Freigabe).
        statuses = {p.reference: p.status for p in papers}
        done = [r for r, st in statuses.items() if st == PAPER_DONE]
        drafts = [r for r, st in statuses.items() if st == PAPER_DRAFT]
        assert done == ["2024/074", "2024/078", "2024/079"] and drafts == ["2024/075", "2024/076", "2024/077"]
        done = _paper(s, "2024/074")
        instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == done.id)).one()
        assert instance.status == INSTANCE_COMPLETED
        draft = _paper(s, "2024/075")
        assert s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == draft.id)).first() is None

        # Comments on tasks, by the secretaries holding or serving them.
        comments = s.exec(select(TaskComment)).all()
        assert {(c.author, s.get(Paper, c.paper_id).reference) for c in comments} == {  # type: ignore[union-attr]
            ("weber", "2024/070"), ("krause", "2024/072")}

        # The seed is as it was: its result open in SI/2024/131 as TOP 5.
        seed = _open(s, "2024/063")
        assert (seed.form_key, seed.meeting_id, seed.context.get("top")) == ("ergebnis", committee.id, "5")


def test_week_is_what_the_engine_wrote(week, database):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        assert audit.verify(s).ok
        events = s.exec(select(AuditEvent).where(AuditEvent.paper_id.is_not(None))  # type: ignore[union-attr]
                        .order_by(AuditEvent.seq)).all()
        assert all(e.at <= NOW for e in events)
        moments = [e.at for e in events]
        assert moments == sorted(moments)  # replayed in the order it happened
        assert all(t.created <= NOW for t in s.exec(select(HumanTask)))
        # Every task row belongs to a procedure the engine started (none written by hand).
        started = {e.paper_id for e in events if e.action == "procedure.started"}
        assert {t.paper_id for t in s.exec(select(HumanTask)) if t.paper_id is not None} == started
        # The others are the session processes' steps, each of a Sitzung the demo planned.
        assert all(t.meeting_id is not None for t in s.exec(select(HumanTask)) if t.paper_id is None)

        # Each Beratungsfolge's sessions in order, each result fitting its role.
        for paper in s.exec(select(Paper)):
            previous = None
            for c in procedures.consultations_of(s, paper.id):  # type: ignore[arg-type]
                items = s.exec(select(AgendaItem, Meeting).join(Meeting, Meeting.id == AgendaItem.meeting_id)
                               .where(AgendaItem.consultation_id == c.id).order_by(Meeting.start)).all()
                planned = s.get(Meeting, c.meeting_id) if c.meeting_id else None
                for item, meeting in items:
                    assert item.result is None or item.result == "vertagt" or item.result in FITS[c.role]
                    assert meeting.organization_id == c.organization_id
                starts = [m.start for _, m in items] or ([planned.start] if planned else [])
                for start in starts:
                    assert previous is None or start > previous, paper.reference
                previous = starts[-1] if starts else previous

        # Sitzungen on working days, at 15:00 or 17:00 in Aachen, never on a holiday.
        for m in s.exec(select(Meeting)):
            start = m.start.astimezone(TIMEZONE)
            assert start.weekday() < 5 and (start.hour, start.minute) in {(15, 0), (17, 0)}
            assert not _closed(start.date()), m.reference


def test_week_false_is_the_seed_alone(database):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        result = load_demo(s, PASSWORD, now=NOW, week=False)
        assert result.week == []
        usernames = [u for u, _ in result.accounts]
        assert usernames == ["zierstedt", "hoffmann", "schmitz", "krueger", "becker", "admin"]
        references = [p.reference for p in s.exec(select(Paper))]
        assert references == ["2024/063"]
        files = s.exec(select(File).order_by(File.position)).all()
        stored = [(f.size, f.sha_512_checksum) for f in files]
        assert stored == [(485376, None), (486400, None)]
        assert s.exec(select(func.count()).select_from(Meeting)).one() == 4


def _check_pdf(content: bytes) -> None:
    """A PDF whose cross-reference table points at its objects."""
    assert content.startswith(b"%PDF-1.4\n") and content.rstrip().endswith(b"%%EOF")
    startxref = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", content).group(1))  # type: ignore[union-attr]
    assert content[startxref:].startswith(b"xref\n")
    header = re.match(rb"xref\n0 (\d+)\n", content[startxref:])
    assert header is not None
    count = int(header.group(1))
    entries = content[startxref + header.end():].split(b"trailer")[0]
    assert len(entries) == 20 * count
    rows = [entries[i:i + 20] for i in range(0, len(entries), 20)]
    assert rows[0] == b"0000000000 65535 f \n"
    for number, row in enumerate(rows[1:], start=1):
        offset = int(row[:10])
        assert row.endswith(b" 00000 n \n")
        assert content[offset:].startswith(b"%d 0 obj" % number), number
    assert b"/BaseFont /Helvetica" in content and b"/Size %d" % count in content
    length = int(re.search(rb"/Length (\d+) >>\nstream\n", content).group(1))  # type: ignore[union-attr]
    stream = content.split(b"stream\n", 1)[1]
    assert stream[length:].startswith(b"endstream")


def test_anlagen_are_real_pdfs_of_the_seed_sizes(week, database, app):  # type: ignore[no-untyped-def]
    store: FileStore = app.extensions["ratsflow.files"]
    with database.unit_of_work() as s:
        seed = _paper(s, "2024/063")
        files = s.exec(select(File).where(File.paper_id == seed.id).order_by(File.position)).all()
        sizes = [f.size for f in files]
        assert sizes == [485376, 486400]
        for f in files:
            assert (f.mime_type, f.file_name) == ("application/pdf", f"{f.name}.pdf")
            content = store.path_for(f.sha_512_checksum).read_bytes()  # type: ignore[arg-type]
            assert len(content) == f.size
            _check_pdf(content)
            assert b"(Anlage " in content  # the title is on the page
        others = s.exec(select(File, Paper).join(Paper, Paper.id == File.paper_id)
                        .where(File.paper_id != seed.id)).all()
        assert {p.reference for _, p in others} == {"2024/064", "2024/067", "2024/074"}
        for f, _ in others:
            content = store.path_for(f.sha_512_checksum).read_bytes()  # type: ignore[arg-type]
            assert len(content) == f.size < 4096
            _check_pdf(content)


def test_pdf_writer_pads_to_any_size_above_its_own():  # type: ignore[no-untyped-def]
    plain = demo_pdf("Übersicht (Entwurf) – Straße", ["Zeile mit \\ und ( )"])
    _check_pdf(plain)
    for size in [len(plain), len(plain) + 1, len(plain) + 2, len(plain) + 73, 9999, 10000, 100001]:
        padded = demo_pdf_sized("Übersicht (Entwurf) – Straße", ["Zeile mit \\ und ( )"], size)
        assert len(padded) == size
        _check_pdf(padded)
    with pytest.raises(ValueError):
        demo_pdf_sized("Titel", [], 100)


def test_public_page_links_the_pdfs_and_downloads_them(week, database, app, browser):  # type: ignore[no-untyped-def]
    store: FileStore = app.extensions["ratsflow.files"]
    with database.unit_of_work() as s:
        seed = _paper(s, "2024/063")
        files = [(f.id, f.sha_512_checksum) for f in
                 s.exec(select(File).where(File.paper_id == seed.id).order_by(File.position))]
        seed_id = seed.id
    visitor = browser()
    html = visitor.get(f"/vorlagen/{seed_id}").get_data(as_text=True)
    page = text_of(html)
    assert "Anlage 1 zur Vorlage 2024-063_Kooperationsvereinbarung mit regionalen Wirtschaftsclustern 474 KB" in page
    assert "Anlage 2 zur Vorlage 2024-063_Unterstützerschreiben 475 KB" in page
    for file_id, digest in files:
        assert f'href="/dateien/{file_id}"' in html
        response = visitor.get(f"/dateien/{file_id}")
        assert response.status_code == 200 and response.mimetype == "application/pdf"
        assert response.get_data() == store.path_for(digest).read_bytes()  # type: ignore[arg-type]
        response.close()


def test_the_secretary_records_three_kenntnisnahmen_at_once(week, database, browser):  # type: ignore[no-untyped-def]
    hoffmann = browser().login("hoffmann")
    html = hoffmann.get("/aufgaben/").get_data(as_text=True)
    offered = re.findall(r'name="task" value="(\d+)"', html)
    assert len(offered) >= 3
    chosen = offered[:3]
    data = {"task": chosen, **{f"version-{t}": re.search(rf'name="version-{t}" value="(\d+)"', html).group(1)  # type: ignore[union-attr]
                               for t in chosen}}
    response = hoffmann.post("/aufgaben/kenntnisnahme", data)
    assert response.status_code == 302
    with database.unit_of_work() as s:
        for task_id in chosen:
            task = s.get(HumanTask, int(task_id))
            assert task.status == "erledigt" and task.completed_by == "hoffmann"  # type: ignore[union-attr]
            item = s.exec(select(AgendaItem).where(AgendaItem.consultation_id == task.consultation_id)).one()  # type: ignore[union-attr]
            assert item.result == "zur_kenntnis_genommen"
        assert audit.verify(s).ok


def _row_counts(s) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {t.name: s.exec(select(func.count()).select_from(t)).one() for t in SQLModel.metadata.sorted_tables}


def test_loading_twice_changes_nothing(week, database, app):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        before, head = _row_counts(s), s.get(AuditHead, 1).hash  # type: ignore[union-attr]
    with database.unit_of_work() as s:
        again = load_demo(s, PASSWORD, now=NOW + timedelta(days=3), files=app.extensions["ratsflow.files"])
        assert not again.created and again.paper_id == week.paper_id
    with database.unit_of_work() as s:
        assert _row_counts(s) == before and s.get(AuditHead, 1).hash == head  # type: ignore[union-attr]


def test_cli_demo_stores_the_pdfs(database, capsys):  # type: ignore[no-untyped-def]
    from web.cli import _demo

    _demo(database)  # at the real clock, into the instance folder's FileStore
    out = capsys.readouterr().out
    assert "Vorlage 2024/063" in out and "16 weitere Vorlagen (2024/064 bis 2024/079)" in out
    assert "weber" in out and "krause" in out
    store = FileStore(database.settings.files_path)
    with database.unit_of_work() as s:
        stored = s.exec(select(File)).all()
        assert len(stored) == 5 and all(f.sha_512_checksum and store.exists(f.sha_512_checksum) for f in stored)
        assert audit.verify(s).ok
    _demo(database)
    assert "schon geladen" in capsys.readouterr().out


def test_the_demos_past_committee_session_has_its_attendance(week, database):  # type: ignore[no-untyped-def]
    """SI/2024/131 as it took place: 15 seats, a stand-in for the excused member, a late
    arrival; the week's votes there within those present; the Sitzungsgeld set."""
    from engine import allowance, attendance

    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
        sheet = attendance.read_sheet(s, meeting)
        opening = sheet.quorum_at(sheet.opened)
        assert (opening.seats, opening.present, opening.ok) == (15, 14, True)
        kaya = next(li for li in sheet.lines if li.name.startswith("Kaya"))
        stand_in = next(li for li in sheet.lines if li.stands_in_for == kaya.person_id)
        assert (kaya.status, kaya.apology_note, stand_in.name) == ("entschuldigt", "Urlaub", "Offermann, Birgit")
        guests = [g.name for g in sheet.guests]
        assert guests == ["Björn Zierstedt", "Aachener Zeitung"]
        voted = [t for t in sheet.tops if t.votes_yes is not None]
        assert voted and all((t.votes_yes or 0) + (t.votes_no or 0) + (t.votes_abstain or 0)
                             <= len(sheet.at_top(t.item_id).voters) for t in voted)
        assert allowance.rate_on(s, meeting.organization_id, meeting.start.date()) == 2500


def test_week_has_vorlagen_in_their_lifecycle(week, database):  # type: ignore[no-untyped-def]
    """Issue 18: 2024/076 in its second Mitzeichnung after a return, 2024/077 in its Freigabe,
    2024/078 and 2024/079 in their Beschlusskontrolle (078 overdue); 2024/063 as before."""
    from engine.council import PAPER_DONE, PAPER_DRAFT

    today = NOW.astimezone(TIMEZONE).date()
    with database.unit_of_work() as s:
        def open_steps(reference: str) -> list[tuple[str, str | None, bool]]:
            rows = s.exec(select(HumanTask).where(HumanTask.paper_id == _paper(s, reference).id,
                                                  HumanTask.status == TASK_READY)).all()
            names = {o.id: o.name for o in s.exec(select(Organization))}
            return sorted((r.bpmn_id, names.get(r.organization_id), r.due is not None and r.due < today)
                          for r in rows)

        steps = {reference: open_steps(reference) for reference in ("2024/063", "2024/076", "2024/077",
                                                                     "2024/078", "2024/079")}
        states = {reference: _paper(s, reference).status for reference in steps}
        returned = s.exec(select(HumanTask).where(HumanTask.paper_id == _paper(s, "2024/076").id,
                                                  HumanTask.bpmn_id == "Mitzeichnung",
                                                  HumanTask.completed_by == "lenz")).all()
        heads = [u for u, _ in week.accounts if u in ("brandt", "kaiser")]
    seed = [step for step, _org, _overdue in steps["2024/063"]]
    assert seed == ["Ergebnis"]
    assert steps["2024/076"] == [("Mitzeichnung", "Finanzen", False),
                                 ("Mitzeichnung", "Mobilität und Digitalisierung", False)]
    assert len(returned) == 1  # the first round's return
    assert steps["2024/077"] == [("Freigabe", "Wirtschaft und Raum", False)]
    assert steps["2024/078"] == [("Kontrolle", "Wirtschaft und Raum", True)]
    assert steps["2024/079"] == [("Kontrolle", "Wirtschaft und Raum", False)]
    assert states == {"2024/063": "in Beratung", "2024/076": PAPER_DRAFT, "2024/077": PAPER_DRAFT,
                      "2024/078": PAPER_DONE, "2024/079": PAPER_DONE}
    assert heads == ["kaiser", "brandt"]
