"""The public Bürgerinformationssystem pages: Vorlagen with their Beratungsfolge."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlmodel import col, select

from engine.council import File, Paper
from engine.tasks import ready_tasks_of_paper
from engine.visibility import can_see_paper, leads, visible_papers_clause
from engine.workflow.models import ProcessInstance

from . import files_response
from .auth import current_actor
from .views import beratungsfolge, paper_header, request_session, request_today

bp = Blueprint("public", __name__)


def _visible(paper: Paper | None) -> Paper:
    """A non-public Vorlage exists only for those who may see it (``engine.visibility``)."""
    if paper is None or not can_see_paper(request_session(), current_actor(), paper, request_today()):
        abort(404)
    return paper


@bp.get("/")
def index() -> ResponseReturnValue:
    query = select(Paper).where(visible_papers_clause(current_actor(), request_today())) \
        .order_by(col(Paper.reference).desc())
    q = request.args.get("q", "").strip()[:200]
    if q:  # Aktenzeichen or Betreff, imported historic Vorlagen too
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(col(Paper.reference).ilike(pattern, escape="\\")
                            | col(Paper.name).ilike(pattern, escape="\\"))
    papers = list(request_session().exec(query.limit(200)))
    return render_template("index.html", papers=papers, q=q)


@bp.get("/vorlagen/<int:paper_id>")
def paper(paper_id: int) -> ResponseReturnValue:
    s = request_session()
    p = _visible(s.get(Paper, paper_id))
    files = list(s.exec(select(File).where(File.paper_id == p.id).order_by(col(File.position))))
    instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == p.id)
                      .order_by(col(ProcessInstance.id).desc())).first()
    context = {
        "paper": p, "files": files, "folge": beratungsfolge(s, paper_id),
        "files_public": can_see_paper(s, None, p, request_today()),  # on the files origin, if set
        "open_tasks": ready_tasks_of_paper(s, paper_id), "instance": instance,
        **paper_header(s, p),
    }
    actor = current_actor()
    can_start = leads(actor, p.under_direction_of_id) and instance is None
    return render_template("paper.html", can_start=can_start, **context)


@bp.get("/dateien/<int:file_id>")
def download(file_id: int) -> ResponseReturnValue:
    """An Anlage (``web.files_response``: its allow-listed type, never run on our origin)."""
    s = request_session()
    f = s.get(File, file_id)
    if f is None:
        abort(404)
    paper = _visible(s.get(Paper, f.paper_id))
    moved = files_response.to_files_origin(can_see_paper(s, None, paper, request_today()))
    return moved or files_response.file_response(f)
