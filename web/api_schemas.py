"""The JSON API's schemas (marshmallow), one per direction: ``…In`` loads what a client
sends (query string or body), ``…Out`` dumps what the API answers. The OpenAPI document
(``/api/v1/openapi.json``) is generated from these same classes, so what is documented is
what is checked and produced.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, pre_load, validate

from engine.council import CONSULTATION_ROLES, PAPER_TYPES
from engine.inbox import InboxQueryIn
from engine.schemas import MAX_ID, Integer

__all__ = ["InboxQueryIn"]

_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


def _id(**kw: Any) -> Integer:
    """An id as a client sends it: 1 … 2**31-1 (the integer columns of both databases)."""
    return Integer(validate=validate.Range(1, MAX_ID, error="Unbekannte Nummer."),
                          error_messages={"invalid": "Ungültiger Wert."}, **kw)


def _text(max_length: int, **kw: Any) -> fields.String:
    return fields.String(validate=[validate.Length(max=max_length, error=f"Höchstens {max_length} Zeichen."),
                                   validate.Regexp(_CONTROL, error="Unzulässiges Steuerzeichen im Text.")],
                         **kw)


# ----------------------------------------------------------------------------- in: query strings

class _QueryIn(Schema):
    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _blank_is_missing(self, data: Any, **_: Any) -> dict[str, Any]:
        items = data.items() if hasattr(data, "items") else []
        return {k: v.strip() if isinstance(v, str) else v for k, v in items
                if not (isinstance(v, str) and v.strip() == "")}


class PageIn(_QueryIn):
    limit = Integer(load_default=50, validate=validate.Range(1, 200, error="Zwischen 1 und 200."),
                           error_messages={"invalid": "Ungültiger Wert."},
                           metadata={"description": "Einträge je Seite (1–200)."})
    cursor = _text(500, load_default=None, metadata={
        "description": "`next` der vorigen Seite (undurchsichtig; fehlt: erste Seite)."})


class PaperQueryIn(PageIn):
    status = fields.String(load_default=None, validate=validate.OneOf(
        ["Entwurf", "in Beratung", "abgeschlossen", "zurückgezogen"]))
    paper_type = fields.String(load_default=None, validate=validate.OneOf(PAPER_TYPES))


class MeetingQueryIn(PageIn):
    organization = _id(load_default=None, metadata={"description": "Nur Sitzungen dieses Gremiums."})
    since = fields.Date(load_default=None, data_key="from", metadata={"description": "ab Tag (JJJJ-MM-TT)."})
    until = fields.Date(load_default=None, data_key="to", metadata={"description": "bis Tag (JJJJ-MM-TT)."})


class OrganizationQueryIn(PageIn):
    type = fields.String(load_default=None, validate=validate.OneOf(["Gremium", "Verwaltungsbereich"]))


class MembershipQueryIn(PageIn):
    organization = _id(load_default=None)
    person = _id(load_default=None)
    on = fields.Date(load_default=None, metadata={"description": "Nur an diesem Tag gültige (JJJJ-MM-TT)."})


# ----------------------------------------------------------------------------- in: bodies

class CompleteIn(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict,
                       metadata={"description": "Die Formularwerte (siehe `schema` der Aufgabe)."})
    expected_version = Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID),
                                      metadata={"description":
                                                "`version` der Aufgabe beim Lesen (409, wenn veraltet)."})


class LifecycleIn(Schema):
    beteiligt = fields.List(
        Integer(strict=True, validate=validate.Range(min=1, max=MAX_ID)), load_default=list,
        validate=validate.Length(max=50),
        metadata={"description": "Die mitzeichnenden Bereiche (ids der Organisationen vom Typ "
                  "Verwaltungsbereich), ohne den federführenden."})


class UserIn(Schema):
    user = fields.String(required=True, validate=validate.Length(min=1, max=150),
                         metadata={"description": "Benutzername."})


class CommentIn(Schema):
    text = fields.String(required=True)


class FollowUpIn(Schema):
    follow_up = fields.Date(required=True, allow_none=True,
                            metadata={"description": "Tag der Wiedervorlage; null hebt sie auf."})


# ----------------------------------------------------------------------------- out

class ErrorOut(Schema):
    error = fields.String(required=True, metadata={"description": "Was nicht ging, in Worten."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True,
                         metadata={"description": "Meldungen je Feld oder Parameter."})


class OrganizationRefOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class PaperRefOut(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    name = fields.String(required=True)
    paper_type = fields.String(required=True)


class MeetingRefOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    reference = fields.String(required=True, allow_none=True)
    start = fields.DateTime(required=True, metadata={"description": "Beginn (Europe/Berlin)."})


class PersonRefOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


class TaskOut(Schema):
    """A task as the inbox shows it (the contract of ``GET /api/v1/tasks``)."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    form = fields.String(required=True, allow_none=True)
    step = fields.String(required=True)
    status = fields.String(required=True)
    due = fields.Date(required=True, allow_none=True)
    overdue = fields.Boolean(required=True)
    due_soon = fields.Boolean(required=True)
    follow_up = fields.Date(required=True, allow_none=True)
    holder = fields.String(required=True, allow_none=True)
    owner = fields.String(required=True, allow_none=True)
    delegation = fields.String(required=True, allow_none=True)
    candidate_group = fields.String(required=True, allow_none=True)
    organization = fields.Nested(OrganizationRefOut, required=True, allow_none=True)
    paper = fields.Nested(PaperRefOut, required=True, allow_none=True)
    meeting = fields.Nested(MeetingRefOut, required=True, allow_none=True)
    agenda_item_number = fields.String(required=True, allow_none=True)
    role = fields.String(required=True, allow_none=True)
    notes = fields.Dict(keys=fields.String(), required=True)
    created = fields.DateTime(required=True)
    completed = fields.DateTime(required=True, allow_none=True)
    completed_by = fields.String(required=True, allow_none=True)
    version = fields.Integer(required=True, metadata={"description": "Stand des Vorgangs (für `complete`)."})


class CommentOut(Schema):
    id = fields.Integer(required=True)
    author = fields.String(required=True)
    author_name = fields.String(required=True)
    text = fields.String(required=True)
    created = fields.DateTime(required=True)


class TaskDetailOut(TaskOut):
    schema = fields.Dict(metadata={"description": "Das Formular als JSON Schema (nur offene Aufgaben)."})
    initial = fields.Dict(metadata={"description": "Vorbelegte Werte des Formulars."})
    blocked = fields.String(allow_none=True,
                            metadata={"description": "Warum noch nicht erledigt werden kann."})
    comments = fields.List(fields.Nested(CommentOut), required=True)


class TaskListOut(Schema):
    tasks = fields.List(fields.Nested(TaskOut), required=True)
    next = fields.String(required=True, allow_none=True,
                         metadata={"description": "Cursor der nächsten Seite."})


class CompletedOut(Schema):
    task = fields.Nested(TaskOut, required=True)
    version = fields.Integer(required=True)
    next_tasks = fields.List(fields.Nested(TaskOut), required=True)
    finished = fields.Boolean(required=True)


class AgendaItemOut(Schema):
    """A TOP of the Beratungsfolge with its Ergebnis."""

    id = fields.Integer(required=True)
    number = fields.String(required=True, allow_none=True)
    public = fields.Boolean(required=True)
    result = fields.String(required=True, allow_none=True)
    result_label = fields.String(required=True, allow_none=True)
    votes_yes = fields.Integer(required=True, allow_none=True)
    votes_no = fields.Integer(required=True, allow_none=True)
    votes_abstain = fields.Integer(required=True, allow_none=True)
    meeting = fields.Nested(MeetingRefOut, required=True)


class ConsultationOut(Schema):
    id = fields.Integer(required=True)
    position = fields.Integer(required=True)
    role = fields.String(required=True, metadata={"enum": CONSULTATION_ROLES})
    authoritative = fields.Boolean(required=True)
    organization = fields.Nested(OrganizationRefOut, required=True)
    meeting = fields.Nested(MeetingRefOut, required=True, allow_none=True,
                            metadata={"description": "Die geplante Sitzung."})
    agenda_items = fields.List(fields.Nested(AgendaItemOut), required=True)


class PaperOut(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    name = fields.String(required=True)
    paper_type = fields.String(required=True)
    date = fields.Date(required=True, allow_none=True)
    public = fields.Boolean(required=True)
    status = fields.String(required=True)
    under_direction_of = fields.Nested(OrganizationRefOut, required=True, allow_none=True)
    consultations = fields.List(fields.Nested(ConsultationOut), required=True)


class PaperDetailOut(PaperOut):
    facts = fields.String(required=True)
    proposal_heading = fields.String(required=True)
    proposal = fields.String(required=True)
    financial_impact = fields.String(required=True)
    personnel_impact = fields.String(required=True)


class PaperListOut(Schema):
    papers = fields.List(fields.Nested(PaperOut), required=True)
    next = fields.String(required=True, allow_none=True)


class MeetingOut(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True, allow_none=True)
    name = fields.String(required=True)
    start = fields.DateTime(required=True)
    end = fields.DateTime(required=True, allow_none=True)
    location = fields.String(required=True, allow_none=True)
    meeting_state = fields.String(required=True)
    cancelled = fields.Boolean(required=True)
    invited = fields.DateTime(required=True, allow_none=True)
    agenda_closed = fields.DateTime(required=True, allow_none=True)
    organization = fields.Nested(OrganizationRefOut, required=True)


class AgendaEntryOut(Schema):
    """A TOP of a Sitzung's agenda."""

    id = fields.Integer(required=True, allow_none=True)
    number = fields.String(required=True, allow_none=True)
    name = fields.String(required=True)
    public = fields.Boolean(required=True)
    paper_id = fields.Integer(required=True, allow_none=True)
    paper_reference = fields.String(required=True, allow_none=True)
    result = fields.String(required=True, allow_none=True)


class MeetingDetailOut(MeetingOut):
    agenda = fields.List(fields.Nested(AgendaEntryOut), required=True)


class MeetingListOut(Schema):
    meetings = fields.List(fields.Nested(MeetingOut), required=True)
    next = fields.String(required=True, allow_none=True)


class OrganizationOut(Schema):
    id = fields.Integer(required=True)
    body_id = fields.Integer(required=True)
    name = fields.String(required=True)
    short_name = fields.String(required=True, allow_none=True)
    organization_type = fields.String(required=True)
    classification = fields.String(required=True, allow_none=True)


class MembershipOut(Schema):
    id = fields.Integer(required=True)
    role = fields.String(required=True)
    voting_right = fields.Boolean(required=True)
    start_date = fields.Date(required=True, allow_none=True)
    end_date = fields.Date(required=True, allow_none=True)
    person = fields.Nested(PersonRefOut, required=True)
    organization = fields.Nested(OrganizationRefOut, required=True)


class OrganizationDetailOut(OrganizationOut):
    memberships = fields.List(fields.Nested(MembershipOut), required=True)


class OrganizationListOut(Schema):
    organizations = fields.List(fields.Nested(OrganizationOut), required=True)
    next = fields.String(required=True, allow_none=True)


class PersonOut(Schema):
    id = fields.Integer(required=True)
    body_id = fields.Integer(required=True)
    name = fields.String(required=True)
    family_name = fields.String(required=True)
    given_name = fields.String(required=True)
    form_of_address = fields.String(required=True, allow_none=True)
    email = fields.String(required=True, allow_none=True,
                          metadata={"description": "Nur für Sekretariate und Administration, sonst null."})


class PersonDetailOut(PersonOut):
    memberships = fields.List(fields.Nested(MembershipOut), required=True)


class PersonListOut(Schema):
    persons = fields.List(fields.Nested(PersonOut), required=True)
    next = fields.String(required=True, allow_none=True)


class MembershipListOut(Schema):
    memberships = fields.List(fields.Nested(MembershipOut), required=True)
    next = fields.String(required=True, allow_none=True)


class TaskRefOut(Schema):
    id = fields.Integer(required=True)
    title = fields.String(required=True)
    step = fields.String(required=True)
    holder = fields.String(required=True, allow_none=True)
    due = fields.Date(required=True, allow_none=True)


class ProcessInstanceOut(Schema):
    id = fields.Integer(required=True)
    process_id = fields.String(required=True,
                               metadata={"description": "Das BPMN-Modell, z. B. beratungsfolge."})
    model_name = fields.String(required=True)
    model_version = fields.Integer(required=True)
    paper_id = fields.Integer(required=True, allow_none=True)
    meeting_id = fields.Integer(required=True, allow_none=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)
    started = fields.DateTime(required=True)
    updated = fields.DateTime(required=True)
    completed = fields.DateTime(required=True, allow_none=True)
    incident = fields.String(required=True, allow_none=True)
    open_tasks = fields.List(fields.Nested(TaskRefOut), required=True)


class HistoryEventOut(Schema):
    seq = fields.Integer(required=True, metadata={"description": "Stelle in der Hash-Kette."})
    at = fields.DateTime(required=True)
    actor = fields.String(required=True)
    actor_name = fields.String(required=True)
    action = fields.String(required=True)
    action_label = fields.String(required=True)
    description = fields.String(required=True)
    paper_id = fields.Integer(required=True, allow_none=True)
    details = fields.Dict(required=True)
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class HistoryOut(Schema):
    events = fields.List(fields.Nested(HistoryEventOut), required=True)
    next = fields.String(required=True, allow_none=True)


class ReminderOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    status = fields.String(required=True)
    due_at = fields.DateTime(required=True)
    fired_at = fields.DateTime(required=True, allow_none=True)
    lead_minutes = fields.Integer(required=True)
    note = fields.String(required=True, allow_none=True)
    task_id = fields.Integer(required=True, allow_none=True)
    meeting = fields.Nested(MeetingRefOut, required=True)


class ReminderListOut(Schema):
    reminders = fields.List(fields.Nested(ReminderOut), required=True)
    next = fields.String(required=True, allow_none=True)


# ----------------------------------------------------------------------------- process models

class ModelFileIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={
        "description": "Dateiname: NAME.bpmn, ein Formular NAME.schema.json oder Szenarien "
                       "NAME.szenarien.json."})
    content = fields.String(required=True, validate=validate.Length(min=1, max=5 * 1024 * 1024),
                            metadata={"description": "Der Inhalt der Datei (UTF-8)."})


class ModelsIn(Schema):
    files = fields.List(fields.Nested(ModelFileIn), required=True, validate=validate.Length(min=1, max=20),
                        metadata={"description": "Zusammen bereitgestellte Dateien (Aufrufaktivitäten lösen "
                                                 "sich untereinander auf)."})
    process = fields.String(load_default=None, allow_none=True, validate=validate.Length(min=1, max=200),
                            metadata={"description": "Welcher ausführbare Prozess, wenn eine Datei "
                                                     "mehrere hat."})


class FindingOut(Schema):
    line = fields.Integer(required=True, allow_none=True)
    element = fields.String(required=True, allow_none=True)
    reason = fields.String(required=True)
    text = fields.String(required=True,
                         metadata={"description": "Datei, Zeile, Element und Grund in einem Satz."})


class ModelOutcomeOut(Schema):
    name = fields.String(required=True)
    ok = fields.Boolean(required=True)
    process_id = fields.String(required=True, allow_none=True)
    version = fields.Integer(required=True, allow_none=True)
    new = fields.Boolean(required=True)
    findings = fields.List(fields.Nested(FindingOut), required=True)


class ModelsOut(Schema):
    ok = fields.Boolean(required=True)
    models = fields.List(fields.Nested(ModelOutcomeOut), required=True)
