"""Input schemas (marshmallow) for the verbs that create council objects.

Messages are German: they reach the secretary on the form, next to the field they name.
"""

from __future__ import annotations

import math
import re
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates,
    validates_schema,
)

from engine.council import CONSULTATION_ROLES, PAPER_TYPES
from engine.errors import Invalid
from engine.text import line_problem
from engine.words import genitive

#: marshmallow's ``error_messages`` (``marshmallow.types.ErrorMessages``; dict is invariant).
ErrorMessages = dict[str, str | list[Any] | dict[Any, Any]]

REQUIRED: ErrorMessages = {"required": "Pflichtfeld: bitte ausfüllen.",
                           "null": "Pflichtfeld: bitte ausfüllen.", "invalid": "Ungültiger Wert."}


#: NUL and other control characters (tab and line breaks stay): PostgreSQL refuses NUL in
#: text with an error, and none of them belongs in a council's texts.
_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


#: A whole number as a form or a client sends it: ASCII digits, at most 18 (below 2**63, so no
#: database driver overflows on it).
_WHOLE = re.compile(r"[+-]?[0-9]{1,18}")


class Integer(fields.Integer):
    """marshmallow's ``Integer`` for input. ``int()`` would read "١" as 1 and "１２" as 12, raise
    on 5,000 digits, and overflow on an infinite float: each is "invalid" here."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, str) and not _WHOLE.fullmatch(value.strip()):
            raise self.make_error("invalid", input=value)
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("invalid", input=value)
        number = super()._validated(value)
        if number is not None and not -(10**18) < number < 10**18:
            raise self.make_error("invalid", input=value)
        return number


def _text(required: bool = False, max_length: int | None = None, **kw: Any) -> fields.String:
    validators: list[Any] = [validate.Regexp(_CONTROL, error="Unzulässiges Steuerzeichen im Text.")]
    if max_length:
        validators.append(validate.Length(max=max_length, error=f"Höchstens {max_length} Zeichen."))
    if required:
        validators.append(validate.Length(min=1, error="Pflichtfeld: bitte ausfüllen."))
    return fields.String(required=required, validate=validators, error_messages=REQUIRED, **kw)


def _name(label: str, required: bool = False, max_length: int | None = None, **kw: Any) -> fields.String:
    """A name that goes on one line (into an e-mail header, a list, a greeting): besides the
    checks of :func:`_text`, no line break, tab or other control character."""
    field = _text(required=required, max_length=max_length, **kw)

    def one_line(value: str) -> None:
        if line_problem(value) is not None:
            raise ValidationError(f"{label} darf keinen Zeilenumbruch und kein Steuerzeichen enthalten.")

    field.validators.insert(0, one_line)
    return field


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _blank_is_missing(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """An empty HTML input is "not given"; strings are trimmed."""
        cleaned = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
            cleaned[key] = value
        return cleaned


class ConsultationIn(_Base):
    organization_id = Integer(required=True, error_messages={
        **REQUIRED, "required": "Bitte ein Gremium wählen."})
    role = fields.String(required=True, validate=validate.OneOf(CONSULTATION_ROLES,
                         error="Bitte eine der angebotenen Rollen wählen."), error_messages=REQUIRED)
    meeting_id = Integer(load_default=None, allow_none=True, error_messages=REQUIRED)
    authoritative = fields.Boolean(load_default=False)


class PaperIn(_Base):
    reference = _text(required=True, max_length=50)
    name = _text(required=True, max_length=500)
    paper_type = fields.String(required=True, validate=validate.OneOf(
        PAPER_TYPES, error="Bitte eine der angebotenen Vorlage-Arten wählen."), error_messages=REQUIRED)
    public = fields.Boolean(load_default=False)
    date = fields.Date(load_default=None, error_messages={"invalid": "Datum bitte als TT.MM.JJJJ."},
                       format="%d.%m.%Y")
    under_direction_of_id = Integer(required=True, error_messages={
        **REQUIRED, "required": "Bitte den federführenden Bereich wählen."})
    clerk_id = Integer(load_default=None, allow_none=True, error_messages=REQUIRED)
    facts = _text(max_length=200_000, load_default="")
    proposal_heading = fields.String(load_default="Beschlussvorschlag", validate=validate.OneOf(
        ["Beschlussvorschlag", "Beschlussempfehlung"]))
    proposal = _text(max_length=200_000, load_default="")
    financial_impact = _text(max_length=50_000, load_default="")
    personnel_impact = _text(max_length=50_000, load_default="")
    consultations = fields.List(fields.Nested(ConsultationIn), required=True,
                                validate=validate.Length(min=1, error="Mindestens eine Beratung angeben."),
                                error_messages={**REQUIRED, "required": "Mindestens eine Beratung angeben."})


class _WhenIn(_Base):
    """When and where a Sitzung takes place (planning it, moving it)."""

    date = fields.Date(required=True, format="%d.%m.%Y",
                       error_messages={**REQUIRED, "invalid": "Datum bitte als TT.MM.JJJJ."})
    start_time = fields.Time(required=True, format="%H:%M",
                             error_messages={**REQUIRED, "invalid": "Uhrzeit bitte als HH:MM."})
    end_time = fields.Time(load_default=None, format="%H:%M",
                           error_messages={"invalid": "Uhrzeit bitte als HH:MM."})
    location = _text(max_length=500, load_default=None)

    @validates_schema
    def _end_after_start(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("end_time") and data["end_time"] <= data["start_time"]:
            raise ValidationError("Ende muss nach dem Beginn liegen.", "end_time")


class MeetingIn(_WhenIn):
    organization_id = Integer(required=True, error_messages={
        **REQUIRED, "required": "Bitte ein Gremium wählen."})
    reference = _text(max_length=50, load_default=None)
    name = _text(required=True, max_length=500)


class MoveIn(_WhenIn):
    reason = _text(required=True, max_length=1000)


class ReasonIn(_Base):
    reason = _text(required=True, max_length=1000)


class OptionalReasonIn(_Base):
    reason = _text(load_default=None, max_length=1000)


def flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as flat field names: ``consultations.1.role``."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "_schema"] = list(messages)
    else:
        flat[prefix or "_schema"] = [str(messages)]
    return flat


def load(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise Invalid("Eingaben bitte prüfen.", flatten_errors(exc.messages)) from None


#: Ids fit the integer columns of both databases (PostgreSQL's are 32 bits).
MAX_ID = 2**31 - 1


def _id(required: bool = True, message: str = "Bitte auswählen.") -> Integer:
    extra: dict[str, Any] = {} if required else {"load_default": None}
    return Integer(required=required, allow_none=not required, **extra,
                          validate=validate.Range(1, MAX_ID, error="Unbekannter Eintrag."),
                          error_messages={**REQUIRED, "required": message})


#: What kinds of Gremium a council has (OParl's Organization.classification).
GREMIUM_KINDS = ["Ausschuss", "Beirat", "Fraktion", "Hauptorgan", "Rat", "Kreistag",
                 "Verbandsversammlung", "Bezirksvertretung", "Arbeitsgruppe", "Kommission"]
MEMBERSHIP_ROLES = ["Vorsitz", "stellvertretender Vorsitz", "Mitglied", "stellvertretendes Mitglied",
                    "Sekretariat"]


class GremiumIn(_Base):
    name = _text(required=True, max_length=300)
    short_name = _text(max_length=50, load_default=None)
    classification = fields.String(required=True, validate=validate.OneOf(
        GREMIUM_KINDS, error="Bitte eine der angebotenen Arten wählen."), error_messages=REQUIRED)
    #: "des Ausschusses für …": empty, or the same as derived from the name, stores nothing.
    name_genitive = _name("Der Name im Genitiv", max_length=300, load_default=None)
    body_id = _id(message="Bitte die Körperschaft wählen.")

    @validates("name_genitive")
    def _with_article(self, value: str | None, **_: Any) -> None:
        if value and not value.startswith(("des ", "der ")):
            raise ValidationError("Bitte mit Artikel im Genitiv: „des Ausschusses …“, „der Versammlung …“.")

    @post_load
    def _derived_is_not_stored(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        if data.get("name_genitive") == genitive(data["name"]):
            data["name_genitive"] = None
        return data


class PersonIn(_Base):
    family_name = _name("Der Nachname", required=True, max_length=200)
    given_name = _name("Der Vorname", required=True, max_length=200)
    form_of_address = _name("Die Anrede", max_length=50, load_default=None)
    email = fields.Email(load_default=None, validate=validate.Length(max=320),
                         error_messages={"invalid": "Bitte eine gültige E-Mail-Adresse angeben."})
    body_id = _id(message="Bitte die Körperschaft wählen.")


class MembershipIn(_Base):
    person_id = _id(message="Bitte eine Person wählen.")
    role = fields.String(required=True, validate=validate.OneOf(
        MEMBERSHIP_ROLES, error="Bitte eine der angebotenen Rollen wählen."), error_messages=REQUIRED)
    voting_right = fields.Boolean(load_default=True)
    start_date = fields.Date(load_default=None, format="%d.%m.%Y",
                             error_messages={"invalid": "Datum bitte als TT.MM.JJJJ."})
    end_date = fields.Date(load_default=None, format="%d.%m.%Y",
                           error_messages={"invalid": "Datum bitte als TT.MM.JJJJ."})

    @validates_schema
    def _end_after_start(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("start_date") and data.get("end_date") and data["end_date"] < data["start_date"]:
            raise ValidationError("Das Ende liegt vor dem Beginn.", "end_date")


class EndMembershipIn(_Base):
    end_date = fields.Date(required=True, format="%d.%m.%Y",
                           error_messages={**REQUIRED, "invalid": "Datum bitte als TT.MM.JJJJ."})


class SearchIn(_Base):
    """The public search's form: words, and what it is narrowed to (``engine.search.Filters``)."""

    q = _text(max_length=200, load_default="")
    gremium = _id(required=False)
    koerperschaft = _id(required=False)
    art = _text(max_length=100, load_default=None)
    von = fields.Date(load_default=None, format="%d.%m.%Y",
                      error_messages={"invalid": "Datum bitte als TT.MM.JJJJ."})
    bis = fields.Date(load_default=None, format="%d.%m.%Y",
                      error_messages={"invalid": "Datum bitte als TT.MM.JJJJ."})

    @validates_schema
    def _period(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("von") and data.get("bis") and data["bis"] < data["von"]:
            raise ValidationError({"bis": ["Das Ende des Zeitraums liegt vor seinem Anfang."]})
