"""Verwaltung (administration only): accounts, their grants (roles), deactivation, passwords."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlmodel import col, select

from engine import standins
from engine.accounts import MIN_PASSWORD_LENGTH
from engine.council import Grant, Organization, Person
from engine.errors import Conflict, Invalid, NotFound
from engine.identity import account_admin, logins

from .admin import require_admin
from .auth import current_login, login_required
from .i18n import gettext as _
from .views import form_values, request_now, request_session, rollback_request

bp = Blueprint("accounts", __name__, url_prefix="/verwaltung/konten")

_ID = "<int:account_id>"


def _persons() -> list[Person]:
    return list(request_session().exec(select(Person).order_by(col(Person.family_name),
                                                               col(Person.given_name))))


def _list_page(values: dict[str, Any], errors: dict[str, list[str]], status: int) -> ResponseReturnValue:
    return render_template("admin_accounts.html", rows=account_admin.account_list(request_session()),
                           persons=_persons(), values=values, errors=errors,
                           min_length=MIN_PASSWORD_LENGTH), status


@bp.route("", methods=["GET", "POST"])
@login_required
def index() -> ResponseReturnValue:
    actor = require_admin()
    if request.method == "GET":
        return _list_page({}, {}, 200)
    values = form_values()
    try:
        account = account_admin.create(request_session(), actor, values, now=request_now())
    except Invalid as exc:
        rollback_request()
        return _list_page({k: v for k, v in values.items() if k not in ("password", "repeated")},
                          exc.errors, 422)
    flash(_("Das Konto %(name)s wurde angelegt.", name=account.username), "success")
    return redirect(url_for("accounts.account", account_id=account.id))


def _account_page(account_id: int, values: dict[str, Any] | None, errors: dict[str, list[str]],
                  status: int, problem: str | None = None,
                  stand_in_values: dict[str, Any] | None = None) -> ResponseReturnValue:
    s = request_session()
    try:
        account = account_admin.get_account(s, account_id)
    except NotFound:
        abort(404)
    if values is None:
        values = {"display_name": account.display_name, "email": account.email,
                  "person_id": account.person_id}
    organizations = list(s.exec(select(Organization).order_by(col(Organization.organization_type),
                                                              col(Organization.name))))
    return render_template(
        "admin_account.html", account=account, values=values, errors=errors, problem=problem,
        grants=account_admin.grants_of(s, [account_id])[account_id], persons=_persons(),
        roles=account_admin.ROLES, gremien=[o for o in organizations if o.organization_type == "Gremium"],
        bereiche=[o for o in organizations if o.organization_type == "Verwaltungsbereich"],
        sessions=logins.live(s, account_id), oidc=account_admin.is_oidc(account),
        min_length=MIN_PASSWORD_LENGTH, periods=standins.periods_of(s, account_id, request_now()),
        stand_in_errors={k.removeprefix("v-"): v for k, v in errors.items() if k.startswith("v-")},
        stand_in_values=stand_in_values or {}), status


def _refused(account_id: int, exc: Invalid | Conflict, prefix: str = "") -> ResponseReturnValue:
    rollback_request()
    if isinstance(exc, Conflict):
        return _account_page(account_id, None, {}, 409, problem=exc.message)
    return _account_page(account_id, None, {f"{prefix}{k}": v for k, v in exc.errors.items()}, 422)


@bp.route(f"/{_ID}", methods=["GET", "POST"])
@login_required
def account(account_id: int) -> ResponseReturnValue:
    actor = require_admin()
    if request.method == "GET":
        return _account_page(account_id, None, {}, 200)
    values = form_values()
    try:
        account_admin.update(request_session(), actor, account_id, values, now=request_now())
    except NotFound:
        abort(404)
    except Invalid as exc:
        rollback_request()
        return _account_page(account_id, values, exc.errors, 422)
    flash(_("Gespeichert."), "success")
    return redirect(url_for("accounts.account", account_id=account_id))


@bp.post(f"/{_ID}/rollen")
@login_required
def add_grant(account_id: int) -> ResponseReturnValue:
    actor = require_admin()
    try:
        account_admin.add_grant(request_session(), actor, account_id, form_values(), now=request_now())
    except NotFound:
        abort(404)
    except Invalid as exc:
        return _refused(account_id, exc, "g-")
    flash(_("Die Rolle wurde vergeben."), "success")
    return redirect(url_for("accounts.account", account_id=account_id))


@bp.post(f"/{_ID}/rollen/<int:grant_id>/entfernen")
@login_required
def remove_grant(account_id: int, grant_id: int) -> ResponseReturnValue:
    actor = require_admin()
    s = request_session()
    grant = s.get(Grant, grant_id)
    if grant is None or grant.account_id != account_id:
        abort(404)
    try:
        account_admin.remove_grant(s, actor, grant_id, now=request_now())
    except Conflict as exc:
        return _refused(account_id, exc)
    flash(_("Die Rolle wurde entzogen."), "success")
    return redirect(url_for("accounts.account", account_id=account_id))


@bp.post(f"/{_ID}/deaktivieren")
@login_required
def disable(account_id: int) -> ResponseReturnValue:
    return _set_active(account_id, False)


@bp.post(f"/{_ID}/aktivieren")
@login_required
def enable(account_id: int) -> ResponseReturnValue:
    return _set_active(account_id, True)


def _set_active(account_id: int, active: bool) -> ResponseReturnValue:
    actor = require_admin()
    try:
        ended = account_admin.set_active(request_session(), actor, account_id, active, request_now())
    except NotFound:
        abort(404)
    except Conflict as exc:
        return _refused(account_id, exc)
    if active:
        flash(_("Das Konto ist wieder aktiv."), "success")
    else:
        flash(_("Das Konto ist deaktiviert; beendete Sitzungen: %(count)s.", count=ended), "success")
    return redirect(url_for("accounts.account", account_id=account_id))


@bp.post(f"/{_ID}/passwort")
@login_required
def set_password(account_id: int) -> ResponseReturnValue:
    actor = require_admin()
    login = current_login()
    keep = login.id if login is not None and account_id == actor.account_id else None
    try:
        ended = account_admin.set_password(request_session(), actor, account_id, form_values(), request_now(),
                                           keep=keep)
    except NotFound:
        abort(404)
    except Invalid as exc:
        return _refused(account_id, exc, "p-")
    flash(_("Das Passwort wurde neu gesetzt; beendete Sitzungen: %(count)s.", count=ended), "success")
    return redirect(url_for("accounts.account", account_id=account_id))


@bp.post(f"/{_ID}/vertretung")
@login_required
def stand_in(account_id: int) -> ResponseReturnValue:
    """Name a stand-in for the account (the Administration, e.g. for someone suddenly ill)."""
    actor = require_admin()
    values = form_values()
    try:
        standins.name_stand_in(request_session(), actor, account_id, values.get("vertretung"),
                               values.get("von"), values.get("bis"), request_now())
    except NotFound:
        abort(404)
    except Invalid as exc:
        rollback_request()
        return _account_page(account_id, None, {f"v-{k}": v for k, v in exc.errors.items()}, 422,
                             stand_in_values=values)
    flash(_("Die Vertretung ist eingetragen."), "success")
    return redirect(url_for("accounts.account", account_id=account_id))


@bp.post("/vertretung/<int:stand_in_id>/beenden")
@login_required
def end_stand_in(stand_in_id: int) -> ResponseReturnValue:
    actor = require_admin()
    try:
        row = standins.end_stand_in(request_session(), actor, stand_in_id, request_now())
    except NotFound:
        abort(404)
    flash(_("Die Vertretung ist beendet."), "success")
    return redirect(url_for("accounts.account", account_id=row.absent_id))
