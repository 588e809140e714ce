"""Completing tasks: wrong, stale or foreign completions are refused and change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from engine.audit import AuditEvent
from engine.council import AgendaItem, Meeting
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance

from .conftest import NOW, run_together


def snapshot(database) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    """Everything a completion writes: state and version, task rows, TOPs, audit events."""
    with database.unit_of_work() as s:
        instances = [(i.id, i.version, i.state, i.status) for i in s.exec(select(ProcessInstance))]
        tasks = [(t.id, t.status, t.completed_by) for t in s.exec(select(HumanTask).order_by(HumanTask.id))]
        items = [(a.id, a.result) for a in s.exec(select(AgendaItem))]
        # Refusals are recorded on their own (task.refused); nothing else may be written.
        events = s.exec(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action != "task.refused")).one()
    return instances, tasks, items, events


def first_task(database) -> tuple[HumanTask, int, int]:  # type: ignore[no-untyped-def]
    """The seed's open task: its committee session has begun, the result waits."""
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.status == TASK_READY, col(HumanTask.paper_id).is_not(None))).one()
        assert task.bpmn_id == "Ergebnis"
        version = s.get(ProcessInstance, task.process_instance_id).version
        meeting = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/131")).one()
    return task, version, meeting


NOTED = {"ergebnis": "zur_kenntnis_genommen"}


def agenda_task(database, actor, draft, reference: str = "2024/090") -> tuple[HumanTask, int, int]:  # type: ignore[no-untyped-def]
    """A fresh Vorlage in the committee, started: its agenda step and the next session."""
    paper_id = draft(reference, "Tagesordnungstest")
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW)
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
        meeting = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/128")).first()
        later = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/140")).one()
    assert meeting is not None
    return task, version, later


def complete(database, actor, task_id, data, version):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return procedures.complete_task(s, actor, task_id, data, version, now=NOW)


def test_stale_version_is_409_and_changes_nothing(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    task, version, _ = first_task(database)
    before = snapshot(database)
    with pytest.raises(Conflict):
        complete(database, actor("hoffmann"), task.id, NOTED, version - 1)
    assert snapshot(database) == before

    client = browser().login("hoffmann")
    response = client.client.post(f"/api/v1/tasks/{task.id}/complete",
                                  json={"data": NOTED, "expected_version": version + 5})
    assert response.status_code == 409
    assert "geändert" in response.get_json()["error"]
    page = client.post(f"/aufgaben/{task.id}", {**NOTED, "version": version + 5})
    assert page.status_code == 409
    assert snapshot(database) == before
    with database.unit_of_work() as s:  # each refusal over HTTP recorded: who, why, status
        refused = s.exec(select(AuditEvent).where(AuditEvent.action == "task.refused")
                         .order_by(AuditEvent.seq)).all()
    recorded = [(e.actor, e.details["status"], e.details["task_id"]) for e in refused]
    assert recorded == [("hoffmann", 409, task.id), ("hoffmann", 409, task.id)]
    assert "geändert" in refused[0].details["why"] and refused[0].paper_id == task.paper_id


def test_task_of_another_gremium_is_403_and_changes_nothing(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    task, version, _ = first_task(database)
    before = snapshot(database)
    with pytest.raises(Forbidden):
        complete(database, actor("schmitz"), task.id, NOTED, version)
    with pytest.raises(Forbidden):
        complete(database, actor("zierstedt"), task.id, NOTED, version)
    client = browser().login("schmitz")
    assert client.get(f"/aufgaben/{task.id}").status_code == 403
    assert client.client.post(f"/api/v1/tasks/{task.id}/complete", json={
        "data": NOTED, "expected_version": version}).status_code == 403
    assert snapshot(database) == before


def test_unknown_task_is_404(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    with pytest.raises(NotFound):
        complete(database, actor("hoffmann"), 999_999, {}, 1)
    client = browser().login("hoffmann")
    assert client.client.post("/api/v1/tasks/999999/complete",
                              json={"data": {}, "expected_version": 1}).status_code == 404


def test_task_done_already_is_409(demo, database, actor):  # type: ignore[no-untyped-def]
    task, version, _ = first_task(database)
    complete(database, actor("hoffmann"), task.id, NOTED, version)
    after_first = snapshot(database)
    with pytest.raises(Conflict, match="bereits erledigt"):
        complete(database, actor("hoffmann"), task.id, NOTED, version + 1)
    assert snapshot(database) == after_first


def test_anonymous_api_call_is_401(demo, database, browser):  # type: ignore[no-untyped-def]
    task, version, _ = first_task(database)
    response = browser().client.post(f"/api/v1/tasks/{task.id}/complete",
                                     json={"data": NOTED, "expected_version": version})
    assert response.status_code == 401


def test_a_login_read_with_the_task_is_checked_as_any_other(demo, database, browser, clock):  # type: ignore[no-untyped-def]
    """A completion reads its login together with the task (procedures.load_task_with_login):
    an idle, logged-out or disabled session still completes nothing (401 over the API, the
    login page from the inbox's form); an unknown task is 404; a live session completes."""
    from engine.council import Account
    from engine.identity import logins

    task, version, _ = first_task(database)
    before = snapshot(database)
    idle = browser().login("hoffmann")
    clock.move(minutes=61)
    assert idle.client.post(f"/api/v1/tasks/{task.id}/complete",
                            json={"data": NOTED, "expected_version": version}).status_code == 401
    replayed, out = browser().login("hoffmann"), browser()
    cookie = replayed.client.get_cookie("ratsflow")
    assert cookie is not None and replayed.post("/abmelden", {}).status_code == 302
    out.client.set_cookie("ratsflow", cookie.value)
    with out.client.session_transaction() as sess:
        sess["csrf"] = "t"
    page = out.client.post(f"/aufgaben/{task.id}", data={**NOTED, "version": version, "csrf_token": "t"})
    assert page.status_code == 302 and "/anmelden" in page.headers["Location"]
    assert snapshot(database) == before
    with database.unit_of_work() as s:
        reasons = [r.ended_reason for r in s.exec(select(logins.LoginSession).order_by(
            col(logins.LoginSession.id)))]
    assert reasons[-1] == logins.ENDED_LOGOUT
    assert idle.get("/aufgaben/").status_code == 302  # idle still: to the login page

    live = browser().login("hoffmann")
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == "hoffmann")).one()
        account.active = False
        s.add(account)
    assert live.client.post(f"/api/v1/tasks/{task.id}/complete",
                            json={"data": NOTED, "expected_version": version}).status_code == 401
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == "hoffmann")).one()
        account.active = True
        s.add(account)
    assert snapshot(database) == before

    client = browser().login("hoffmann")
    assert client.client.post("/api/v1/tasks/999999/complete",
                              json={"data": NOTED, "expected_version": version}).status_code == 404
    done = client.client.post(f"/api/v1/tasks/{task.id}/complete",
                              json={"data": NOTED, "expected_version": version})
    assert done.status_code == 200 and done.get_json()["task"]["completed_by"] == "hoffmann"


@pytest.mark.parametrize("data, field, message", [
    ({}, "meeting_id", "Pflichtfeld"),
    ({"meeting_id": "  "}, "meeting_id", "Pflichtfeld"),
    ({"meeting_id": "abc"}, "meeting_id", "Ungültiger Wert"),
    ({"meeting_id": 123456}, "meeting_id", "angebotenen Werte"),
    ({"meeting_id": "MEETING", "top_nummer": "x" * 21}, "top_nummer", "Höchstens 20 Zeichen"),
    ({"meeting_id": "MEETING", "tagesordnung": "1"}, "tagesordnung", "Unbekanntes Feld"),
])
def test_wrong_form_values_name_the_field(demo, database, actor, draft, data, field, message):  # type: ignore[no-untyped-def]
    task, version, meeting = agenda_task(database, actor, draft)
    data = {k: (meeting if v == "MEETING" else v) for k, v in data.items()}
    before = snapshot(database)
    with pytest.raises(Invalid) as caught:
        complete(database, actor("hoffmann"), task.id, data, version)
    assert field in caught.value.errors
    assert message in " ".join(caught.value.errors[field])
    assert snapshot(database) == before


def test_a_top_number_taken_in_that_session_is_refused_on_its_field(  # type: ignore[no-untyped-def]
        demo, database, actor, draft, browser):
    """Two Vorlagen cannot be TOP 1 of the same session; the next free number is still taken
    when none is given."""
    first, version, meeting = agenda_task(database, actor, draft, "2024/090")
    complete(database, actor("hoffmann"), first.id, {"meeting_id": meeting, "top_nummer": "1"}, version)
    second, version, _ = agenda_task(database, actor, draft, "2024/091")
    before = snapshot(database)
    page = browser().login("hoffmann").post(f"/aufgaben/{second.id}", {
        "meeting_id": meeting, "top_nummer": "1", "version": version})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'id="top_nummer-error"' in html and "TOP 1 ist in der Sitzung SI/2024/140 schon vergeben." in html
    assert snapshot(database) == before
    complete(database, actor("hoffmann"), second.id, {"meeting_id": meeting}, version)
    with database.unit_of_work() as s:
        numbers = sorted(n for n in s.exec(select(AgendaItem.number).where(AgendaItem.meeting_id == meeting)) if n)
    assert numbers == ["1", "2"]


def test_unknown_result_value_is_named_on_the_form(demo, database, actor, browser):  # type: ignore[no-untyped-def]
    result_task, version, _ = first_task(database)
    version -= 1  # as the checks below add one
    before = snapshot(database)
    client = browser().login("hoffmann")
    page = client.post(f"/aufgaben/{result_task.id}", {"ergebnis": "vertrödelt", "version": version + 1})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert 'id="ergebnis-error"' in html and "Bitte einen der angebotenen Werte wählen." in html
    assert 'aria-invalid="true" aria-describedby="ergebnis-error"' in html
    api = client.client.post(f"/api/v1/tasks/{result_task.id}/complete",
                             json={"data": {"ergebnis": "vertrödelt", "ja": -1}, "expected_version": version + 1})
    assert api.status_code == 422
    assert set(api.get_json()["errors"]) == {"ergebnis", "ja"}
    assert snapshot(database) == before


def test_vertagt_offers_a_later_session_and_keeps_history(demo, database, actor):  # type: ignore[no-untyped-def]
    secretary = actor("hoffmann")
    result_task, version, meeting = first_task(database)
    version -= 1
    complete(database, secretary, result_task.id, {"ergebnis": "vertagt"}, version + 1)
    with database.unit_of_work() as s:
        again = s.exec(select(HumanTask).where(HumanTask.status == TASK_READY, col(HumanTask.paper_id).is_not(None))).one()
        assert again.bpmn_id == "Tagesordnung" and again.organization_id == result_task.organization_id
        form, initial = procedures.task_form(s, again, now=NOW)
        later = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/140")).one()
        offered = [c.value for c in form.fields[0].choices]
        assert offered == [later]
        assert "meeting_id" not in initial  # the past session is not preselected
        assert again.context["postponed_in"] == demo.committee_meeting.start.date().isoformat()
    complete(database, secretary, again.id, {"meeting_id": later}, version + 2)
    with database.unit_of_work() as s:
        items = s.exec(select(AgendaItem).order_by(AgendaItem.id)).all()
        history = [(i.meeting_id, i.result) for i in items]
        assert history == [(meeting, "vertagt"), (later, None)]


def test_concurrent_completions_exactly_one_wins(demo, database, actor):  # type: ignore[no-untyped-def]
    task, version, _ = first_task(database)
    secretary = actor("hoffmann")
    outcomes = run_together(
        lambda: complete(database, secretary, task.id, NOTED, version), 4, Conflict)
    assert outcomes == ["409", "409", "409", "ok"]
    with database.unit_of_work() as s:
        assert s.get(ProcessInstance, task.process_instance_id).version == version + 1
        results = [i.result for i in s.exec(select(AgendaItem))]
        assert results == ["zur_kenntnis_genommen"]
        assert len(s.exec(select(HumanTask).where(HumanTask.status == TASK_READY, col(HumanTask.paper_id).is_not(None))).all()) == 1


def test_a_procedure_starts_once_even_when_asked_twice_at_once(database, actor, draft):  # type: ignore[no-untyped-def]
    paper_id = draft("2024/080", "Zweimal gestartet")
    clerk = actor("zierstedt")

    def start() -> None:
        with database.unit_of_work() as s:
            procedures.start_beratungsfolge(s, clerk, paper_id, now=NOW)

    assert run_together(start, 3, Conflict) == ["409", "409", "ok"]
    with database.unit_of_work() as s:
        assert len(s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper_id)).all()) == 1
        assert len(s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id)).all()) == 1


def test_a_completion_reads_only_the_chosen_session_of_a_gremium_with_many_ahead(  # type: ignore[no-untyped-def]
        demo, database, actor, draft):
    """The agenda step's choices are the Gremium's sessions ahead; completing it checks the one
    submitted, and does not read them all (a city's committee plans a year ahead): the rows
    of sessions the completion reads stay the same with 30 more sessions, and a session
    that is no choice (cancelled, another Gremium's) is still refused with its reason."""
    from datetime import timedelta

    from sqlalchemy import event

    task, version, later = agenda_task(database, actor, draft)
    with database.unit_of_work() as s:
        template = s.get(Meeting, later)
        other_gremium = s.exec(select(Meeting.id).where(Meeting.organization_id != template.organization_id,
                                                        col(Meeting.start) > NOW)).first()
        ahead = [Meeting(organization_id=template.organization_id, name=f"Weitere Sitzung {i}",
                         start=template.start + timedelta(days=7 * (i + 1))) for i in range(30)]
        cancelled = Meeting(organization_id=template.organization_id, name="Abgesagte Sitzung",
                            start=template.start + timedelta(days=3), cancelled=True)
        s.add_all([*ahead, cancelled])
        s.flush()
        cancelled_id = cancelled.id
    assert other_gremium is not None

    refused = {}
    for name, meeting_id in (("abgesagt", cancelled_id), ("anderes Gremium", other_gremium)):
        with pytest.raises(Invalid) as caught:
            complete(database, actor("hoffmann"), task.id, {"meeting_id": meeting_id}, version)
        refused[name] = caught.value.errors["meeting_id"]
    assert refused == {"abgesagt": ["Diese Sitzung ist abgesagt."],
                       "anderes Gremium": ["Bitte einen der angebotenen Werte wählen."]}

    read: list[int] = []
    with database.unit_of_work() as s:
        @event.listens_for(s, "do_orm_execute")
        def count_meetings(state):  # type: ignore[no-untyped-def]
            frozen = state.invoke_statement().freeze()
            read.append(sum(1 for row in frozen() for value in row if isinstance(value, Meeting)))
            return frozen()

        procedures.complete_task(s, actor("hoffmann"), task.id, {"meeting_id": later}, version, now=NOW)
        on_agenda = s.exec(select(AgendaItem.meeting_id).where(AgendaItem.meeting_id == later)).all()
    assert sum(read) <= 2, read  # the chosen session (and the planned one of the window, if any)
    assert on_agenda == [later]


def test_a_session_given_as_a_whole_float_is_taken_as_before(demo, database, actor, draft):  # type: ignore[no-untyped-def]
    """JSON clients may send 12.0 for 12: the form's number field takes it, and so does the
    check of the submitted session."""
    task, version, later = agenda_task(database, actor, draft)
    done = complete(database, actor("hoffmann"), task.id, {"meeting_id": float(later)}, version)
    with database.unit_of_work() as s:
        on_agenda = s.exec(select(AgendaItem.meeting_id).where(AgendaItem.consultation_id == task.consultation_id)).all()
    assert done.task.status != TASK_READY and on_agenda == [later]
