"""Error pages: every error answered in the app's layout and language, JSON under ``/api/``.

A view that raises leaves its unit of work uncommitted; the handlers here never commit it.
"""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from engine.errors import EngineError
from engine.process import timers
from engine.types import utcnow
from engine.workflow.runtime import TaskFailed

from . import oparl
from .i18n import gettext as _


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.register_error_handler(EngineError, engine_error)
    app.register_error_handler(TaskFailed, workflow_failed)
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, server_error)


def engine_error(exc: EngineError) -> ResponseReturnValue:
    if request.path.startswith("/api/"):
        return jsonify(error=exc.message, errors=exc.errors), exc.status
    return render_template("error.html", status=exc.status, message=exc.message), exc.status


def workflow_failed(exc: TaskFailed) -> ResponseReturnValue:
    """A model's script or expression failed (or ran past its limits): nothing of the
    request is kept; the incident is recorded on the instance in its own unit of work."""
    uow = g.get("uow")
    if uow is not None:
        uow.rollback()
    with current_app.extensions["ratsflow.db"].unit_of_work() as s:
        timers.record_incident(s, exc.instance_id, str(exc), utcnow(), paper_id=exc.paper_id)
    message = _("Der Ablauf ist gestört (%(where)s). Ihre Eingabe wurde nicht gespeichert; "
                "die Administration sieht die Störung.", where=str(exc))
    if request.path.startswith("/api/"):
        return jsonify(error=message, errors={}), 422
    return render_template("error.html", status=422, message=message), 422


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


def server_error(exc: InternalServerError) -> ResponseReturnValue:
    """Anything unexpected: logged with its traceback, answered in the app's layout."""
    current_app.logger.error("Fehler bei %s %s", request.method, request.path,
                             exc_info=exc.original_exception or exc)
    message = _error_message(500, exc)
    if request.path.startswith(oparl.PREFIX):
        return oparl.error_response(500, message)
    if request.path.startswith("/api/"):
        return jsonify(error=message, errors={}), 500
    return render_template("error.html", status=500, message=message), 500


def _error_message(status: int, exc: HTTPException) -> str:
    """What the error page says, in the page's language (never the framework's English)."""
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
