"""The JSON API (v1). Authentication: the login session; tokens follow (roadmap 5).

``GET /api/v1/tasks`` lists a view of the inbox with the same filters and keyset paging as
the HTML inbox; ``GET /api/v1/tasks/<id>`` adds the task's form as JSON Schema with its
choices filled in, so a client can complete a task without the HTML. Errors are JSON:
``{"error": message, "errors": {field: [messages]}}`` with 401/403/404/409/415/422.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate

from engine import procedures, tasks
from engine.accounts import Actor
from engine.errors import EngineError, Invalid, NotFound
from engine.forms import json_schema
from engine.inbox import InboxQuery, InboxRow, list_tasks, task_row, task_rows
from engine.settings import TIMEZONE
from engine.tasks import candidate_group, comments_of, load_for

from .auth import current_actor, login_required
from .i18n import current_language
from .views import record_refusal, request_now, request_session, request_today

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class CompleteIn(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict)
    expected_version = fields.Integer(required=True, strict=True,
                                      validate=validate.Range(min=1, max=2**31 - 1))


class UserIn(Schema):
    user = fields.String(required=True, validate=validate.Length(min=1, max=150))


class CommentIn(Schema):
    text = fields.String(required=True)


class FollowUpIn(Schema):
    follow_up = fields.Date(required=True, allow_none=True)


def task_json(row: InboxRow) -> dict[str, Any]:
    """A task as the API shows it (the contract of ``GET /api/v1/tasks``)."""
    t, paper, meeting, org = row.task, row.paper, row.meeting, row.organization
    return {
        "id": t.id,
        "title": t.context.get("title_en", t.title) if current_language() == "en" else t.title,
        "form": t.form_key,
        "step": t.bpmn_id,
        "status": t.status,
        "due": t.due.isoformat() if t.due else None,
        "overdue": row.overdue,
        "due_soon": row.due_soon,
        "follow_up": t.follow_up.isoformat() if t.follow_up else None,
        "holder": t.assignee,
        "owner": t.owner,
        "delegation": t.delegation,
        "candidate_group": candidate_group(t),
        "organization": {"id": org.id, "name": org.name} if org else None,
        "paper": {"id": paper.id, "reference": paper.reference, "name": paper.name,
                  "paper_type": paper.paper_type} if paper else None,
        "meeting": {"id": meeting.id, "name": meeting.name, "reference": meeting.reference,
                    "start": meeting.start.astimezone(TIMEZONE).isoformat()} if meeting else None,
        "agenda_item_number": t.context.get("top"),
        "role": (t.context.get("beratung") or {}).get("role"),
        "notes": {k: t.context[k] for k in ("postponed_in", "order_conflict") if k in t.context},
        "created": t.created.isoformat(),
        "completed": t.completed.isoformat() if t.completed else None,
        "completed_by": t.completed_by,
        "version": row.version,
    }


def _actor() -> Actor:
    actor = current_actor()
    assert actor is not None  # login_required
    return actor


def _row(task_id: int) -> dict[str, Any]:
    row = task_row(request_session(), task_id, request_today())
    if row is None:
        raise NotFound("Aufgabe nicht gefunden.")
    return task_json(row)


def _body(schema: Schema) -> dict[str, Any]:
    """The JSON body loaded with ``schema`` (an empty body is ``{}``); 415/422 otherwise."""
    if request.content_length and not request.is_json:
        abort(415)
    payload = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(payload, dict):
        raise Invalid("Eingaben bitte prüfen.", {"_": ["Ein JSON-Objekt erwartet."]})
    try:
        return schema.load(payload)  # type: ignore[no-any-return]
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        raise Invalid("Eingaben bitte prüfen.", messages) from None


@bp.before_request
def _same_origin() -> None:
    """A write from another site's page is refused (the session cookie alone is no proof)."""
    origin = request.headers.get("Origin")
    if request.method == "POST" and origin and urlsplit(origin).netloc != request.host:
        abort(403)


@bp.before_request
def _task_of_my_groups() -> None:
    """Who may not work on a task learns that (403) before any fault of their input (422)."""
    task_id = (request.view_args or {}).get("task_id")
    actor = current_actor()
    if request.method == "POST" and task_id is not None and actor is not None:
        try:
            load_for(request_session(), actor, task_id, ready=False)
        except EngineError as exc:
            if exc.status != 404:
                record_refusal(actor, task_id, exc)  # as the view would have
            raise


@bp.get("/tasks")
@login_required
def task_list() -> ResponseReturnValue:
    query = InboxQuery.load(request.args)
    page = list_tasks(request_session(), _actor(), query, request_today())
    return jsonify(tasks=[task_json(r) for r in page.rows], next=page.next_cursor)


@bp.get("/tasks/<int:task_id>")
@login_required
def task_detail(task_id: int) -> ResponseReturnValue:
    s = request_session()
    task = load_for(s, _actor(), task_id, ready=False)
    out = _row(task_id)
    if task.status == tasks.TASK_READY:
        form, initial = procedures.task_form(s, task, now=request_now())
        out["schema"] = json_schema(form, english=current_language() == "en")
        out["initial"] = initial
        out["blocked"] = procedures.completion_blocked(s, task, request_now())
    out["comments"] = [{"id": c.id, "author": c.author, "author_name": c.author_name, "text": c.text,
                        "created": c.created.isoformat()} for c in comments_of(s, task_id)]
    return jsonify(out)


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int) -> ResponseReturnValue:
    tasks.claim(request_session(), _actor(), task_id, now=request_now())
    return jsonify(_row(task_id))


@bp.post("/tasks/<int:task_id>/unclaim")
@login_required
def unclaim(task_id: int) -> ResponseReturnValue:
    tasks.unclaim(request_session(), _actor(), task_id, now=request_now())
    return jsonify(_row(task_id))


@bp.post("/tasks/<int:task_id>/assign")
@login_required
def assign(task_id: int) -> ResponseReturnValue:
    tasks.assign(request_session(), _actor(), task_id, _body(UserIn())["user"], now=request_now())
    return jsonify(_row(task_id))


@bp.post("/tasks/<int:task_id>/delegate")
@login_required
def delegate(task_id: int) -> ResponseReturnValue:
    tasks.delegate(request_session(), _actor(), task_id, _body(UserIn())["user"], now=request_now())
    return jsonify(_row(task_id))


@bp.post("/tasks/<int:task_id>/resolve")
@login_required
def resolve(task_id: int) -> ResponseReturnValue:
    tasks.resolve(request_session(), _actor(), task_id, now=request_now())
    return jsonify(_row(task_id))


@bp.post("/tasks/<int:task_id>/follow-up")
@login_required
def follow_up(task_id: int) -> ResponseReturnValue:
    tasks.set_follow_up(request_session(), _actor(), task_id, _body(FollowUpIn())["follow_up"],
                        now=request_now())
    return jsonify(_row(task_id))


@bp.post("/tasks/<int:task_id>/comments")
@login_required
def comment(task_id: int) -> ResponseReturnValue:
    tasks.add_comment(request_session(), _actor(), task_id, _body(CommentIn())["text"], now=request_now())
    return jsonify(_row(task_id)), 201


@bp.post("/tasks/<int:task_id>/complete")
@login_required
def complete(task_id: int) -> ResponseReturnValue:
    if not request.is_json:
        abort(415)
    payload = _body(CompleteIn())
    s = request_session()
    try:
        done = procedures.complete_task(s, _actor(), task_id, payload["data"], payload["expected_version"],
                                        now=request_now())
    except EngineError as exc:
        if exc.status != 404:
            record_refusal(_actor(), task_id, exc)
        raise
    # The completed task and the ones it made ready, read together for the answer.
    next_ids = [t.id for t in done.next_tasks if t.id is not None]
    rows = task_rows(s, [task_id, *next_ids], request_today())
    if task_id not in rows:
        raise NotFound("Aufgabe nicht gefunden.")
    return jsonify(task=task_json(rows[task_id]), version=done.version,
                   next_tasks=[task_json(rows[i]) for i in next_ids if i in rows], finished=done.finished)
