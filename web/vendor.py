"""Front-end libraries installed from npm (``web/package.json``), served from node_modules.

Never copied into the repository, never loaded from a CDN: a closed council network and a
strict Content-Security-Policy both keep working.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, abort, send_from_directory
from flask.typing import ResponseReturnValue

VENDOR_DIR = Path(__file__).resolve().parent / "node_modules"
MAX_AGE = 86400

#: bpmn-js files a page may ask for, and the folder below ``bpmn-js/dist`` each lives in.
BPMN_FILES = {"bpmn-viewer.production.min.js": "", "diagram-js.css": "assets", "bpmn-js.css": "assets"}
#: Swagger UI for ``/api/v1/docs`` (npm swagger-ui-dist).
SWAGGER_FILES = {"swagger-ui-bundle.js", "swagger-ui.css"}

def init_app(app: Flask) -> None:
    """Serve the npm libraries under ``/vendor/``."""
    # The endpoints keep the names they had as app routes (``url_for("vendor_css")``).
    app.add_url_rule("/vendor/pico.min.css", "vendor_css", vendor_css, methods=["GET"])
    app.add_url_rule("/vendor/bpmn-js/<name>", "vendor_bpmn", vendor_bpmn, methods=["GET"])
    app.add_url_rule("/vendor/swagger-ui/<name>", "vendor_swagger", vendor_swagger, methods=["GET"])


def vendor_css() -> ResponseReturnValue:
    return send_from_directory(VENDOR_DIR / "@picocss" / "pico" / "css", "pico.min.css", max_age=MAX_AGE)


def vendor_bpmn(name: str) -> ResponseReturnValue:
    if name not in BPMN_FILES:
        abort(404)
    return send_from_directory(VENDOR_DIR / "bpmn-js" / "dist" / BPMN_FILES[name], name, max_age=MAX_AGE)


def vendor_swagger(name: str) -> ResponseReturnValue:
    if name not in SWAGGER_FILES:
        abort(404)
    return send_from_directory(VENDOR_DIR / "swagger-ui-dist", name, max_age=MAX_AGE)
