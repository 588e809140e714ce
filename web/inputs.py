"""Bad input gets a clear answer, never a 500: bounded ids in URLs, no control characters in
any text a request carries, uploaded file names without path parts.

Checked once for every route (a URL converter and a ``before_request``), so a new view
cannot forget it.
"""

from __future__ import annotations

import builtins
import re
from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter, Map

from engine.errors import Invalid
from engine.schemas import MAX_ID  # the largest id both databases hold (PostgreSQL: 32 bits)

from .i18n import gettext as _

#: C0 control characters except TAB, LF and CR (PostgreSQL refuses NUL in text; none of them
#: belongs in a form field, a query string or a file name).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BoundedIntConverter(IntegerConverter):
    """Flask's ``int`` converter, capped at :data:`MAX_ID`: a larger id in a URL is 404
    before any view (or the database) sees it."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=MAX_ID if max is None else builtins.min(max, MAX_ID), signed=signed)


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def parse_id(value: str | None, field: str, *, required: bool = False) -> int | None:
    """An id from a form or query string: None when empty (unless ``required``); 422 naming
    ``field`` when it is no number between 1 and :data:`MAX_ID`."""
    raw = (value or "").strip()
    if not raw and not required:
        return None
    if not raw.isascii() or not raw.isdecimal() or not 0 < int(raw) <= MAX_ID:
        raise Invalid(_("Eingaben bitte prüfen."), {field: [_("Ungültige Nummer.")]})
    return int(raw)


def _refuse(field: str, value: str) -> None:
    found = _CONTROL.search(value)
    char = "NUL" if found is None or found.group() == "\x00" else f"U+{ord(found.group()):04X}"
    raise Invalid(_("Das Feld „%(field)s“ enthält ein unzulässiges Steuerzeichen.", field=field),
                  {field: [_("Unzulässiges Steuerzeichen (%(char)s).", char=char)]})


def _check_json(value: Any, where: str) -> None:
    if isinstance(value, str):
        if has_control(value):
            _refuse(where or "_", value)
    elif isinstance(value, dict):
        for key, item in value.items():
            name = f"{where}.{key}" if where else str(key)
            if has_control(str(key)):
                _refuse(name, str(key))
            _check_json(item, name)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_json(item, f"{where}.{i}" if where else str(i))


def check_request() -> None:
    """Refuse (422, naming the field) any text of the request with a control character: URL
    parameters, query string, form fields, file names, the string values of a JSON body.

    A URL no route matches is answered first (404/405, before the CSRF check's 400)."""
    if request.routing_exception is not None:
        raise request.routing_exception
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and has_control(value):
            _refuse(name, value)
    for source in (request.args, request.form):
        for key, value in source.items(multi=True):
            if has_control(key) or has_control(value):
                _refuse(key, key + value)
    for key, upload in request.files.items(multi=True):
        if has_control(key) or has_control(upload.filename or ""):
            _refuse(key, key + (upload.filename or ""))
    if request.is_json and request.content_length:
        _check_json(request.get_json(silent=True), "")


def register_converter(app: Flask) -> None:
    """Before any route is added: every ``<int:…>`` of the app is bounded."""
    app.url_map.converters["int"] = BoundedIntConverter


def init_app(app: Flask) -> None:
    app.before_request(check_request)
