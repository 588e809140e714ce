"""Login (local accounts; OpenID Connect in web/oidc.py), sessions kept on the server, CSRF.

The signed session cookie carries only the key of a ``LoginSession`` row (engine/identity/logins.py) and
the CSRF token. A login starts a new row and a new cookie (no session fixation); logging out
ends the row, so a copied cookie is dead afterwards; the row also ends after the idle and the
absolute time-out. Login attempts are counted by flask-limiter before the password is looked
at (an atomic increment, in memory or in Redis): past the limit the login answers 429 without
checking; a successful login gives its attempt back, so only failures lock out.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from engine import audit
from engine.accounts import Actor, authenticate, privileged_account
from engine.council import ROLE_AUDITOR, ROLE_RELEASE, ROLE_SECRETARIAT, Account
from engine.identity import logins
from engine.process import procedures
from engine.settings import Settings
from engine.visibility import is_clerk

from .i18n import gettext as _
from .views import request_now, request_session

bp = Blueprint("auth", __name__)

METHOD_PASSWORD = "Passwort"


def _settings() -> Settings:
    return current_app.extensions["ratsflow.settings"]  # type: ignore[no-any-return]


def _timeouts() -> logins.Timeouts:
    settings = _settings()
    return logins.Timeouts(idle=timedelta(minutes=settings.session_idle_minutes),
                           absolute=timedelta(hours=settings.session_max_hours))


def current_login() -> logins.LoginSession | None:
    """The live server-side session of this request (ended ones and time-outs: None)."""
    if "login" not in g:
        _load_login()
    return g.login  # type: ignore[no-any-return]


#: Endpoints that complete the task of their ``task_id`` (POST): their login is read with
#: the task and all a completion needs (``procedures.load_task_with_login``), one statement.
COMPLETES_A_TASK: set[str] = set()


def _load_login() -> None:
    """The login and its account with grants, read together (one query per request; where
    a task is completed, with the task too)."""
    key = session.get("sid")
    row, actor = None, None
    if isinstance(key, str):
        rows = None
        task_id = (request.view_args or {}).get("task_id")
        if request.method == "POST" and isinstance(task_id, int) and request.endpoint in COMPLETES_A_TASK:
            rows = procedures.load_task_with_login(request_session(), task_id, key)
        row, actor = logins.check_with_actor(request_session(), key, request_now(), _timeouts(), rows=rows)
        if row is None:
            session.pop("sid", None)
        elif actor is None:  # the account was disabled meanwhile
            logins.end(request_session(), row, request_now(), logins.ENDED_DISABLED)
            session.pop("sid", None)
    g.login = row
    if "actor" not in g:
        g.actor = actor


def current_actor() -> Actor | None:
    """The logged-in account (or, in the API, the bearer token's), loaded once per request."""
    if "actor" not in g:
        _load_login()
    return g.actor  # type: ignore[no-any-return]


def log_in(account_id: int, method: str, *, provider: str | None = None, id_token: str | None = None) -> None:
    """Start a new session for the account: a new cookie, a new row, a new CSRF token.

    Whatever the browser's session held before is dropped (no fixation); the privileged
    accounts' logins are part of the history."""
    s = request_session()
    key = logins.begin(s, account_id, method, request_now(), provider=provider, id_token=id_token,
                       address=request.remote_addr or "", user_agent=request.user_agent.string or "")
    session.clear()
    session["sid"] = key
    session["csrf"] = secrets.token_urlsafe(32)
    g.pop("login", None)
    g.pop("actor", None)
    account = s.get(Account, account_id)
    if account is not None and privileged_account(s, account.username) is not None:
        audit.record(s, account.username, account.display_name, "login.succeeded", at=request_now(),
                     details={"address": request.remote_addr or "", "method": method})


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


def csrf_exempt(view: Callable[..., Any]) -> Callable[..., Any]:
    """A form route that needs no CSRF token: it acts on a signed link alone, never on the
    session (the one-click unsubscribe of RFC 8058, which mail clients POST without a form)."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def _check_csrf() -> None:
    if request.method != "POST" or request.path.startswith("/api/"):
        return  # the JSON API checks its own (a header, or a bearer token instead of the cookie)
    if getattr(current_app.view_functions.get(request.endpoint or ""), "csrf_exempt", False):
        return
    sent = request.form.get("csrf_token", "")
    if not sent or not hmac.compare_digest(sent.encode(), session.get("csrf", "").encode()):
        abort(400, "CSRF")


def works_on_tasks(actor: Actor | None) -> bool:
    """Whose work comes as tasks (the inbox): Sekretariat, Sachbearbeitung, Freigabe (the
    head of a department), Administration. A member or an auditor has none; their page is another."""
    return actor is not None and (actor.is_admin or bool(actor.organizations_for(ROLE_SECRETARIAT))
                                  or bool(actor.organizations_for(ROLE_RELEASE)) or is_clerk(actor))


def landing_page(actor: Actor | None) -> str:
    """Where a login without a ``next`` leads: the tasks for those who work on them, the
    process history for an auditor, "Meine Sitzungen" for a member (and anyone else)."""
    if works_on_tasks(actor):
        return url_for("inbox.index")
    if actor is not None and actor.has_role(ROLE_AUDITOR):
        return url_for("audit.index")
    return url_for("meetings.mine")


def safe_next(target: str | None, actor: Actor | None = None) -> str:
    r"""Where to go after login: a path on this site, or the account's landing page
    (:func:`landing_page`). Browsers drop TAB/LF/CR inside a URL and read ``\`` as ``/``:
    ``/\t/evil.example`` or ``/\evil.example`` would leave the site. The target must parse
    without scheme and host, as sent and decoded."""
    cleaned = _printable(target or "").replace("\\", "/")
    for candidate in (cleaned, _printable(unquote(cleaned)).replace("\\", "/")):
        parts = urlsplit(candidate)
        if parts.scheme or parts.netloc or not candidate.startswith("/") or candidate.startswith("//"):
            return landing_page(actor)
    return cleaned


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable() and not c.isspace())


def _login_key() -> str:
    """Failed logins count per user name (case-insensitive), whoever tries them."""
    return "login:" + request.form.get("username", "").strip().lower()[:150]


def _give_back_attempt() -> None:
    """A successful login is not a failure: take its attempt off the counts it was reserved in
    (per name and per address). Fixed-window counters (flask-limiter's default, set in
    :func:`limit_logins`): one decrement of the key the request incremented, in memory or in
    Redis (where the window ended meanwhile, the key starts a new window one lower: a single
    extra attempt at most)."""
    limiter: Limiter = current_app.extensions["ratsflow.limiter"]
    for counted in limiter.current_limits:
        if not counted.breached:
            limiter.limiter.storage.incr(counted.key, counted.limit.get_expiry(), amount=-1)


def _locked_out(limit: RequestLimit) -> None:
    """The attempt past the limit is refused unchecked; for an admin or auditor it is recorded."""
    username = request.form.get("username", "").strip()
    s = request_session()
    account = privileged_account(s, username)
    if account is not None:
        audit.record(s, username, account.display_name, "login.failed", at=request_now(),
                     details={"address": request.remote_addr or "", "why": "gesperrt"})
        g.uow.commit()


@bp.route("/anmelden", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        username = request.form.get("username", "").strip()
        password = request.form.get("password", "")
        s = request_session()
        actor = authenticate(s, username, password)
        if actor is None:
            privileged = privileged_account(s, username)
            if privileged is not None:  # failed logins of admins and auditors are part of the history
                audit.record(s, username, privileged.display_name, "login.failed", at=request_now(),
                             details={"address": request.remote_addr or ""})
            error = _("Benutzername oder Passwort falsch.")
        else:
            _give_back_attempt()
            log_in(actor.account_id, METHOD_PASSWORD)
            return redirect(safe_next(request.args.get("next"), actor))
    return render_template("login.html", error=error), (401 if error else 200)


@bp.post("/abmelden")
def logout() -> ResponseReturnValue:
    """End this session on the server; a provider's session too (RP-initiated logout)."""
    row = current_login()
    target = url_for("public.index")
    if row is not None:
        logins.end(request_session(), row, request_now(), logins.ENDED_LOGOUT)
        oidc = current_app.extensions.get("ratsflow.oidc")
        if row.provider and oidc is not None:
            back = _settings().base_url + url_for("public.index")  # the public address, behind a proxy too
            target = oidc.end_session_url(row.provider, row.id_token, back) or target
    session.clear()
    return redirect(target)


@bp.post("/abmelden/ueberall")
def logout_everywhere() -> ResponseReturnValue:
    """End every session of this account, on every device (this one included)."""
    row = current_login()
    if row is None:
        return redirect(url_for("auth.login"))
    s = request_session()
    ended = logins.end_all(s, row.account_id, request_now(), logins.ENDED_EVERYWHERE)
    account = s.get(Account, row.account_id)
    assert account is not None
    audit.record(s, account.username, account.display_name, "login.ended_everywhere", at=request_now(),
                 details={"sessions": ended})
    session.clear()
    flash(_("Sie wurden auf allen Geräten abgemeldet."), "success")
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["ratsflow.settings"]
    app.config.update(
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # Over HTTPS the __Host- prefix binds the cookie to this host and path (no Domain).
        SESSION_COOKIE_NAME="__Host-ratsflow" if settings.secure_cookies else "ratsflow",
    )
    app.before_request(_check_csrf)
    app.jinja_env.globals.update(csrf_token=csrf_token, current_actor=current_actor,
                                 works_on_tasks=works_on_tasks)


def limit_logins(app: Flask) -> Limiter:
    """Count login attempts (flask-limiter, one limiter per app): per user name and, ten times
    as many, per address. Called once the login view is registered.

    Each attempt is counted *before* the view runs (``hit``: one atomic increment compared
    with the limit), so fifty attempts at once check at most ``login_failures`` passwords;
    the view gives a successful one back (:func:`_give_back_attempt`). Counting only after a
    failure (``deduct_when``) let every attempt in flight pass the test before any was counted."""
    settings: Settings = app.extensions["ratsflow.settings"]
    limiter = Limiter(get_remote_address, app=app, storage_uri=settings.ratelimit_storage,
                      strategy="fixed-window", headers_enabled=True, key_prefix="ratsflow")
    minutes = settings.login_lockout_minutes

    def message() -> str:
        return _("Zu viele fehlgeschlagene Anmeldungen. Bitte in %(minutes)s Minuten erneut versuchen.",
                 minutes=minutes)

    view: Any = app.view_functions["auth.login"]
    view = limiter.limit(f"{settings.login_failures * 10} per {minutes} minutes", methods=["POST"],
                         error_message=message)(view)
    view = limiter.limit(f"{settings.login_failures} per {minutes} minutes", key_func=_login_key,
                         methods=["POST"], on_breach=_locked_out, error_message=message)(view)
    app.view_functions["auth.login"] = view
    app.extensions["ratsflow.limiter"] = limiter
    return limiter
