"""The secretaries' inbox: holders, comments, views, filters, keyset paging, the JSON API.

The seed's committee session lies a few days before the tests' clock, so its result step is
open; more Vorlagen are made with the ``draft`` factory and driven through the real verbs.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from engine import tasks
from engine.audit import AuditEvent
from engine.council import AgendaItem, Consultation, Meeting, Organization, Paper
from engine.errors import Conflict, Invalid
from engine.process import procedures
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask, TaskComment
from engine.workflow import runtime
from engine.workflow.models import ProcessInstance

from .conftest import NOW, on_agenda, run_together, text_of

NOTED = {"ergebnis": "zur_kenntnis_genommen"}


def seed_task(database) -> HumanTask:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(HumanTask).where(HumanTask.status == TASK_READY, col(HumanTask.paper_id).is_not(None))).one()


def version_of(database, task: HumanTask) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.get(ProcessInstance, task.process_instance_id).version  # type: ignore[no-any-return,union-attr]


def holder_state(database) -> list[tuple]:  # type: ignore[no-untyped-def,type-arg]
    with database.unit_of_work() as s:
        rows = s.exec(select(HumanTask).order_by(HumanTask.id)).all()
        # Refusals are recorded on their own (task.refused); nothing else may be written.
        events = s.exec(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action != "task.refused")).one()
        return [(t.id, t.status, t.assignee, t.owner, t.delegation) for t in rows] + [("events", events)]


# ----------------------------------------------------------------------------- holding a task

def test_claim_then_a_colleague_is_refused_naming_the_holder(demo, database, actor, colleague, browser):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    api = browser().login("hoffmann").client
    claimed = api.post(f"/api/v1/tasks/{task.id}/claim")
    assert claimed.status_code == 200
    assert claimed.get_json()["holder"] == "hoffmann"
    before = holder_state(database)

    weber = browser().login("weber")
    refused = weber.client.post(f"/api/v1/tasks/{task.id}/claim")
    assert refused.status_code == 409
    assert refused.get_json()["error"] == "Die Aufgabe wird von Lea Hoffmann (hoffmann) bearbeitet."
    completion = weber.client.post(f"/api/v1/tasks/{task.id}/complete",
                                   json={"data": NOTED, "expected_version": version_of(database, task)})
    assert completion.status_code == 409 and "Lea Hoffmann" in completion.get_json()["error"]
    page = weber.post(f"/aufgaben/{task.id}/uebernehmen", {})
    assert page.status_code == 409
    assert "Die Aufgabe wird von Lea Hoffmann (hoffmann) bearbeitet." in text_of(page.get_data(as_text=True))
    assert holder_state(database) == before

    with database.unit_of_work() as s:
        claimed_events = s.exec(select(AuditEvent).where(AuditEvent.action == "task.claimed")).all()
        assert [(e.actor, e.details["holder"]) for e in claimed_events] == [
            ("hoffmann", {"old": None, "new": "hoffmann"})]


def test_concurrent_claims_exactly_one_holder(demo, database, actor, colleague):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    people = iter([actor("hoffmann"), actor("weber")])

    def attempt() -> None:
        who = next(people)
        with database.unit_of_work() as s:
            tasks.claim(s, who, task.id, now=NOW)

    assert run_together(attempt, 2, Conflict) == ["409", "ok"]
    with database.unit_of_work() as s:
        holder = s.get(HumanTask, task.id).assignee
        events = s.exec(select(AuditEvent).where(AuditEvent.action == "task.claimed")).all()
    assert holder in {"hoffmann", "weber"}
    assert [e.actor for e in events] == [holder]


def test_assign_delegate_resolve_and_complete(demo, database, actor, colleague, browser):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    hoffmann, weber = actor("hoffmann"), actor("weber")
    with database.unit_of_work() as s:
        tasks.claim(s, hoffmann, task.id, now=NOW)
        tasks.delegate(s, hoffmann, task.id, "weber", now=NOW)
    with database.unit_of_work() as s:
        row = s.get(HumanTask, task.id)
        assert (row.assignee, row.owner, row.delegation) == ("weber", "hoffmann", "delegiert")
    # The delegate works on it but hands it back; the owner confirms by completing.
    with pytest.raises(Conflict, match="zurückgeben"):
        with database.unit_of_work() as s:
            procedures.complete_task(s, weber, task.id, NOTED, version_of(database, task), now=NOW)
    with pytest.raises(Conflict, match="delegiert"):
        with database.unit_of_work() as s:
            procedures.complete_task(s, hoffmann, task.id, NOTED, version_of(database, task), now=NOW)
    api = browser().login("weber").client
    resolved = api.post(f"/api/v1/tasks/{task.id}/resolve")
    assert resolved.status_code == 200
    assert (resolved.get_json()["holder"], resolved.get_json()["delegation"]) == ("hoffmann", "zurückgegeben")
    with database.unit_of_work() as s:
        procedures.complete_task(s, hoffmann, task.id, NOTED, version_of(database, task), now=NOW)
        actions = [(e.action, e.actor, e.details.get("holder")) for e in s.exec(
            select(AuditEvent).where(AuditEvent.action.like("task.%")).order_by(AuditEvent.seq))  # type: ignore[attr-defined]
            if e.details.get("task_id") == task.id]
    assert actions == [
        ("task.claimed", "hoffmann", {"old": None, "new": "hoffmann"}),
        ("task.delegated", "hoffmann", {"old": "hoffmann", "new": "weber"}),
        ("task.resolved", "weber", {"old": "weber", "new": "hoffmann"}),
        ("task.completed", "hoffmann", None),
    ]


def test_assign_only_within_the_group_and_by_the_holder(demo, database, actor, colleague, browser):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    hoffmann = browser().login("hoffmann").client
    outsider = hoffmann.post(f"/api/v1/tasks/{task.id}/assign", json={"user": "schmitz"})
    assert outsider.status_code == 422
    assert "Jonas Schmitz gehört nicht zur Gruppe" in outsider.get_json()["errors"]["user"][0]
    unknown = hoffmann.post(f"/api/v1/tasks/{task.id}/assign", json={"user": "niemand\x00"})
    assert unknown.status_code == 422 and "user" in unknown.get_json()["errors"]
    assert hoffmann.post(f"/api/v1/tasks/{task.id}/assign", json={}).status_code == 422
    assigned = hoffmann.post(f"/api/v1/tasks/{task.id}/assign", json={"user": "weber"})
    assert assigned.status_code == 200 and assigned.get_json()["holder"] == "weber"
    # Now held by Weber: Hoffmann can no longer hand it on; the admin can.
    before = holder_state(database)
    again = hoffmann.post(f"/api/v1/tasks/{task.id}/assign", json={"user": "hoffmann"})
    assert again.status_code == 409 and "Sabine Weber (weber)" in again.get_json()["error"]
    assert hoffmann.post(f"/api/v1/tasks/{task.id}/unclaim").status_code == 409
    assert holder_state(database) == before
    admin = browser().login("admin").client
    assert admin.post(f"/api/v1/tasks/{task.id}/assign", json={"user": "hoffmann"}).get_json()["holder"] == "hoffmann"
    unclaimed = hoffmann.post(f"/api/v1/tasks/{task.id}/unclaim")
    assert unclaimed.status_code == 200 and unclaimed.get_json()["holder"] is None


def test_other_gremium_unknown_task_and_anonymous(demo, database, browser):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    before = holder_state(database)
    schmitz = browser().login("schmitz").client
    for verb in ("claim", "unclaim", "comments"):
        assert schmitz.post(f"/api/v1/tasks/{task.id}/{verb}", json={"text": "x"}).status_code == 403
    assert schmitz.get(f"/api/v1/tasks/{task.id}").status_code == 403
    assert schmitz.post("/api/v1/tasks/999999/claim").status_code == 404
    assert browser().client.post(f"/api/v1/tasks/{task.id}/claim").status_code == 401
    assert browser().client.get("/api/v1/tasks").status_code == 401
    # A write from another site's page is refused even with the session cookie.
    hoffmann = browser().login("hoffmann").client
    assert hoffmann.post(f"/api/v1/tasks/{task.id}/claim",
                         headers={"Origin": "https://evil.example"}).status_code == 403
    assert holder_state(database) == before


def test_comments_are_kept_shown_and_audited(demo, database, browser):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    hoffmann = browser().login("hoffmann")
    made = hoffmann.client.post(f"/api/v1/tasks/{task.id}/comments",
                                json={"text": "  Bitte Anlage 2 nachreichen.  "})
    assert made.status_code == 201
    assert hoffmann.post(f"/aufgaben/{task.id}/kommentare", {"text": "Liegt vor."}).status_code == 302
    for bad, message in [("", "Pflichtfeld"), ("x\x00y", "NUL"), ("x" * 5001, "Höchstens 5000")]:
        refused = hoffmann.client.post(f"/api/v1/tasks/{task.id}/comments", json={"text": bad})
        assert refused.status_code == 422 and message in refused.get_json()["errors"]["text"][0]
    assert hoffmann.client.post(f"/api/v1/tasks/{task.id}/comments", json={"text": 5}).status_code == 422
    detail = hoffmann.client.get(f"/api/v1/tasks/{task.id}").get_json()
    assert [(c["author"], c["text"]) for c in detail["comments"]] == [
        ("hoffmann", "Bitte Anlage 2 nachreichen."), ("hoffmann", "Liegt vor.")]
    page = text_of(hoffmann.get(f"/aufgaben/{task.id}").get_data(as_text=True))
    assert re.search(r"Kommentare Lea Hoffmann, \d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr Bitte Anlage 2 nachreichen\.", page)
    with database.unit_of_work() as s:
        assert len(s.exec(select(TaskComment)).all()) == 2
        texts = [e.details["text"] for e in s.exec(select(AuditEvent).where(
            AuditEvent.action == "task.commented").order_by(col(AuditEvent.seq)))]
        assert texts == ["Bitte Anlage 2 nachreichen.", "Liegt vor."]


def test_follow_up_is_set_by_the_holder(demo, database, browser, colleague):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    hoffmann = browser().login("hoffmann")
    assert hoffmann.client.post(f"/api/v1/tasks/{task.id}/follow-up",
                                json={"follow_up": "2026-11-30"}).status_code == 409  # not held
    hoffmann.client.post(f"/api/v1/tasks/{task.id}/claim")
    done = hoffmann.post(f"/aufgaben/{task.id}/wiedervorlage", {"follow_up": "30.11.2026"})
    assert done.status_code == 302
    assert hoffmann.client.get(f"/api/v1/tasks/{task.id}").get_json()["follow_up"] == "2026-11-30"
    bad = hoffmann.post(f"/aufgaben/{task.id}/wiedervorlage", {"follow_up": "31.02.2026"})
    assert bad.status_code == 422 and 'id="follow_up-error"' in bad.get_data(as_text=True)
    assert browser().login("weber").client.post(
        f"/api/v1/tasks/{task.id}/follow-up", json={"follow_up": None}).status_code == 409


# ----------------------------------------------------------------------------- the API's contract

def test_task_list_contract(demo, database, browser):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    body = browser().login("hoffmann").client.get("/api/v1/tasks").get_json()
    assert set(body) == {"tasks", "next"} and body["next"] is None
    # The seed's result step, and the minutes of the session it was on (its session process).
    assert sorted(t["title"] for t in body["tasks"]) == ["Ergebnis erfassen", "Niederschrift zur Zeichnung vorlegen"]
    (only,) = [t for t in body["tasks"] if t["id"] == task.id]
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
        paper = s.get(Paper, demo.paper_id)
        committee = s.get(Organization, meeting.organization_id)
    start = meeting.start.astimezone(TIMEZONE)
    assert only["id"] == task.id and only["title"] == "Ergebnis erfassen" and only["form"] == "ergebnis"
    assert only["status"] == "bereit" and only["holder"] is None
    assert only["candidate_group"] == f"Sekretariat:{committee.id}"
    assert only["paper"] == {"id": paper.id, "reference": "2024/063", "name": paper.name,
                             "paper_type": "Standardvorlage"}
    assert only["meeting"]["id"] == meeting.id and only["meeting"]["name"] == meeting.name
    assert datetime.fromisoformat(only["meeting"]["start"]) == meeting.start
    assert only["meeting"]["start"].endswith(start.strftime("%z")[:3] + ":" + start.strftime("%z")[3:])
    assert only["version"] == version_of(database, task)
    # Due three working days after the session (the default rule); the session was on a Friday.
    assert date.fromisoformat(only["due"]) == date(2026, 11, 25)
    assert only["due_soon"] is True and only["overdue"] is False
    assert only["agenda_item_number"] == "5" and only["role"] == "Kenntnisnahme"


def test_task_detail_gives_the_schema_with_choices(demo, database, actor, draft, browser):  # type: ignore[no-untyped-def]
    task = seed_task(database)
    client = browser().login("hoffmann").client
    detail = client.get(f"/api/v1/tasks/{task.id}").get_json()
    result = detail["schema"]["properties"]["ergebnis"]
    # A Kenntnisnahme offers "zur Kenntnis genommen" and the procedural results, no votes on a decision.
    assert [c["const"] for c in result["oneOf"]] == ["zur_kenntnis_genommen", "vertagt", "verwiesen",
                                                     "zurueckgezogen"]
    assert "Kenntnisnahme" in result["description"]
    assert detail["schema"]["required"] == ["ergebnis"] and detail["blocked"] is None

    paper_id = draft("2024/091", "Sitzungswahl per API")
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW)
        agenda = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id)).one()
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
    schema = client.get(f"/api/v1/tasks/{agenda.id}").get_json()["schema"]
    sessions = schema["properties"]["meeting_id"]["oneOf"]
    assert [c["const"] for c in sessions] == [later.id]  # SI/2024/131 lies in the past
    assert "SI/2024/140" in sessions[0]["title"]
    english = client.get(f"/api/v1/tasks/{agenda.id}?lang=en").get_json()
    assert english["title"] == "Put on the agenda" and english["schema"]["title"] == "Put on the agenda"


@pytest.mark.parametrize("query, field", [
    ("view=alle", "view"), ("limit=0", "limit"), ("limit=abc", "limit"), ("limit=201", "limit"),
    ("organization=99999999999999", "organization"), ("meeting=-1", "meeting"),
    ("cursor=kaputt", "cursor"), ("q=a%00b", "q"), ("overdue=vielleicht", "overdue"), ("sort=name", "sort"),
])
def test_bad_list_parameters_are_named(demo, browser, query, field):  # type: ignore[no-untyped-def]
    response = browser().login("hoffmann").client.get(f"/api/v1/tasks?{query}")
    assert response.status_code == 422
    assert field in response.get_json()["errors"]
    page = browser().login("hoffmann").get(f"/aufgaben/?{query}")
    expected = "Das Feld „q“ enthält ein unzulässiges Steuerzeichen." if field == "q" else "Filter bitte prüfen."
    assert page.status_code == 422 and expected in text_of(page.get_data(as_text=True))


def test_views_filters_and_keyset_paging(demo, database, actor, draft, colleague, browser):  # type: ignore[no-untyped-def]
    ids = [on_agenda(database, actor, draft, f"2024/0{80 + i}", name)
           for i, name in enumerate(["Straßenbahn Aachen–Vaals", "Breitbandausbau Eifel",
                                     "Grundsteuer-Hebesätze", "ÖPNV-Anbindung Brand"])]
    hoffmann = browser().login("hoffmann").client

    def label(task: dict) -> str:  # type: ignore[type-arg]
        return task["paper"]["reference"] if task["paper"] else task["meeting"]["reference"]

    def listed(query: str, client=hoffmann) -> list[str]:  # type: ignore[no-untyped-def]
        body = client.get(f"/api/v1/tasks?{query}").get_json()
        return [label(t) for t in body["tasks"]]

    everything = listed("")
    # SI/2024/131: the minutes of the session held (its session process's step).
    assert sorted(everything) == ["2024/063", "2024/080", "2024/081", "2024/082", "2024/083", "SI/2024/131"]
    # Paging: two at a time along (due, id), a stable order, nothing twice, nothing missing.
    pages, cursor = [], ""
    while True:
        body = hoffmann.get(f"/api/v1/tasks?limit=2{cursor}").get_json()
        pages.append([label(t) for t in body["tasks"]])
        if body["next"] is None:
            break
        cursor = f"&cursor={body['next']}"
    assert [len(p) for p in pages] == [2, 2, 2] and sum(pages, []) == everything
    # A cursor belongs to its view: another view refuses it.
    first = hoffmann.get("/api/v1/tasks?limit=2").get_json()["next"]
    assert hoffmann.get(f"/api/v1/tasks?view=group&limit=2&cursor={first}").status_code == 422

    # German-aware text search: case, ß = ss, umlauts.
    assert listed("q=STRASSENBAHN") == ["2024/080"]
    assert listed("q=öpnv") == ["2024/083"]
    assert listed("q=2024%2F082") == ["2024/082"]
    assert listed("q=100%25") == []

    # Views: claim one, assign one to the colleague.
    with database.unit_of_work() as s:
        mine = s.exec(select(HumanTask).where(HumanTask.paper_id == ids[0], HumanTask.status == TASK_READY)).one()
        theirs = s.exec(select(HumanTask).where(HumanTask.paper_id == ids[1], HumanTask.status == TASK_READY)).one()
    hoffmann.post(f"/api/v1/tasks/{mine.id}/claim")
    hoffmann.post(f"/api/v1/tasks/{theirs.id}/assign", json={"user": "weber"})
    assert listed("view=mine") == ["2024/080"]
    assert sorted(listed("view=group")) == ["2024/063", "2024/082", "2024/083", "SI/2024/131"]
    assert sorted(listed("view=gremium")) == sorted(everything)
    assert listed("holder=weber") == ["2024/081"]
    assert sorted(listed("holder=-")) == ["2024/063", "2024/082", "2024/083", "SI/2024/131"]
    assert listed("view=mine", browser().login("weber").client) == ["2024/081"]
    assert listed("view=gremium", browser().login("schmitz").client) == []

    # Filters: session, step, Vorlage-Art, overdue and due soon (by the clock).
    with database.unit_of_work() as s:
        session_id = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/131")).one()
        committee = s.exec(select(Organization.id).where(Organization.short_name == "AWSG")).one()
    assert len(listed(f"meeting={session_id}")) == 6
    assert len(listed(f"organization={committee}&form=ergebnis")) == 5
    assert listed("form=tagesordnung") == []
    assert listed("paper_type=Beschlussvorlage") == []
    assert len(listed("paper_type=Standardvorlage")) == 5
    assert len(listed("due_soon=true")) == 6 and listed("overdue=true") == []
    # Done: completed by me, newest first.
    version = version_of(database, mine)
    hoffmann.post(f"/api/v1/tasks/{mine.id}/complete", json={"data": NOTED, "expected_version": version})
    assert listed("view=done")[0] == "2024/080"
    assert "2024/080" not in listed("view=gremium")


def test_overdue_tasks_stand_out_in_words(demo, database, browser, clock):  # type: ignore[no-untyped-def]
    clock.move(days=2)  # the seed's result step was due 25.11.2026
    page = browser().login("hoffmann").get("/aufgaben/")
    html = page.get_data(as_text=True)
    row = text_of(re.search(r"<tr class=\"overdue\">.*?</tr>", html, re.S).group(0))  # type: ignore[union-attr]
    assert "25.11.2026 überfällig" in row
    assert "2024/063" in row
    overdue = browser().login("hoffmann").client.get("/api/v1/tasks?overdue=true").get_json()["tasks"]
    assert [(t["title"], t["overdue"]) for t in overdue] == [("Ergebnis erfassen", True),
                                                             ("Niederschrift zur Zeichnung vorlegen", True)]


def test_listing_never_deserializes_a_workflow(demo, database, actor, draft, browser, monkeypatch):  # type: ignore[no-untyped-def]
    on_agenda(database, actor, draft, "2024/084", "Ohne Wiederherstellung")

    def forbidden(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("the inbox restored a workflow")

    monkeypatch.setattr(runtime, "restore", forbidden)
    monkeypatch.setattr(runtime.SERIALIZER, "state_from_json", forbidden)
    client = browser().login("hoffmann")
    for url in ["/aufgaben/", "/aufgaben/?view=group&q=wieder", "/aufgaben/liste?view=gremium",
                "/api/v1/tasks", "/api/v1/tasks?view=gremium&sort=created&limit=1",
                "/api/v1/tasks?view=done"]:
        assert client.get(url).status_code == 200, url


# ----------------------------------------------------------------------------- the Beratungsfolge's rules

def test_result_before_its_session_is_refused_and_changes_nothing(demo, database, actor, draft, browser):  # type: ignore[no-untyped-def]
    paper_id = on_agenda(database, actor, draft, "2024/085", "Künftige Sitzung", meeting_ref="SI/2024/140")
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
    before = holder_state(database)
    client = browser().login("hoffmann").client
    refused = client.post(f"/api/v1/tasks/{task.id}/complete",
                          json={"data": NOTED, "expected_version": version_of(database, task)})
    start = meeting.start.astimezone(TIMEZONE)
    assert refused.status_code == 409
    assert refused.get_json()["error"] == (
        f"Das Ergebnis kann erst erfasst werden, wenn die Sitzung begonnen hat: "
        f"{start:%d.%m.%Y} um {start:%H:%M} Uhr.")
    assert client.get(f"/api/v1/tasks/{task.id}").get_json()["blocked"] == refused.get_json()["error"]
    assert holder_state(database) == before


def test_three_steps_with_vertagt_keep_their_order(demo, database, actor, browser, clock):  # type: ignore[no-untyped-def]
    """Vorberatung (AWSG) → Entscheidung (VV), vertagt → Kenntnisnahme (AWSG), planned too early."""
    with database.unit_of_work() as s:
        org = {o.short_name: o for o in s.exec(select(Organization))}
        meeting = {m.reference: m for m in s.exec(select(Meeting))}
        seed = s.get(Paper, demo.paper_id)
        paper = Paper(body_id=seed.body_id, reference="2024/086", name="Regionalplan Fortschreibung",
                      paper_type="Beschlussvorlage", under_direction_of_id=seed.under_direction_of_id)
        s.add(paper)
        s.flush()
        for position, (short, role, ref) in enumerate([("AWSG", "Vorberatung", "SI/2024/131"),
                                                       ("VV", "Entscheidung", "SI/2024/128"),
                                                       ("AWSG", "Kenntnisnahme", "SI/2024/140")], start=1):
            s.add(Consultation(paper_id=paper.id, position=position, organization_id=org[short].id,
                               meeting_id=meeting[ref].id, role=role))
        paper_id = paper.id
    clerk, committee, assembly = actor("zierstedt"), actor("hoffmann"), actor("schmitz")

    def step(who, data, now):  # type: ignore[no-untyped-def]
        with database.unit_of_work() as s:
            task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                                  HumanTask.status == TASK_READY)).one()
            version = s.get(ProcessInstance, task.process_instance_id).version
            procedures.complete_task(s, who, task.id, data, version, now=now)

    def open_task():  # type: ignore[no-untyped-def]
        with database.unit_of_work() as s:
            return s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                                  HumanTask.status == TASK_READY)).one()

    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, clerk, paper_id, now=NOW - timedelta(weeks=3))
    step(committee, {"meeting_id": meeting["SI/2024/131"].id}, NOW - timedelta(weeks=2))
    # A Vorberatung offers a Beschlussempfehlung, not "beschlossen".
    with pytest.raises(Invalid) as wrong:
        step(committee, {"ergebnis": "beschlossen"}, NOW)
    assert wrong.value.errors["ergebnis"] == ["Bitte einen der angebotenen Werte wählen."]
    step(committee, {"ergebnis": "empfohlen"}, NOW)
    step(assembly, {"meeting_id": meeting["SI/2024/128"].id, "top_nummer": "4"}, NOW)
    after_assembly = meeting["SI/2024/128"].start + timedelta(hours=3)
    with pytest.raises(Invalid) as decision:
        step(assembly, {"ergebnis": "zur_kenntnis_genommen"}, after_assembly)
    assert "ergebnis" in decision.value.errors
    step(assembly, {"ergebnis": "vertagt"}, after_assembly)

    # Postponed: the new agenda step says where, and offers only later sessions.
    again = open_task()
    assert again.context["postponed_in"] == meeting["SI/2024/128"].start.astimezone(TIMEZONE).date().isoformat()
    with database.unit_of_work() as s:
        form, initial = procedures.task_form(s, again, now=after_assembly)
    assert [c.value for c in form.fields[0].choices] == [meeting["SI/2024/141"].id]
    assert "meeting_id" not in initial
    clock.now = after_assembly
    page = text_of(browser().login("schmitz").get("/aufgaben/").get_data(as_text=True))
    day = meeting["SI/2024/128"].start.astimezone(TIMEZONE)
    assert f"vertagt in der Sitzung vom {day:%d.%m.%Y}" in page
    with pytest.raises(Invalid) as same:
        step(assembly, {"meeting_id": meeting["SI/2024/128"].id}, after_assembly)
    assert same.value.errors["meeting_id"] == [
        f"Die Beratung wurde in der Sitzung vom {day:%d.%m.%Y} vertagt; bitte eine spätere Sitzung wählen."]

    # Postponed past the session planned for the next Beratung: that one is flagged.
    step(assembly, {"meeting_id": meeting["SI/2024/141"].id}, after_assembly)
    vorlage = text_of(browser().get(f"/vorlagen/{paper_id}").get_data(as_text=True))
    assert "Geplante Sitzung liegt vor der Sitzung der vorigen Beratung – bitte neu planen." in vorlage
    after_141 = meeting["SI/2024/141"].start + timedelta(hours=3)
    step(assembly, {"ergebnis": "beschlossen"}, after_141)
    third = open_task()
    assert third.organization_id == org["AWSG"].id
    assert "liegt nicht nach der Sitzung der vorigen Beratung" in third.context["order_conflict"]
    clock.now = after_141
    inbox = text_of(browser().login("hoffmann").get("/aufgaben/").get_data(as_text=True))
    assert "Reihenfolge: Die Sitzung am" in inbox
    # Choosing the session before the previous Beratung's is refused with a clear message.
    with pytest.raises(Invalid) as early:
        step(committee, {"meeting_id": meeting["SI/2024/140"].id}, after_141)
    previous_day = meeting["SI/2024/141"].start.astimezone(TIMEZONE)
    assert early.value.errors["meeting_id"] == [
        f"Die Sitzung am {meeting['SI/2024/140'].start.astimezone(TIMEZONE):%d.%m.%Y} liegt nicht nach der "
        f"Sitzung der vorigen Beratung (Verbandsversammlung des Region Aachen Zweckverband, "
        f"{previous_day:%d.%m.%Y})."]
    with database.unit_of_work() as s:
        items = s.exec(select(AgendaItem).join(Consultation).where(Consultation.paper_id == paper_id)
                       .order_by(AgendaItem.id)).all()
        assert [i.result for i in items] == ["empfohlen", "vertagt", "beschlossen"]
        # TOP 4 as given; without a number the next free TOP of that agenda.
        assert items[1].number == "4" and all(i.number and i.number.isdigit() for i in items)


# ----------------------------------------------------------------------------- bulk Kenntnisnahme

def test_bulk_kenntnisnahme_each_its_own_completion(demo, database, actor, draft, browser):  # type: ignore[no-untyped-def]
    ids = [on_agenda(database, actor, draft, f"2024/09{i}", f"Bericht {i}") for i in range(3)]
    with database.unit_of_work() as s:
        rows = {t.paper_id: t for t in s.exec(select(HumanTask).where(HumanTask.status == TASK_READY, col(HumanTask.paper_id).is_not(None)))}
        versions = {t.id: s.get(ProcessInstance, t.process_instance_id).version for t in rows.values()}
    hoffmann = browser().login("hoffmann")
    page = hoffmann.get("/aufgaben/?meeting=" + str(rows[ids[0]].meeting_id)).get_data(as_text=True)
    assert page.count('name="task"') == 4  # the seed and the three
    stale = rows[ids[2]].id
    form = {"task": [rows[i].id for i in ids], "back": "/aufgaben/"}
    form.update({f"version-{t}": v for t, v in versions.items()})
    form[f"version-{stale}"] = versions[stale] + 7  # someone else moved it on meanwhile
    response = hoffmann.post("/aufgaben/kenntnisnahme", form)
    assert response.status_code == 302
    shown = text_of(hoffmann.get("/aufgaben/").get_data(as_text=True))
    assert "Zur Kenntnis genommen: 2024/090 (Ergebnis erfassen), 2024/091 (Ergebnis erfassen)" in shown
    assert "Nicht erledigt – 2024/092 (Ergebnis erfassen): Der Vorgang wurde inzwischen geändert" in shown
    with database.unit_of_work() as s:
        results = {c.paper_id: i.result for i, c in s.exec(
            select(AgendaItem, Consultation).join(Consultation)) if c.paper_id in ids}
        completions = s.exec(select(AuditEvent).where(AuditEvent.action == "task.completed",
                                                      AuditEvent.at == NOW)).all()
    assert results == {ids[0]: "zur_kenntnis_genommen", ids[1]: "zur_kenntnis_genommen", ids[2]: None}
    assert len(completions) == 2


# ----------------------------------------------------------------------------- pages on the way

def test_error_pages_in_the_layout_german_and_english(demo, database, browser, app):  # type: ignore[no-untyped-def]
    @app.get("/kaputt")
    def broken():  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    client = browser().login("schmitz")
    task = seed_task(database)
    missing = client.get("/gibt-es-nicht")
    assert missing.status_code == 404
    page = text_of(missing.get_data(as_text=True))
    assert "Fehler 404: Nicht gefunden" in page and "Seite nicht gefunden." in page and "Aufgaben" in page
    english = text_of(client.get("/gibt-es-nicht?lang=en").get_data(as_text=True))
    assert "Error 404" in english and "Page not found." in english
    forbidden = client.get(f"/aufgaben/{task.id}?lang=de")
    assert forbidden.status_code == 403 and "Keine Berechtigung" in text_of(forbidden.get_data(as_text=True))
    assert "Not Found" not in page and "Forbidden" not in text_of(forbidden.get_data(as_text=True))

    app.config["PROPAGATE_EXCEPTIONS"] = False
    crashed = browser().get("/kaputt")
    assert crashed.status_code == 500
    text = text_of(crashed.get_data(as_text=True))
    assert "Fehler 500" in text and "protokolliert" in text and "boom" not in text


def test_saved_filters_per_user(demo, database, browser, colleague):  # type: ignore[no-untyped-def]
    hoffmann = browser().login("hoffmann")
    with database.unit_of_work() as s:
        session_id = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/131")).one()
    saved = hoffmann.post("/aufgaben/filter", {"name": "Ausschuss 20.11.", "view": "group",
                                               "meeting": str(session_id), "q": "bericht"})
    assert saved.status_code == 302 and f"meeting={session_id}" in saved.headers["Location"]
    page = hoffmann.get("/aufgaben/").get_data(as_text=True)
    link = re.search(r'<a href="(/aufgaben/\?[^"]+)">Ausschuss 20\.11\.</a>', page)
    assert link is not None
    shown = text_of(hoffmann.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True))
    assert "2024/063" in shown
    # Another user does not see it; a name is required; deleting is the owner's alone.
    assert "Ausschuss 20.11." not in browser().login("weber").get("/aufgaben/").get_data(as_text=True)
    assert hoffmann.post("/aufgaben/filter", {"name": "", "view": "group"}).status_code == 422
    with database.unit_of_work() as s:
        from engine.tasks import SavedFilter

        (row,) = s.exec(select(SavedFilter)).all()
    assert browser().login("weber").post(f"/aufgaben/filter/{row.id}/loeschen", {}).status_code == 404
    assert hoffmann.post(f"/aufgaben/filter/{row.id}/loeschen", {}).status_code == 302
    with database.unit_of_work() as s:
        assert s.exec(select(SavedFilter)).all() == []
