"""Task forms: a small JSON Schema subset stored with each model, turned into marshmallow.

A form file (``bpmn/forms/<key>.schema.json``) lists ``properties`` with ``type`` (string,
integer, boolean, date), ``title`` (German) and ``x-title-en``, optional ``oneOf`` choices
(``const`` + ``title``; ``x-roles``: the consultation roles a choice or field fits),
``minimum``/``maximum``/``maxLength``, ``x-widget`` ("textarea") and ``x-options`` (choices the
engine fills in at run time, e.g. the Sitzungen of a Gremium).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from engine.schemas import Integer

TYPES = {"string", "integer", "boolean", "date"}
WIDGETS = {"textarea", None}

REQUIRED = "Pflichtfeld: bitte ausfüllen."
INVALID = "Ungültiger Wert."
NOT_A_CHOICE = "Bitte einen der angebotenen Werte wählen."


class FormDefinitionError(ValueError):
    """A form file that cannot be used; the message says which field and why."""


class FormError(ValueError):
    """Submitted values that do not fit the form; ``errors`` maps each field to messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in errors.items()))


@dataclass(frozen=True)
class Choice:
    value: Any
    label: str
    label_en: str | None = None
    #: The consultation roles this choice fits (``x-roles``); empty: every role.
    roles: tuple[str, ...] = ()
    #: What to know about it, in German words the page translates ("Tagesordnung geschlossen").
    note: str | None = None


@dataclass(frozen=True)
class FormField:
    name: str
    type: str
    title: str
    title_en: str | None = None
    required: bool = False
    choices: tuple[Choice, ...] = ()
    options_source: str | None = None  # filled at run time
    widget: str | None = None
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    description: str | None = None
    #: The consultation roles this field is asked for (``x-roles``); empty: every role.
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Form:
    key: str
    title: str
    title_en: str | None
    fields: tuple[FormField, ...] = field(default_factory=tuple)

    def with_options(self, options: dict[str, list[Choice]]) -> Form:
        """The form with its run-time choices filled in."""
        filled = []
        for f in self.fields:
            if f.options_source is not None:
                f = FormField(**{**f.__dict__, "choices": tuple(options.get(f.options_source, []))})
            filled.append(f)
        return Form(self.key, self.title, self.title_en, tuple(filled))

    def for_role(self, role: str | None) -> Form:
        """The form with the choices that fit a consultation's role (``x-roles``).

        A role no choice names (free text from an imported RIS, "unbekannt") keeps them all.
        """
        known = {r for f in self.fields for r in f.roles} | {r for f in self.fields for c in f.choices
                                                             for r in c.roles}
        if role not in known:
            return self
        filled = []
        for f in self.fields:
            if f.roles and role not in f.roles:
                continue
            if any(role in c.roles for c in f.choices):
                fitting = tuple(c for c in f.choices if not c.roles or role in c.roles)
                f = FormField(**{**f.__dict__, "choices": fitting,
                                 "description": f"Ergebnisse einer Beratung mit der Rolle {role}."})
            filled.append(f)
        return Form(self.key, self.title, self.title_en, tuple(filled))

    def _static_fields(self) -> tuple[FormField, ...]:
        """The fields without their run-time choices: what the cached schema is built from."""
        return tuple(FormField(**{**f.__dict__, "choices": ()}) if f.options_source else f
                     for f in self.fields)

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        """Clean ``data`` or raise :class:`FormError` naming each wrong field."""
        cleaned_input: dict[str, Any] = {}
        for f in self.fields:
            if f.name not in data:
                continue
            value = data[f.name]
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue  # an empty HTML input means "not given" (required fields say so)
            cleaned_input[f.name] = value
        unknown = sorted(set(data) - {f.name for f in self.fields})
        errors: dict[str, list[str]] = {name: ["Unbekanntes Feld."] for name in unknown}
        try:
            result = _schema(self.key, self._static_fields()).load(cleaned_input)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            errors.update({k: (v if isinstance(v, list) else [str(v)]) for k, v in messages.items()})
            result = {}
        for f in self.fields:  # choices filled in at run time are checked here
            if f.options_source is not None and f.name in result and result[f.name] is not None \
                    and result[f.name] not in {c.value for c in f.choices}:
                errors.setdefault(f.name, []).append(NOT_A_CHOICE)
        if errors:
            raise FormError(errors)
        for f in self.fields:
            if f.type == "date" and isinstance(result.get(f.name), date):
                result[f.name] = result[f.name].isoformat()  # task data stays JSON
        return result  # type: ignore[no-any-return]


def _field(f: FormField) -> fields.Field[Any]:
    messages = {"required": REQUIRED, "invalid": INVALID, "null": REQUIRED}
    validators: list[Any] = []
    if f.choices:
        validators.append(validate.OneOf([c.value for c in f.choices], error=NOT_A_CHOICE))
    if f.minimum is not None or f.maximum is not None:
        validators.append(validate.Range(
            min=f.minimum, max=f.maximum,
            error=f"Wert muss zwischen {f.minimum if f.minimum is not None else '…'} "
                  f"und {f.maximum if f.maximum is not None else '…'} liegen.",
        ))
    if f.max_length is not None:
        validators.append(validate.Length(max=f.max_length, error=f"Höchstens {f.max_length} Zeichen."))
    kwargs: dict[str, Any] = {"required": f.required, "validate": validators,
                              "error_messages": messages}
    if not f.required:
        kwargs["load_default"] = f.default if f.default is not None else (
            False if f.type == "boolean" else None)
        kwargs["allow_none"] = True
    if f.type == "string":
        return fields.String(**kwargs)
    if f.type == "integer":
        return Integer(strict=False, **kwargs)
    if f.type == "boolean":
        return fields.Boolean(**kwargs)
    messages["invalid"] = "Datum bitte als TT.MM.JJJJ."
    return _Day(**kwargs)


class _Day(fields.Date):
    """A day as the form shows it (08.11.2024, its placeholder) or as ISO 8601 (the API)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}\.\d{1,2}\.\d{4}", value.strip()):
            day, month, year = (int(part) for part in value.strip().split("."))
            try:
                return date(year, month, day)
            except ValueError:
                raise self.make_error("invalid") from None
        return super()._deserialize(value, attr, data, **kwargs)


@lru_cache(maxsize=256)
def _schema(key: str, form_fields: tuple[FormField, ...]) -> Schema:
    """One marshmallow schema per form definition (schemas are reusable for load)."""
    schema_class = Schema.from_dict({f.name: _field(f) for f in form_fields}, name=f"Form_{key}")
    return schema_class()


def parse_form(key: str, definition: dict[str, Any]) -> Form:
    """Read a form file's JSON; raise :class:`FormDefinitionError` naming what is wrong."""
    if not isinstance(definition, dict) or not isinstance(definition.get("properties"), dict):
        raise FormDefinitionError(f"Formular {key}: 'properties' fehlt")
    required = definition.get("required", [])
    if not isinstance(required, list):
        raise FormDefinitionError(f"Formular {key}: 'required' muss eine Liste sein")
    result = []
    for name, spec in definition["properties"].items():
        where = f"Formular {key}, Feld {name}"
        if not isinstance(spec, dict):
            raise FormDefinitionError(f"{where}: Definition muss ein Objekt sein")
        ftype = spec.get("format") if spec.get("format") == "date" else spec.get("type")
        if ftype not in TYPES:
            raise FormDefinitionError(f"{where}: Typ {ftype!r} wird nicht unterstützt")
        if "title" not in spec:
            raise FormDefinitionError(f"{where}: 'title' fehlt")
        if spec.get("x-widget") not in WIDGETS:
            raise FormDefinitionError(f"{where}: x-widget {spec.get('x-widget')!r} unbekannt")
        choices = tuple(
            Choice(c["const"], c.get("title", str(c["const"])), c.get("x-title-en"),
                   tuple(c.get("x-roles", ())))
            for c in spec.get("oneOf", [])
        )
        result.append(FormField(
            name=name, type=ftype, title=spec["title"], title_en=spec.get("x-title-en"),
            required=name in required, choices=choices, options_source=spec.get("x-options"),
            widget=spec.get("x-widget"), default=spec.get("default"),
            minimum=spec.get("minimum"), maximum=spec.get("maximum"),
            max_length=spec.get("maxLength"), description=spec.get("description"),
            roles=tuple(spec.get("x-roles", ())),
        ))
    for name in required:
        if name not in definition["properties"]:
            raise FormDefinitionError(f"Formular {key}: Pflichtfeld {name} ist nicht definiert")
    return Form(key, definition.get("title", key), definition.get("x-title-en"), tuple(result))


def json_schema(form: Form, english: bool = False) -> dict[str, Any]:
    """The form as JSON Schema with its choices filled in: what an API client completes."""
    properties: dict[str, Any] = {}
    for f in form.fields:
        prop: dict[str, Any] = {"title": (f.title_en if english and f.title_en else f.title)}
        if f.type == "date":
            prop.update(type="string", format="date")
        else:
            prop["type"] = f.type
        if f.choices or f.options_source:
            prop["oneOf"] = [{"const": c.value,
                              "title": c.label_en if english and c.label_en else c.label,
                              **({"description": c.note} if c.note else {})}
                             for c in f.choices]
        for key, value in (("minimum", f.minimum), ("maximum", f.maximum), ("maxLength", f.max_length),
                           ("default", f.default), ("description", f.description)):
            if value is not None:
                prop[key] = value
        properties[f.name] = prop
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": form.title_en if english and form.title_en else form.title,
        "type": "object",
        "required": [f.name for f in form.fields if f.required],
        "properties": properties,
        "additionalProperties": False,
    }
