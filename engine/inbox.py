"""The secretaries' inbox: views, server-side filters and keyset paging over the task index.

Listing reads only the human-task table and the rows it names (Vorlage, Gremium, Sitzung,
instance version); it never deserializes a workflow. Pages are cut by a cursor on the sort
key and the task id (keyset), never by OFFSET, so page 500 costs what page 1 costs and a
task that arrives meanwhile neither repeats nor hides a row.

Views: ``mine`` (held by me), ``group`` (claimable: open and unheld in my groups),
``gremium`` (everything open in the Gremien I serve), ``done`` (completed by me, newest
first).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate
from sqlalchemy import Integer as SqlInteger
from sqlalchemy import and_, bindparam, cast, literal_column, null, or_, select, tuple_, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col

from engine import cursors, minutes, standins
from engine.accounts import Actor
from engine.council import (
    ROLE_ADMIN,
    ROLE_SECRETARIAT,
    Account,
    Grant,
    Meeting,
    Membership,
    Organization,
    Paper,
)
from engine.errors import Invalid
from engine.schemas import MAX_ID, Integer
from engine.settings import TIMEZONE
from engine.tasks import TASK_DONE, TASK_READY, HumanTask, SavedFilter
from engine.types import table_of
from engine.workflow.models import ProcessInstance, ProcessModel

VIEWS = ("mine", "group", "gremium", "done")
SORTS = ("due", "created")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
DUE_SOON_DAYS = 2


def _id_field() -> Integer:
    return Integer(load_default=None, allow_none=True, strict=False,
                          validate=validate.Range(min=1, max=MAX_ID, error="Unbekannte Nummer."),
                          error_messages={"invalid": "Ungültiger Wert."})


def _text_field(max_length: int) -> fields.String:
    return fields.String(load_default=None, allow_none=True, validate=[
        validate.Length(max=max_length, error=f"Höchstens {max_length} Zeichen."),
        validate.Regexp(r"^[^\x00]*$", error="Unzulässiges Zeichen (NUL)."),
    ])


class InboxQueryIn(Schema):
    """The inbox's query string (HTML and ``GET /api/v1/tasks``); errors name the parameter."""

    class Meta:
        unknown = EXCLUDE

    view = fields.String(load_default="gremium", validate=validate.OneOf(
        VIEWS, error="Bitte eine der Ansichten wählen: " + ", ".join(VIEWS) + "."))
    organization = _id_field()
    meeting = _id_field()
    paper_type = _text_field(100)
    form = _text_field(100)
    holder = _text_field(150)
    overdue = fields.Boolean(load_default=False, error_messages={"invalid": "true oder false."})
    due_soon = fields.Boolean(load_default=False, error_messages={"invalid": "true oder false."})
    q = _text_field(200)
    sort = fields.String(load_default="due", validate=validate.OneOf(
        SORTS, error="Sortierung: due oder created."))
    limit = Integer(load_default=DEFAULT_LIMIT, strict=False, validate=validate.Range(
        min=1, max=MAX_LIMIT, error=f"Zwischen 1 und {MAX_LIMIT}."),
        error_messages={"invalid": "Ungültiger Wert."})
    cursor = _text_field(500)

    @pre_load
    def _blank_is_missing(self, data: Any, **_: Any) -> dict[str, Any]:
        items = data.items() if hasattr(data, "items") else []
        return {k: v.strip() if isinstance(v, str) else v for k, v in items
                if not (isinstance(v, str) and v.strip() == "")}


_QUERY_IN = InboxQueryIn()


@dataclass(frozen=True)
class InboxQuery:
    view: str = "gremium"
    organization: int | None = None
    meeting: int | None = None
    paper_type: str | None = None
    form: str | None = None
    holder: str | None = None
    overdue: bool = False
    due_soon: bool = False
    q: str | None = None
    sort: str = "due"
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None

    @classmethod
    def load(cls, args: Any) -> InboxQuery:
        """From a query string (a mapping); raise :class:`Invalid` naming each wrong parameter."""
        try:
            values = _QUERY_IN.load(dict(args.items()) if hasattr(args, "items") else args)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
            raise Invalid("Filter bitte prüfen.", {k: list(v) if isinstance(v, list) else [str(v)]
                                                  for k, v in messages.items()}) from None
        query = cls(**values)
        if query.cursor is not None:
            query.decode_cursor()  # refuses a broken one before any SQL
        return query

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string that shows this view (defaults left out), with ``changes``."""
        values = {**self.__dict__, **changes}
        defaults = InboxQuery().__dict__
        out: dict[str, str] = {}
        for key, value in values.items():
            if value is None or value == defaults[key]:
                continue
            out[key] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return out

    def decode_cursor(self) -> tuple[Any, int]:
        """The sort value and id the next page starts after."""
        try:
            raw = cursors.unpack(self.cursor or "")
            view, sort, value, last_id = raw
            if view != self.view or sort != self.sort or not isinstance(last_id, int) \
                    or isinstance(last_id, bool) or not 0 <= last_id <= MAX_ID:
                raise ValueError("cursor of another view")
            if value is not None:
                value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
            return value, last_id
        except (ValueError, TypeError):
            raise Invalid("Filter bitte prüfen.", {
                "cursor": ["Ungültiger Cursor: bitte die erste Seite neu laden."]}) from None


def _encode_cursor(query: InboxQuery, value: date | datetime | None, last_id: int) -> str:
    return cursors.pack([query.view, query.sort, value.isoformat() if value else None, last_id])


@dataclass(slots=True)
class TaskLine:
    """What an inbox row shows of a task: its columns without the search text, no ORM object."""

    id: int
    process_instance_id: int
    bpmn_id: str
    title: str
    form_key: str | None
    lane: str | None
    organization_id: int | None
    paper_id: int | None
    meeting_id: int | None
    status: str
    context: dict[str, Any]
    created: datetime
    completed: datetime | None
    completed_by: str | None
    assignee: str | None
    owner: str | None
    delegation: str | None
    due: date | None
    follow_up: date | None


@dataclass(slots=True)
class PaperLine:
    id: int
    reference: str
    name: str
    paper_type: str


@dataclass(slots=True)
class OrganizationLine:
    id: int
    name: str
    short_name: str | None


@dataclass(slots=True)
class MeetingLine:
    id: int
    name: str
    reference: str | None
    start: datetime


@dataclass(slots=True)
class InboxRow:
    task: TaskLine
    version: int
    paper: PaperLine | None
    organization: OrganizationLine | None
    meeting: MeetingLine | None
    overdue: bool = False
    due_soon: bool = False

    @classmethod
    def of(cls, task: HumanTask, version: int, paper: Paper | None,
           organization: Organization | None, meeting: Meeting | None) -> InboxRow:
        """The row of objects a unit of work already holds (no query)."""
        return cls(_line(TaskLine, task), version, _line(PaperLine, paper),
                   _line(OrganizationLine, organization), _line(MeetingLine, meeting))


def _line(kind: Any, value: Any) -> Any:
    """An ORM object as the line type ``kind`` (its fields, read by name); None stays None."""
    return None if value is None else kind(*(getattr(value, name) for name in kind.__dataclass_fields__))


@dataclass
class InboxPage:
    rows: list[InboxRow] = field(default_factory=list)
    next_cursor: str | None = None


_TASK = table_of(HumanTask)
_PAPER = table_of(Paper)
_ORG = table_of(Organization)
_MEETING = table_of(Meeting)
_INSTANCE = table_of(ProcessInstance)
_TYPED = _PAPER.alias("typed")  # the Vorlage-Art filter's join, inside the page query
#: The task columns a row shows, in :class:`TaskLine`'s order.
_TASK_COLUMNS = tuple(_TASK.c[name] for name in TaskLine.__dataclass_fields__)
_PAPER_COLUMNS = tuple(_PAPER.c[name] for name in PaperLine.__dataclass_fields__)
_ORG_COLUMNS = tuple(_ORG.c[name] for name in OrganizationLine.__dataclass_fields__)
_MEETING_COLUMNS = tuple(_MEETING.c[name] for name in MeetingLine.__dataclass_fields__)
_T, _P, _O, _M = (len(c) for c in (_TASK_COLUMNS, _PAPER_COLUMNS, _ORG_COLUMNS, _MEETING_COLUMNS))


# How a page's statement is made: ``list_tasks`` describes what it asks for as a *shape* (a
# tuple of condition names, hashable, without values) and the values bound into it by name;
# the statement of a shape is built once (``_page_statement``) and then only executed with
# new values. Building the statement and its cache key cost SQLAlchemy about 1.5 ms of CPU
# per page, more than PostgreSQL takes to answer it. The SQL sent is the same as before
# (every value was a bound parameter already), so are the plans.

def _groups_shape(grant_sets: list[frozenset[tuple[str, int | None]]],
                  values: dict[str, Any]) -> tuple[Any, ...]:
    """Tasks of the candidate groups of each grant set (the actor's, then those of the absent
    persons the actor stands in for): each set's shape, its roles and Gremien put in ``values``."""
    shapes = []
    for n, grants in enumerate(grant_sets):
        by_role: dict[str, set[int]] = {}
        whole_roles: set[str] = set()
        for role, org in grants:
            if org is None:
                whole_roles.add(role)
            else:
                by_role.setdefault(role, set()).add(org)
        if whole_roles:
            values[f"g{n}_whole"] = sorted(whole_roles)
        roles = [(role, orgs) for role, orgs in sorted(by_role.items()) if role not in whole_roles]
        for i, (role, orgs) in enumerate(roles):
            values[f"g{n}_role{i}"] = role
            values[f"g{n}_orgs{i}"] = sorted(orgs)
        shapes.append((bool(whole_roles), len(roles)))
    return tuple(shapes)


def _groups_condition(shapes: tuple[tuple[bool, int], ...]) -> ColumnElement[bool]:
    task = _TASK.c
    conditions: list[ColumnElement[bool]] = []
    for n, (whole, roles) in enumerate(shapes):
        if whole:
            conditions.append(task.lane.in_(bindparam(f"g{n}_whole", expanding=True)))
        conditions += [and_(task.lane == bindparam(f"g{n}_role{i}", type_=task.lane.type),
                            task.organization_id.in_(bindparam(f"g{n}_orgs{i}", expanding=True)))
                       for i in range(roles)]
        # The Vorsitz's own tasks (signing the Niederschrift): the Gremien the actor's person
        # chairs, from the memberships, in the same statement (the completion checks the day).
        chaired = (select(col(Membership.organization_id))
                   .join(Account, col(Account.person_id) == col(Membership.person_id))
                   .where(col(Account.id) == bindparam("account", type_=_ACCOUNT.c.id.type),
                          col(Membership.role) == minutes.CHAIR_ROLE))
        conditions.append(and_(task.lane == minutes.CHAIR_LANE, task.organization_id.in_(chaired)))
    return or_(*conditions)


def _bound(name: str, column: Any) -> Any:
    return bindparam(name, type_=column.type)


def _condition(token: tuple[Any, ...]) -> Any:
    """The condition a shape's token names, its values bound by name (see :func:`list_tasks`)."""
    task, name = _TASK.c, token[0]
    if name == "status":
        return task.status == token[1]
    if name == "groups":
        return _groups_condition(token[1])
    if name == "unheld":
        return task.assignee.is_(None)
    if name in ("completed_by", "assignee", "organization_id", "meeting_id", "form_key"):
        return task[name] == _bound(name, task[name])
    if name == "holder":
        return task.assignee == _bound(name, task.assignee)
    if name in ("assignees", "ids"):
        return task[token[1]].in_(bindparam(name, expanding=True))
    if name == "overdue":
        return task.due < _bound("today", task.due)
    if name == "due_soon":
        return and_(task.due >= _bound("today", task.due), task.due <= _bound("soon", task.due))
    if name == "q":
        return task.search_text.like(_bound("q", task.search_text), escape="\\")
    if name == "paper_type":
        return _TYPED.c.paper_type == _bound("paper_type", _TYPED.c.paper_type)
    key: Any = task[token[1]] if len(token) > 1 else None
    if name == "key_set":
        return key.is_not(None)
    if name == "key_unset":
        return key.is_(None)
    if name == "after":  # the keyset: after (key, id) in the page's order
        after = tuple_(_bound("after_key", key), _bound("after_id", task.id))
        return tuple_(key, task.id) < after if token[2] else tuple_(key, task.id) > after
    if name == "id_after":
        return task.id > _bound("after_id", task.id)
    raise ValueError(f"no inbox condition {name!r}")


def _like(term: str) -> str:
    escaped = term.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_tasks(session: Session, actor: Actor, query: InboxQuery, today: date) -> InboxPage:
    """One page of the actor's inbox view, filtered and ordered on the server."""
    shape: list[tuple[Any, ...]] = []
    values: dict[str, Any] = {}
    if query.view == "done":
        shape += [("status", TASK_DONE), ("completed_by",)]
        values["completed_by"] = actor.username
    else:
        shape.append(("status", TASK_READY))
        # In Vertretung: what is offered to the absent persons is offered here too (engine.standins).
        absent = [] if actor.is_admin else standins.represented(
            session, actor.account_id, datetime.combine(today, time(12), TIMEZONE))
        if query.view == "mine":
            if absent:
                shape.append(("assignees", "assignee"))
                values["assignees"] = [actor.username, *(p.username for p in absent)]
            else:
                shape.append(("assignee",))
                values["assignee"] = actor.username
        else:
            if not actor.is_admin:  # an admin sees every group's tasks
                # An absent admin's grants lend nothing more (as an admin's own: no condition).
                lent = [p.grants for p in absent if (ROLE_ADMIN, None) not in p.grants]
                shape.append(("groups", _groups_shape([actor.grants, *lent], values)))
                values["account"] = actor.account_id
            if query.view == "group":
                shape.append(("unheld",))
    for name, given in (("organization_id", query.organization), ("meeting_id", query.meeting),
                        ("form_key", query.form)):
        if given is not None:
            shape.append((name,))
            values[name] = given
    if query.holder is not None:
        if query.holder == "-":
            shape.append(("unheld",))
        else:
            shape.append(("holder",))
            values["holder"] = query.holder
    if query.overdue or query.due_soon:
        values["today"] = today
    if query.overdue:
        shape.append(("overdue",))
    if query.due_soon:
        shape.append(("due_soon",))
        values["soon"] = today + timedelta(days=DUE_SOON_DAYS)
    if query.q:
        # A substring of the casefolded text on both databases; on PostgreSQL the trigram
        # index ix_human_task_open_search answers it without reading every open task.
        shape.append(("q",))
        values["q"] = _like(query.q)
    typed = query.paper_type is not None
    if typed:
        shape.append(("paper_type",))
        values["paper_type"] = query.paper_type

    key: str
    if query.view == "done":
        key, descending = "completed", True
    else:
        key, descending = ("due" if query.sort == "due" else "created"), False

    after = query.decode_cursor() if query.cursor else None
    rows: list[InboxRow] = []
    # Keyset on (key, id); rows without a due date come last, as their own segment.
    if after is None or after[0] is not None:
        if after is not None:
            page_shape = [*shape, ("after", key, descending)]
            page_values = {**values, "after_key": after[0], "after_id": after[1]}
        else:
            page_shape, page_values = [*shape, ("key_set", key)], values
        rows = _fetch(session, tuple(page_shape), page_values, key, descending, query.limit + 1, typed)
    if len(rows) <= query.limit:
        null_shape = [*shape, ("key_unset", key)]
        null_values = dict(values)
        if after is not None and after[0] is None:
            null_shape.append(("id_after",))
            null_values["after_id"] = after[1]
        # Ordered by (key, id): the key is NULL throughout, so that is by id, but in the order
        # of the (…, key, id) indexes, which find the segment (usually empty) at once; by id
        # alone PostgreSQL may walk the primary key through every task looking for it.
        rows += _fetch(session, tuple(null_shape), null_values, key, False, query.limit + 1 - len(rows),
                       typed)

    page = InboxPage(rows[:query.limit])
    if query.view != "done":
        soon = today + timedelta(days=DUE_SOON_DAYS)
        for row in page.rows:
            due = row.task.due
            if due is not None:
                row.overdue = due < today
                row.due_soon = not row.overdue and due <= soon
    if len(rows) > query.limit and page.rows:
        last = page.rows[-1].task
        value = last.completed if query.view == "done" else (
            last.due if query.sort == "due" else last.created)
        page.next_cursor = _encode_cursor(query, value, last.id)
    return page


@functools.lru_cache(maxsize=512)
def _page_statement(shape: tuple[tuple[Any, ...], ...], key_name: str, descending: bool,
                    typed: bool) -> Any:
    """The page's tasks first (from ``human_task`` alone, in index order, cut at ``:limit``),
    then what each row shows joined to just those: the database never joins or sorts rows
    that are not on the page. ``typed``: the conditions filter by the Vorlage-Art."""
    key = _TASK.c[key_name]
    order = (key.desc(), _TASK.c.id.desc()) if descending else (key, _TASK.c.id)
    tasks = _TASK.join(_TYPED, _TYPED.c.id == _TASK.c.paper_id) if typed else _TASK
    page = (select(*_TASK_COLUMNS).select_from(tasks).where(*(_condition(token) for token in shape))
            .order_by(*order).limit(bindparam("limit", type_=SqlInteger())).subquery("page"))
    shown = page.c
    return (
        select(*shown, _INSTANCE.c.version, *_PAPER_COLUMNS, *_ORG_COLUMNS, *_MEETING_COLUMNS)
        .select_from(page)
        .join(_INSTANCE, _INSTANCE.c.id == shown.process_instance_id)
        .join(_PAPER, _PAPER.c.id == shown.paper_id, isouter=True)
        .join(_ORG, _ORG.c.id == shown.organization_id, isouter=True)
        .join(_MEETING, _MEETING.c.id == shown.meeting_id, isouter=True)
        .order_by(*((shown[key_name].desc(), shown.id.desc()) if descending
                    else (shown[key_name], shown.id)))
    )


def _fetch(session: Session, shape: tuple[tuple[Any, ...], ...], values: dict[str, Any], key_name: str,
           descending: bool, limit: int, typed: bool = False) -> list[InboxRow]:
    """Up to ``limit`` rows of the shape's statement (see :func:`_page_statement`)."""
    if limit <= 0:
        return []
    statement = _page_statement(shape, key_name, descending, typed)
    return [_row(values) for values in session.connection().execute(statement, {**values, "limit": limit})]


def _row(values: Any) -> InboxRow:
    p, o, m = _T + 1, _T + 1 + _P, _T + 1 + _P + _O
    return InboxRow(TaskLine(*values[:_T]), values[_T],
                    PaperLine(*values[p:o]) if values[p] is not None else None,
                    OrganizationLine(*values[o:m]) if values[o] is not None else None,
                    MeetingLine(*values[m:m + _M]) if values[m] is not None else None)


def task_rows(session: Session, task_ids: list[int], today: date) -> dict[int, InboxRow]:
    """Tasks as the inbox shows them (with version, Vorlage, Gremium, Sitzung), one query."""
    if not task_ids:
        return {}
    found: dict[int, InboxRow] = {}
    for row in _fetch(session, (("ids", "id"),), {"ids": task_ids}, "id", False, len(task_ids)):
        due = row.task.due
        if row.task.status == TASK_READY and due is not None:
            row.overdue = due < today
            row.due_soon = not row.overdue and due <= today + timedelta(days=DUE_SOON_DAYS)
        found[row.task.id] = row
    return found


def inbox_row(session: Session, task: HumanTask, version: int, today: date) -> InboxRow:
    """A task of this unit of work as the inbox shows it, from the session's identity map
    (a query only for a Vorlage, Gremium or Sitzung not yet read)."""
    paper = session.get(Paper, task.paper_id) if task.paper_id is not None else None
    organization = session.get(Organization, task.organization_id) \
        if task.organization_id is not None else None
    meeting = session.get(Meeting, task.meeting_id) if task.meeting_id is not None else None
    row = InboxRow.of(task, version, paper, organization, meeting)
    due = task.due
    if task.status == TASK_READY and due is not None:
        row.overdue = due < today
        row.due_soon = not row.overdue and due <= today + timedelta(days=DUE_SOON_DAYS)
    return row


def task_row(session: Session, task_id: int, today: date) -> InboxRow | None:
    """One task as the inbox shows it (see :func:`task_rows`)."""
    return task_rows(session, [task_id], today).get(task_id)


# ----------------------------------------------------------------------------- the page around the list

@dataclass(slots=True)
class SavedLine:
    id: int
    name: str
    query: str


@dataclass
class PageChoices:
    """What the inbox page shows around its list, read in one statement: the filter form's
    choices (Gremien, Sitzungen, colleagues, the deployed model versions whose forms name the
    steps), the user's saved filters and the display names of the listed tasks' holders."""

    organizations: list[OrganizationLine] = field(default_factory=list)
    meetings: list[MeetingLine] = field(default_factory=list)
    saved: list[SavedLine] = field(default_factory=list)
    colleagues: list[tuple[str, str]] = field(default_factory=list)  # (username, display name)
    names: dict[str, str] = field(default_factory=dict)  # username → display name
    models: list[str] = field(default_factory=list)  # the spec hashes, by id


_GREMIUM = "Gremium"
_ACCOUNT, _GRANT, _SAVED, _MODEL = (table_of(t) for t in (Account, Grant, SavedFilter, ProcessModel))
#: What each branch of :func:`page_choices` returns (its first column).
_MEETINGS, _ORGANIZATIONS, _SAVED_FILTERS, _COLLEAGUES, _NAMES, _MODELS = range(6)
#: The columns whose types the branches' columns (id, at, a, b) have.
_CHOICE_TYPES = (_MEETING.c.id, _MEETING.c.start, _MEETING.c.name, _MEETING.c.reference)


def _branch(kind: int, *columns: Any) -> Any:
    # A NULL is cast to its column's type: PostgreSQL types an untyped NULL in a SELECT
    # DISTINCT as text, which no UNION with an integer column accepts.
    return select(literal_column(str(kind)).label("kind"), *(
        (cast(null(), like.type) if value is None else value).label(name)
        for value, like, name in zip(columns, _CHOICE_TYPES, ("id", "at", "a", "b"), strict=True)))


def _choices_statement(admin: bool, selected: bool) -> Any:
    """The statement of :func:`page_choices`, built once for each of its four shapes (every
    value a bound parameter: building and keying a six-branch statement per request cost more
    than running it)."""
    gremium = _ORG.c.organization_type == _GREMIUM
    mine = gremium if admin else and_(gremium, _ORG.c.id.in_(bindparam("organizations", expanding=True)))
    window = _MEETING.c.start >= bindparam("since", type_=_MEETING.c.start.type)
    if selected:
        window = or_(window, _MEETING.c.id == bindparam("meeting", type_=_MEETING.c.id.type))
    mine_ids = select(_ORG.c.id).where(mine)
    # The Sitzungen branch comes first: a compound statement's column types are its first
    # branch's (the start is read as an aware datetime).
    every = union_all(
        _branch(_MEETINGS, _MEETING.c.id, _MEETING.c.start, _MEETING.c.name, _MEETING.c.reference).where(
            _MEETING.c.organization_id.in_(mine_ids), _MEETING.c.cancelled == False, window),  # noqa: E712
        _branch(_ORGANIZATIONS, _ORG.c.id, None, _ORG.c.name, _ORG.c.short_name).where(mine),
        _branch(_SAVED_FILTERS, _SAVED.c.id, None, _SAVED.c.name, _SAVED.c.query).where(
            _SAVED.c.account_id == bindparam("account", type_=_SAVED.c.account_id.type)),
        _branch(_COLLEAGUES, None, None, _ACCOUNT.c.display_name, _ACCOUNT.c.username).select_from(
            _ACCOUNT.join(_GRANT, _GRANT.c.account_id == _ACCOUNT.c.id)).where(
            _GRANT.c.role == ROLE_SECRETARIAT,
            _GRANT.c.organization_id.in_(mine_ids)).distinct(),
        _branch(_NAMES, None, None, _ACCOUNT.c.display_name, _ACCOUNT.c.username).where(
            _ACCOUNT.c.username.in_(bindparam("holders", expanding=True))),
        _branch(_MODELS, _MODEL.c.id, None, None, _MODEL.c.spec_hash),
    ).subquery("choices")
    shown = every.c
    return select(*shown).order_by(shown.kind, shown.at, shown.a, shown.id, shown.b)


_CHOICES = {(admin, selected): _choices_statement(admin, selected)
            for admin in (False, True) for selected in (False, True)}


@functools.cache
def _names_statement() -> Any:
    return select(_ACCOUNT.c.username, _ACCOUNT.c.display_name).where(
        _ACCOUNT.c.username.in_(bindparam("holders", expanding=True)))


def holder_names(session: Session, holders: set[str | None]) -> dict[str, str]:
    """Username → display name of the listed tasks' holders (the list alone; the page reads
    them with :func:`page_choices`)."""
    wanted = sorted(h for h in holders if h)
    if not wanted:
        return {}
    return {username: name for username, name in session.execute(_names_statement(), {"holders": wanted})}


def page_choices(session: Session, actor: Actor, holders: set[str | None], meetings_since: datetime,
                 selected_meeting: int | None = None) -> PageChoices:
    """The page around the list in one statement (``UNION ALL`` of one branch per list, each
    row tagged with its list): the Gremien whose Sekretariat the actor is (every Gremium for
    an admin), their Sitzungen since ``meetings_since`` (and the selected one), the actor's
    saved filters, the Sekretariat accounts of those Gremien, the names of ``holders``, the
    deployed model versions. Rows, not ORM objects; each list in the order it is shown
    (Sitzungen by start and name, the rest by name, model versions by id)."""
    values: dict[str, Any] = {"since": meetings_since, "account": actor.account_id,
                              "holders": sorted(h for h in holders if h)}
    if not actor.is_admin:
        values["organizations"] = sorted(actor.organizations_for(ROLE_SECRETARIAT))
    if selected_meeting is not None:
        values["meeting"] = selected_meeting
    statement = _CHOICES[actor.is_admin, selected_meeting is not None]
    choices = PageChoices()
    for kind, id_, at, a, b in session.connection().execute(statement, values):
        if kind == _MEETINGS:
            choices.meetings.append(MeetingLine(id_, a, b, at))
        elif kind == _ORGANIZATIONS:
            choices.organizations.append(OrganizationLine(id_, a, b))
        elif kind == _SAVED_FILTERS:
            choices.saved.append(SavedLine(id_, a, b))
        elif kind == _COLLEAGUES:
            choices.colleagues.append((b, a))
        elif kind == _NAMES:
            choices.names[b] = a
        else:
            choices.models.append(b)
    return choices
