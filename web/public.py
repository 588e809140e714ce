"""The public Bürgerinformationssystem pages: Vorlagen with their Beratungsfolge."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlmodel import Session, col, select

from engine import catalog, cosign, search
from engine.council import (
    PAPER_TYPES,
    ROLE_CLERK,
    ROLE_RELEASE,
    URGENT_REFUSED_MEANS,
    Body,
    File,
    Organization,
    Paper,
)
from engine.errors import Invalid
from engine.schemas import SearchIn, load
from engine.tasks import HumanTask, ready_tasks_of_paper
from engine.visibility import can_see_paper, leads, published_clause, sees_everything, visible_papers_clause
from engine.workflow.models import ProcessInstance

from . import files_response
from .auth import current_actor
from .views import beratungsfolge, paper_header, request_session, request_today, urgent_decisions

bp = Blueprint("public", __name__)


def _visible(paper: Paper | None) -> Paper:
    """A non-public Vorlage exists only for those who may see it (``engine.visibility``)."""
    if paper is None or not can_see_paper(request_session(), current_actor(), paper, request_today()):
        abort(404)
    return paper


@bp.get("/")
def index() -> ResponseReturnValue:
    """The Vorlagen: a list in keyset pages with their number; with words (``q``) or a filter,
    the German full-text search over the published ones and their Anlagen (``engine.search``)."""
    s = request_session()
    actor = current_actor()
    raw = {k: v for k, v in request.args.items() if k in SEARCH_FIELDS}
    errors: dict[str, list[str]] = {}
    try:
        values = load(SearchIn(), raw)
    except Invalid as exc:
        errors, values = exc.errors, {"q": ""}
    choices = _search_choices(s)
    context: dict[str, Any] = {"raw": raw, "errors": errors, **choices}
    cursor = request.args.get("cursor") or None
    if errors:
        return render_template("index.html", searching=True, results=None, **context), 422
    filters = search.Filters(body_id=values.get("koerperschaft"), organization_id=values.get("gremium"),
                             paper_type=values.get("art"), since=values.get("von"), until=values.get("bis"))
    q = values["q"]
    if q:
        try:
            results = search.search(s, q, filters, cursor=cursor)
        except Invalid as exc:
            return render_template("index.html", searching=True, results=None,
                                   **{**context, "errors": exc.errors}), 422
        # Non-public Vorlagen are never in the index: who may see some finds them by
        # Aktenzeichen or Betreff, apart from the public results.
        own = _own_matches(s, actor, q) if actor is not None else []
        return render_template("index.html", searching=True, results=results, own=own, q=q, **context)
    try:
        papers, total, following = catalog.paper_list(s, actor, request_today(), cursor=cursor, limit=PAGE)
    except Invalid as exc:
        return render_template("index.html", searching=False, papers=[], total=0, following=None,
                               **{**context, "errors": exc.errors}), 422
    return render_template("index.html", searching=False, papers=papers, total=total, following=following,
                           first_page=cursor is None, **context)


#: The search form's fields (anything else in the query string is not a filter).
SEARCH_FIELDS = ("q", "gremium", "koerperschaft", "art", "von", "bis")
#: Vorlagen per page of the list.
PAGE = 50


def _search_choices(s: Session) -> dict[str, Any]:
    """What the filters offer: the Gremien, the Körperschaften (when there are several) and the
    Vorlage-Arten the published Vorlagen have."""
    gremien = list(s.exec(select(Organization).where(Organization.organization_type == "Gremium")
                          .order_by(col(Organization.name))))
    bodies = list(s.exec(select(Body).order_by(col(Body.name))))
    types = sorted({t for t in s.exec(select(Paper.paper_type).where(published_clause()).distinct()) if t}
                   | set(PAPER_TYPES))
    return {"gremien": gremien, "bodies": bodies if len(bodies) > 1 else [], "paper_types": types}


def _own_matches(s: Session, actor: Any, q: str) -> list[Paper]:
    """Non-public Vorlagen ``actor`` may see whose Aktenzeichen or Betreff contains ``q``."""
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return list(s.exec(select(Paper).where(
        visible_papers_clause(actor, request_today()), ~published_clause(),
        col(Paper.reference).ilike(pattern, escape="\\") | col(Paper.name).ilike(pattern, escape="\\"))
        .order_by(col(Paper.reference).desc()).limit(50)))


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
        "urgent": urgent_decisions(s, paper_id), "urgent_refused_means": URGENT_REFUSED_MEANS,
        **paper_header(s, p),
    }
    actor = current_actor()
    can_start = leads(actor, p.under_direction_of_id) and instance is None
    # The internal steps (Entwurf, Mitzeichnung, Freigabe, Ausfertigung, Kontrolle) only for
    # the lead department, its head, Revision and the administration; the public sees the
    # Beratungsfolge's steps.
    internal = sees_everything(actor) or leads(actor, p.under_direction_of_id) or (
        actor is not None and actor.has_role(ROLE_RELEASE, p.under_direction_of_id))
    context["open_tasks"] = [t for t in context["open_tasks"] if internal or t.context.get("beratung")]
    # The co-signers' remarks: for everyone inside the procedure (a co-signing department too).
    asked = actor is not None and bool(actor.organizations_for(ROLE_CLERK)) and s.exec(
        select(HumanTask.id).where(HumanTask.paper_id == p.id, HumanTask.lane == ROLE_CLERK,
                                   col(HumanTask.organization_id).in_(sorted(actor.organizations_for(ROLE_CLERK)))
                                   )).first() is not None
    context["remarks"] = cosign.remarks(s, paper_id) if internal or asked else []
    departments = {o.id: o.name for o in s.exec(select(Organization).where(
        Organization.organization_type == "Verwaltungsbereich").order_by(col(Organization.name)))}
    return render_template("paper.html", can_start=can_start, departments=departments,
                           **context)


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
