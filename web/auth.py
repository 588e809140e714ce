"""Local login (hashed passwords), the current actor, CSRF protection for forms.

OpenID Connect through authlib follows on roadmap item 5; the session format below
(an account id) is what that login will set as well.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue

from engine import audit
from engine.accounts import Actor, authenticate, load_actor, privileged_account

from .i18n import gettext as _
from .views import request_session

bp = Blueprint("auth", __name__)


def current_actor() -> Actor | None:
    """The logged-in account, loaded once per request (one query)."""
    if "actor" not in g:
        account_id = session.get("account_id")
        actor = None
        if account_id is not None:
            actor = load_actor(request_session(), account_id)
            if actor is None:
                session.clear()
        g.actor = actor
    return g.actor  # type: ignore[no-any-return]


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_actor() is None:
            if request.path.startswith("/api/"):
                abort(401)
            flash(_("Bitte melden Sie sich an."), "info")
            return redirect(url_for("auth.login", next=request.full_path))
        return view(*args, **kwargs)

    return wrapped


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]  # type: ignore[no-any-return]


def _check_csrf() -> None:
    if request.method != "POST" or request.path.startswith("/api/"):
        return  # the JSON API takes no cookies-only form posts (content type checked there)
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent.encode(), session.get("csrf", "").encode()):
        abort(400, "CSRF")


def _safe_next(target: str | None) -> str:
    r"""A path on this site, or the inbox. Browsers drop TAB/LF/CR inside a URL and read
    ``\`` as ``/``: ``/\t/evil.example`` or ``/\evil.example`` would leave the site."""
    cleaned = _printable(target or "").replace("\\", "/")
    for candidate in (cleaned, _printable(unquote(cleaned)).replace("\\", "/")):
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
            return url_for("inbox.index")
    return cleaned


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and not c.isspace())


@bp.route("/anmelden", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        s = request_session()
        actor = authenticate(s, username, password)
        privileged = privileged_account(s, username)
        if privileged is not None:  # logins of admins and auditors are part of the history
            audit.record(s, username, privileged.display_name,
                         "login.succeeded" if actor is not None else "login.failed",
                         details={"address": request.remote_addr or ""})
        if actor is None:
            error = _("Benutzername oder Passwort falsch.")
        else:
            session.clear()
            session["account_id"] = actor.account_id
            session["csrf"] = secrets.token_urlsafe(32)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/abmelden")
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for("public.index"))


def init_app(app: Flask) -> None:
    app.before_request(_check_csrf)
    app.jinja_env.globals.update(csrf_token=csrf_token, current_actor=current_actor)
