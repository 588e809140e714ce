"""The secretaries' inbox: ready tasks of their Gremien, the task page and its form."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlmodel import select

from engine import procedures
from engine.council import Meeting, Organization, Paper
from engine.errors import Invalid
from engine.tasks import TASK_READY, HumanTask, inbox, may_work_on
from engine.workflow.models import ProcessInstance

from .auth import current_actor, login_required
from .i18n import gettext as _
from .views import beratungsfolge, paper_header, request_session, rollback_request

bp = Blueprint("inbox", __name__, url_prefix="/aufgaben")


@bp.get("/")
@login_required
def index():  # type: ignore[no-untyped-def]
    s = request_session()
    tasks = inbox(s, current_actor())
    return render_template(
        "inbox.html", tasks=tasks,
        papers=_by_id(s, Paper, {t.paper_id for t in tasks}),
        orgs=_by_id(s, Organization, {t.organization_id for t in tasks}),
        meetings=_by_id(s, Meeting, {t.meeting_id for t in tasks}),
    )


def _by_id(session, model, ids):  # type: ignore[no-untyped-def]
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {o.id: o for o in session.exec(select(model).where(model.id.in_(ids)))}


@bp.route("/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int):  # type: ignore[no-untyped-def]
    actor = current_actor()
    assert actor is not None
    s = request_session()
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        values = {k: v for k, v in request.form.items() if k not in {"csrf_token", "version"}}
        try:
            version = int(request.form.get("version", ""))
        except ValueError:
            abort(400, "version")
        try:
            done = procedures.complete_task(s, actor, task_id, values, version)
        except Invalid as exc:
            rollback_request()
            errors, status = exc.errors, 422
        else:
            flash(_("Die Aufgabe wurde erledigt."), "success")
            if done.finished:
                flash(_("Die Beratungsfolge ist abgeschlossen."), "success")
            return redirect(url_for("inbox.index"))
    row = s.get(HumanTask, task_id)
    if row is None:
        abort(404)
    if not may_work_on(actor, row):
        abort(403)
    paper = s.get(Paper, row.paper_id)
    form, initial = procedures.task_form(s, row)
    return render_template(
        "task.html", row=row, instance=s.get(ProcessInstance, row.process_instance_id),
        paper=paper, form=form, values=values if request.method == "POST" else initial,
        errors=errors, folge=beratungsfolge(s, paper.id), ready=row.status == TASK_READY,
        **paper_header(s, paper),
    ), status
