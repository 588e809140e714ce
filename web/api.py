"""The JSON API (v1). Authentication: the login session; tokens follow (roadmap 5)."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request
from marshmallow import Schema, ValidationError, fields

from engine import procedures
from engine.tasks import inbox

from .auth import current_actor, login_required
from .views import request_session

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class CompleteIn(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict)
    expected_version = fields.Integer(required=True)


class TaskOut(Schema):
    id = fields.Integer()
    title = fields.String()
    bpmn_id = fields.String()
    status = fields.String()
    paper_id = fields.Integer()
    organization_id = fields.Integer()
    meeting_id = fields.Integer(allow_none=True)
    process_instance_id = fields.Integer()
    created = fields.DateTime()


COMPLETE_IN, TASK_OUT, TASKS_OUT = CompleteIn(), TaskOut(), TaskOut(many=True)


@bp.get("/tasks")
@login_required
def tasks():  # type: ignore[no-untyped-def]
    rows = inbox(request_session(), current_actor())
    return jsonify(tasks=TASKS_OUT.dump(rows))


@bp.post("/tasks/<int:task_id>/complete")
@login_required
def complete(task_id: int):  # type: ignore[no-untyped-def]
    if not request.is_json:
        abort(415)
    try:
        payload = COMPLETE_IN.load(request.get_json())
    except ValidationError as exc:
        return jsonify(error="Eingaben bitte prüfen.", errors=exc.messages), 422
    done = procedures.complete_task(request_session(), current_actor(), task_id, payload["data"],
                                    payload["expected_version"])
    return jsonify(task=TASK_OUT.dump(done.task), version=done.version,
                   next_tasks=TASKS_OUT.dump(done.next_tasks), finished=done.finished)
