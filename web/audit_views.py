"""The auditors' view: the hash-chained process history and its last verification."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlmodel import col, select

from engine import audit
from engine.council import ROLE_AUDITOR, Paper

from .auth import current_actor, login_required
from .views import request_session

bp = Blueprint("audit", __name__, url_prefix="/revision")


@bp.app_template_global()
def audit_finding() -> audit.AuditVerification | None:
    """The last verification, when it found something: shown to every auditor and admin."""
    actor = current_actor()
    if actor is None or not (actor.is_admin or actor.has_role(ROLE_AUDITOR)):
        return None
    last = audit.last_verification(request_session())
    return last if last is not None and not last.ok else None


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    actor = current_actor()
    assert actor is not None
    if not actor.has_role(ROLE_AUDITOR):
        abort(403)
    paper_id = request.args.get("vorlage", type=int)
    s = request_session()
    report = audit.last_verification(s)
    query = select(audit.AuditEvent).order_by(col(audit.AuditEvent.seq).desc())
    if paper_id:
        query = query.where(audit.AuditEvent.paper_id == paper_id)
    events = list(s.exec(query.limit(500)))
    papers = {p.id: p for p in s.exec(select(Paper).where(
        col(Paper.id).in_({e.paper_id for e in events if e.paper_id})))}
    return render_template("audit.html", report=report, events=events, papers=papers,
                           paper_id=paper_id)
