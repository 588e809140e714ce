"""The auditor's view: the seed's timeline, search with filters and stable paging, exports
(CSV for German Excel, JSON Lines) from the web and the command line, each export recorded."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from click.testing import CliRunner
from sqlmodel import col, select

from engine import audit, audit_history
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance
from web.cli import main as cli

from .conftest import NOW, text_of


def _record_seed_result(database, actor, demo, stale_first: bool = True) -> None:  # type: ignore[no-untyped-def]
    """The committee's secretary records the seed's Kenntnisnahme (after one stale attempt)."""
    who = actor("hoffmann")
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == demo.paper_id,
                                              HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
    with database.unit_of_work() as s:
        procedures.complete_task(s, who, task.id, {"ergebnis": "zur_kenntnis_genommen"}, version, now=NOW)


def test_the_seeds_timeline_reads_as_german_text(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    hoffmann = browser().login("hoffmann")
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == demo.paper_id,
                                              HumanTask.status == TASK_READY)).one()
    # A stale completion first: refused with 409, and the refusal is in the history.
    stale = hoffmann.post(f"/aufgaben/{task.id}", {"ergebnis": "zur_kenntnis_genommen", "version": 1})
    assert stale.status_code == 409
    _record_seed_result(database, actor, demo)
    who = actor("schmitz")  # the assembly's secretary puts it on SI/2024/128 as TOP 7
    with database.unit_of_work() as s:
        from engine.council import Meeting

        task = s.exec(select(HumanTask).where(HumanTask.paper_id == demo.paper_id,
                                              HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        procedures.complete_task(s, who, task.id, {"meeting_id": assembly.id, "top_nummer": "7"}, version, now=NOW)
    krueger = browser().login("krueger")
    page = text_of(krueger.get(f"/revision/vorlagen/{demo.paper_id}").get_data(as_text=True))
    assert "Jonas Schmitz (schmitz)" in page and "TOP: 7" in page and "SI/2024/128" in page
    # The Sitzungen it was on belong to its procedure: SI/2024/131's session process is in it.
    assert "„Einladung versenden“" in page and "Tagesordnungsschluss" in page
    assert "Verlauf der Vorlage 2024/063" in page
    assert "Ausschuss für (eu)regionale Wirtschaft" in page and "Verbandsversammlung" in page
    assert "Ablauf gestartet" in page and "Björn Zierstedt (zierstedt)" in page
    assert "„Auf die Tagesordnung setzen“" in page and "TOP: 5" in page
    assert "„Ergebnis erfassen“" in page and "Ergebnis: zur Kenntnis genommen" in page
    assert "Lea Hoffmann (hoffmann)" in page and "fristgerecht" in page
    assert "Versuch abgelehnt" in page and "409" in page
    assert "{" not in page.split("Verlauf", 2)[-1]  # no raw JSON
    assert browser().login("hoffmann").get(f"/revision/vorlagen/{demo.paper_id}").status_code == 403
    assert krueger.get(f"/revision/vorlagen/{2**31}").status_code == 404


def test_search_filters_and_pages_in_a_stable_order(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    _record_seed_result(database, actor, demo)
    krueger = browser().login("krueger")

    def seqs(query: str) -> list[int]:
        html = krueger.get(f"/revision/?{query}").get_data(as_text=True)
        return [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", html)]

    everything = seqs("")
    assert everything == sorted(everything, reverse=True) and len(everything) <= 50
    assert seqs("vorlage=2024/063") and all(n in everything for n in seqs("vorlage=2024/063"))
    done = seqs("ereignis=task.completed&person=hoffmann")
    with database.unit_of_work() as s:
        expected = [e.seq for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action == "task.completed", audit.AuditEvent.actor == "hoffmann"))]
    assert sorted(done) == sorted(expected) and done
    day = f"{NOW:%d.%m.%Y}"
    that_day = seqs(f"von={day}&bis={day}")
    assert that_day and set(that_day) <= set(everything)
    assert seqs("von=01.01.2020&bis=31.12.2020") == []
    for query, field in [("von=31.02.2026", "von"), ("ereignis=gibtsnicht", "ereignis"),
                         ("gremium=99999999999", "gremium"), ("vorlage=1999/999", "vorlage"), ("vor=abc", "vor")]:
        response = krueger.get(f"/revision/?{query}")
        assert response.status_code == 422, query
        assert f'id="f-{field}"' in response.get_data(as_text=True) or field == "vor"
    # Paging: newest first, each page continuing before the last sequence number shown.
    with database.unit_of_work() as s:
        for i in range(60):
            audit.record(s, "x", "X", "task.commented", details={"text": f"Notiz {i}"})
    first = krueger.get("/revision/").get_data(as_text=True)
    more = re.search(r'href="(/revision/\?vor=\d+)"', first.replace("&amp;", "&"))
    assert more
    second = krueger.get(more.group(1)).get_data(as_text=True)
    a = [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", first)]
    b = [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", second)]
    assert len(a) == 50 and b and max(b) < min(a) and not set(a) & set(b)


def test_exports_read_back_and_are_recorded(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    _record_seed_result(database, actor, demo)
    krueger = browser().login("krueger")
    response = krueger.get("/revision/export.csv?vorlage=2024/063")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    with database.unit_of_work() as s:
        events = audit_history.paper_history(s, demo.paper_id)
    assert rows[0][:5] == ["Nr.", "Zeitpunkt", "Benutzer", "Name", "Ereignis"]
    assert [int(r[0]) for r in rows[1:]] == [e.seq for e in events]  # one row per event
    assert all(re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d", r[1]) for r in rows[1:])
    lines = krueger.get("/revision/export.jsonl?vorlage=2024/063").get_data(as_text=True).splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [e.seq for e in events]
    with database.unit_of_work() as s:
        exported = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "audit.exported")
                          .order_by(col(audit.AuditEvent.seq))).all()
        assert [(e.actor, e.details["format"]) for e in exported] == [("krueger", "csv"), ("krueger", "jsonl")]
    assert browser().login("hoffmann").get("/revision/export.csv").status_code == 403


def test_export_command(demo, database, settings, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RATSFLOW_INSTANCE_PATH", str(settings.instance_path))
    out = tmp_path / "historie.csv"
    result = CliRunner().invoke(cli, ["audit", "export", "--format", "csv", "--out", str(out),
                                      "--ereignis", "procedure.started"])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8-sig") as f:
        rows = list(csv.reader(f, delimiter=";"))
    with database.unit_of_work() as s:
        started = [e.seq for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action == "procedure.started").order_by(audit.AuditEvent.seq))]
    assert [int(r[0]) for r in rows[1:]] == started
    jsonl = CliRunner().invoke(cli, ["audit", "export", "--format", "jsonl", "--vorlage", "2024/063"])
    assert jsonl.exit_code == 0
    exported = [json.loads(line) for line in jsonl.stdout.splitlines() if line.startswith("{")]
    with database.unit_of_work() as s:
        history = [e.seq for e in audit_history.paper_history(s, demo.paper_id)]
    # The Vorlage's own events, and those about its Sitzungen that are no other Vorlage's.
    assert [e["seq"] for e in exported] == history
    assert {e["paper"] for e in exported} == {"2024/063", None}
    bad = CliRunner().invoke(cli, ["audit", "export", "--von", "gestern"])
    assert bad.exit_code != 0 and "--von" in bad.output


def test_logins_of_privileged_accounts_are_recorded(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    assert browser().client.post("/anmelden", data={"username": "admin", "password": "falsch",
                                                    "csrf_token": ""}).status_code in (400, 401)
    anonymous = browser()
    anonymous.get("/anmelden")
    assert anonymous.post("/anmelden", {"username": "admin", "password": "falsch"}).status_code == 401
    browser().login("admin")
    browser().login("krueger")
    browser().login("hoffmann")  # a secretary: not a privileged account
    with database.unit_of_work() as s:
        events = [(e.action, e.actor) for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action.in_(["login.succeeded", "login.failed"]))  # type: ignore[attr-defined]
            .order_by(audit.AuditEvent.seq))]
    assert ("login.failed", "admin") in events
    assert ("login.succeeded", "admin") in events and ("login.succeeded", "krueger") in events
    assert all(actor != "hoffmann" for _, actor in events)


FORMULAS = ['=HYPERLINK("http://evil","x")', "+1", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]


def test_the_csv_export_keeps_spreadsheets_from_computing_what_users_typed(demo, database, draft, browser):  # type: ignore[no-untyped-def]
    """Text that a spreadsheet would read as a formula (= + - @, tab, CR first: OWASP's list)
    starts with ' in the CSV: shown as typed, never computed. Number columns stay numbers."""
    paper_id = draft(FORMULAS[0], "Vorlage mit Formel")
    with database.unit_of_work() as s:
        events = [audit.record(s, formula, formula, "task.refused", paper_id=paper_id,
                               details={"status": formula}) for formula in FORMULAS[1:]]
        seqs = [e.seq for e in events]
    raw = browser().login("krueger").get("/revision/export.csv", query_string={"vorlage": FORMULAS[0]}).get_data()
    rows = {r[0]: r for r in csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";")}
    for seq, formula in zip(seqs, FORMULAS[1:], strict=True):
        row = rows[str(seq)]  # Nr.: the number as it is
        benutzer, name, vorlage, beschreibung = row[2], row[3], row[6], row[8]
        assert (benutzer, name) == ("'" + formula, "'" + formula), row
        assert beschreibung == "'" + formula.strip()  # the description strips what it words
        assert vorlage == "'" + FORMULAS[0]
        assert row[9].startswith("{") and json.loads(row[9])["status"] == formula  # JSON: as recorded
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows.values() for cell in r)


def test_only_text_cells_are_neutralised() -> None:
    from engine.audit_history import spreadsheet_cell

    numbers = [spreadsheet_cell(v) for v in (-2, 0, 17, None)]
    assert numbers == [-2, 0, 17, ""]
    texts = [spreadsheet_cell(v) for v in ("-2", "2024/063", "", "Vorlage =1", " =1")]
    assert texts == ["'-2", "2024/063", "", "Vorlage =1", " =1"]
