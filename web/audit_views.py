"""The auditors' view (role Revision, read-only): search across the whole process history,
a timeline per Vorlage, exports; the last verification of the chain (never recomputed per
request)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlmodel import col, select

from engine import audit, audit_history
from engine.council import ROLE_AUDITOR, Consultation, Meeting, Organization, Paper
from engine.errors import Invalid, NotFound
from engine.process import procedures
from engine.settings import TIMEZONE
from engine.tasks import HumanTask
from engine.types import ascii_int
from engine.workflow.models import ProcessInstance, ProcessModel

from .auth import current_actor, login_required
from .i18n import gettext as _
from .views import request_now, request_session

bp = Blueprint("audit", __name__, url_prefix="/revision")


@bp.app_template_global()
def audit_finding() -> audit.AuditVerification | None:
    """The last verification, when it found something: shown to every auditor and admin."""
    actor = current_actor()
    if actor is None or not (actor.is_admin or actor.has_role(ROLE_AUDITOR)):
        return None
    last = audit.last_verification(request_session())
    return last if last is not None and not last.ok else None


@bp.app_template_global()
def describe_event(event: audit.AuditEvent, names: audit_history.Names | None = None) -> str:
    """An event's details in words of the page's language."""
    return audit_history.describe(event, _, names)


def _auditor() -> Any:
    actor = current_actor()
    assert actor is not None
    if not actor.has_role(ROLE_AUDITOR):
        abort(403)
    return actor


_FILTER_NAMES = ("vorlage", "gremium", "sitzung", "person", "ereignis", "von", "bis")


def _filter_args() -> dict[str, str]:
    return {k: request.args.get(k, "") for k in _FILTER_NAMES if request.args.get(k)}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    """Search the whole history: by Vorlage, Gremium, Sitzung, person, event type, period;
    newest first, paged by sequence number (a stable order)."""
    _auditor()
    s = request_session()
    args = _filter_args()
    errors: dict[str, list[str]] = {}
    rows: list[tuple[audit.AuditEvent, str | None]] = []
    next_before = None
    status = 200
    before = request.args.get("vor", "")
    try:
        filters = audit_history.parse_filters(s, args)
        after = ascii_int(before, 19)
        if before and (after is None or not 0 < after < 2**63):
            raise Invalid("Filter bitte prüfen.", {"vor": ["Ungültige Seite."]})
        rows, next_before = audit_history.search(s, filters, after)
    except Invalid as exc:
        errors, status = exc.errors, 422
    return render_template(
        "audit.html", report=audit.last_verification(s), rows=rows, args=args, errors=errors,
        names=audit_history.names_for(s, (event for event, _ref in rows)),
        next_url=_url("audit.index", args, vor=next_before) if next_before else None,
        actions=audit_history.ACTIONS, gremien=audit_history.gremien(s),
        export_csv=_url("audit.export", args, format="csv"),
        export_jsonl=_url("audit.export", args, format="jsonl")), status


def _url(endpoint: str, args: dict[str, str], **more: Any) -> str:
    values: dict[str, Any] = {**args, **more}
    return url_for(endpoint, **values)


@bp.get("/vorlagen/<int:paper_id>")
@login_required
def timeline(paper_id: int) -> ResponseReturnValue:
    """A Vorlage's whole procedure across its Beratungen and Sitzungen, oldest first: who,
    when, which session, the values in words, comments, refusals, deadlines met or missed."""
    _auditor()
    s = request_session()
    paper = s.get(Paper, paper_id)
    if paper is None:
        abort(404)
    # The Vorlage's own events and those about the Sitzungen it was on (moved, invited, the
    # session process's steps): the same scope as the search and the export by Vorlage.
    events = audit_history.paper_history(s, paper_id)
    tasks = {t.id: t for t in s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id))}
    consultations = list(s.exec(select(Consultation, Organization, Meeting)
                                .join(Organization, col(Organization.id) == Consultation.organization_id)
                                .join(Meeting, col(Meeting.id) == Consultation.meeting_id, isouter=True)
                                .where(Consultation.paper_id == paper_id)
                                .order_by(col(Consultation.position))))
    deadline: dict[int, int] = {}  # days after the due date (≤ 0: in time)
    for event in events:
        task = tasks.get((event.details or {}).get("task_id"))
        if event.action == "task.completed" and task is not None and task.due is not None:
            deadline[event.seq] = (event.at.astimezone(TIMEZONE).date() - task.due).days
    instances = list(s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper_id)
                            .order_by(col(ProcessInstance.id))))
    return render_template("audit_timeline.html", paper=paper, events=events, deadline=deadline,
                           instances=instances, names=audit_history.names_for(s, events),
                           actions=audit_history.ACTIONS,
                           consultations=consultations, report=audit.last_verification(s))


@bp.get("/export.<any(csv, jsonl):format>")
@login_required
def export(format: str) -> ResponseReturnValue:
    """The search's result as CSV (German Excel) or JSON Lines, streamed; the export itself
    is recorded."""
    actor = _auditor()
    s = request_session()
    args = _filter_args()
    try:
        filters = audit_history.parse_filters(s, args)
    except Invalid as exc:
        return render_template("error.html", status=422, message=" ".join(
            " ".join(m) for m in exc.errors.values())), 422
    # Recorded in a unit of work of its own (this request only reads), before the first row.
    with current_app.extensions["ratsflow.db"].unit_of_work() as w:
        audit.record(w, actor.username, actor.display_name, "audit.exported", at=request_now(),
                     details={"format": format, "filters": args})
    database = current_app.extensions["ratsflow.db"]

    def body() -> Iterator[str]:
        # Its own read-only unit of work, closed when the last row is out (the request's own
        # is closed as soon as the view returns).
        with database.unit_of_work(write=False) as rs:
            rows = audit_history.stream(rs, filters)
            yield from audit_history.csv_lines(rows) if format == "csv" else audit_history.jsonl_lines(rows)

    stamp = request_now().strftime("%Y%m%d-%H%M")
    mimetype = "text/csv" if format == "csv" else "application/x-ndjson"
    return Response(body(), mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="prozesshistorie-{stamp}.{format}"'})


@bp.get("/vorgaenge/<int:instance_id>/diagramm")
@login_required
def diagram(instance_id: int) -> ResponseReturnValue:
    """The instance's BPMN diagram drawn by bpmn-js: completed steps, the current step and
    the path taken marked; the model version it runs on."""
    _auditor()
    s = request_session()
    try:
        state = procedures.diagram_state(s, instance_id)
    except NotFound:
        abort(404)
    instance, model = state["instance"], state["model"]
    paper = s.get(Paper, instance.paper_id) if instance.paper_id else None
    meeting = s.get(Meeting, instance.meeting_id) if instance.meeting_id else None
    return render_template("audit_diagram.html", instance=instance, model=model, paper=paper, meeting=meeting,
                           state=state)


@bp.get("/vorgaenge/<int:instance_id>/modell.bpmn")
@login_required
def diagram_model(instance_id: int) -> ResponseReturnValue:
    _auditor()
    s = request_session()
    instance = s.get(ProcessInstance, instance_id)
    model = s.get(ProcessModel, instance.model_id) if instance else None
    if model is None:
        abort(404)
    called = request.args.get("prozess")
    if called:  # a model its call activities call (the Beratungsfolge inside the lifecycle)
        calls = procedures.diagram_state(s, instance_id)["called"]
        other = next((m for m in calls if m.process_id == called), None)
        if other is None:
            abort(404)
        model = other
    return Response(model.bpmn_xml, mimetype="application/xml")


@bp.get("/vorgaenge/<int:instance_id>/stand.json")
@login_required
def diagram_json(instance_id: int) -> ResponseReturnValue:
    _auditor()
    try:
        state = procedures.diagram_state(request_session(), instance_id)
    except NotFound:
        abort(404)
    return jsonify(completed=state["completed"], current=state["current"], taken=state["taken"],
                   model=state["model"].process_id, version=state["model"].version)
