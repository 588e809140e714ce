"""Vorlagen (clerks) and Sitzungen (secretaries): create, start the Beratungsfolge."""

from __future__ import annotations

import re
from calendar import Calendar
from datetime import date, timedelta
from typing import Any

import weasyprint
from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlmodel import Session, col, select

from engine import catalog
from engine import excerpt as excerpts
from engine.accounts import Account, Actor
from engine.calendar import deadlines, reminders
from engine.council import (
    CONSULTATION_ROLES,
    PAPER_TYPES,
    ROLE_RELEASE,
    Meeting,
    Organization,
    Paper,
    Person,
)
from engine.errors import Invalid
from engine.files import FileStore
from engine.process import procedures, sessions
from engine.settings import TIMEZONE
from engine.types import ascii_int
from engine.visibility import can_see_paper, is_clerk, leads, sees_everything

from .auth import current_actor, login_required
from .i18n import gettext as _
from .views import form_values, request_now, request_session, request_today, rollback_request

bp = Blueprint("papers", __name__)


def month_weeks(year: int, month: int) -> list[list[int]]:
    """The weeks of a month, Monday first; 0 for the days of the months around it."""
    return Calendar(firstweekday=0).monthdayscalendar(year, month)
bp.add_app_template_global(is_clerk)

_ROW = re.compile(r"^consultations-([0-9]{1,3})-(organization_id|role|meeting_id)$")


def _consultation_rows(form: Any) -> list[dict[str, str]]:
    rows: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = _ROW.match(key)
        if match:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value
    ordered = [rows[i] for i in sorted(rows)]
    return [r for r in ordered if any(v.strip() for v in r.values())]


def _choices(session: Session, actor: Actor) -> dict[str, Any]:
    orgs = list(session.exec(select(Organization).order_by(col(Organization.name))))
    gremien = [o for o in orgs if o.organization_type == "Gremium"]
    # Each Gremium's sessions ahead, not cancelled: what a Beratung may be planned in (the
    # page's script then offers only the chosen Gremium's; create_paper checks the same).
    ahead = list(session.exec(select(Meeting).where(Meeting.cancelled == False,  # noqa: E712
                                                    col(Meeting.start) > request_now())
                              .order_by(col(Meeting.start))))
    return {
        "gremien": gremien,
        "bereiche": [o for o in orgs if o.organization_type == "Verwaltungsbereich" and leads(actor, o.id)],
        "sessions_by_gremium": [(o, [m for m in ahead if m.organization_id == o.id]) for o in gremien],
        "persons": list(session.exec(select(Person).order_by(col(Person.family_name),
                                                             col(Person.given_name)))),
        "paper_types": PAPER_TYPES,
        "roles": CONSULTATION_ROLES,
    }


@bp.route("/vorlagen/neu", methods=["GET", "POST"])
@login_required
def new_paper() -> ResponseReturnValue:
    actor = current_actor()
    assert actor is not None
    if not is_clerk(actor):
        abort(403)
    s = request_session()
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"public": True, "paper_type": "Standardvorlage"}
    rows: list[dict[str, str]] = []
    status = 200
    if request.method == "POST":
        values = {k: v for k, v in request.form.items()
                  if not k.startswith("consultations-") and k not in {"csrf_token", "start", "add_row"}}
        values["public"] = "public" in request.form
        rows = _consultation_rows(request.form)
        if "add_row" not in request.form:
            data = {**values, "consultations": rows}
            attachments = [(f.filename, f.read(), f.mimetype)  # names normalised by engine.files
                           for f in request.files.getlist("anlagen") if f and f.filename]
            try:
                paper = procedures.create_paper(s, actor, data, attachments, files=_files(),
                                                now=request_now())
                assert paper.id is not None
                if "start" in request.form:
                    procedures.start_beratungsfolge(s, actor, paper.id)
                paper_id = paper.id
            except Invalid as exc:
                rollback_request()
                errors, status = exc.errors, 422
            else:
                flash(_("Die Vorlage wurde angelegt."), "success")
                if "start" in request.form:
                    flash(_("Die Beratungsfolge wurde gestartet."), "success")
                return redirect(url_for("public.paper", paper_id=paper_id))
    else:
        account = s.get(Account, actor.account_id)
        values["clerk_id"] = account.person_id if account else None
    choices = _choices(s, actor)
    shown = rows + [{} for _ in range(max(1, 3 - len(rows)) + (1 if "add_row" in request.form else 0))]
    return render_template("paper_form.html", values=values, rows=shown, errors=errors,
                           **choices), status


def _files() -> FileStore:
    store: FileStore = current_app.extensions["ratsflow.files"]
    return store


@bp.post("/vorlagen/<int:paper_id>/starten")
@login_required
def start(paper_id: int) -> ResponseReturnValue:
    actor = current_actor()
    assert actor is not None  # login_required
    procedures.start_beratungsfolge(request_session(), actor, paper_id)
    flash(_("Die Beratungsfolge wurde gestartet."), "success")
    return redirect(url_for("public.paper", paper_id=paper_id))


@bp.post("/vorlagen/<int:paper_id>/lebenslauf")
@login_required
def start_lifecycle(paper_id: int) -> ResponseReturnValue:
    """Mitzeichnung and Freigabe before the Beratungsfolge (bpmn/vorlage.bpmn)."""
    actor = current_actor()
    assert actor is not None  # login_required
    try:
        procedures.start_lifecycle(request_session(), actor, paper_id, request.form.getlist("beteiligt"),
                                   now=request_now())
    except Invalid as exc:
        rollback_request()
        for messages in exc.errors.values():
            for message in messages:
                flash(message, "error")
        return redirect(url_for("public.paper", paper_id=paper_id))
    flash(_("Der Entwurf liegt zur Fertigstellung im Posteingang; danach folgen Mitzeichnung und Freigabe."),
          "success")
    return redirect(url_for("public.paper", paper_id=paper_id))


@bp.get("/vorlagen/<int:paper_id>/beschlussauszug.pdf")
@login_required
def resolution_excerpt(paper_id: int) -> ResponseReturnValue:
    """The Beschlussauszug as a PDF: for the lead department, its head, Revision, admin."""
    actor = current_actor()
    s = request_session()
    paper = s.get(Paper, paper_id)
    if paper is None or not can_see_paper(s, actor, paper, request_today()):
        abort(404)
    assert actor is not None
    if not (sees_everything(actor) or leads(actor, paper.under_direction_of_id)
            or actor.has_role(ROLE_RELEASE, paper.under_direction_of_id)):
        abort(403)
    excerpt = excerpts.resolution_excerpt(s, paper)
    html = render_template("beschlussauszug.html", x=excerpt, made=request_now())
    pdf = weasyprint.HTML(string=html).write_pdf()
    name = f"Beschlussauszug-{paper.reference.replace('/', '-')}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"'})


@bp.get("/sitzungen")
def meetings() -> ResponseReturnValue:
    """The Sitzungen: a secretary's own Gremien with their deadlines (as the Sekretariat plans
    them); everyone else – anonymous visitors too – the public calendar (list or month), a
    member's own Gremien first. A secretary reaches the calendar with any of its parameters."""
    actor = current_actor()
    s = request_session()
    orgs = procedures.secretariat_organizations(s, actor) if actor is not None else []
    if orgs and not any(k in request.args for k in CALENDAR_ARGS):
        rows = list(s.exec(select(Meeting).where(
            col(Meeting.organization_id).in_([o.id for o in orgs]))
            .order_by(col(Meeting.start))))
        fristen = {m.id: deadlines.deadlines_for_meeting(s, m) for m in rows}
        return render_template("meetings.html", meetings=rows, orgs={o.id: o for o in orgs}, fristen=fristen)
    return _calendar(s, actor)


#: The public calendar's parameters: which Gremium ("meine": a member's own), list or month,
#: upcoming or past, which month (JJJJ-MM), and the keyset cursor of a list page.
CALENDAR_ARGS = ("gremium", "ansicht", "zeit", "monat", "cursor")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
#: Sitzungen per page of the calendar's list.
CALENDAR_PAGE = 25


def _calendar(s: Session, actor: Actor | None) -> ResponseReturnValue:
    errors: dict[str, list[str]] = {}
    gremien = list(s.exec(select(Organization).where(Organization.organization_type == "Gremium")
                          .order_by(col(Organization.name))))
    person = _person_id(s, actor)
    mine = [o.id for o in reminders.gremien_of(s, person, request_today()) if o.id is not None] \
        if person is not None else []
    chosen = request.args.get("gremium", "meine" if mine else "")
    selected: Organization | None = None
    organization_ids: list[int] | None = None
    if chosen == "meine" and mine:
        organization_ids = mine
    elif chosen and chosen != "meine":
        number = ascii_int(chosen, 9)
        selected = next((g for g in gremien if g.id == number), None)
        if selected is None:
            errors["gremium"] = [_("Unbekanntes Gremium: bitte eines aus der Liste wählen.")]
        else:
            organization_ids = [number] if number is not None else None
    view = "monat" if request.args.get("ansicht") == "monat" else "liste"
    upcoming = request.args.get("zeit") != "vergangen"
    now = request_now()
    context: dict[str, Any] = {"gremien": gremien, "mine": bool(mine), "chosen": chosen, "selected": selected,
                               "view": view, "upcoming": upcoming, "errors": errors}
    if view == "monat":
        first = request_today().replace(day=1)
        raw = request.args.get("monat", "")
        if raw:
            match = _MONTH.match(raw)
            month = int(match.group(2)) if match else 0
            if match is None or not 1 <= month <= 12 or not 1900 <= int(match.group(1)) <= 2999:
                errors["monat"] = [_("Monat bitte als JJJJ-MM, etwa 2024-11.")]
            else:
                first = date(int(match.group(1)), month, 1)
        if errors:
            return render_template("calendar.html", **context), 422
        rows = catalog.calendar_month(s, first, organization_ids=organization_ids)
        by_day: dict[int, list[Any]] = {}
        for row in rows:
            by_day.setdefault(row.meeting.start.astimezone(TIMEZONE).day, []).append(row)
        previous = (first - timedelta(days=1)).replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return render_template("calendar.html", first=first, weeks=month_weeks(first.year, first.month),
                               by_day=by_day, total=len(rows), previous=previous, following=following,
                               **context)
    if errors:
        return render_template("calendar.html", **context), 422
    try:
        page = catalog.calendar_page(s, now, organization_ids=organization_ids, upcoming=upcoming,
                                     cursor=request.args.get("cursor") or None, limit=CALENDAR_PAGE)
    except Invalid as exc:
        return render_template("calendar.html", **{**context, "errors": exc.errors}), 422
    return render_template("calendar.html", page=page, first_page=not request.args.get("cursor"), **context)


def _person_id(s: Session, actor: Actor | None) -> int | None:
    if actor is None:
        return None
    account = s.get(Account, actor.account_id)
    return account.person_id if account else None


@bp.route("/sitzungen/neu", methods=["GET", "POST"])
@login_required
def new_meeting() -> ResponseReturnValue:
    actor = current_actor()
    assert actor is not None  # login_required
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"start_time": "15:00"}
    status = 200
    s = request_session()
    orgs = procedures.secretariat_organizations(s, actor)
    if not orgs:
        abort(403)
    if request.method == "POST":
        values = form_values()
        try:
            sessions.create_meeting(s, actor, values, now=request_now())
        except Invalid as exc:
            rollback_request()
            errors, status = exc.errors, 422
        else:
            flash(_("Die Sitzung wurde angelegt."), "success")
            return redirect(url_for("papers.meetings"))
    return render_template("meeting_form.html", values=values, errors=errors, orgs=orgs), status

