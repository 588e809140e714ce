"""The OpenAPI 3.1 document of the JSON API, generated with apispec from the routes'
register (``web.api.ROUTES``, handed in) and their marshmallow schemas (``web.api_schemas``)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from engine.identity.tokens import SCOPES
from engine.schemas import MAX_ID

from . import api_schemas as S

_ERRORS = {
    400: ("BadRequest", "Die Anfrage ist ungültig (etwa kein lesbares JSON)."),
    401: ("Unauthorized", "Nicht angemeldet, oder der Token ist ungültig, abgelaufen oder widerrufen "
                          "(mit `WWW-Authenticate: Bearer`)."),
    403: ("Forbidden", "Der Token hat den Bereich (scope) nicht, dem Konto fehlt die Rolle, oder bei "
                       "Anmeldung per Cookie fehlt der CSRF-Token."),
    404: ("NotFound", "Nicht gefunden (oder nicht sichtbar)."),
    405: ("MethodNotAllowed", "Diese Methode gibt es hier nicht."),
    409: ("Conflict", "Der Stand hat sich geändert (veraltete `expected_version`, Aufgabe schon erledigt "
                      "oder von jemand anderem übernommen)."),
    415: ("UnsupportedMediaType", "Der Körper muss `application/json` sein."),
    422: ("UnprocessableEntity", "Eingaben oder Parameter passen nicht; `errors` nennt jedes Feld."),
}

_PATH_PARAM = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>")


def _path(rule: str) -> str:
    return "/api/v1" + _PATH_PARAM.sub(r"{\1}", rule)


WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Route:
    """One API operation as the OpenAPI document describes it."""

    method: str
    rule: str
    endpoint: str
    scope: str
    summary: str
    tag: str
    response: type[Schema]
    status: int = 200
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    errors: tuple[int, ...] = field(default=(401, 403, 422))



@functools.cache
def document(routes: tuple[Route, ...], cookie_name: str = "ratsflow") -> dict[str, Any]:
    """The whole document (built once per process: the routes do not change while it runs).
    ``cookie_name``: the name of the login cookie (``ratsflow``, over HTTPS ``__Host-ratsflow``)."""

    spec = APISpec(
        title="ratsflow API", version="1.0.0", openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": (
            "Vorlagen mit Beratungsfolge, Sitzungen mit Tagesordnung, Gremien, Personen, Mitgliedschaften, "
            "die Aufgaben des Posteingangs, Vorgänge mit Historie und die eigenen Erinnerungen.\n\n"
            "Anmeldung mit einem persönlichen API-Token (`Authorization: Bearer rf_…`, angelegt unter "
            "„API-Zugänge“ oder mit `ratsflow token create`) oder mit der Sitzung des Browsers (dann braucht "
            "jeder Schreibzugriff den Kopf `X-CSRF-Token`). Jede Route verlangt einen Bereich (scope) des "
            "Tokens; die Rollen des Kontos gelten zusätzlich.\n\nListen blättern mit `limit` und `cursor`: "
            "`next` der Antwort ist der Cursor der nächsten Seite (null: letzte Seite). Fehler sind immer "
            "JSON: `{\"error\": Meldung, \"errors\": {Feld: [Meldungen]}}`.\n\nBereiche: "
            + "; ".join(f"`{k}` {v}" for k, v in SCOPES.items()))},
        servers=[{"url": "/"}],
    )
    spec.components.security_scheme("bearer", {
        "type": "http", "scheme": "bearer", "bearerFormat": "rf_…",
        "description": "Persönlicher API-Token mit Bereichen (scopes)."})
    spec.components.security_scheme("cookie", {
        "type": "apiKey", "in": "cookie", "name": cookie_name, "description": "Die Anmeldung im Browser."})
    spec.components.security_scheme("csrf", {
        "type": "apiKey", "in": "header", "name": "X-CSRF-Token",
        "description": "Der CSRF-Token der Browser-Sitzung (nur mit Cookie und nur für Schreibzugriffe)."})
    spec.components.schema("Error", schema=S.ErrorOut)
    for name, description in _ERRORS.values():
        spec.components.response(name, {"description": description,
                                        "content": {"application/json": {"schema": "Error"}}})

    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        parameters: list[dict[str, Any]] = [
            {"in": "path", "name": name, "required": True,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}
            for name in _PATH_PARAM.findall(route.rule)]
        if route.query is not None:
            parameters.append({"in": "query", "schema": route.query})
        cookie: dict[str, list[str]] = {"cookie": []}
        if route.method in WRITES:
            cookie["csrf"] = []
        operation: dict[str, Any] = {
            "operationId": route.endpoint.split(".", 1)[1], "summary": route.summary, "tags": [route.tag],
            "parameters": parameters,
            "security": [{"bearer": [route.scope]}, cookie],
            "x-scope": route.scope,
            "responses": {
                str(route.status): {"description": "OK", "content": {"application/json": {
                    "schema": route.response}}},
                **{str(code): _ERRORS[code][0] for code in route.errors},
            },
        }
        if route.body is not None:
            operation["requestBody"] = {"required": True,
                                        "content": {"application/json": {"schema": route.body}}}
        paths.setdefault(_path(route.rule), {})[route.method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()
