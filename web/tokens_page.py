"""The logged-in user's own settings: "API-Zugänge" (personal API tokens).

Everyone manages their own tokens; the administration also creates and revokes tokens of
any account (a service account for a Fachverfahren). A new token is shown once, on the
answer to its creation; only its hash is kept. Creating and revoking are audited
(``engine.identity.tokens``)."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request
from flask.typing import ResponseReturnValue
from sqlmodel import col, select

from engine.council import Account
from engine.errors import EngineError
from engine.identity import tokens
from engine.types import ascii_int

from .auth import current_actor, login_required
from .i18n import gettext as _
from .inputs import parse_id
from .views import request_now, request_session, rollback_request

bp = Blueprint("tokens", __name__, url_prefix="/konto")

#: The expiry choices of the form, in days (0: never).
EXPIRY_DAYS = (30, 90, 365, 0)


@bp.route("/tokens", methods=["GET", "POST"])
@login_required
def index() -> ResponseReturnValue:
    s = request_session()
    actor = current_actor()
    assert actor is not None
    created: tokens.Created | None = None
    errors: dict[str, list[str]] = {}
    status = 200
    if request.method == "POST":
        try:
            if request.form.get("action") == "revoke":
                revoked = tokens.revoke(s, actor, ascii_int(request.form.get("token_id", "")) or 0,
                                        now=request_now())
                flash(_("Der Zugang „%(name)s“ gilt nicht mehr.", name=revoked.name), "success")
            else:
                account_id = actor.account_id
                if actor.is_admin and request.form.get("account"):
                    account_id = parse_id(request.form["account"], "account", required=True) or 0
                created = tokens.create(
                    s, actor, account_id, request.form.get("name", ""), request.form.getlist("scopes"),
                    tokens.parse_expiry(request.form.get("expires", "90")[:12], request_now()),
                    now=request_now())
                status = 201
        except EngineError as exc:
            rollback_request()
            errors, status = exc.errors or {"_": [exc.message]}, exc.status
    mine = [(t, None) for t in tokens.list_for(s, actor.account_id)]
    others = [(t, u) for t, u in tokens.list_all(s)
              if t.account_id != actor.account_id] if actor.is_admin else []
    accounts = list(s.exec(select(Account).where(col(Account.active).is_(True))
                           .order_by(col(Account.username)))) if actor.is_admin else []
    return render_template("account_tokens.html", mine=mine, others=others, accounts=accounts,
                           scopes=tokens.SCOPES, expiry_days=EXPIRY_DAYS, created=created, errors=errors,
                           now=request_now(), values=request.form if errors else {}), status
