"""The API's documentation as a page of our own (``/api/v1/docs``), read from the OpenAPI document.

Swagger UI, served here before, had 1 critical and 85 serious accessibility findings (axe:
contrast, buttons nested in buttons, a select without a name) and English words; this page is
server-rendered HTML in the app's layout: headings per area and operation, tables for
parameters and fields, links between operations and schemas, German words; no script. The
document itself (``/api/v1/openapi.json``) stays what tools read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

from .i18n import gettext as _

_REF = "#/components/schemas/"
_CODE = re.compile(r"`([^`]+)`")


def text(value: str | None) -> Markup:
    """A description of the document: escaped, its `code` spans as <code>."""
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(value or ""))))


def paragraphs(value: str | None) -> list[Markup]:
    return [text(part) for part in (value or "").split("\n\n") if part.strip()]


@dataclass(frozen=True)
class Type:
    """A schema's type in words, as pieces: text, or the name of a schema to link to."""

    pieces: tuple[tuple[str, str | None], ...]

    def __html__(self) -> str:
        out = []
        for words, ref in self.pieces:
            link = f'<a href="#schema-{escape(ref)}"><code>{escape(ref)}</code></a>' if ref else None
            out.append(link or str(escape(words)))
        return "".join(out)


def _pieces(schema: dict[str, Any]) -> list[tuple[str, str | None]]:
    if "$ref" in schema:
        name = str(schema["$ref"]).removeprefix(_REF)
        return [(name, name)]
    if "anyOf" in schema:
        options = [_pieces(s) for s in schema["anyOf"] if s.get("type") != "null"]
        joined: list[tuple[str, str | None]] = []
        for n, option in enumerate(options):
            joined += ([(_(" oder "), None)] if n else []) + option
        if any(s.get("type") == "null" for s in schema["anyOf"]):
            joined.append((_(" oder null"), None))
        return joined
    kinds = schema.get("type", "object")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    nullable = "null" in kinds
    kind = next((k for k in kinds if k != "null"), "null")
    if kind == "array":
        pieces = [(_("Liste von "), None), *_pieces(schema.get("items", {}))]
    else:
        words = {"integer": _("Ganzzahl"), "number": _("Zahl"), "string": _("Text"),
                 "boolean": _("Wahrheitswert (true/false)"), "object": _("Objekt"),
                 "null": "null"}.get(kind, kind)
        fmt = {"date": _("Datum (JJJJ-MM-TT)"),
               "date-time": _("Zeitpunkt (ISO 8601)")}.get(schema.get("format", ""))
        pieces = [(fmt or words, None)]
    if nullable:
        pieces.append((_(" oder null"), None))
    return pieces


def type_of(schema: dict[str, Any]) -> Type:
    return Type(tuple(_pieces(schema)))


def limits(schema: dict[str, Any]) -> str:
    """What the value may be, in words (one of …, from … to …, at most … characters)."""
    said = []
    values = [v for v in schema.get("enum", []) if v is not None]
    if values:
        said.append(_("eines von: %(values)s", values=", ".join(str(v) for v in values)))
    if "minimum" in schema or "maximum" in schema:
        said.append(f"{schema.get('minimum', '…')} – {schema.get('maximum', '…')}")
    if "maxLength" in schema:
        said.append(_("höchstens %(count)s Zeichen", count=schema["maxLength"]))
    if "maxItems" in schema:
        said.append(_("höchstens %(count)s Einträge", count=schema["maxItems"]))
    if schema.get("default") is not None:
        said.append(_("Vorgabe: %(value)s", value=schema["default"]))
    return "; ".join(said)


@dataclass(frozen=True)
class Entry:
    name: str
    type: Type
    required: bool
    description: Markup
    limits: str
    where: str = ""  # a parameter's place (path, query)


@dataclass(frozen=True)
class Answer:
    status: str
    description: Markup
    type: Type | None


@dataclass(frozen=True)
class Operation:
    anchor: str
    method: str
    path: str
    summary: str
    scope: str
    writes: bool
    parameters: list[Entry]
    body: Type | None
    answers: list[Answer]


@dataclass
class Area:
    name: str
    anchor: str
    operations: list[Operation] = field(default_factory=list)


@dataclass(frozen=True)
class Schema:
    name: str
    description: Markup
    fields: list[Entry]


@dataclass(frozen=True)
class Reference:
    title: str
    version: str
    introduction: list[Markup]
    areas: list[Area]
    schemas: list[Schema]
    security: dict[str, dict[str, Any]]


def _anchor(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def _fields(schema: dict[str, Any]) -> list[Entry]:
    required = set(schema.get("required", []))
    return [Entry(name, type_of(prop), name in required, text(prop.get("description")), limits(prop))
            for name, prop in schema.get("properties", {}).items()]


def _schema_of(content: dict[str, Any] | None) -> Type | None:
    media = (content or {}).get("application/json")
    return type_of(media["schema"]) if media and "schema" in media else None


def reference(doc: dict[str, Any]) -> Reference:
    """The page's content, read from the OpenAPI document (``web.openapi.document``)."""
    shared = doc.get("components", {}).get("responses", {})
    areas: dict[str, Area] = {}
    for path, operations in doc.get("paths", {}).items():
        for method, op in operations.items():
            answers = []
            for status, answer in op.get("responses", {}).items():
                if "$ref" in answer:
                    answer = shared.get(str(answer["$ref"]).rsplit("/", 1)[-1], {})
                answers.append(Answer(status, text(answer.get("description")),
                                      _schema_of(answer.get("content"))))
            parameters = [Entry(p["name"], type_of(p.get("schema", {})), bool(p.get("required")),
                                 text(p.get("description")), limits(p.get("schema", {})),
                                 where={"path": _("Pfad"), "query": _("Abfrage")}.get(p["in"], p["in"]))
                          for p in op.get("parameters", [])]
            tag = (op.get("tags") or [_("Weitere")])[0]
            area = areas.setdefault(tag, Area(tag, "bereich-" + _anchor(tag)))
            area.operations.append(Operation(
                anchor="op-" + op["operationId"], method=method.upper(), path=path,
                summary=op.get("summary", ""), scope=op.get("x-scope", ""),
                writes=method.upper() in {"POST", "PUT", "PATCH", "DELETE"}, parameters=parameters,
                body=_schema_of(op.get("requestBody", {}).get("content")), answers=answers))
    schemas = [Schema(name, text(s.get("description")), _fields(s))
               for name, s in sorted(doc.get("components", {}).get("schemas", {}).items())]
    info = doc.get("info", {})
    return Reference(info.get("title", ""), info.get("version", ""), paragraphs(info.get("description")),
                     sorted(areas.values(), key=lambda a: a.name), schemas,
                     doc.get("components", {}).get("securitySchemes", {}))
