"""The modeler in the browser (issue 17, point 5; administration only): bpmn-js Modeler with
its properties panel from npm, Camunda's moddle descriptor so the panel edits what
``engine/workflow/camunda.py`` reads (candidate group, form, due and follow-up date, scripts,
conditions, timers, extension properties such as ``effect``); checked and deployed through the
same API as any client (``POST /api/v1/models/check`` and ``/api/v1/models``, with the
session's CSRF token), so the browser hears the same findings as the CLI."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from flask.typing import ResponseReturnValue
from sqlmodel import col, select

from engine.workflow.models import ProcessModel

from .admin import require_admin
from .auth import login_required
from .views import request_session

bp = Blueprint("modeler", __name__, url_prefix="/verwaltung/modeler")


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """Which model to change: the newest version of each process."""
    require_admin()
    rows = request_session().exec(select(ProcessModel).order_by(col(ProcessModel.process_id),
                                                                 col(ProcessModel.version).desc())).all()
    newest: dict[str, ProcessModel] = {}
    for row in rows:
        newest.setdefault(row.process_id, row)
    return render_template("modeler_index.html", models=list(newest.values()))


def _model(model_id: int) -> ProcessModel:
    """The version asked for, for an administrator (403 for others, 404 if unknown)."""
    require_admin()
    model = request_session().get(ProcessModel, model_id)
    if model is None:
        abort(404)
    return model


@bp.get("/<int:model_id>")
@login_required
def edit(model_id: int) -> ResponseReturnValue:
    return render_template("modeler.html", model=_model(model_id))


@bp.get("/<int:model_id>/modell.bpmn")
@login_required
def model_xml(model_id: int) -> ResponseReturnValue:
    return Response(_model(model_id).bpmn_xml, mimetype="application/xml")
