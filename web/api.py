"""The JSON API (v1): the council's objects, the inbox's tasks, Vorgänge with their history,
the member's reminders. Documented at ``/api/v1/openapi.json`` (OpenAPI 3.1, generated from
the schemas in :mod:`web.api_schemas`), browsable at ``/api/v1/docs``.

Authentication: ``Authorization: Bearer rf_…`` (a personal API token, ``engine.identity.tokens``;
checked with authlib's ResourceProtector) or the login session's cookie; a write with the
cookie needs the session's CSRF token in ``X-CSRF-Token``. Each route needs one scope of
the token (``engine.identity.tokens.SCOPES``); the account's roles apply on top: a token never does
more than its account. Errors are JSON, always: ``{"error": message, "errors": {field:
[messages]}}`` (400/401/403/404/405/409/415/422).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenValidator, InsufficientScopeError
from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, session
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import Unauthorized

from engine import catalog, tasks
from engine.accounts import Actor
from engine.audit_history import ACTIONS, describe, names_for
from engine.council import RESULTS, Meeting
from engine.db import after_commit
from engine.errors import EngineError, Forbidden, Invalid, NotFound
from engine.identity import tokens
from engine.inbox import InboxQuery, InboxRow, inbox_row, list_tasks, task_row
from engine.process import procedures
from engine.schemas import flatten_errors
from engine.settings import TIMEZONE
from engine.tasks import candidate_group, comments_of, load_for
from engine.workflow.forms import json_schema

from . import api_docs
from . import api_schemas as S
from .auth import COMPLETES_A_TASK, current_actor
from .i18n import current_language
from .i18n import gettext as _
from .openapi import WRITES, Route, document
from .views import record_refusal, request_now, request_session, request_today, rollback_request

bp = Blueprint("api", __name__, url_prefix="/api/v1")

ID = "int"  # bounded to MAX_ID by the app's converter (web/inputs.py)


# ----------------------------------------------------------------------------- the routes' register

ROUTES: list[Route] = []
_BY_ENDPOINT: dict[str, Route] = {}


def api(method: str, rule: str, *, scope: str, summary: str, tag: str, response: type[Schema],
        status: int = 200, query: type[Schema] | None = None, body: type[Schema] | None = None,
        errors: tuple[int, ...] = ()) -> Callable[[Callable[..., ResponseReturnValue]],
                                                   Callable[..., ResponseReturnValue]]:
    """Register a view as an API operation that needs ``scope``."""
    assert scope in tokens.SCOPES, scope

    def register(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        codes = {401, 403, *errors}
        if query is not None or body is not None or "<" in rule:
            codes.add(422)
        if "<" in rule:
            codes.add(404)
        if body is not None:
            codes |= {400, 415}
        route = Route(method, rule, f"{bp.name}.{view.__name__}", scope, summary, tag, response, status,
                      query, body, tuple(sorted(codes)))
        ROUTES.append(route)
        _BY_ENDPOINT[route.endpoint] = route
        bp.add_url_rule(rule, view_func=view, methods=[method])
        return view

    return register


# ----------------------------------------------------------------------------- authentication

class ApiUnauthorized(Unauthorized):
    """401 with the API's message and the ``WWW-Authenticate: Bearer`` challenge."""

    def __init__(self, message: str, error: str | None = None) -> None:
        super().__init__()
        self.message = message
        self.challenge = 'Bearer realm="ratsflow"' + (f', error="{error}"' if error else "")

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("WWW-Authenticate", self.challenge)]


@dataclass(frozen=True)
class BearerToken:
    """What authlib's validator asks of a token."""

    row: tokens.ApiToken
    actor: Actor | None
    now: datetime

    def is_expired(self) -> bool:
        return self.row.expires is not None and self.row.expires <= self.now

    def is_revoked(self) -> bool:
        return self.row.revoked is not None or self.actor is None  # an inactive account's tokens too

    def get_scope(self) -> str:
        return self.row.scopes


class TokenValidator(BearerTokenValidator):
    """Looks the token up by its hash, with its account and grants (one query, in the
    request's unit of work)."""

    def authenticate_token(self, token_string: str) -> BearerToken | None:
        rows = None
        task_id = (request.view_args or {}).get("task_id")
        if request.method == "POST" and isinstance(task_id, int) and request.endpoint in COMPLETES_A_TASK:
            # A completion: the token comes with the task and all completing it needs.
            rows = procedures.load_task_with_token(request_session(), task_id, token_string)
        row, actor = tokens.find_with_actor(request_session(), token_string, rows=rows)
        if row is None:
            return None
        return BearerToken(row, actor, request_now())


protector = ResourceProtector()
protector.register_token_validator(TokenValidator(realm="ratsflow"))


@bp.before_request
def _same_origin() -> None:
    """A write from another site's page is refused (the session cookie alone is no proof)."""
    origin = request.headers.get("Origin")
    if request.method in WRITES and origin and urlsplit(origin).netloc != request.host:
        abort(403)


@bp.before_request
def _authenticate() -> None:
    """The actor of this request: the bearer token's account, or the session's (with CSRF)."""
    route = _BY_ENDPOINT.get(request.endpoint or "")
    if route is None:
        return  # the OpenAPI document and its page are public
    if "Authorization" in request.headers:
        try:
            token: BearerToken = protector.acquire_token([route.scope])
        except InsufficientScopeError:
            raise Forbidden(_("Dieser Zugang hat den Bereich %(scope)s nicht.", scope=route.scope),
                            {"scope": [route.scope]}) from None
        except OAuth2Error as exc:
            if exc.error == "missing_authorization" or exc.error == "unsupported_token_type":
                raise ApiUnauthorized(_("Bitte als „Authorization: Bearer <Token>“ anmelden."),
                                      "invalid_request") from None
            raise ApiUnauthorized(_("Der Zugang ist ungültig, abgelaufen oder widerrufen."),
                                  "invalid_token") from None
        g.actor = token.actor
        g.api_token = token.row
        if tokens.needs_touch(token.row, token.now):
            assert token.row.id is not None
            token_id, used, database = token.row.id, token.now, current_app.extensions["ratsflow.db"]

            def touch() -> None:  # after the request's commit: its lock (SQLite) is free then
                with database.unit_of_work() as s:
                    tokens.record_use(s, token_id, used)
            after_commit(request_session(), touch)
        return
    if current_actor() is None:
        raise ApiUnauthorized(_("Bitte melden Sie sich an."))
    if request.method in WRITES:
        sent = request.headers.get("X-CSRF-Token", "")
        if not sent or not hmac.compare_digest(sent.encode(), session.get("csrf", "").encode()):
            raise Forbidden(_("Mit der Anmeldung im Browser braucht ein Schreibzugriff den "
                              "CSRF-Token im Kopf X-CSRF-Token."), {"X-CSRF-Token": [_("fehlt oder falsch")]})


def _actor() -> Actor:
    actor = current_actor()
    assert actor is not None  # _authenticate
    return actor


# ----------------------------------------------------------------------------- input

def _query(schema: type[Schema]) -> dict[str, Any]:
    try:
        return _instance(schema).load(dict(request.args.items()))  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise Invalid(_("Parameter bitte prüfen."), flatten_errors(exc.messages)) from None


def _body(schema: type[Schema]) -> dict[str, Any]:
    """The JSON body loaded with ``schema`` (an empty body is ``{}``); 415/422 otherwise."""
    if request.content_length and not request.is_json:
        abort(415)
    payload = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(payload, dict):
        raise Invalid("Eingaben bitte prüfen.", {"_": ["Ein JSON-Objekt erwartet."]})
    try:
        return _instance(schema).load(payload)  # type: ignore[no-any-return]
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        raise Invalid("Eingaben bitte prüfen.", messages) from None


# ----------------------------------------------------------------------------- output

@functools.cache
def _instance(schema: type[Schema], many: bool = False) -> Schema:
    """One instance per schema (building one costs more than dumping a page with it)."""
    return schema(many=many)


def _meeting_ref(meeting: Meeting | None) -> dict[str, Any] | None:
    if meeting is None:
        return None
    return {"id": meeting.id, "name": meeting.name, "reference": meeting.reference,
            "start": meeting.start.astimezone(TIMEZONE)}




def task_json(row: InboxRow) -> dict[str, Any]:
    """A task as the API shows it: the contract of ``GET /api/v1/tasks`` (``S.TaskOut``).

    Built directly rather than dumped through marshmallow, which cost more than everything
    else of a 50-row page together; a test holds both equal for every kind of row."""
    t, paper, meeting, org = row.task, row.paper, row.meeting, row.organization
    context = t.context
    top = context.get("top")
    return {
        "id": t.id,
        "title": str(context.get("title_en", t.title)) if current_language() == "en" else t.title,
        "form": t.form_key, "step": t.bpmn_id, "status": t.status, "due": _iso(t.due),
        "overdue": row.overdue, "due_soon": row.due_soon, "follow_up": _iso(t.follow_up),
        "holder": t.assignee, "owner": t.owner, "delegation": t.delegation,
        "candidate_group": candidate_group(t),
        "organization": None if org is None else {"id": org.id, "name": org.name},
        "paper": None if paper is None else {"id": paper.id, "reference": paper.reference,
                                             "name": paper.name, "paper_type": paper.paper_type},
        "meeting": None if meeting is None else {
            "id": meeting.id, "name": meeting.name, "reference": meeting.reference,
            "start": meeting.start.astimezone(TIMEZONE).isoformat()},
        "agenda_item_number": None if top is None else str(top),
        "role": (context.get("beratung") or {}).get("role"),
        "notes": {k: context[k] for k in ("postponed_in", "order_conflict") if k in context},
        "created": t.created.isoformat(), "completed": _iso(t.completed),
        "completed_by": t.completed_by, "version": row.version,
    }


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _row(task_id: int) -> dict[str, Any]:
    row = task_row(request_session(), task_id, request_today())
    if row is None:
        raise NotFound("Aufgabe nicht gefunden.")
    return task_json(row)


def _fields(row: Any) -> dict[str, Any]:
    """The columns of an ORM object or of a plain row."""
    return row.model_dump() if hasattr(row, "model_dump") else dict(row._mapping)


def _paper(out: catalog.PaperOut, schema: Schema) -> dict[str, Any]:
    p = out.paper
    lead = None
    if p.under_direction_of_id is not None:
        from engine.council import Organization

        lead = request_session().get(Organization, p.under_direction_of_id)
    return schema.dump({  # type: ignore[no-any-return]
        **_fields(p), "under_direction_of": lead,
        "consultations": [{
            **_fields(c.consultation), "organization": c.organization,
            "meeting": _meeting_ref(c.meeting),
            "agenda_items": [{**e.item.model_dump(), "result_label": RESULTS.get(e.item.result or ""),
                              "meeting": _meeting_ref(e.meeting)} for e in c.agenda_items],
        } for c in out.consultations]})


@bp.before_request
def _task_of_my_groups() -> None:
    """Who may not work on a task learns that (403) before any fault of their input (422)."""
    task_id = (request.view_args or {}).get("task_id")
    actor = current_actor()
    if request.method == "POST" and task_id is not None and actor is not None:
        try:
            if request.endpoint == complete_endpoint:
                # What completing needs, read at once (task, instance, Beratung, Vorlage, …).
                procedures.load_task(request_session(), task_id)
            load_for(request_session(), actor, task_id, ready=False, now=request_now())
        except EngineError as exc:
            if exc.status != 404:
                record_refusal(actor, task_id, exc)  # as the view would have
            raise



def _membership(m: catalog.MembershipOut) -> dict[str, Any]:
    return {**m.membership.model_dump(), "person": {"id": m.person.id, "name": m.person.name},
            "organization": m.organization}


def _person(person: Any, contact: bool) -> dict[str, Any]:
    return {**person.model_dump(), "name": person.name, "email": person.email if contact else None}


# ----------------------------------------------------------------------------- Vorlagen

@api("GET", "/papers", scope="papers:read", tag="Vorlagen", response=S.PaperListOut, query=S.PaperQueryIn,
     summary="Vorlagen mit Beratungsfolge (nicht-öffentliche nur für Berechtigte)")
def paper_list() -> ResponseReturnValue:
    args = _query(S.PaperQueryIn)
    rows, after = catalog.list_papers(request_session(), _actor(), request_today(), **args)
    schema = _instance(S.PaperOut)
    return jsonify(papers=[_paper(r, schema) for r in rows], next=after)


@api("GET", f"/papers/<{ID}:paper_id>", scope="papers:read", tag="Vorlagen", response=S.PaperDetailOut,
     summary="Eine Vorlage mit Texten und Beratungsfolge")
def paper_detail(paper_id: int) -> ResponseReturnValue:
    out = catalog.paper(request_session(), _actor(), paper_id, request_today())
    if out is None:
        raise NotFound(_("Vorlage nicht gefunden."))
    return jsonify(_paper(out, _instance(S.PaperDetailOut)))


# ----------------------------------------------------------------------------- Sitzungen

def _meeting(out: catalog.MeetingOut) -> dict[str, Any]:
    m = out.meeting
    return {**m.model_dump(), "start": m.start.astimezone(TIMEZONE),
            "end": m.end.astimezone(TIMEZONE) if m.end else None, "organization": out.organization}


@api("GET", "/meetings", scope="meetings:read", tag="Sitzungen", response=S.MeetingListOut,
     query=S.MeetingQueryIn, summary="Sitzungen nach Beginn")
def meeting_list() -> ResponseReturnValue:
    rows, after = catalog.list_meetings(request_session(), **_meeting_args())
    return jsonify(meetings=_instance(S.MeetingOut, many=True).dump([_meeting(r) for r in rows]), next=after)


def _meeting_args() -> dict[str, Any]:
    args = _query(S.MeetingQueryIn)
    if args["since"] and args["until"] and args["until"] < args["since"]:
        raise Invalid(_("Parameter bitte prüfen."), {"to": ["Das Ende liegt vor dem Beginn."]})
    return {"organization_id": args.pop("organization"), **args}


@api("GET", f"/meetings/<{ID}:meeting_id>", scope="meetings:read", tag="Sitzungen",
     response=S.MeetingDetailOut, summary="Eine Sitzung mit Tagesordnung (nicht-öffentlicher Teil nur "
     "für Gremium, Sekretariat, Revision)")
def meeting_detail(meeting_id: int) -> ResponseReturnValue:
    out = catalog.meeting(request_session(), _actor(), meeting_id, request_today())
    if out is None:
        raise NotFound(_("Sitzung nicht gefunden."))
    agenda = [{"id": e.item_id, "number": e.number, "name": e.name, "public": e.public,
               "paper_id": e.paper_id, "paper_reference": e.reference, "result": e.result}
              for e in out.agenda or []]
    return jsonify(_instance(S.MeetingDetailOut).dump({**_meeting(out), "agenda": agenda}))


# ----------------------------------------------------------------------------- Gremien, Personen

@api("GET", "/organizations", scope="meetings:read", tag="Gremien und Personen",
     response=S.OrganizationListOut, query=S.OrganizationQueryIn, summary="Gremien und Verwaltungsbereiche")
def organization_list() -> ResponseReturnValue:
    args = _query(S.OrganizationQueryIn)
    rows, after = catalog.list_organizations(request_session(), organization_type=args["type"],
                                             cursor=args["cursor"], limit=args["limit"])
    return jsonify(organizations=_instance(S.OrganizationOut, many=True).dump(rows), next=after)


@api("GET", f"/organizations/<{ID}:organization_id>", scope="meetings:read", tag="Gremien und Personen",
     response=S.OrganizationDetailOut, summary="Ein Gremium mit seinen Mitgliedschaften")
def organization_detail(organization_id: int) -> ResponseReturnValue:
    from engine.council import Organization

    s = request_session()
    org = s.get(Organization, organization_id)
    if org is None:
        raise NotFound(_("Gremium nicht gefunden."))
    memberships = [_membership(m) for m in catalog.memberships_of_organization(s, organization_id)]
    return jsonify(_instance(S.OrganizationDetailOut).dump({**org.model_dump(), "memberships": memberships}))


@api("GET", "/persons", scope="meetings:read", tag="Gremien und Personen", response=S.PersonListOut,
     query=S.PageIn, summary="Personen (E-Mail nur für Sekretariate und Administration)")
def person_list() -> ResponseReturnValue:
    args = _query(S.PageIn)
    rows, after = catalog.list_persons(request_session(), **args)
    contact = catalog.sees_contact_data(_actor())
    return jsonify(persons=_instance(S.PersonOut, many=True).dump([_person(p, contact) for p in rows]),
                   next=after)


@api("GET", f"/persons/<{ID}:person_id>", scope="meetings:read", tag="Gremien und Personen",
     response=S.PersonDetailOut, summary="Eine Person mit ihren Mitgliedschaften")
def person_detail(person_id: int) -> ResponseReturnValue:
    from engine.council import Person

    s = request_session()
    person = s.get(Person, person_id)
    if person is None:
        raise NotFound(_("Person nicht gefunden."))
    memberships = [_membership(m) for m in catalog.memberships_of_person(s, person_id)]
    return jsonify(_instance(S.PersonDetailOut).dump({**_person(person, catalog.sees_contact_data(_actor())),
                                             "memberships": memberships}))


@api("GET", "/memberships", scope="meetings:read", tag="Gremien und Personen", response=S.MembershipListOut,
     query=S.MembershipQueryIn, summary="Mitgliedschaften (nach Gremium, Person, Stichtag)")
def membership_list() -> ResponseReturnValue:
    args = _query(S.MembershipQueryIn)
    rows, after = catalog.list_memberships(request_session(), organization_id=args["organization"],
                                           person_id=args["person"], on=args["on"], cursor=args["cursor"],
                                           limit=args["limit"])
    return jsonify(memberships=_instance(S.MembershipOut, many=True).dump([_membership(m) for m in rows]),
                   next=after)


# ----------------------------------------------------------------------------- Aufgaben

TASK_ERRORS = (404, 409, 422)


@api("GET", "/tasks", scope="tasks:read", tag="Aufgaben", response=S.TaskListOut, query=S.InboxQueryIn,
     summary="Aufgaben einer Ansicht des Posteingangs (Filter und Keyset-Blättern wie im Posteingang)")
def task_list() -> ResponseReturnValue:
    query = InboxQuery.load(request.args)
    page = list_tasks(request_session(), _actor(), query, request_today())
    return jsonify(tasks=[task_json(r) for r in page.rows], next=page.next_cursor)


@api("GET", f"/tasks/<{ID}:task_id>", scope="tasks:read", tag="Aufgaben", response=S.TaskDetailOut,
     summary="Eine Aufgabe mit Formular (JSON Schema), Vorbelegung und Kommentaren")
def task_detail(task_id: int) -> ResponseReturnValue:
    s = request_session()
    task = load_for(s, _actor(), task_id, ready=False, now=request_now())
    out = _row(task_id)
    if task.status == tasks.TASK_READY:
        form, initial = procedures.task_form(s, task, now=request_now())
        out["schema"] = json_schema(form, english=current_language() == "en")
        out["initial"] = initial
        out["blocked"] = procedures.completion_blocked(s, task, request_now())
    out["comments"] = _instance(S.CommentOut, many=True).dump(comments_of(s, task_id))
    return jsonify(out)


@api("POST", f"/tasks/<{ID}:task_id>/claim", scope="tasks:write", tag="Aufgaben", response=S.TaskOut,
     errors=TASK_ERRORS, summary="Aufgabe übernehmen")
def claim(task_id: int) -> ResponseReturnValue:
    tasks.claim(request_session(), _actor(), task_id, now=request_now())
    return jsonify(_row(task_id))


@api("POST", f"/tasks/<{ID}:task_id>/unclaim", scope="tasks:write", tag="Aufgaben", response=S.TaskOut,
     errors=TASK_ERRORS, summary="Aufgabe freigeben")
def unclaim(task_id: int) -> ResponseReturnValue:
    tasks.unclaim(request_session(), _actor(), task_id, now=request_now())
    return jsonify(_row(task_id))


@api("POST", f"/tasks/<{ID}:task_id>/assign", scope="tasks:write", tag="Aufgaben", response=S.TaskOut,
     body=S.UserIn, errors=TASK_ERRORS, summary="Aufgabe einer Kollegin oder einem Kollegen zuweisen")
def assign(task_id: int) -> ResponseReturnValue:
    tasks.assign(request_session(), _actor(), task_id, _body(S.UserIn)["user"], now=request_now())
    return jsonify(_row(task_id))


@api("POST", f"/tasks/<{ID}:task_id>/delegate", scope="tasks:write", tag="Aufgaben", response=S.TaskOut,
     body=S.UserIn, errors=TASK_ERRORS, summary="Aufgabe delegieren (kommt nach Erledigung zurück)")
def delegate(task_id: int) -> ResponseReturnValue:
    tasks.delegate(request_session(), _actor(), task_id, _body(S.UserIn)["user"], now=request_now())
    return jsonify(_row(task_id))


@api("POST", f"/tasks/<{ID}:task_id>/resolve", scope="tasks:write", tag="Aufgaben", response=S.TaskOut,
     errors=TASK_ERRORS, summary="Delegation als erledigt zurückgeben")
def resolve(task_id: int) -> ResponseReturnValue:
    tasks.resolve(request_session(), _actor(), task_id, now=request_now())
    return jsonify(_row(task_id))


@api("POST", f"/tasks/<{ID}:task_id>/follow-up", scope="tasks:write", tag="Aufgaben", response=S.TaskOut,
     body=S.FollowUpIn, errors=TASK_ERRORS, summary="Wiedervorlage setzen oder aufheben")
def follow_up(task_id: int) -> ResponseReturnValue:
    tasks.set_follow_up(request_session(), _actor(), task_id, _body(S.FollowUpIn)["follow_up"],
                        now=request_now())
    return jsonify(_row(task_id))


@api("POST", f"/tasks/<{ID}:task_id>/comments", scope="tasks:write", tag="Aufgaben", response=S.TaskOut,
     status=201, body=S.CommentIn, errors=TASK_ERRORS, summary="Kommentar zur Aufgabe schreiben")
def comment(task_id: int) -> ResponseReturnValue:
    tasks.add_comment(request_session(), _actor(), task_id, _body(S.CommentIn)["text"], now=request_now())
    return jsonify(_row(task_id)), 201


@api("POST", f"/tasks/<{ID}:task_id>/complete", scope="tasks:write", tag="Aufgaben", response=S.CompletedOut,
     body=S.CompleteIn, errors=TASK_ERRORS,
     summary="Aufgabe mit den Formularwerten erledigen (expected_version: 409, wenn veraltet)")
def complete(task_id: int) -> ResponseReturnValue:
    if not request.is_json:
        abort(415)
    payload = _body(S.CompleteIn)
    s = request_session()
    try:
        done = procedures.complete_task(s, _actor(), task_id, payload["data"], payload["expected_version"],
                                        now=request_now())
    except EngineError as exc:
        if exc.status != 404:
            record_refusal(_actor(), task_id, exc)
        raise
    # The completed task and the ones it made ready, from what the unit of work holds.
    today = request_today()
    return jsonify(task=task_json(inbox_row(s, done.task, done.version, today)), version=done.version,
                   next_tasks=[task_json(inbox_row(s, t, done.version, today)) for t in done.next_tasks],
                   finished=done.finished)


complete_endpoint = f"{bp.name}.{complete.__name__}"
COMPLETES_A_TASK.add(complete_endpoint)


# ----------------------------------------------------------------------------- Prozessmodelle

def _models(check_only: bool) -> ResponseReturnValue:
    if not request.is_json:
        abort(415)
    actor = _actor()
    if not actor.is_admin:
        raise Forbidden(_("Prozessmodelle prüft und stellt nur die Administration bereit."))
    payload = _body(S.ModelsIn)
    files: dict[str, bytes] = {}
    for item in payload["files"]:
        if item["name"] in files:
            raise Invalid(_("Eingaben bitte prüfen."), {"files": [f"„{item['name']}“ kommt zweimal vor."]})
        files[item["name"]] = item["content"].encode("utf-8")
    outcomes = procedures.deploy_uploaded(request_session(), files, actor.username, check_only=check_only,
                                          process=payload["process"])
    body = {"ok": all(o.ok for o in outcomes), "models": [
        {"name": o.name, "ok": o.ok, "process_id": o.process_id, "version": o.version, "new": o.new,
         "findings": [{"line": f.line, "element": f.element, "reason": f.reason, "text": str(f)}
                      for f in o.findings]} for o in outcomes]}
    if not body["ok"] and not check_only:
        rollback_request()  # all or none: nothing of this upload is deployed
    status = 200 if check_only or body["ok"] else 422
    return jsonify(S.ModelsOut().dump(body)), status


@api("POST", "/models/check", scope="models:write", tag="Prozessmodelle", response=S.ModelsOut,
     body=S.ModelsIn, summary="BPMN-Modelle prüfen wie ratsflow deploy --check (nichts wird bereitgestellt)")
def models_check() -> ResponseReturnValue:
    return _models(check_only=True)


@api("POST", "/models", scope="models:write", tag="Prozessmodelle", response=S.ModelsOut, body=S.ModelsIn,
     summary="BPMN-Modelle prüfen und bereitstellen (422 mit den Befunden, wenn eines abgelehnt wird)")
def models_deploy() -> ResponseReturnValue:
    return _models(check_only=False)


# ----------------------------------------------------------------------------- Vorgänge

@api("POST", f"/papers/<{ID}:paper_id>/lifecycle", scope="papers:write", tag="Vorlagen",
     response=S.ProcessInstanceOut, status=201, body=S.LifecycleIn, errors=(409,),
     summary="Den Lebenslauf einer Vorlage im Entwurf starten: Entwurf, Mitzeichnung der beteiligten "
     "Bereiche, Freigabe, dann die Beratungsfolge (Sachbearbeitung des federführenden Bereichs)")
def start_lifecycle(paper_id: int) -> ResponseReturnValue:
    if not request.is_json:
        abort(415)
    payload = _body(S.LifecycleIn)
    s = request_session()
    instance = procedures.start_lifecycle(s, _actor(), paper_id, payload["beteiligt"], now=request_now())
    assert instance.id is not None
    return jsonify(_process_instance(s, instance.id)), 201


def _process_instance(s: Any, instance_id: int) -> dict[str, Any]:
    out = catalog.process_instance(s, instance_id)
    assert out is not None
    i, m = out.instance, out.model
    return _instance(S.ProcessInstanceOut).dump({  # type: ignore[no-any-return]
        **i.model_dump(exclude={"state"}), "process_id": m.process_id, "model_name": m.name,
        "model_version": m.version,
        "open_tasks": [{"id": t.id, "title": t.title, "step": t.bpmn_id, "holder": t.assignee, "due": t.due}
                       for t in out.open_tasks]})


@api("GET", f"/process-instances/<{ID}:instance_id>", scope="tasks:read", tag="Vorgänge",
     response=S.ProcessInstanceOut,
     summary="Ein Vorgang (Prozessinstanz) mit offenen Aufgaben: Revision, Administration und wer "
     "an einer seiner Aufgaben arbeiten darf")
def process_instance(instance_id: int) -> ResponseReturnValue:
    s = request_session()
    out = catalog.process_instance(s, instance_id)
    if out is None:
        raise NotFound(_("Vorgang nicht gefunden."))
    if not catalog.may_read_instance(_actor(), out.instance, s):
        raise Forbidden(_("Keine Berechtigung für diesen Vorgang."))
    return jsonify(_process_instance(s, instance_id))


@api("GET", f"/process-instances/<{ID}:instance_id>/history", scope="audit:read", tag="Vorgänge",
     response=S.HistoryOut, query=S.PageIn,
     summary="Die Prozesshistorie eines Vorgangs in der Reihenfolge der Kette (nur Revision)")
def process_history(instance_id: int) -> ResponseReturnValue:
    from engine.council import ROLE_AUDITOR
    from engine.workflow.models import ProcessInstance

    if not _actor().has_role(ROLE_AUDITOR):
        raise Forbidden(_("Die Prozesshistorie liest die Revision."))
    args = _query(S.PageIn)
    s = request_session()
    if s.get(ProcessInstance, instance_id) is None:
        raise NotFound(_("Vorgang nicht gefunden."))
    events, after = catalog.history(s, instance_id, **args)
    names = names_for(s, events)
    return jsonify(events=_instance(S.HistoryEventOut, many=True).dump([{
        **e.model_dump(), "action_label": ACTIONS.get(e.action, e.action),
        "description": describe(e, names=names)}
        for e in events]), next=after)


# ----------------------------------------------------------------------------- Erinnerungen

@api("GET", "/me/reminders", scope="reminders:read", tag="Erinnerungen", response=S.ReminderListOut,
     query=S.PageIn, summary="Die Erinnerungen an mich (als Mitglied und als Sekretariat), neueste zuerst")
def my_reminders() -> ResponseReturnValue:
    args = _query(S.PageIn)
    rows, after = catalog.my_reminders(request_session(), _actor(), **args)
    return jsonify(reminders=_instance(S.ReminderOut, many=True).dump([
        {**r.model_dump(), "meeting": _meeting_ref(m)} for r, m in rows]), next=after)


# ----------------------------------------------------------------------------- the document

def _document() -> dict[str, Any]:
    return document(tuple(ROUTES), current_app.config["SESSION_COOKIE_NAME"])


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(_document())


@bp.get("/docs")
def docs() -> ResponseReturnValue:
    """The document as a page (``web.api_docs``): German, accessible, no script."""
    return render_template("api_docs.html", ref=api_docs.reference(_document()))
