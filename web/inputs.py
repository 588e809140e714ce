"""Bad input gets a clear answer, never a 500: bounded ids of ASCII digits in URLs, no control
characters in any text a request carries, uploaded file names without path parts, JSON bodies
of bounded depth with numbers of bounded length.

Checked once for every route (a URL converter, the JSON provider and the request class, a
``before_request``), so a new view cannot forget it.
"""

from __future__ import annotations

import builtins
import json
import math
import re
from typing import Any

from flask import Flask, Request, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import BadRequest
from werkzeug.routing import IntegerConverter, Map, ValidationError

from engine.errors import Invalid
from engine.schemas import MAX_ID  # the largest id both databases hold (PostgreSQL: 32 bits)
from engine.types import ascii_int

from .i18n import gettext as _

#: C0 control characters except TAB, LF and CR (PostgreSQL refuses NUL in text; none of them
#: belongs in a form field, a query string or a file name).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


#: How deep a JSON body may nest (a task's form data is two levels; Python's parser and every
#: recursive walk over the value end in a RecursionError near 1,000).
MAX_JSON_DEPTH = 32
#: How many characters a number in a JSON body may have (``int()`` refuses more than 4,300
#: digits; a float that long is infinite).
MAX_JSON_NUMBER = 40


class BoundedIntConverter(IntegerConverter):
    """Flask's ``int`` converter, capped at :data:`MAX_ID` and of ASCII digits only: a larger
    id, or one in other digits (``/vorlagen/١``, full-width ``１``), is 404 before any view (or
    the database) sees it. Werkzeug's ``\\d+`` matches every Unicode decimal and ``int()``
    reads them."""

    regex = r"[0-9]+"

    def __init__(self, map: Map, fixed_digits: int = 0, min: int | None = None,
                 max: int | None = None, signed: bool = False) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min,
                         max=MAX_ID if max is None else builtins.min(max, MAX_ID), signed=signed)

    def to_python(self, value: str) -> Any:
        if len(value.lstrip("-")) > len(str(MAX_ID)):  # never hand 5,000 digits to int()
            raise ValidationError()
        return super().to_python(value)


class JSONRefused(ValueError):
    """A JSON body nested too deep or with a number too long (Flask answers it with
    :meth:`BoundedRequest.on_json_loading_failed`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _number(text: str) -> int | float:
    if len(text) > MAX_JSON_NUMBER:
        raise JSONRefused("number")
    value = float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise JSONRefused("number")
    return value


def _no_constant(name: str) -> None:
    raise JSONRefused("number")  # NaN, Infinity: no JSON, though Python's parser reads them


def _depth_within(value: Any, limit: int) -> bool:
    """Whether ``value`` nests no deeper than ``limit`` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading request bodies with bounded depth and numbers."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        kwargs = {"parse_int": _number, "parse_float": _number, "parse_constant": _no_constant, **kwargs}
        try:
            value = json.loads(s, **kwargs)
        except RecursionError:
            raise JSONRefused("depth") from None
        if isinstance(value, dict | list) and not _depth_within(value, MAX_JSON_DEPTH):
            raise JSONRefused("depth")
        return value


class BoundedRequest(Request):
    """A JSON body that is no JSON, too deep, or with a number too long: 400 with a German
    message (the API answers it in its JSON error format)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:
            return super().on_json_loading_failed(e)  # not JSON at all: 415
        if isinstance(e, JSONRefused) and e.reason == "depth":
            message = _("Die JSON-Daten sind zu tief verschachtelt (höchstens %(depth)s Ebenen).",
                        depth=MAX_JSON_DEPTH)
        elif isinstance(e, JSONRefused) or "digits" in str(e):
            message = _("Eine Zahl in den JSON-Daten ist zu lang (höchstens %(length)s Zeichen) "
                        "oder keine endliche Zahl.", length=MAX_JSON_NUMBER)
        else:
            message = _("Die Daten sind kein gültiges JSON.")
        error = BadRequest(message)
        error.message = message  # type: ignore[attr-defined]  # what the error handlers show
        raise error


def has_control(value: str) -> bool:
    return _CONTROL.search(value) is not None


def parse_id(value: str | None, field: str, *, required: bool = False) -> int | None:
    """An id from a form or query string: None when empty (unless ``required``); 422 naming
    ``field`` when it is no number between 1 and :data:`MAX_ID`."""
    raw = (value or "").strip()
    if not raw and not required:
        return None
    number = ascii_int(raw)
    if number is None or not 0 < number <= MAX_ID:
        raise Invalid(_("Eingaben bitte prüfen."), {field: [_("Ungültige Nummer.")]})
    return number


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
    if request.is_json and request.content_length:  # parsed here for every route: broken is 400
        _check_json(request.get_json(), "")


def register_converter(app: Flask) -> None:
    """Before any route is added: every ``<int:…>`` of the app is bounded; before any
    request: JSON bodies are read bounded."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.request_class = BoundedRequest
    app.json = BoundedJSONProvider(app)


def init_app(app: Flask) -> None:
    app.before_request(check_request)
