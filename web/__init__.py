"""The Flask application: public pages, inbox, Vorlagen and Sitzungen, audit, a JSON API."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError

from engine.db import Database, should_retry
from engine.files import FileStore
from engine.settings import Settings, instance_secret, load_settings
from engine.workflow import sandbox


class RatsflowFlask(Flask):
    """Flask with one unit of work per request: committed when the view returned normally.

    A view that raises (or an error handler that answers for it) leaves the transaction
    uncommitted; ``teardown_request`` rolls it back. Nothing half-written survives.

    A unit of work that PostgreSQL rolled back as a deadlock's victim (or a serialization
    conflict's loser) runs again, from the request's ``before_request`` steps on, at most
    :data:`ATTEMPTS` times in all, as long as it had not committed anything: under load a
    completion and a move of its Sitzung can wait for each other's rows, and PostgreSQL then
    ends one of them (``tests/test_under_load.py``). The client sees only the answer of the
    attempt that went through.
    """

    ATTEMPTS = 3

    def dispatch_request(self) -> ResponseReturnValue:
        attempt = 1
        while True:
            try:
                rv = super().dispatch_request()
                uow = g.get("uow")
                if uow is not None:
                    uow.commit()
                return rv
            except DBAPIError as exc:
                uow = g.get("uow")
                if attempt >= self.ATTEMPTS or uow is None or uow.commits or not should_retry(exc):
                    raise
                self.logger.warning("%s %s: %s, attempt %d of %d", request.method, request.path,
                                    type(exc.orig).__name__, attempt + 1, self.ATTEMPTS)
            uow.rollback()
            for name in ("actor", "login", "api_token"):
                g.pop(name, None)
            attempt += 1
            early = self.preprocess_request()  # authentication and checks, in the new transaction
            if early is not None:
                return early


def create_app(settings: Settings | None = None, *, upgrade: bool | None = None) -> Flask:
    """Build the app. Order matters: settings, database, then everything that uses them.

    The schema is brought up to date here only when asked: ``upgrade=True`` (the embedded
    ``ratsflow serve``) or, with ``upgrade`` left out, ``RATSFLOW_AUTO_MIGRATE=true``. Several
    web workers never migrate at once; run ``ratsflow db upgrade`` before starting them.
    """
    settings = settings or load_settings()
    app = RatsflowFlask(__name__, instance_path=str(settings.instance_path))

    # 1. Settings: the secret key comes from the environment or the instance folder.
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.signing_key(),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["ratsflow.settings"] = settings
    sandbox.configure(workers=settings.script_workers, memory_mb=settings.script_memory_mb)

    # 2. Database: migrated here only on request (see above), before the first request.
    db = Database(settings)
    if settings.auto_migrate if upgrade is None else upgrade:
        db.upgrade()
    app.extensions["ratsflow.db"] = db
    app.extensions["ratsflow.files"] = FileStore(settings.files_path)

    # 3. Request-level services: bounded ids and clean input, language, login.
    from . import auth, errors, files_response, i18n, inputs, oidc, vendor

    inputs.register_converter(app)  # before any route: every <int:…> is bounded
    files_response.init_app(app)  # the files origin (RATSFLOW_FILES_BASE_URL) answers file routes only
    i18n.init_app(app)
    inputs.init_app(app)  # before the CSRF check: a control character is 422, whoever sends it
    auth.init_app(app)
    oidc.init_app(app)  # OpenID providers (RATSFLOW_OIDC_PROVIDERS): its blueprint, the logout URL

    # 4. Blueprints, registered by hand; then the npm libraries (web/package.json) under /vendor/.
    from . import (
        account,
        accounts_admin,
        admin,
        api,
        audit_views,
        inbox,
        meetings,
        modeler,
        models_admin,
        oparl,
        papers,
        people,
        public,
        tokens_page,
    )

    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(papers.bp)
    app.register_blueprint(audit_views.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(meetings.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(accounts_admin.bp)
    app.register_blueprint(models_admin.bp)
    app.register_blueprint(tokens_page.bp)
    app.register_blueprint(modeler.bp)
    oparl.init_app(app)  # /oparl/v1.1: the public data as OParl 1.1, CORS on every answer
    auth.limit_logins(app)

    vendor.init_app(app)

    # 5. Health, error pages (JSON under /api/, OParl's format under /oparl/), security headers.
    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        ok = db.ping()
        return jsonify(status="ok" if ok else "database unreachable"), 200 if ok else 503

    errors.init_app(app)

    @app.after_request
    def security_headers(response: Response) -> Response:
        # Forms post here only; a login through an OpenID provider adds the provider's origin
        # (the logout form's answer redirects there, and browsers hold redirects to form-action).
        form_action = " ".join(["'self'", *app.config.get("RATSFLOW_FORM_ACTION_ORIGINS", [])])
        # A page may allow exactly the inline style attributes a library it uses writes (by
        # hash, never 'unsafe-inline'): ``g.style_attributes``.
        style_src = " ".join(["'self'", *(["'unsafe-hashes'"] if g.get("style_attributes") else []), *(
            "'sha256-" + base64.b64encode(hashlib.sha256(v.encode()).digest()).decode() + "'"
            for v in g.get("style_attributes", ()))])
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; img-src 'self' data:; style-src {style_src}; script-src 'self'; "
            f"frame-ancestors 'none'; form-action {form_action}",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # The server writes the Date (werkzeug's and gunicorn's always do); Werkzeug's
        # make_conditional (send_file, the OParl answers) adds one of its own, and the answer
        # then had two (RFC 9110 §6.6.1: one).
        response.headers.pop("Date", None)
        return response

    @app.teardown_request
    def _end_unit_of_work(_exc: Any) -> None:
        uow = g.pop("uow", None)
        if uow is not None:
            uow.close()  # rolls back whatever was not committed
        g.pop("actor", None)

    return app


def _instance_secret(instance: Path) -> str:
    """A signing key kept in the instance folder (``engine.settings.instance_secret``)."""
    return instance_secret(instance)


