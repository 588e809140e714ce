"""Verwaltung (administration only): each Gremium's deadline rules, each Körperschaft's Bundesland."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from engine.accounts import Actor
from engine.calendar import deadlines
from engine.calendar.deadlines import Rules
from engine.council import Body, DeadlineRule, Meeting, Organization
from engine.errors import Invalid
from engine.settings import TIMEZONE
from engine.types import utcnow

from .auth import current_actor, login_required
from .i18n import N_
from .i18n import gettext as _
from .views import request_session, rollback_request

bp = Blueprint("admin", __name__, url_prefix="/verwaltung")

#: The Verwaltung's pages: the navigation's menu and the links on each of them.
ADMIN_PAGES = (("people.organizations", N_("Gremien")), ("people.persons", N_("Personen")),
               ("accounts.index", N_("Konten")), ("admin.gremien", N_("Fristen")),
               ("people.outbox_page", N_("Postausgang und Störungen")),
               ("models.index", N_("Prozessmodelle")), ("modeler.index", N_("Modell bearbeiten")))


@bp.app_template_global()
def admin_pages() -> list[tuple[str, str]]:
    """The Verwaltung's pages (endpoint, label in the page's language)."""
    return [(endpoint, _(label)) for endpoint, label in ADMIN_PAGES]

_RULE_NUMBERS = ("invitation_days", "agenda_days_before", "result_working_days")


def require_admin() -> Actor:
    """The logged-in admin (403 for anyone else)."""
    actor = current_actor()
    if actor is None or not actor.is_admin:
        abort(403)
    return actor


def _days(n: int, working: bool) -> str:
    if working:
        return f"{n} {_('Werktag') if n == 1 else _('Werktage')}"
    return f"{n} {_('Kalendertag') if n == 1 else _('Kalendertage')}"


def describe(rules: Rules) -> dict[str, str]:
    """The rules in words: "7 Kalendertage, ohne Sitzungstag"."""
    session_day = _("mit Sitzungstag") if rules.count_session_day else _("ohne Sitzungstag")
    agenda = (_("am Tag der Ladungsfrist") if rules.agenda_days_before == 0 else
              f"{_days(rules.agenda_days_before, rules.working_days)} {_('vor der Ladungsfrist')}")
    return {
        "invitation": f"{_days(rules.invitation_days, rules.working_days)}, {session_day}",
        "agenda": agenda,
        "result": f"{_days(rules.result_working_days, True)} {_('nach der Sitzung')}",
    }


def _next_meetings(s: Session, organization_ids: list[int]) -> dict[int, Meeting]:
    """The next upcoming, not cancelled Sitzung of each Gremium (one query)."""
    if not organization_ids:
        return {}
    upcoming = (col(Meeting.start) >= utcnow(), col(Meeting.cancelled) == False)  # noqa: E712
    first = (select(col(Meeting.organization_id), func.min(col(Meeting.start)).label("start"))
             .where(col(Meeting.organization_id).in_(organization_ids), *upcoming)
             .group_by(col(Meeting.organization_id)).subquery())
    rows = s.exec(select(Meeting).join(first, and_(
        col(Meeting.organization_id) == first.c.organization_id, col(Meeting.start) == first.c.start))
        .where(*upcoming).order_by(col(Meeting.id)))
    found: dict[int, Meeting] = {}
    for meeting in rows:
        found.setdefault(meeting.organization_id, meeting)
    return found


def _overview(s: Session) -> list[dict[str, Any]]:
    bodies = list(s.exec(select(Body).order_by(col(Body.name))))
    gremien = list(s.exec(select(Organization).where(Organization.organization_type == "Gremium")
                          .order_by(col(Organization.name))))
    ids = [o.id for o in gremien if o.id is not None]
    rules = {r.organization_id: Rules.of(r) for r in s.exec(
        select(DeadlineRule).where(col(DeadlineRule.organization_id).in_(ids)))} if ids else {}
    meetings = _next_meetings(s, ids)
    overview = []
    for body in bodies:
        rows = []
        for org in (o for o in gremien if o.body_id == body.id):
            assert org.id is not None
            rule = rules.get(org.id, Rules())
            meeting = meetings.get(org.id)
            due = None
            if meeting is not None:
                due = deadlines.meeting_deadlines(meeting.start.astimezone(TIMEZONE).date(), rule, body.state)
            rows.append({"org": org, "words": describe(rule), "meeting": meeting, "deadlines": due})
        overview.append({"body": body, "gremien": rows})
    return overview


def _render_overview(errors: dict[str, list[str]], status: int) -> ResponseReturnValue:
    return render_template("admin_gremien.html", overview=_overview(request_session()), errors=errors,
                           bundeslaender=deadlines.BUNDESLAENDER), status


@bp.get("/gremien")
@login_required
def gremien() -> ResponseReturnValue:
    require_admin()
    return _render_overview({}, 200)


@bp.post("/koerperschaften/<int:body_id>/land")
@login_required
def body_state(body_id: int) -> ResponseReturnValue:
    actor = require_admin()
    state = request.form.get("state", "").strip() or None
    try:
        deadlines.set_body_state(request_session(), actor, body_id, state)
    except Invalid as exc:
        rollback_request()
        return _render_overview({f"{key}-{body_id}": messages for key, messages in exc.errors.items()}, 422)
    flash(_("Das Bundesland wurde gespeichert."), "success")
    return redirect(url_for("admin.gremien"))


@bp.route("/gremien/<int:org_id>/fristen", methods=["GET", "POST"])
@login_required
def rules(org_id: int) -> ResponseReturnValue:
    actor = require_admin()
    s = request_session()
    org = s.get(Organization, org_id)
    if org is None or org.organization_type != "Gremium":
        abort(404)
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        values: dict[str, Any] = {name: request.form.get(name, "") for name in _RULE_NUMBERS}
        values["working_days"] = request.form.get("working_days", "false")
        values["count_session_day"] = "count_session_day" in request.form
        try:
            deadlines.set_rules(s, actor, org_id, values)
        except Invalid as exc:
            rollback_request()
            errors, status = exc.errors, 422
        else:
            flash(_("Die Fristen wurden gespeichert."), "success")
            return redirect(url_for("admin.gremien"))
    current = deadlines.rules_for(s, org_id)
    if not errors:
        values = {name: str(getattr(current, name)) for name in _RULE_NUMBERS}  # "0" stays visible
        values["working_days"] = "true" if current.working_days else "false"
        values["count_session_day"] = current.count_session_day
    body = s.get(Body, org.body_id)
    meeting = _next_meetings(s, [org_id]).get(org_id)
    due = deadlines.deadlines_for_meeting(s, meeting) if meeting is not None else None
    return render_template("admin_rules.html", org=org, body=body, values=values, errors=errors,
                           words=describe(current), meeting=meeting, deadlines=due,
                           bundeslaender=deadlines.BUNDESLAENDER), status
