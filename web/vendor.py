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
BPMN_FILES = {"bpmn-viewer.production.min.js": "",
              "diagram-js.css": "assets", "bpmn-js.css": "assets"}
#: The modeler's properties panel's CSS (npm @bpmn-io/properties-panel); its code is in the
#: modeler's bundle (``web/modeler/``, served by ``web/modeler.py``).
PANEL_FILES = {"properties-panel.css": ("@bpmn-io", "properties-panel", "assets")}

def init_app(app: Flask) -> None:
    """Serve the npm libraries under ``/vendor/``."""
    # The endpoints keep the names they had as app routes (``url_for("vendor_css")``).
    app.add_url_rule("/vendor/pico.min.css", "vendor_css", vendor_css, methods=["GET"])
    app.add_url_rule("/vendor/bpmn-js/<name>", "vendor_bpmn", vendor_bpmn, methods=["GET"])
    app.add_url_rule("/vendor/properties-panel/<name>", "vendor_panel", vendor_panel, methods=["GET"])
    # The modeler's palette icons: the font's CSS finds its files at ../font/ (not embedded as
    # data: URLs, which the Content-Security-Policy refuses).
    app.add_url_rule("/vendor/bpmn-font/<any(css, font):folder>/<name>", "vendor_bpmn_font", vendor_bpmn_font,
                     methods=["GET"])


def vendor_css() -> ResponseReturnValue:
    return send_from_directory(VENDOR_DIR / "@picocss" / "pico" / "css", "pico.min.css", max_age=MAX_AGE)


def vendor_bpmn(name: str) -> ResponseReturnValue:
    if name not in BPMN_FILES:
        abort(404)
    return send_from_directory(VENDOR_DIR / "bpmn-js" / "dist" / BPMN_FILES[name], name, max_age=MAX_AGE)


#: The bpmn font's files (``bpmn-js/dist/assets/bpmn-font``).
BPMN_FONT_FILES = {"css": {"bpmn.css"},
                   "font": {"bpmn.woff2", "bpmn.woff", "bpmn.ttf", "bpmn.eot", "bpmn.svg"}}


def vendor_bpmn_font(folder: str, name: str) -> ResponseReturnValue:
    if name not in BPMN_FONT_FILES[folder]:
        abort(404)
    return send_from_directory(VENDOR_DIR / "bpmn-js" / "dist" / "assets" / "bpmn-font" / folder, name,
                               max_age=MAX_AGE)


def vendor_panel(name: str) -> ResponseReturnValue:
    if name not in PANEL_FILES:
        abort(404)
    return send_from_directory(VENDOR_DIR.joinpath(*PANEL_FILES[name]), name, max_age=MAX_AGE)
