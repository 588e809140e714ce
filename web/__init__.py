"""The Flask application: public pages, inbox, Vorlagen and Sitzungen, audit, a JSON API."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, g, jsonify, render_template, request, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from engine import timers
from engine.db import Database
from engine.errors import EngineError
from engine.files import FileStore
from engine.settings import Settings, load_settings
from engine.types import utcnow
from engine.workflow import sandbox
from engine.workflow.runtime import TaskFailed

WEB_DIR = Path(__file__).resolve().parent
VENDOR_DIR = WEB_DIR / "node_modules"


class RatsflowFlask(Flask):
    """Flask with one unit of work per request: committed when the view returned normally.

    A view that raises (or an error handler that answers for it) leaves the transaction
    uncommitted; ``teardown_request`` rolls it back. Nothing half-written survives.
    """

    def dispatch_request(self) -> ResponseReturnValue:
        rv = super().dispatch_request()
        uow = g.get("uow")
        if uow is not None:
            uow.commit()
        return rv


def create_app(settings: Settings | None = None, *, upgrade: bool = True) -> Flask:
    """Build the app. Order matters: settings, database, then everything that uses them."""
    settings = settings or load_settings()
    app = RatsflowFlask(__name__, instance_path=str(settings.instance_path))

    # 1. Settings: the secret key comes from the environment or the instance folder.
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.secret_key or _instance_secret(settings.instance_path),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.extensions["ratsflow.settings"] = settings
    sandbox.configure(workers=settings.script_workers, memory_mb=settings.script_memory_mb)

    # 2. Database: the schema is brought up to date before the first request.
    db = Database(settings)
    if upgrade:
        db.upgrade()
    app.extensions["ratsflow.db"] = db
    app.extensions["ratsflow.files"] = FileStore(settings.files_path)

    # 3. Request-level services: bounded ids and clean input, language, login.
    from . import auth, files_response, i18n, inputs, oidc

    inputs.register_converter(app)  # before any route: every <int:…> is bounded
    files_response.init_app(app)  # the files origin (RATSFLOW_FILES_BASE_URL) answers file routes only
    i18n.init_app(app)
    inputs.init_app(app)  # before the CSRF check: a control character is 422, whoever sends it
    auth.init_app(app)
    oidc.init_app(app)  # OpenID providers (RATSFLOW_OIDC_PROVIDERS): its blueprint, the logout URL

    # 4. Blueprints, registered by hand.
    from . import (
        account,
        accounts_admin,
        admin,
        api,
        audit_views,
        inbox,
        meetings,
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
    app.register_blueprint(tokens_page.bp)
    oparl.init_app(app)  # /oparl/v1.1: the public data as OParl 1.1, CORS on every answer
    auth.limit_logins(app)

    # 5. Front-end libraries installed from npm (web/package.json), served from node_modules.
    @app.get("/vendor/pico.min.css")
    def vendor_css() -> ResponseReturnValue:
        return send_from_directory(VENDOR_DIR / "@picocss" / "pico" / "css", "pico.min.css",
                                   max_age=86400)

    bpmn_files = {"bpmn-viewer.production.min.js": "", "diagram-js.css": "assets", "bpmn-js.css": "assets"}

    @app.get("/vendor/bpmn-js/<name>")
    def vendor_bpmn(name: str) -> ResponseReturnValue:
        if name not in bpmn_files:
            abort(404)
        return send_from_directory(VENDOR_DIR / "bpmn-js" / "dist" / bpmn_files[name], name, max_age=86400)

    swagger_files = {"swagger-ui-bundle.js", "swagger-ui.css"}

    @app.get("/vendor/swagger-ui/<name>")
    def vendor_swagger(name: str) -> ResponseReturnValue:
        """Swagger UI for ``/api/v1/docs`` (npm swagger-ui-dist)."""
        if name not in swagger_files:
            abort(404)
        return send_from_directory(VENDOR_DIR / "swagger-ui-dist", name, max_age=86400)

    # 6. Health, errors, security headers.
    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        ok = db.ping()
        return jsonify(status="ok" if ok else "database unreachable"), 200 if ok else 503

    @app.errorhandler(EngineError)
    def engine_error(exc: EngineError) -> ResponseReturnValue:
        if request.path.startswith("/api/"):
            return jsonify(error=exc.message, errors=exc.errors), exc.status
        return render_template("error.html", status=exc.status, message=exc.message), exc.status

    @app.errorhandler(TaskFailed)
    def workflow_failed(exc: TaskFailed) -> ResponseReturnValue:
        """A model's script or expression failed (or ran past its limits): nothing of the
        request is kept; the incident is recorded on the instance in its own unit of work."""
        uow = g.get("uow")
        if uow is not None:
            uow.rollback()
        from .i18n import gettext as _

        with db.unit_of_work() as s:
            timers.record_incident(s, exc.instance_id, str(exc), utcnow(), paper_id=exc.paper_id)
        message = _("Der Ablauf ist gestört (%(where)s). Ihre Eingabe wurde nicht gespeichert; "
                    "die Administration sieht die Störung.", where=str(exc))
        if request.path.startswith("/api/"):
            return jsonify(error=message, errors={}), 422
        return render_template("error.html", status=422, message=message), 422

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        status = exc.code or 500
        message = getattr(exc, "message", None) or _error_message(status, exc)
        if request.path.startswith(oparl.PREFIX):
            return oparl.error_response(status, message)
        if status == 429 and request.endpoint == "auth.login":  # locked out: say so on the login page
            return render_template("login.html", error=exc.description), 429, _retry_after(exc)
        if request.path.startswith("/api/"):
            # JSON always, with the exception's headers (Allow of a 405, the Bearer challenge of a 401).
            headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
            if status == 401 and not any(k.lower() == "www-authenticate" for k, _v in headers):
                headers.append(("WWW-Authenticate", 'Bearer realm="ratsflow"'))
            return jsonify(error=message, errors={}), status, headers
        return render_template("error.html", status=status, message=message), status

    @app.errorhandler(InternalServerError)
    def server_error(exc: InternalServerError) -> ResponseReturnValue:
        """Anything unexpected: logged with its traceback, answered in the app's layout."""
        app.logger.error("Fehler bei %s %s", request.method, request.path,
                         exc_info=exc.original_exception or exc)
        message = _error_message(500, exc)
        if request.path.startswith(oparl.PREFIX):
            return oparl.error_response(500, message)
        if request.path.startswith("/api/"):
            return jsonify(error=message, errors={}), 500
        return render_template("error.html", status=500, message=message), 500

    @app.after_request
    def security_headers(response: Response) -> Response:
        # Forms post here only; a login through an OpenID provider adds the provider's origin
        # (the logout form's answer redirects there, and browsers hold redirects to form-action).
        form_action = " ".join(["'self'", *app.config.get("RATSFLOW_FORM_ACTION_ORIGINS", [])])
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"frame-ancestors 'none'; form-action {form_action}",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.teardown_request
    def _end_unit_of_work(_exc: Any) -> None:
        uow = g.pop("uow", None)
        if uow is not None:
            uow.close()  # rolls back whatever was not committed
        g.pop("actor", None)

    return app


def _error_message(status: int, exc: HTTPException) -> str:
    """What the error page says, in the page's language (never the framework's English)."""
    from .i18n import gettext as _

    if status == 400 and exc.description == "CSRF":
        return _("Das Formular ist abgelaufen. Bitte die Seite neu laden und noch einmal senden.")
    messages = {
        400: _("Die Anfrage ist ungültig."),
        401: _("Bitte melden Sie sich an."),
        403: _("Keine Berechtigung."),
        404: _("Seite nicht gefunden."),
        405: _("Diese Aktion ist hier nicht möglich."),
        409: _("Der Vorgang wurde inzwischen geändert. Bitte die Seite neu laden."),
        413: _("Die Datei ist zu groß."),
        415: _("Bitte die Daten als JSON senden."),
        422: _("Eingaben bitte prüfen."),
        429: _("Zu viele Anfragen. Bitte kurz warten."),
    }
    return messages.get(status, _("Ein interner Fehler ist aufgetreten. Er wurde protokolliert; "
                                  "bitte versuchen Sie es später noch einmal."))


def _retry_after(exc: HTTPException) -> dict[str, str]:
    response = exc.get_response()
    return {"Retry-After": response.headers["Retry-After"]} if "Retry-After" in response.headers else {}


def _instance_secret(instance: Path) -> str:
    """A signing key kept in the instance folder (never in the repository)."""
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


