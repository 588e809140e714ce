"""How the inbox reads at scale (issue 16): lean rows, the page before its joins, trigrams.

The listing reads plain rows (no ORM objects), cuts the page from ``human_task`` alone before
joining what a row shows, builds the API's JSON without marshmallow and, on PostgreSQL, finds
``q=`` through a trigram index. None of that may change what a user sees: these tests hold the
rows, their order across pages and the JSON to what they were.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from flask import url_for
from sqlalchemy import text
from sqlmodel import Session, col, select

from engine.council import PAPER_TYPES, Meeting, Paper
from engine.inbox import InboxQuery, InboxRow, list_tasks
from engine.process import procedures
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from web.api import task_json
from web.api_schemas import TaskOut

from .conftest import NOW, on_agenda, text_of

TODAY = NOW.astimezone(TIMEZONE).date()
NAMES = ["Straßenbahn Aachen–Vaals", "Breitbandausbau Eifel", "Grundsteuer-Hebesätze 100%",
         "ÖPNV-Anbindung Brand", "Radweg an der L_233", "Radweg Vaalser Straße", "Schulweg Brand"]


def _inbox(database, actor, draft):  # type: ignore[no-untyped-def]
    """Open tasks of every kind for hoffmann: on a Sitzung's agenda (due dates), without a due
    date (the second keyset segment), held, delegated, with a follow-up date,
    two Vorlage-Arten; and completed ones (the done view)."""
    hoffmann = actor("hoffmann")
    ids = [on_agenda(database, actor, draft, f"2024/{80 + i:03d}", name) for i, name in enumerate(NAMES[:5])]
    for i, name in enumerate(NAMES[5:]):
        paper_id = draft(f"2024/{90 + i:03d}", name)
        with database.unit_of_work() as s:
            procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW - timedelta(days=2))
        with database.unit_of_work() as s:  # as a step without a deadline has it
            for task in s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id)):
                task.due = None
                s.add(task)
    with database.unit_of_work() as s:
        s.get(Paper, ids[1]).paper_type = PAPER_TYPES[1]  # type: ignore[union-attr]
        open_tasks = {t.paper_id: t.id for t in s.exec(select(HumanTask).where(
            HumanTask.status == TASK_READY, col(HumanTask.paper_id).in_(ids)))}
    with database.unit_of_work() as s:
        procedures.complete_task(s, hoffmann, open_tasks[ids[4]], {"ergebnis": "zur_kenntnis_genommen"},
                                 _version(s, open_tasks[ids[4]]), now=NOW)
    from engine import tasks
    with database.unit_of_work() as s:
        tasks.claim(s, hoffmann, open_tasks[ids[0]], now=NOW)
        tasks.set_follow_up(s, hoffmann, open_tasks[ids[0]], TODAY + timedelta(days=3), now=NOW)
        tasks.claim(s, hoffmann, open_tasks[ids[2]], now=NOW)
    return ids


def _version(s, task_id: int) -> int:  # type: ignore[no-untyped-def]
    from engine.workflow.models import ProcessInstance
    task = s.get(HumanTask, task_id)
    return s.get(ProcessInstance, task.process_instance_id).version  # type: ignore[no-any-return]


def _listed(database, who, **query) -> list[InboxRow]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return list_tasks(s, who, InboxQuery(**query), TODAY).rows


def _paged(database, who, limit: int, **query) -> list[int]:  # type: ignore[no-untyped-def]
    seen: list[int] = []
    cursor = None
    while True:
        with database.unit_of_work() as s:
            page = list_tasks(s, who, InboxQuery(limit=limit, cursor=cursor, **query), TODAY)
        seen += [r.task.id for r in page.rows]
        assert len(page.rows) <= limit
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@pytest.mark.parametrize("query", [
    {}, {"sort": "created"}, {"view": "group"}, {"view": "mine"}, {"view": "done"},
    {"q": "radweg"}, {"q": "brand", "sort": "created"}, {"paper_type": PAPER_TYPES[0]},
    {"holder": "-"}, {"form": "ergebnis"},
])
def test_paging_gives_every_row_once_in_order(demo, database, actor, draft, query):  # type: ignore[no-untyped-def]
    _inbox(database, actor, draft)
    hoffmann = actor("hoffmann")
    everything = [r.task.id for r in _listed(database, hoffmann, limit=200, **query)]
    assert everything, query
    for limit in (1, 2, 3):
        paged = _paged(database, hoffmann, limit, **query)
        assert paged == everything, (query, limit)
    if not query:  # both keyset segments are walked: due dates, then tasks without one
        dues = [r.task.due for r in _listed(database, hoffmann, limit=200)]
        assert None in dues and dues[0] is not None
        assert dues.index(None) == len([d for d in dues if d is not None])


def test_rows_show_what_the_joined_objects_hold(demo, database, actor, draft):  # type: ignore[no-untyped-def]
    ids = _inbox(database, actor, draft)
    rows = {r.task.paper_id: r for r in _listed(database, actor("hoffmann"), limit=200)}
    with database.unit_of_work() as s:
        for paper_id in ids[:4]:
            row, paper = rows[paper_id], s.get(Paper, paper_id)
            task = s.get(HumanTask, row.task.id)
            meeting = s.get(Meeting, task.meeting_id) if task.meeting_id else None
            assert (row.paper.reference, row.paper.name, row.paper.paper_type) == (  # type: ignore[union-attr]
                paper.reference, paper.name, paper.paper_type)  # type: ignore[union-attr]
            assert row.organization is not None and row.organization.id == task.organization_id
            assert (row.meeting.id, row.meeting.start) == (meeting.id, meeting.start)  # type: ignore[union-attr]
            assert (row.task.title, row.task.due, row.task.assignee, row.task.context) == (
                task.title, task.due, task.assignee, task.context)


def _reference_json(row: InboxRow, english: bool) -> dict:  # type: ignore[type-arg]
    """The API row as marshmallow dumps it through ``TaskOut`` (the documented contract)."""
    t, top = row.task, row.task.context.get("top")
    meeting = None if row.meeting is None else {
        "id": row.meeting.id, "name": row.meeting.name, "reference": row.meeting.reference,
        "start": row.meeting.start.astimezone(TIMEZONE)}
    return TaskOut().dump({  # type: ignore[no-any-return]
        "id": t.id, "title": t.context.get("title_en", t.title) if english else t.title,
        "form": t.form_key, "step": t.bpmn_id, "status": t.status, "due": t.due,
        "overdue": row.overdue, "due_soon": row.due_soon, "follow_up": t.follow_up,
        "holder": t.assignee, "owner": t.owner, "delegation": t.delegation,
        "candidate_group": None if t.lane is None else (
            t.lane if t.organization_id is None else f"{t.lane}:{t.organization_id}"),
        "organization": row.organization, "paper": row.paper, "meeting": meeting,
        "agenda_item_number": None if top is None else str(top),
        "role": (t.context.get("beratung") or {}).get("role"),
        "notes": {k: t.context[k] for k in ("postponed_in", "order_conflict") if k in t.context},
        "created": t.created, "completed": t.completed, "completed_by": t.completed_by,
        "version": row.version,
    })


@pytest.mark.parametrize("language", ["de", "en"])
def test_api_rows_equal_the_schemas_dump(demo, database, actor, draft, colleague, app, language):  # type: ignore[no-untyped-def]
    _inbox(database, actor, draft)
    hoffmann = actor("hoffmann")
    with database.unit_of_work() as s:  # a delegated one: holder, owner and delegation set
        held = s.exec(select(HumanTask).where(HumanTask.assignee == "hoffmann",
                                              HumanTask.status == TASK_READY)).first()
        from engine import tasks
        tasks.delegate(s, hoffmann, held.id, colleague, now=NOW)  # type: ignore[union-attr]
    rows = _listed(database, hoffmann, limit=200) + _listed(database, hoffmann, view="done", limit=200)
    kinds = {(r.paper is None, r.meeting is None, r.task.due is None, r.task.completed is None,
              r.task.delegation, r.task.follow_up is None) for r in rows}
    assert len(kinds) >= 5, kinds
    with app.test_request_context(f"/?lang={language}"):
        for row in rows:
            assert task_json(row) == _reference_json(row, language == "en"), row.task.id


def test_list_links_are_the_routes(demo, database, actor, draft, browser, app):  # type: ignore[no-untyped-def]
    """The list builds the task and claim URLs once per page, not per row: they stay the routes'."""
    _inbox(database, actor, draft)
    html = browser().login("hoffmann").get("/aufgaben/").get_data(as_text=True)
    links = re.findall(r'<td><a href="([^"]+)">', html)
    claims = re.findall(r'<form method="post" action="([^"]+)" class="inline">\s*<input type="hidden" '
                        r'name="csrf_token" value="[^"]+">\s*<button type="submit" class="secondary small"', html)
    ids = [r.task.id for r in _listed(database, actor("hoffmann"))]
    unheld = [r.task.id for r in _listed(database, actor("hoffmann")) if r.task.assignee is None]
    with app.test_request_context():
        assert links == [url_for("inbox.task", task_id=i) for i in ids]
        assert claims == [url_for("inbox.claim", task_id=i) for i in unheld]


#: The indexes that could otherwise serve the views' conditions in a forced plan.
COMPETING = ["ix_human_task_open_due", "ix_human_task_open_org_due", "ix_human_task_open_org_created",
             "ix_human_task_open_created",
             "ix_human_task_open_assignee_due", "ix_human_task_open_meeting_due", "ix_human_task_status",
             "ix_human_task_done_by"]
TERMS = ["radweg", "RADWEG", "straße", "strasse", "STRASSENBAHN", "öpnv", "Ö", "vaals", "aachen–vaals",
         "2024/08", "2024/081", "100%", "l_233", "l%233", "_", "ee", "x", "brand", "hebesätze", "nichts da"]


def test_text_search_finds_the_same_rows_through_the_trigram_index(demo, database, actor, draft):  # type: ignore[no-untyped-def]
    """``q=`` finds exactly the open tasks whose casefolded Aktenzeichen and Betreff contain
    the casefolded term, on both databases; on PostgreSQL also when the plan must take the
    trigram indexes (the other indexes of the views dropped, sequential scans off)."""
    _inbox(database, actor, draft)
    hoffmann = actor("hoffmann")
    every = _listed(database, hoffmann, limit=200)
    done = _listed(database, hoffmann, view="done", limit=200)
    with database.unit_of_work() as s:
        texts = {t.id: t.search_text for t in s.exec(select(HumanTask))}
    postgres = database.engine.dialect.name == "postgresql"
    for term in TERMS:
        expected = [r.task.id for r in every if term.casefold() in texts[r.task.id]]
        expected_done = [r.task.id for r in done if term.casefold() in texts[r.task.id]]
        found = [r.task.id for r in _listed(database, hoffmann, q=term, limit=200)]
        assert found == expected, term
        found_done = [r.task.id for r in _listed(database, hoffmann, view="done", q=term, limit=200)]
        assert found_done == expected_done, term
        if not postgres:
            continue
        with database.engine.connect() as conn, Session(bind=conn) as s:
            # Only the trigram index is left to find open tasks by: the other indexes of
            # open tasks are dropped inside this transaction (rolled back below).
            for name in COMPETING:
                s.execute(text(f"DROP INDEX {name}"))
            s.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in s.execute(text(
                "EXPLAIN SELECT id FROM human_task WHERE status = 'bereit' AND search_text LIKE :p "
                "ESCAPE '\\'"), {"p": "%" + term.casefold().replace("%", "\\%").replace("_", "\\_") + "%"}))
            assert "ix_human_task_open_search" in plan, (term, plan)
            found = [r.task.id for r in list_tasks(s, hoffmann, InboxQuery(q=term, limit=200), TODAY).rows]
            found_done = [r.task.id for r in list_tasks(
                s, hoffmann, InboxQuery(view="done", q=term, limit=200), TODAY).rows]
            s.rollback()
        assert found == expected and found_done == expected_done, term
    assert any(term.casefold() in t for t in texts.values() for term in ("strasse", "radweg", "100%"))
    assert done and any("radweg" in texts[r.task.id] for r in done)


def test_the_session_filter_offers_the_sessions_as_before(demo, database, browser):  # type: ignore[no-untyped-def]
    """The Sitzung filter's options are read as plain rows: date, reference and name each."""
    html = browser().login("hoffmann").get("/aufgaben/").get_data(as_text=True)
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
    day = meeting.start.astimezone(TIMEZONE).strftime("%d.%m.%Y")
    choices = html.split('id="f-meeting"', 1)[1].split("</select>", 1)[0]
    option = re.search(rf'<option value="{meeting.id}" >([^<]*)</option>', choices)
    assert option is not None and option.group(1) == f"{day} SI/2024/131 {meeting.name}"
    chosen = browser().login("hoffmann").get(f"/aufgaben/?meeting={meeting.id}").get_data(as_text=True)
    assert f'<option value="{meeting.id}" selected>' in chosen.split('id="f-meeting"', 1)[1]


def test_a_row_of_held_objects_shows_the_same(demo, database, actor, draft, app):  # type: ignore[no-untyped-def]
    """``InboxRow.of`` (the objects a unit of work holds, e.g. after a completion) gives the row
    the listing reads."""
    from engine.council import Organization
    from engine.workflow.models import ProcessInstance
    _inbox(database, actor, draft)
    listed = _listed(database, actor("hoffmann"), limit=200)
    with database.unit_of_work() as s, app.test_request_context():
        for row in listed:
            task = s.get(HumanTask, row.task.id)
            held = InboxRow.of(task, s.get(ProcessInstance, task.process_instance_id).version,  # type: ignore[union-attr]
                               s.get(Paper, task.paper_id) if task.paper_id else None,
                               s.get(Organization, task.organization_id) if task.organization_id else None,
                               s.get(Meeting, task.meeting_id) if task.meeting_id else None)
            held.overdue, held.due_soon = row.overdue, row.due_soon
            assert held == row and task_json(held) == task_json(row)


#: Statements of an inbox request (SQLite, PostgreSQL): the login with its grants, the stand-ins,
#: the page's two keyset segments (these tasks: some without a due date), and one more: for the
#: whole page everything around the list (engine.inbox.page_choices), for the list alone the
#: holders' names. On SQLite BEGIN counts as one. Issue 16: the page ran 10 on PostgreSQL before.
INBOX_BUDGET = {"/aufgaben/": (6, 5), "/aufgaben/?q=radweg": (6, 5), "/aufgaben/liste": (6, 5)}


def test_the_inbox_page_reads_what_surrounds_the_list_in_one_statement(  # type: ignore[no-untyped-def]
        demo, database, actor, draft, browser, app):
    """The filter form's choices, the saved filters and the holders' names come with one
    statement, and still say what they said: my Gremien by name, their Sekretariat by name,
    the steps of the deployed models, my saved filter, who holds a listed task."""
    from engine.council import Account, Grant, Organization
    from engine.db import count_statements
    from engine.workflow.models import ProcessModel

    _inbox(database, actor, draft)
    hoffmann = browser().login("hoffmann")
    saved = hoffmann.post("/aufgaben/filter", {"name": "Radwege <neu>", "q": "radweg"})
    assert saved.status_code == 302
    hoffmann.get("/aufgaben/")  # the deployed models' steps are read once per process
    counts = {}
    for path in INBOX_BUDGET:
        with count_statements(app.extensions["ratsflow.db"].engine) as seen:
            page = hoffmann.get(path)
        assert page.status_code == 200
        counts[path] = len(seen)
    postgres = database.engine.dialect.name == "postgresql"
    budget = {path: pair[postgres] for path, pair in INBOX_BUDGET.items()}
    assert counts == budget

    html = hoffmann.get("/aufgaben/").get_data(as_text=True)
    hoffmann_actor = actor("hoffmann")
    with database.unit_of_work() as s:
        mine = sorted(hoffmann_actor.organizations_for("Sekretariat"))
        gremien = [(str(o.id), o.name) for o in s.exec(select(Organization).where(
            col(Organization.id).in_(mine), Organization.organization_type == "Gremium")
            .order_by(col(Organization.name)))]
        colleagues = sorted({(a.username, a.display_name) for a, _ in s.exec(
            select(Account, Grant).join(Grant, col(Grant.account_id) == Account.id).where(
                Grant.role == "Sekretariat", col(Grant.organization_id).in_(mine)))}, key=lambda c: c[1])
        steps = {key for forms in s.exec(select(ProcessModel.forms)) for key in forms}

    def options(select_id: str) -> list[tuple[str, str]]:
        choices = html.split(f'id="{select_id}"', 1)[1].split("</select>", 1)[0]
        return [(value, label) for value, label in re.findall(r'<option value="([^"]*)" ?[^>]*>([^<]*)</option>',
                                                               choices) if value not in ("", "-")]

    shown_gremien = options("f-organization")
    assert shown_gremien == gremien
    shown_colleagues = options("f-holder")
    assert shown_colleagues == colleagues
    shown_steps = {value for value, _ in options("f-form")}
    assert shown_steps == steps
    assert re.search(r'<a href="/aufgaben/\?q=radweg">Radwege &lt;neu&gt;</a>', html)
    held = [row.task.assignee for row in _listed(database, hoffmann_actor) if row.task.assignee]
    assert held and "Lea Hoffmann" in text_of(html)


def test_newest_first_over_all_gremien_reads_the_open_tasks_in_order(demo, database, actor, draft):  # type: ignore[no-untyped-def]
    """``sort=created`` over an actor's Gremien and lanes (the Vorsitz's own tasks included)
    can read the open tasks in creation order and stop after a page (migration 0026): on
    PostgreSQL its plan, with sorting made dear, takes ``ix_human_task_open_created`` and sorts
    nothing; at 100,000 open tasks it read and sorted all of them (66 ms p95). Both databases:
    the page is the open tasks of the actor's groups, oldest first."""
    from sqlalchemy import event

    _inbox(database, actor, draft)
    hoffmann = actor("hoffmann")
    by_due = _listed(database, hoffmann, limit=200)
    by_created = [r.task.id for r in _listed(database, hoffmann, sort="created", limit=200)]
    expected = [r.task.id for r in sorted(by_due, key=lambda r: (r.task.created, r.task.id))]
    assert by_created == expected and len(expected) > 1
    if database.engine.dialect.name != "postgresql":
        return
    sent: list[tuple[str, Any]] = []
    with database.engine.connect() as conn, Session(bind=conn) as s:
        @event.listens_for(conn, "before_cursor_execute")
        def keep(conn, cursor, statement, parameters, context, many):  # type: ignore[no-untyped-def]
            sent.append((statement, parameters))

        list_tasks(s, hoffmann, InboxQuery(sort="created", limit=50), TODAY)
        event.remove(conn, "before_cursor_execute", keep)
        statement, parameters = next((q, p) for q, p in sent if "FROM human_task" in q and "LIMIT" in q)
        s.execute(text("SET LOCAL enable_sort = off"))
        s.execute(text("SET LOCAL enable_seqscan = off"))
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("EXPLAIN " + statement, parameters)
        plan = "\n".join(r[0] for r in cursor.fetchall())
        s.rollback()
    assert "ix_human_task_open_created" in plan and " Sort " not in f" {plan} ", plan
