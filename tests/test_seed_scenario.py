"""The seed case end to end through HTTP: Vorlage 2024/063 through its Beratungsfolge."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from sqlmodel import col, select

from engine import audit
from engine.calendar import deadlines
from engine.council import AgendaItem, Meeting, Paper
from engine.outbox import OutboxMessage
from engine.process import sessions
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import INSTANCE_COMPLETED, ProcessInstance
from notifications.delivery import FolderTransport
from notifications.sweep import run_once

from .conftest import text_of


def _task_link(html: str, title: str) -> str:
    match = re.search(r'href="(/aufgaben/\d+)">' + re.escape(title) + "<", html)
    assert match, f"no task {title!r} in inbox"
    return match.group(1)


def _version(html: str) -> int:
    return int(re.search(r'name="version" value="(\d+)"', html).group(1))  # type: ignore[union-attr]


def _meeting_id(database, reference: str) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(Meeting.id).where(Meeting.reference == reference)).one()  # type: ignore[return-value]


def _complete(secretary, title: str, data: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    inbox = secretary.get("/aufgaben/").get_data(as_text=True)
    url = _task_link(inbox, title)
    page = secretary.get(url).get_data(as_text=True)
    response = secretary.post(url, {**data, "version": _version(page)})
    assert response.status_code == 302, text_of(response.get_data(as_text=True))


def test_seed_vorlage_runs_through_its_beratungsfolge(demo, database, browser, clock):  # type: ignore[no-untyped-def]
    committee = browser().login("hoffmann")
    assembly = browser().login("schmitz")

    # The committee session was a few days ago, the Vorlage on its agenda as TOP 5: the
    # committee's secretary records the result first; the assembly's has nothing yet.
    inbox = text_of(committee.get("/aufgaben/").get_data(as_text=True))
    assert "Ergebnis erfassen" in inbox and "2024/063" in inbox and "TOP 5" in inbox
    assert "Keine offenen Aufgaben." in text_of(assembly.get("/aufgaben/").get_data(as_text=True))
    _complete(committee, "Ergebnis erfassen", {"ergebnis": "zur_kenntnis_genommen"})

    # The committee session was held (its process's Sitzungsbeginn timer fired when the demo
    # loaded): with every result of its agenda recorded, its secretary releases the minutes.
    committee_session = _meeting_id(database, "SI/2024/131")
    inbox = text_of(committee.get("/aufgaben/").get_data(as_text=True))
    assert "Niederschrift zur Zeichnung vorlegen" in inbox and "SI/2024/131" in inbox
    _complete(committee, "Niederschrift zur Zeichnung vorlegen", {"anmerkung": "ohne Einwände"})
    _complete(committee, "Niederschrift zeichnen (Schriftführung)", {"entscheidung": "zeichnen"})
    # The chair (Martina Becker, Vorsitz from her membership) finds her task in her inbox.
    chair = browser().login("becker")
    _complete(chair, "Niederschrift zeichnen (Vorsitz)", {"entscheidung": "zeichnen"})
    with database.unit_of_work() as s:
        held = s.get(Meeting, committee_session)
        assert (held.meeting_state, held.minutes_released is not None) == ("durchgeführt", True)
        assert sessions.process_of(s, committee_session, running=False).status == INSTANCE_COMPLETED

    # The Vorlage moved on: the next task waits in the assembly secretary's inbox, due at
    # the agenda closing of the assembly session (from the Verbandsversammlung's rules).
    assert "Keine offenen Aufgaben." in text_of(committee.get("/aufgaben/").get_data(as_text=True))
    assembly_session = _meeting_id(database, "SI/2024/128")
    with database.unit_of_work() as s:
        closing = deadlines.deadlines_for_meeting(s, s.get(Meeting, assembly_session)).agenda_closing
    inbox = text_of(assembly.get("/aufgaben/").get_data(as_text=True))
    assert "Auf die Tagesordnung setzen" in inbox and "2024/063" in inbox
    assert f"{closing:%d.%m.%Y}" in inbox

    _complete(assembly, "Auf die Tagesordnung setzen", {"meeting_id": assembly_session, "top_nummer": "7"})

    # Before the assembly session begins, its result cannot be recorded: the form says when.
    url = _task_link(assembly.get("/aufgaben/").get_data(as_text=True), "Ergebnis erfassen")
    page = assembly.get(url).get_data(as_text=True)
    start = demo.assembly_meeting.start.astimezone(TIMEZONE)
    assert f"wenn die Sitzung begonnen hat: {start:%d.%m.%Y} um {start:%H:%M} Uhr" in text_of(page)
    assert 'name="version"' not in page
    refused = assembly.post(url, {"ergebnis": "zur_kenntnis_genommen", "version": 3})
    assert refused.status_code == 409

    # The agenda closes (the scheduler's pass, as cron would run it, at the moved clock): the
    # invitation is the assembly secretary's next task, due at the Ladungsfrist.
    with database.unit_of_work() as s:
        marks = deadlines.deadlines_for_meeting(s, s.get(Meeting, assembly_session))
    transport = FolderTransport(database.settings.mail_path, "sitzungsdienst@example.org")
    clock.now = datetime.combine(marks.agenda_closing + timedelta(days=1), time(8), TIMEZONE)
    run_once(database, clock.now, transport)
    assert assembly.get("/aufgaben/").status_code == 302  # days later: yesterday's login has ended
    assembly = browser().login("schmitz")
    inbox = text_of(assembly.get("/aufgaben/").get_data(as_text=True))
    assert "Einladung versenden" in inbox and f"{marks.invitation:%d.%m.%Y}" in inbox
    _complete(assembly, "Einladung versenden", {})
    run_once(database, clock.now, transport)
    with database.unit_of_work() as s:
        invited = s.get(Meeting, assembly_session)
        assert invited.meeting_state == "eingeladen" and invited.agenda_closed is not None
        letters = s.exec(select(OutboxMessage).where(col(OutboxMessage.subject).startswith("Einladung: "),
                                                     OutboxMessage.status == "versandt")).all()
        assert {m.to_address for m in letters} >= {"martina.becker@example.org", "peter.jansen@example.org"}
        assert all("TOP 7  " in m.body_text and "2024/063" in m.body_text for m in letters
                   if m.subject.endswith(f"{demo.assembly_meeting.start.astimezone(TIMEZONE):%d.%m.%Y}"))

    clock.now = demo.assembly_meeting.start + timedelta(hours=2)
    run_once(database, clock.now, transport)
    assembly = browser().login("schmitz")  # after the session, a new day's login
    _complete(assembly, "Ergebnis erfassen", {"ergebnis": "zur_kenntnis_genommen"})
    _complete(assembly, "Niederschrift zur Zeichnung vorlegen", {})
    _complete(assembly, "Niederschrift zeichnen (Schriftführung)", {"entscheidung": "zeichnen"})
    # The demo's assembly has no Vorsitz among its memberships: the administration signs for it.
    assert "Niederschrift zeichnen (Vorsitz)" not in text_of(browser().login("becker").get("/aufgaben/")
                                                               .get_data(as_text=True))
    _complete(browser().login("admin"), "Niederschrift zeichnen (Vorsitz)", {"entscheidung": "zeichnen"})

    with database.unit_of_work() as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2024/063")).one()
        instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper.id)).one()
        assert instance.status == INSTANCE_COMPLETED
        assert paper.status == "abgeschlossen"
        assert s.exec(select(HumanTask).where(HumanTask.status == TASK_READY,
                                              HumanTask.paper_id == paper.id)).all() == []
        for meeting_id in (committee_session, assembly_session):
            process = sessions.process_of(s, meeting_id, running=False)
            assert process.status == INSTANCE_COMPLETED, meeting_id
        items = s.exec(select(AgendaItem).order_by(AgendaItem.id)).all()
        recorded = [(i.number, i.result) for i in items]
        assert recorded == [
            ("5", "zur_kenntnis_genommen"), ("7", "zur_kenntnis_genommen")]
        completions = [e for e in audit.events_for_paper(s, paper.id) if e.action == "task.completed"]
        actors = [(e.actor, e.actor_name) for e in completions]
        assert actors == [("hoffmann", "Lea Hoffmann")] * 2 + [("schmitz", "Jonas Schmitz")] * 2
        session_steps = [(e.details["task"], e.actor) for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action == "task.completed", col(audit.AuditEvent.paper_id).is_(None))
            .order_by(col(audit.AuditEvent.seq)))
            if e.details.get("gremium") in {"Verbandsversammlung des Region Aachen Zweckverband"}
            and e.at >= demo.committee_meeting.start]
        assert session_steps == [("Einladung_versenden", "schmitz"), ("Niederschrift_vorlegen", "schmitz"),
                                 ("Niederschrift_zeichnen_Schriftfuehrung", "schmitz"),
                                 ("Niederschrift_zeichnen_Vorsitz", "admin")]
        assert audit.verify(s).ok

    # The public page shows both results with their dates, sessions and TOPs, and the end state.
    page = text_of(browser().get(f"/vorlagen/{paper.id}").get_data(as_text=True))
    assert page.count("zur Kenntnis genommen") == 2
    assert re.search(r"\d\d\.\d\d\.\d{4} SI/2024/131 Ordentliche Sitzung des Ausschusses .*TOP 5 "
                     r"zur Kenntnis genommen .*\d\d\.\d\d\.\d{4} SI/2024/128 Ordentliche Sitzung "
                     r"der Verbandsversammlung .*TOP 7 zur Kenntnis genommen", page)
    assert "Die Beratungsfolge ist abgeschlossen." in page


def test_public_page_shows_every_field_of_the_seed(demo, browser):  # type: ignore[no-untyped-def]
    page = text_of(browser().get(f"/vorlagen/{demo.paper_id}").get_data(as_text=True))
    for expected in [
        "Vorlage – 2024/063",
        "Betreff Bericht Kooperationsvereinbarung mit regionalen Wirtschaftsclustern",
        "Status öffentlich", "Vorlage-Art Standardvorlage", "Federführend Wirtschaft und Raum",
        "Bearbeiter/-in Zierstedt, Björn",
        "Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit Kenntnisnahme",
        "Verbandsversammlung des Region Aachen Zweckverband Kenntnisnahme",
        "SI/2024/131 Ordentliche Sitzung des Ausschusses für (eu)regionale Wirtschaft, "
        "Strukturentwicklung und Gesundheit",
        "SI/2024/128 Ordentliche Sitzung der Verbandsversammlung des Region Aachen Zweckverband",
        "Sachverhalt Sachlage: Die Verfügbarkeit von Fach- und Arbeitskräften",
        "• MineReWIR e.V.,",
        "Beschlussempfehlung Die Verbandsversammlung begrüßt die Kooperationsvereinbarung",
        "Personelle Auswirkungen Sind im Haushalt eingeplant.",
        "Finanzielle Auswirkungen Sind im Haushalt eingeplant.",
        "Anlagen (2)",
        "Anlage 1 Anlage 1 zur Vorlage 2024-063_Kooperationsvereinbarung mit regionalen "
        "Wirtschaftsclustern 474 KB",
        "Anlage 2 Anlage 2 zur Vorlage 2024-063_Unterstützerschreiben 475 KB",
        "Beratung 1 / 2: Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und "
        "Gesundheit – wartet auf: Ergebnis erfassen",
    ]:
        assert expected in page, expected


def test_demo_sessions_keep_weekday_order_and_distance(demo):  # type: ignore[no-untyped-def]
    committee, assembly = demo.committee_meeting.start, demo.assembly_meeting.start
    assert committee.weekday() == assembly.weekday() == 4  # Fridays, as 08.11. and 22.11.2024
    assert (assembly - committee).days == 14
    from .conftest import NOW
    assert NOW - timedelta(days=9) <= committee <= NOW - timedelta(days=2) < NOW < assembly


def test_demo_loads_once(demo, database):  # type: ignore[no-untyped-def]
    from engine.demo import load_demo

    with database.unit_of_work() as s:
        again = load_demo(s, "x")
        assert not again.created
        assert len(s.exec(select(Paper)).all()) == 1
