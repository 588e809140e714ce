"""Verwaltung (administration only): Gremien, persons and memberships, reminder rules; the
e-mail outbox's failed messages and the instances stopped by an incident, each with retry."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlmodel import col, select

from engine import allowance, audit, members, outbox
from engine.calendar import reminders
from engine.council import Body, Meeting, Organization, Paper, Person
from engine.errors import Conflict, Invalid, NotFound
from engine.outbox import OutboxMessage
from engine.process import timers
from engine.schemas import GREMIUM_KINDS, MEMBERSHIP_ROLES

from .admin import require_admin
from .auth import login_required
from .i18n import gettext as _
from .views import form_values, request_now, request_session, rollback_request

bp = Blueprint("people", __name__, url_prefix="/verwaltung")


# ----------------------------------------------------------------------------- Gremien

def _gremien_page(values: dict[str, Any], errors: dict[str, list[str]], status: int) -> ResponseReturnValue:
    s = request_session()
    bodies = list(s.exec(select(Body).order_by(col(Body.name))))
    gremien = list(s.exec(select(Organization).where(Organization.organization_type == "Gremium")
                          .order_by(col(Organization.name))))
    return render_template("admin_organizations.html", bodies=bodies, gremien=gremien, kinds=GREMIUM_KINDS,
                           values=values, errors=errors), status


@bp.route("/gremien/verzeichnis", methods=["GET", "POST"])
@login_required
def organizations() -> ResponseReturnValue:
    actor = require_admin()
    if request.method == "GET":
        return _gremien_page({}, {}, 200)
    values = form_values()
    try:
        org = members.create_gremium(request_session(), actor, values)
    except Invalid as exc:
        rollback_request()
        return _gremien_page(values, exc.errors, 422)
    flash(_("Das Gremium %(name)s wurde angelegt.", name=org.name), "success")
    return redirect(url_for("people.organization", org_id=org.id))


def _organization_page(org_id: int, values: dict[str, Any], errors: dict[str, list[str]],
                       status: int) -> ResponseReturnValue:
    s = request_session()
    org = s.get(Organization, org_id)
    if org is None or org.organization_type != "Gremium":
        abort(404)
    persons = list(s.exec(select(Person).where(Person.body_id == org.body_id)
                          .order_by(col(Person.family_name), col(Person.given_name))))
    rules = reminders.rules_for(s, org_id)
    return render_template(
        "admin_organization.html", org=org, kinds=GREMIUM_KINDS, roles=MEMBERSHIP_ROLES,
        memberships=members.memberships_of(s, org_id), persons=persons, values=values, errors=errors,
        rules=rules, own_rules=members.own_rules(s, org_id), rates=allowance.rates_of(s, org_id),
        euro=allowance.euro,
        audiences={reminders.AUDIENCE_MEMBERS: _("Mitglieder"),
                   reminders.AUDIENCE_SECRETARIAT: _("Sekretariat")},
        anchors={reminders.KIND_SESSION: _("vor der Sitzung"),
                 reminders.KIND_AGENDA_CLOSING: _("vor dem Tagesordnungsschluss"),
                 reminders.KIND_INVITATION_DUE: _("vor Ablauf der Ladungsfrist (Einladung noch offen)")},
        today=request_now().date()), status


@bp.route("/gremien/<int:org_id>", methods=["GET", "POST"])
@login_required
def organization(org_id: int) -> ResponseReturnValue:
    actor = require_admin()
    if request.method == "GET":
        return _organization_page(org_id, {}, {}, 200)
    values = form_values()
    try:
        members.update_gremium(request_session(), actor, org_id, values)
    except NotFound:
        abort(404)
    except Invalid as exc:
        rollback_request()
        return _organization_page(org_id, values, exc.errors, 422)
    flash(_("Das Gremium wurde gespeichert."), "success")
    return redirect(url_for("people.organization", org_id=org_id))


@bp.post("/gremien/<int:org_id>/mitglieder")
@login_required
def add_membership(org_id: int) -> ResponseReturnValue:
    actor = require_admin()
    values = form_values()
    values["voting_right"] = "voting_right" in request.form
    try:
        members.add_membership(request_session(), actor, org_id, values, now=request_now())
    except NotFound:
        abort(404)
    except Invalid as exc:
        rollback_request()
        return _organization_page(org_id, values, {f"m-{k}": v for k, v in exc.errors.items()}, 422)
    except Conflict as exc:
        rollback_request()
        return _organization_page(org_id, values, {"m-person_id": [exc.message]}, 409)
    flash(_("Die Mitgliedschaft wurde eingetragen."), "success")
    return redirect(url_for("people.organization", org_id=org_id))


@bp.post("/mitgliedschaften/<int:membership_id>/ende")
@login_required
def end_membership(membership_id: int) -> ResponseReturnValue:
    actor = require_admin()
    try:
        membership = members.end_membership(request_session(), actor, membership_id, form_values(),
                                            now=request_now())
    except NotFound:
        abort(404)
    except Invalid as exc:
        rollback_request()
        flash(" ".join(" ".join(m) for m in exc.errors.values()), "error")
        return redirect(request.referrer or url_for("people.organizations")), 303
    flash(_("Die Mitgliedschaft endet am %(day)s.", day=f"{membership.end_date:%d.%m.%Y}"), "success")
    return redirect(url_for("people.organization", org_id=membership.organization_id))


@bp.post("/gremien/<int:org_id>/erinnerungen")
@login_required
def reminder_rules(org_id: int) -> ResponseReturnValue:
    actor = require_admin()
    rules = [{"audience": a, "anchor": k, "days": d} for a, k, d in zip(
        request.form.getlist("audience"), request.form.getlist("anchor"), request.form.getlist("days"),
        strict=False) if d.strip()]
    try:
        members.set_reminder_rules(request_session(), actor, org_id, rules, now=request_now())
    except NotFound:
        abort(404)
    except Invalid as exc:
        rollback_request()
        return _organization_page(org_id, {}, {f"r-{k}": v for k, v in exc.errors.items()}, 422)
    flash(_("Die Erinnerungen wurden gespeichert; die kommenden Sitzungen sind neu geplant."), "success")
    return redirect(url_for("people.organization", org_id=org_id))


@bp.post("/gremien/<int:org_id>/sitzungsgeld")
@login_required
def allowance_rate(org_id: int) -> ResponseReturnValue:
    """The administration sets the Gremium's Sitzungsgeld per session from a day on."""
    actor = require_admin()
    values = form_values()
    try:
        allowance.set_rate(request_session(), actor, org_id, values, now=request_now())
    except NotFound:
        abort(404)
    except Invalid as exc:
        rollback_request()
        return _organization_page(org_id, values, {f"a-{k}": v for k, v in exc.errors.items()}, 422)
    flash(_("Das Sitzungsgeld wurde festgesetzt."), "success")
    return redirect(url_for("people.organization", org_id=org_id, _anchor="sitzungsgeld"))


# ----------------------------------------------------------------------------- persons

def _persons_page(values: dict[str, Any], errors: dict[str, list[str]], status: int) -> ResponseReturnValue:
    s = request_session()
    persons = list(s.exec(select(Person).order_by(col(Person.family_name), col(Person.given_name))))
    bodies = list(s.exec(select(Body).order_by(col(Body.name))))
    return render_template("admin_persons.html", persons=persons, bodies=bodies, values=values,
                           errors=errors), status


@bp.route("/personen", methods=["GET", "POST"])
@login_required
def persons() -> ResponseReturnValue:
    actor = require_admin()
    if request.method == "GET":
        return _persons_page({}, {}, 200)
    values = form_values()
    try:
        person = members.create_person(request_session(), actor, values)
    except Invalid as exc:
        rollback_request()
        return _persons_page(values, exc.errors, 422)
    flash(_("%(name)s wurde angelegt.", name=person.name), "success")
    return redirect(url_for("people.persons"))


@bp.route("/personen/<int:person_id>", methods=["GET", "POST"])
@login_required
def person(person_id: int) -> ResponseReturnValue:
    actor = require_admin()
    s = request_session()
    found = s.get(Person, person_id)
    if found is None:
        abort(404)
    values: dict[str, Any] = {k: getattr(found, k) for k in ("family_name", "given_name", "form_of_address",
                                                             "email")}
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        values = form_values()
        try:
            members.update_person(s, actor, person_id, values)
        except Invalid as exc:
            rollback_request()
            errors, status = exc.errors, 422
        else:
            flash(_("Gespeichert."), "success")
            return redirect(url_for("people.persons"))
    return render_template("admin_person.html", person=found, values=values, errors=errors), status


# ----------------------------------------------------------------------------- operations

@bp.get("/postausgang")
@login_required
def outbox_page() -> ResponseReturnValue:
    require_admin()
    s = request_session()
    failed = list(s.exec(select(OutboxMessage).where(OutboxMessage.status == outbox.FAILED)
                         .order_by(col(OutboxMessage.id).desc()).limit(200)))
    waiting = list(s.exec(select(OutboxMessage).where(OutboxMessage.status == outbox.PENDING,
                                                      col(OutboxMessage.attempts) > 0)
                          .order_by(col(OutboxMessage.next_attempt_at)).limit(200)))
    incidents = timers.incidents(s)
    # Each stopped Vorgang with its Vorlage's and its Sitzung's numbers (2024/063, SI/2024/131).
    papers = {p.id: p for p in s.exec(select(Paper).where(col(Paper.id).in_(
        {i.paper_id for i in incidents if i.paper_id})))} if incidents else {}
    sessions = {m.id: m for m in s.exec(select(Meeting).where(col(Meeting.id).in_(
        {i.meeting_id for i in incidents if i.meeting_id})))} if incidents else {}
    return render_template("admin_outbox.html", failed=failed, waiting=waiting,
                           incidents=incidents, papers=papers, sessions=sessions)


@bp.post("/postausgang/<int:message_id>/erneut")
@login_required
def retry_message(message_id: int) -> ResponseReturnValue:
    actor = require_admin()
    s = request_session()
    message = outbox.retry(s, message_id, request_now())
    if message is None:
        abort(404)

    audit.record(s, actor.username, actor.display_name, "outbox.retried", at=request_now(),
                 details={"message_id": message.id, "to": message.to_address, "subject": message.subject})
    flash(_("Die E-Mail an %(to)s wird erneut versandt.", to=message.to_address), "success")
    return redirect(url_for("people.outbox_page"))


@bp.post("/stoerungen/<int:instance_id>/fortsetzen")
@login_required
def resume(instance_id: int) -> ResponseReturnValue:
    actor = require_admin()
    try:
        timers.resume(request_session(), actor.username, actor.display_name, instance_id, request_now())
    except Conflict as exc:
        rollback_request()
        flash(exc.message, "error")
        return redirect(url_for("people.outbox_page")), 303
    flash(_("Der Vorgang läuft wieder."), "success")
    return redirect(url_for("people.outbox_page"))
