"""Mein Konto: who I am, my roles, how I logged in, my password, my live sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from engine import standins
from engine.accounts import MIN_PASSWORD_LENGTH
from engine.council import Account, Person
from engine.errors import Forbidden, Invalid, NotFound
from engine.identity import account_admin, logins
from engine.settings import TIMEZONE

from .auth import current_actor, current_login, login_required
from .i18n import gettext as _
from .views import form_values, request_now, request_session, rollback_request

bp = Blueprint("account", __name__)


@bp.app_template_filter("stamp")
def stamp(value: datetime | None) -> str:
    """08.11.2024 14:30 in Europe/Berlin (the session list's and the account list's times)."""
    if value is None:
        return ""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(TIMEZONE).strftime("%d.%m.%Y %H:%M")


def _page(errors: dict[str, list[str]], status: int, stand_in_errors: dict[str, list[str]] | None = None,
          stand_in_values: dict[str, Any] | None = None) -> ResponseReturnValue:
    actor, login = current_actor(), current_login()
    if actor is None or login is None:  # login_required saw an actor: an API token has no page here
        abort(403)
    s = request_session()
    account = s.get(Account, actor.account_id)
    assert account is not None
    person = s.get(Person, account.person_id) if account.person_id else None
    # The personal API tokens (another blueprint) get their link here once that page exists.
    tokens_url = url_for("tokens.index") if "tokens.index" in current_app.view_functions else None
    return render_template(
        "account.html", account=account, person=person, login=login,
        grants=account_admin.grants_of(s, [actor.account_id])[actor.account_id],
        sessions=logins.live(s, actor.account_id), local=bool(account.password_hash),
        oidc=account_admin.is_oidc(account), errors=errors, tokens_url=tokens_url,
        min_length=MIN_PASSWORD_LENGTH, periods=standins.periods_of(s, actor.account_id, request_now()),
        stand_in_errors=stand_in_errors or {}, stand_in_values=stand_in_values or {}), status


@bp.get("/konto")
@login_required
def index() -> ResponseReturnValue:
    return _page({}, 200)


@bp.post("/konto/passwort")
@login_required
def password() -> ResponseReturnValue:
    actor, login = current_actor(), current_login()
    if actor is None or login is None:
        abort(403)
    values: dict[str, Any] = form_values()
    try:
        ended = account_admin.change_own_password(request_session(), actor, values, request_now(),
                                                  keep=login.id)
    except Invalid as exc:
        rollback_request()
        return _page(exc.errors, 422)
    if ended:
        flash(_("Das Passwort wurde geändert; Ihre anderen Sitzungen (%(count)s) sind beendet.", count=ended),
              "success")
    else:
        flash(_("Das Passwort wurde geändert."), "success")
    return redirect(url_for("account.index"))


@bp.post("/konto/vertretung")
@login_required
def stand_in() -> ResponseReturnValue:
    """Name one's own stand-in for a period."""
    actor = current_actor()
    if actor is None or current_login() is None:
        abort(403)
    values: dict[str, Any] = form_values()
    try:
        row = standins.name_stand_in(request_session(), actor, actor.account_id, values.get("vertretung"),
                                     values.get("von"), values.get("bis"), request_now())
    except Invalid as exc:
        rollback_request()
        return _page({}, 422, exc.errors, values)
    flash(_("Die Vertretung vom %(start)s bis %(end)s ist eingetragen.",
            start=row.starts.strftime("%d.%m.%Y"), end=row.ends.strftime("%d.%m.%Y")), "success")
    return redirect(url_for("account.index"))


@bp.post("/konto/vertretung/<int:stand_in_id>/beenden")
@login_required
def end_stand_in(stand_in_id: int) -> ResponseReturnValue:
    """End a period at once (the absent person or the stand-in)."""
    actor = current_actor()
    if actor is None:
        abort(403)
    try:
        standins.end_stand_in(request_session(), actor, stand_in_id, request_now())
    except NotFound:
        abort(404)
    except Forbidden:
        abort(403)
    flash(_("Die Vertretung ist beendet."), "success")
    return redirect(url_for("account.index"))
