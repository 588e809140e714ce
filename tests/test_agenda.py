"""The Sekretariat manages a session's agenda: order, TOP numbers, public and non-public part;
after the agenda closed only with a reason; every change audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import col, select

from engine import audit
from engine.calendar import agenda, meetings
from engine.council import Meeting, Paper
from engine.errors import Conflict, Forbidden, Invalid
from engine.process import sessions
from engine.tasks import HumanTask
from engine.workflow.models import WorkflowTimer
from notifications.delivery import FolderTransport
from notifications.sweep import run_once

from .conftest import NOW, on_agenda, text_of


def _later(database) -> Meeting:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()  # type: ignore[no-any-return]


def _shown(database, meeting_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return [f"{'' if e.public else 'N '}{e.number} {e.reference}" for e in meetings.agenda_items(s, meeting_id)]


def _ids(database, meeting_id: int) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return {e.reference or "": e.item_id or 0 for e in meetings.agenda_items(s, meeting_id)}


@pytest.fixture
def three(database, actor, draft):  # type: ignore[no-untyped-def]
    for reference, name in [("2024/090", "Radweg Brand"), ("2024/091", "Kita Eilendorf"),
                            ("2024/092", "Grundstück Tausch")]:
        on_agenda(database, actor, draft, reference, name, meeting_ref="SI/2024/140")
    return _later(database)


def test_order_numbers_and_parts(demo, database, actor, three):  # type: ignore[no-untyped-def]
    meeting = three
    assert _shown(database, meeting.id) == ["1 2024/090", "2 2024/091", "3 2024/092"]  # numbered as they came
    ids = _ids(database, meeting.id)
    who = actor("hoffmann")
    with database.unit_of_work() as s:
        agenda.move(s, who, meeting.id, ids["2024/092"], agenda.UP, {}, now=NOW)
    assert _shown(database, meeting.id) == ["1 2024/090", "2 2024/092", "3 2024/091"]
    with database.unit_of_work() as s, pytest.raises(Conflict, match="Anfang"):
        agenda.move(s, who, meeting.id, ids["2024/090"], agenda.UP, {}, now=NOW)
    with database.unit_of_work() as s:
        agenda.indent(s, who, meeting.id, ids["2024/092"], True, {}, now=NOW)
    assert _shown(database, meeting.id) == ["1 2024/090", "1.1 2024/092", "2 2024/091"]
    with database.unit_of_work() as s:
        agenda.set_part(s, who, meeting.id, ids["2024/090"], False, {}, now=NOW)
    assert _shown(database, meeting.id) == ["1 2024/092", "2 2024/091", "N 3 2024/090"]
    with database.unit_of_work() as s:
        agenda.set_order(s, who, meeting.id, [ids["2024/090"], ids["2024/091"], ids["2024/092"]], {}, now=NOW)
    assert _shown(database, meeting.id) == ["1 2024/091", "2 2024/092", "N 3 2024/090"]
    with database.unit_of_work() as s, pytest.raises(Invalid) as wrong:
        agenda.set_order(s, who, meeting.id, [ids["2024/090"], ids["2024/090"]], {}, now=NOW)
    assert "order" in wrong.value.errors

    # Members' agenda (and the invitation, the reminders) read the same order.
    with database.unit_of_work() as s:
        public = [(e.number, e.reference) for e in meetings.agenda(s, meeting.id, public_only=True)]
    assert public == [("1", "2024/091"), ("2", "2024/092")]
    with database.unit_of_work() as s:
        changes = [e.details for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action == "agenda.changed").order_by(audit.AuditEvent.seq))]
    assert [c["change"] for c in changes] == ["TOP 3 → 2", "Unterpunkt", "nichtöffentlich", "neue Reihenfolge"]
    assert changes[0]["before"] == ["1 2024/090", "2 2024/091", "3 2024/092"]
    assert changes[0]["after"] == ["1 2024/090", "2 2024/092", "3 2024/091"]


def test_after_closing_only_with_a_reason(demo, database, actor, three):  # type: ignore[no-untyped-def]
    meeting = three
    ids = _ids(database, meeting.id)
    with database.unit_of_work() as s:
        closing = s.exec(select(WorkflowTimer.due_at).where(
            WorkflowTimer.bpmn_id == "Tagesordnungsschluss",
            WorkflowTimer.process_instance_id == sessions.process_of(s, meeting.id).id)).one()
    run_once(database, closing + timedelta(minutes=5), FolderTransport(database.settings.mail_path, "x@y"))
    later = closing + timedelta(hours=1)
    who = actor("hoffmann")
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        agenda.move(s, who, meeting.id, ids["2024/092"], agenda.UP, {}, now=later)
    assert "Änderungen bitte begründen" in refused.value.errors["reason"][0]
    assert _shown(database, meeting.id) == ["1 2024/090", "2 2024/091", "3 2024/092"]
    with database.unit_of_work() as s:
        agenda.move(s, who, meeting.id, ids["2024/092"], agenda.UP, {"reason": "Dringlichkeit"}, now=later)
        event = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "agenda.changed")).one()
        assert event.details["reason"] == "Dringlichkeit" and event.details["after_closing"] is True
    # The open steps of the moved Vorlagen name their new TOPs.
    with database.unit_of_work() as s:
        tops = {t.paper_id: t.context.get("top") for t in s.exec(select(HumanTask).where(
            HumanTask.status == "bereit", HumanTask.meeting_id == meeting.id, HumanTask.form_key == "ergebnis"))}
        papers = {ref: pid for ref, pid in s.exec(select(Paper.reference, Paper.id).where(
            col(Paper.reference).in_(["2024/091", "2024/092"])))}
    assert (tops[papers["2024/092"]], tops[papers["2024/091"]]) == ("2", "3")


def test_only_its_secretary_and_not_after_it_began(demo, database, actor, three):  # type: ignore[no-untyped-def]
    meeting = three
    ids = _ids(database, meeting.id)
    other = actor("schmitz")
    with database.unit_of_work() as s, pytest.raises(Forbidden):
        agenda.renumber(s, other, meeting.id, {}, now=NOW)
    who = actor("hoffmann")
    with database.unit_of_work() as s, pytest.raises(Conflict, match="begonnen"):
        agenda.move(s, who, meeting.id, ids["2024/091"], agenda.UP, {"reason": "x"},
                    now=meeting.start + timedelta(minutes=1))


def test_agenda_buttons_over_http(demo, database, browser, three):  # type: ignore[no-untyped-def]
    meeting = three
    ids = _ids(database, meeting.id)
    hoffmann = browser().login("hoffmann")
    page = text_of(hoffmann.get(f"/sitzungen/{meeting.id}").get_data(as_text=True))
    assert "Tagesordnung bearbeiten" in page and "Fortlaufend nummerieren" in page
    url = f"/sitzungen/{meeting.id}/tagesordnung"
    assert hoffmann.post(url, {"action": f"down:{ids['2024/090']}"}).status_code == 302
    assert _shown(database, meeting.id) == ["1 2024/091", "2 2024/090", "3 2024/092"]
    assert hoffmann.post(url, {"action": "kaputt"}).status_code == 422
    assert hoffmann.post(url, {"action": f"up:{2**40}"}).status_code == 404
    nul = hoffmann.post(url, {"action": "renumber", "reason": "a\x00b"})
    assert nul.status_code == 422 and "Steuerzeichen" in nul.get_data(as_text=True)
    assert browser().login("schmitz").post(url, {"action": "renumber"}).status_code == 403
    assert browser().get(f"/sitzungen/{meeting.id}").status_code == 200  # the public page has no buttons
    assert "Tagesordnung bearbeiten" not in browser().get(f"/sitzungen/{meeting.id}").get_data(as_text=True)
