"""The public data as OParl 1.1 (https://oparl.org/spezifikation/): objects, paged lists, tombstones.

Knows no Flask: the web layer hands in :class:`Links` (where objects, pages and files live) and
turns :class:`BadFilter` into a 400. What is public, and therefore served:

- published Vorlagen (``public`` set and released: never a draft,
  ``engine.visibility.published_clause``), with their Beratungen and their Anlagen (only Anlagen whose
  content is stored: ``accessUrl`` is required and must answer);
- Tagesordnungspunkte in the public part whose Vorlage (if any) is public; their ``order``
  counts the public items of the Sitzung only;
- all Gremien and Verwaltungsbereiche, all Sitzungen, all Mitgliedschaften, and the persons who
  hold a Mitgliedschaft (names and form of address only; never e-mail addresses). Staff without
  a Mitgliedschaft (clerks, secretaries) are not served.

An object that leaves the public (a Vorlage made non-public or deleted, a TOP moved into the
non-public part, any object the OParl import removes because its source deleted it: a Sitzung
with its TOPs, a Gremium, a Person with her Mitgliedschaften) gets a tombstone (:func:`withdraw`,
for what was served: :func:`served`); lists asked with ``modified_since`` show
it as ``{"id", "type", "created", "modified", "deleted": true}`` (§2.8), its own URL answers the
same. The objects that embedded or linked it (a TOP's Sitzung and Beratung, an Anlage's or a
Beratung's Vorlage) get a new ``modified`` then, and again when it comes back (:func:`restore`),
so a mirror that reads them with ``modified_since`` drops (or regains) it there too. Every list
is ordered by id and paged by keyset (``after`` = the last id of the page before), so page 500
costs what page 1 does. Optional fields without a value are left out, never sent as null.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, exists, func, or_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from engine import minutes
from engine.council import (
    RESULTS,
    AgendaItem,
    Body,
    Consultation,
    File,
    Meeting,
    Membership,
    OparlTombstone,
    Organization,
    Paper,
    Person,
    agenda_key,
)
from engine.schemas import MAX_ID
from engine.search import index_paper
from engine.settings import TIMEZONE
from engine.types import ascii_int, table_of, utcnow
from engine.visibility import published_clause

Obj = dict[str, Any]
Sel = SelectOfScalar[Any]
SCHEMA = "https://schema.oparl.org/1.1/"
DEFAULT_LIMIT = 50
MAX_LIMIT = 100
FILTERS = ("created_since", "created_until", "modified_since", "modified_until")

#: The kinds of objects by their path segment (``/oparl/v1.1/<kind>/<id>``) and OParl type.
TYPES = {
    "body": "Body", "organization": "Organization", "person": "Person", "membership": "Membership",
    "meeting": "Meeting", "agendaitem": "AgendaItem", "paper": "Paper", "consultation": "Consultation",
    "file": "File", "location": "Location", "legislativeterm": "LegislativeTerm",
}
#: Kinds that can leave the public and so carry tombstones (a Sitzung's Location goes with it).
WITHDRAWABLE = ("paper", "consultation", "file", "agendaitem", "meeting", "location", "organization",
                "person", "membership")


class BadFilter(ValueError):
    """A query parameter that cannot be read; the message says which and why (German)."""


@dataclass(frozen=True)
class Links:
    """Where things live, as absolute URLs. ``base`` is ``https://host/oparl/v1.1``."""

    base: str
    #: The public HTML page of an object (``("paper", 7)`` → ``…/vorlagen/7``), if there is one.
    web: Callable[[str, int], str | None]
    file_access: Callable[[int], str]
    file_download: Callable[[int], str]
    #: The licence of the data (System and Body ``license``, a URL); None: not said.
    license: str | None = None
    #: A Sitzung's released Niederschrift, public part (the PDF, ``engine.minutes``); None: not served.
    minutes_pdf: Callable[[int], str] | None = None

    def obj(self, kind: str, object_id: int) -> str:
        return f"{self.base}/{kind}/{object_id}"

    def system(self) -> str:
        return f"{self.base}/system"


@dataclass(frozen=True)
class Query:
    """The parameters of a list request, read and checked."""

    created_since: datetime | None = None
    created_until: datetime | None = None
    modified_since: datetime | None = None
    modified_until: datetime | None = None
    omit_internal: bool = False
    limit: int = DEFAULT_LIMIT
    after: int = 0
    #: The parameters to carry into ``first``/``self``/``next`` (as given, in a fixed order).
    carried: tuple[tuple[str, str], ...] = field(default=())

    def url(self, list_url: str, after: int | None = None) -> str:
        params = list(self.carried)
        if after:
            params.append(("after", str(after)))
        return f"{list_url}?{urlencode(params)}" if params else list_url


def parse_query(args: Mapping[str, str]) -> Query:
    """``created_since`` … ``modified_until`` (ISO 8601; without an offset: Europe/Berlin),
    ``omit_internal``, ``limit`` (1 …; more than :data:`MAX_LIMIT` is read as the maximum),
    ``after`` (the keyset cursor). Anything unreadable raises :class:`BadFilter`."""
    values: dict[str, Any] = {}
    carried: list[tuple[str, str]] = []
    for name in FILTERS:
        raw = args.get(name)
        if raw is None:
            continue
        values[name] = _datetime(name, raw)
        carried.append((name, raw))
    if "omit_internal" in args:
        raw = args["omit_internal"].strip().lower()
        if raw not in {"", "1", "true", "yes", "0", "false", "no"}:
            raise BadFilter(f"omit_internal: „{args['omit_internal']}“ ist weder true noch false.")
        values["omit_internal"] = raw in {"", "1", "true", "yes"}
        if values["omit_internal"]:
            carried.append(("omit_internal", "true"))
    if "limit" in args:
        limit = _integer("limit", args["limit"])
        if limit < 1:
            raise BadFilter("limit: mindestens 1.")
        values["limit"] = min(limit, MAX_LIMIT)
        carried.append(("limit", str(values["limit"])))
    if "after" in args:
        after = _integer("after", args["after"])
        if not 0 <= after <= MAX_ID:
            raise BadFilter(f"after: zwischen 0 und {MAX_ID}.")
        values["after"] = after
    return Query(**values, carried=tuple(carried))


def _datetime(name: str, raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip().replace(" ", "+"))  # "+" arrives as " " if unencoded
    except ValueError:
        raise BadFilter(f"{name}: „{raw}“ ist kein Zeitpunkt nach ISO 8601 "
                        "(z. B. 2024-11-08T10:00:00+01:00).") from None
    return value.replace(tzinfo=TIMEZONE) if value.tzinfo is None else value


def _integer(name: str, raw: str) -> int:
    value = ascii_int(raw.strip(), 12)
    if value is None:
        raise BadFilter(f"{name}: „{raw}“ ist keine ganze Zahl.")
    return value


# ----------------------------------------------------------------------------------- formatting

def _when(value: datetime | None) -> str | None:
    return value.astimezone(TIMEZONE).isoformat() if value is not None else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    """Optional fields without a value are left out (the spec: never null, no empty strings)."""
    return {k: v for k, v in obj.items() if v is not None and v != ""}


def _head(links: Links, kind: str, object_id: int) -> dict[str, Any]:
    return {"id": links.obj(kind, object_id), "type": SCHEMA + TYPES[kind]}


def tombstone_object(links: Links, stone: OparlTombstone) -> dict[str, Any]:
    return {**_head(links, stone.object_type, stone.object_id), "created": _when(stone.created),
            "modified": _when(stone.deleted_at), "deleted": True}


# ------------------------------------------------------------------------------ what is public

def _public_item() -> ColumnElement[bool]:
    """A TOP in the public part whose Vorlage, if it has one, is public (outer-joined Paper)."""
    return and_(col(AgendaItem.public).is_(True),
                or_(col(AgendaItem.consultation_id).is_(None), published_clause()))


def _items_query() -> Sel:
    return (select(AgendaItem)
            .join(Consultation, col(Consultation.id) == AgendaItem.consultation_id, isouter=True)
            .join(Paper, col(Paper.id) == Consultation.paper_id, isouter=True)
            .where(_public_item()))


@dataclass(frozen=True)
class Kind:
    model: Any
    #: The visible rows (in one Body when given).
    query: Callable[[int | None], Sel]
    serialize: Callable[[Session, Sequence[Any], Links, bool], list[Obj]]
    created: Any
    modified: Any


def _in_body(query: Sel, body_col: Any, body_id: int | None) -> Sel:
    return query if body_id is None else query.where(body_col == body_id)


def _papers(body_id: int | None) -> Sel:
    return _in_body(select(Paper).where(published_clause()), Paper.body_id, body_id)


def _organizations(body_id: int | None) -> Sel:
    return _in_body(select(Organization), Organization.body_id, body_id)


def _persons(body_id: int | None) -> Sel:
    member = exists(select(Membership.id).where(Membership.person_id == Person.id))
    return _in_body(select(Person).where(member), Person.body_id, body_id)


def _memberships(body_id: int | None) -> Sel:
    query = select(Membership)
    if body_id is not None:
        query = query.join(Person, col(Person.id) == Membership.person_id).where(Person.body_id == body_id)
    return query


def _meetings(body_id: int | None) -> Sel:
    query = select(Meeting)
    if body_id is not None:
        query = query.join(Organization, col(Organization.id) == Meeting.organization_id).where(
            Organization.body_id == body_id)
    return query


def _locations(body_id: int | None) -> Sel:
    return _meetings(body_id).where(col(Meeting.location).is_not(None), Meeting.location != "")


def _agenda_items(body_id: int | None) -> Sel:
    query = _items_query()
    if body_id is not None:
        query = (query.join(Meeting, col(Meeting.id) == AgendaItem.meeting_id)
                 .join(Organization, col(Organization.id) == Meeting.organization_id)
                 .where(Organization.body_id == body_id))
    return query


def _consultations(body_id: int | None) -> Sel:
    query = select(Consultation).join(Paper, col(Paper.id) == Consultation.paper_id).where(
        published_clause())
    return _in_body(query, Paper.body_id, body_id)


def _files(body_id: int | None) -> Sel:
    query = select(File).join(Paper, col(Paper.id) == File.paper_id).where(
        published_clause(), col(File.sha_512_checksum).is_not(None))
    return _in_body(query, Paper.body_id, body_id)


# ------------------------------------------------------------------------------- serialization

def _body_json(session: Session, rows: Sequence[Body], links: Links, embed: bool) -> list[Obj]:
    out = []
    for b in rows:
        assert b.id is not None
        lists = {name: f"{links.obj('body', b.id)}/{name}" for name in (
            "organization", "person", "meeting", "paper", "agendaItem", "consultation", "file",
            "membership", "locationList", "legislativeTermList")}
        out.append(_clean({
            **_head(links, "body", b.id), "system": links.system(), "name": b.name,
            "shortName": b.short_name, "website": b.website, "license": links.license, **lists,
            "legislativeTerm": [],
            "created": _when(b.created), "modified": _when(b.modified), "web": links.web("body", b.id)}))
    return out


def _organization_json(session: Session, rows: Sequence[Organization], links: Links,
                       embed: bool) -> list[Obj]:
    ids = [o.id for o in rows]
    members: dict[int, list[int]] = defaultdict(list)
    for m_id, org_id in session.exec(select(Membership.id, Membership.organization_id)
                                     .where(col(Membership.organization_id).in_(ids))
                                     .order_by(col(Membership.id))):
        if m_id is not None:
            members[org_id].append(m_id)
    out = []
    for o in rows:
        assert o.id is not None
        out.append(_clean({
            **_head(links, "organization", o.id), "body": links.obj("body", o.body_id), "name": o.name,
            "shortName": o.short_name, "organizationType": o.organization_type,
            "classification": o.classification,
            "membership": [links.obj("membership", m) for m in members[o.id]] or None,
            "meeting": f"{links.obj('organization', o.id)}/meeting" if o.organization_type == "Gremium"
            else None,
            "created": _when(o.created), "modified": _when(o.modified),
            "web": links.web("organization", o.id)}))
    return out


def _membership_json(session: Session, rows: Sequence[Membership], links: Links,
                     embed: bool) -> list[Obj]:
    out = []
    for m in rows:
        assert m.id is not None
        out.append(_clean({
            **_head(links, "membership", m.id), "person": links.obj("person", m.person_id),
            "organization": links.obj("organization", m.organization_id), "role": m.role,
            "votingRight": m.voting_right, "startDate": _day(m.start_date), "endDate": _day(m.end_date),
            "created": _when(m.created), "modified": _when(m.modified)}))
    return out


def _person_json(session: Session, rows: Sequence[Person], links: Links, embed: bool) -> list[Obj]:
    memberships: dict[int, list[Membership]] = defaultdict(list)
    for m in session.exec(select(Membership).where(col(Membership.person_id).in_([p.id for p in rows]))
                          .order_by(col(Membership.id))):
        memberships[m.person_id].append(m)
    out = []
    for p in rows:
        assert p.id is not None
        own = memberships[p.id]
        out.append(_clean({
            **_head(links, "person", p.id), "body": links.obj("body", p.body_id),
            "name": f"{p.given_name} {p.family_name}", "familyName": p.family_name,
            "givenName": p.given_name, "formOfAddress": p.form_of_address,
            "membership": (_membership_json(session, own, links, embed) if embed
                           else [links.obj("membership", m.id) for m in own if m.id]) or None,
            "created": _when(p.created), "modified": _when(p.modified), "web": links.web("person", p.id)}))
    return out


def _location_of(meeting: Meeting, links: Links) -> dict[str, Any]:
    assert meeting.id is not None
    return _clean({**_head(links, "location", meeting.id), "description": meeting.location,
                   "meetings": [links.obj("meeting", meeting.id)],
                   "created": _when(meeting.created), "modified": _when(meeting.modified)})


def _location_json(session: Session, rows: Sequence[Meeting], links: Links, embed: bool) -> list[Obj]:
    return [_location_of(m, links) for m in rows]


def _ordered_items(session: Session, meeting_ids: Iterable[int]) -> dict[int, list[AgendaItem]]:
    """The public TOPs of each Sitzung in their order (``order`` is the place in this list)."""
    found: dict[int, list[AgendaItem]] = defaultdict(list)
    ids = sorted(set(meeting_ids))
    if ids:
        for item in session.exec(_items_query().where(col(AgendaItem.meeting_id).in_(ids))):
            found[item.meeting_id].append(item)
    for items in found.values():
        items.sort(key=agenda_key)
    return found


def _item_json(item: AgendaItem, order: int, links: Links) -> dict[str, Any]:
    assert item.id is not None
    return _clean({
        **_head(links, "agendaitem", item.id), "meeting": links.obj("meeting", item.meeting_id),
        "number": item.number, "order": order, "name": item.name, "public": True,
        "consultation": links.obj("consultation", item.consultation_id) if item.consultation_id else None,
        "result": RESULTS.get(item.result, item.result) if item.result else None,
        "resolutionText": item.resolution_text,
        "created": _when(item.created), "modified": _when(item.modified)})


def _agenda_item_json(session: Session, rows: Sequence[AgendaItem], links: Links,
                      embed: bool) -> list[Obj]:
    ordered = _ordered_items(session, [i.meeting_id for i in rows])
    places = {item.id: n for items in ordered.values() for n, item in enumerate(items, start=1)}
    return [_item_json(i, places[i.id], links) for i in rows]


def _released_minutes(session: Session, meeting_ids: list[int]) -> dict[int, Any]:
    """The released Niederschrift of each Sitzung (one query, the PDF's size, not its bytes)."""
    if not meeting_ids:
        return {}
    m = minutes.Minutes
    rows = session.execute(sa_select(
        col(m.meeting_id), col(m.version), col(m.released_at), col(m.created),
        func.length(col(m.public_pdf)).label("size"))
        .where(col(m.meeting_id).in_(meeting_ids), col(m.state) == minutes.RELEASED,
               col(m.public_pdf).is_not(None))).all()
    return {r.meeting_id: r for r in rows}


def results_protocol(links: Links, meeting: Meeting, row: Any) -> Obj:
    """The Meeting's ``resultsProtocol``: the public part of the released Niederschrift as an
    OParl File (its own URL: ``…/meeting/<id>/resultsProtocol``)."""
    assert meeting.id is not None and links.minutes_pdf is not None
    label = meeting.reference or meeting.name
    url = links.minutes_pdf(meeting.id)
    return _clean({
        "id": f"{links.obj('meeting', meeting.id)}/resultsProtocol", "type": SCHEMA + "File",
        "name": f"Niederschrift {label} (öffentlicher Teil)",
        "fileName": f"Niederschrift-{label.replace('/', '-')}-oeffentlich-v{row.version}.pdf",
        "mimeType": "application/pdf", "size": row.size, "accessUrl": url, "downloadUrl": url,
        "meeting": [links.obj("meeting", meeting.id)],
        "created": _when(row.created), "modified": _when(row.released_at)})


def meeting_minutes(session: Session, meeting_id: int, links: Links) -> Obj | None:
    """The ``resultsProtocol`` File at its own URL (None: no public Sitzung, nothing released)."""
    meeting = session.exec(_meetings(None).where(col(Meeting.id) == meeting_id)).first()
    row = _released_minutes(session, [meeting_id]).get(meeting_id) if meeting is not None else None
    return results_protocol(links, meeting, row) if meeting is not None and row is not None else None


def _meeting_json(session: Session, rows: Sequence[Meeting], links: Links, embed: bool) -> list[Obj]:
    ordered = _ordered_items(session, [m.id for m in rows if m.id]) if embed else {}
    released = _released_minutes(session, [m.id for m in rows if m.id and m.minutes_released]) \
        if links.minutes_pdf is not None else {}
    out = []
    for m in rows:
        assert m.id is not None
        items = [_item_json(i, n, links) for n, i in enumerate(ordered.get(m.id, []), start=1)]
        protocol = released.get(m.id)
        out.append(_clean({
            **_head(links, "meeting", m.id), "name": m.name, "meetingState": m.meeting_state,
            "cancelled": m.cancelled or None, "start": _when(m.start), "end": _when(m.end),
            "location": _location_of(m, links) if m.location else None,
            "organization": [links.obj("organization", m.organization_id)],
            "agendaItem": items or None,
            "resultsProtocol": results_protocol(links, m, protocol) if protocol is not None else None,
            "created": _when(m.created), "modified": _when(m.modified), "web": links.web("meeting", m.id)}))
    return out


def _public_items_of_consultations(session: Session, ids: list[int]) -> dict[int, AgendaItem]:
    """The public TOP of each Beratung in the Sitzung it is set for (the latest such item)."""
    found: dict[int, AgendaItem] = {}
    if ids:
        rows = session.exec(_items_query().where(col(AgendaItem.consultation_id).in_(ids),
                                                 col(AgendaItem.meeting_id) == Consultation.meeting_id)
                            .order_by(col(AgendaItem.id)))
        for item in rows:
            assert item.consultation_id is not None
            found[item.consultation_id] = item
    return found


def _consultation_json(session: Session, rows: Sequence[Consultation], links: Links, embed: bool,
                       items: dict[int, AgendaItem] | None = None) -> list[Obj]:
    """``items``: the public TOPs of these Beratungen, when the caller read them already."""
    if items is None:
        items = _public_items_of_consultations(session, [c.id for c in rows if c.id])
    out = []
    for c in rows:
        assert c.id is not None
        item = items.get(c.id)
        out.append(_clean({
            **_head(links, "consultation", c.id), "paper": links.obj("paper", c.paper_id),
            "meeting": links.obj("meeting", c.meeting_id) if c.meeting_id else None,
            "agendaItem": links.obj("agendaitem", item.id) if item is not None and item.id else None,
            "organization": [links.obj("organization", c.organization_id)],
            # The source's own words for an imported Beratung (OParl's role is free text; the
            # normalised role is ours), so a mirror reads what the source said.
            "authoritative": c.authoritative, "role": c.role_text or c.role,
            "created": _when(c.created), "modified": _when(c.modified)}))
    return out


def _file_json(session: Session, rows: Sequence[File], links: Links, embed: bool) -> list[Obj]:
    out = []
    for f in rows:
        assert f.id is not None
        out.append(_clean({
            **_head(links, "file", f.id), "name": f.name, "fileName": f.file_name,
            "mimeType": f.mime_type or "application/octet-stream", "size": f.size,
            "sha512Checksum": f.sha_512_checksum, "accessUrl": links.file_access(f.id),
            "downloadUrl": links.file_download(f.id), "paper": [links.obj("paper", f.paper_id)],
            "created": _when(f.created), "modified": _when(f.created)}))
    return out


def _paper_json(session: Session, rows: Sequence[Paper], links: Links, embed: bool) -> list[Obj]:
    ids = [p.id for p in rows]
    consultations: dict[int, list[Consultation]] = defaultdict(list)
    files: dict[int, list[File]] = defaultdict(list)
    for c in session.exec(select(Consultation).where(col(Consultation.paper_id).in_(ids))
                          .order_by(col(Consultation.paper_id), col(Consultation.position))):
        consultations[c.paper_id].append(c)
    for f in session.exec(select(File).where(col(File.paper_id).in_(ids),
                                             col(File.sha_512_checksum).is_not(None))
                          .order_by(col(File.paper_id), col(File.position), col(File.id))):
        files[f.paper_id].append(f)
    items = _public_items_of_consultations(
        session, [c.id for cs in consultations.values() for c in cs if c.id]) if embed else {}
    out = []
    for p in rows:
        assert p.id is not None
        own_c, own_f = consultations[p.id], files[p.id]
        out.append(_clean({
            **_head(links, "paper", p.id), "body": links.obj("body", p.body_id), "name": p.name,
            "reference": p.reference, "date": _day(p.date), "paperType": p.paper_type,
            "underDirectionOf": [links.obj("organization", p.under_direction_of_id)]
            if p.under_direction_of_id else None,
            "auxiliaryFile": (_file_json(session, own_f, links, embed) if embed
                              else [links.obj("file", f.id) for f in own_f if f.id]) or None,
            "consultation": (_consultation_json(session, own_c, links, embed, items) if embed
                             else [links.obj("consultation", c.id) for c in own_c if c.id]) or None,
            "created": _when(p.created), "modified": _when(p.modified), "web": links.web("paper", p.id)}))
    return out


KINDS: dict[str, Kind] = {
    "body": Kind(Body, lambda _b: select(Body), _body_json, Body.created, Body.modified),
    "organization": Kind(Organization, _organizations, _organization_json,
                         Organization.created, Organization.modified),
    "person": Kind(Person, _persons, _person_json, Person.created, Person.modified),
    "membership": Kind(Membership, _memberships, _membership_json, Membership.created, Membership.modified),
    "meeting": Kind(Meeting, _meetings, _meeting_json, Meeting.created, Meeting.modified),
    "location": Kind(Meeting, _locations, _location_json, Meeting.created, Meeting.modified),
    "agendaitem": Kind(AgendaItem, _agenda_items, _agenda_item_json, AgendaItem.created, AgendaItem.modified),
    "paper": Kind(Paper, _papers, _paper_json, Paper.created, Paper.modified),
    "consultation": Kind(Consultation, _consultations, _consultation_json,
                         Consultation.created, Consultation.modified),
    "file": Kind(File, _files, _file_json, File.created, File.created),
}


# --------------------------------------------------------------------------------- the server

def system(links: Links) -> dict[str, Any]:
    return _clean({"id": links.system(), "type": SCHEMA + "System", "oparlVersion": SCHEMA,
                   "body": f"{links.base}/body", "name": "ratsflow", "license": links.license,
                   "website": links.web("system", 0) or links.base})


def get_object(session: Session, kind: str, object_id: int, links: Links) -> dict[str, Any] | None:
    """One object at its own URL (embedded objects included), a tombstone, or None (404)."""
    if kind == "legislativeterm" or kind not in KINDS:
        return None
    spec = KINDS[kind]
    row = session.exec(spec.query(None).where(col(spec.model.id) == object_id)).first()
    if row is not None:
        return spec.serialize(session, [row], links, True)[0]
    if kind in WITHDRAWABLE:
        stone = session.get(OparlTombstone, (kind, object_id))
        if stone is not None:
            return tombstone_object(links, stone)
    return None


@dataclass
class Page:
    data: list[Obj]
    last_id: int | None  # the cursor for the next page, None on the last page


def list_page(session: Session, kind: str, query: Query, links: Links, *, body_id: int | None = None,
              organization_id: int | None = None) -> Page:
    """One page of a list: ordered by id, the ``query.limit`` objects after ``query.after``.
    With ``modified_since``, tombstones of the period are merged in by id."""
    if kind == "legislativeterm":
        return Page([], None)
    spec = KINDS[kind]
    stmt = spec.query(body_id)
    if organization_id is not None:
        stmt = stmt.where(Meeting.organization_id == organization_id)
    for column, since, until in ((spec.created, query.created_since, query.created_until),
                                 (spec.modified, query.modified_since, query.modified_until)):
        if since is not None:
            stmt = stmt.where(column >= since)
        if until is not None:
            stmt = stmt.where(column <= until)
    id_col = col(spec.model.id)
    n = query.limit
    rows = list(session.exec(stmt.where(id_col > query.after).order_by(id_col).limit(n + 1)))
    stones: list[OparlTombstone] = []
    if kind in WITHDRAWABLE and query.modified_since is not None and organization_id is None:
        t = select(OparlTombstone).where(OparlTombstone.object_type == kind,
                                         col(OparlTombstone.object_id) > query.after,
                                         col(OparlTombstone.deleted_at) >= query.modified_since)
        if query.modified_until is not None:
            t = t.where(col(OparlTombstone.deleted_at) <= query.modified_until)
        stones = list(session.exec(t.order_by(col(OparlTombstone.object_id)).limit(n + 1)))
        # An id in use again (SQLite hands out the highest id again once its row is deleted): the
        # object is listed, not its predecessor's tombstone (a later page drops it the same way).
        live_ids = {r.id for r in rows}
        stones = [stone for stone in stones if stone.object_id not in live_ids]
    merged: list[tuple[int, Any]] = sorted([(r.id, r) for r in rows] + [(s.object_id, s) for s in stones],
                                           key=lambda pair: pair[0])
    more = len(merged) > n
    merged = merged[:n]
    live = [obj for _, obj in merged if not isinstance(obj, OparlTombstone)]
    serialized = iter(spec.serialize(session, live, links, not query.omit_internal))
    data = [tombstone_object(links, obj) if isinstance(obj, OparlTombstone) else next(serialized)
            for _, obj in merged]
    return Page(data, merged[-1][0] if more and merged else None)


def list_json(page: Page, query: Query, list_url: str) -> dict[str, Any]:
    links = {"first": query.url(list_url), "self": query.url(list_url, query.after)}
    if page.last_id is not None:
        links["next"] = query.url(list_url, page.last_id)
    return {"data": page.data, "pagination": {"elementsPerPage": query.limit}, "links": links}


def exists_in_body(session: Session, kind: str, object_id: int) -> bool:
    """For list URLs below an object (``/body/1/paper``, ``/organization/3/meeting``)."""
    if kind == "body":
        return session.get(Body, object_id) is not None
    org = session.get(Organization, object_id)
    return org is not None and org.organization_type == "Gremium"


# ------------------------------------------------------------------------ leaving the public

#: The tables of the kinds that carry tombstones.
_WITHDRAWABLE_MODELS: dict[str, Any] = {"paper": Paper, "consultation": Consultation, "file": File,
                                        "agendaitem": AgendaItem, "meeting": Meeting, "location": Meeting,
                                        "organization": Organization, "person": Person,
                                        "membership": Membership}


def served(session: Session, objects: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Those of ``objects`` the server shows now (a public Vorlage, a TOP in the public part, a
    person with a Mitgliedschaft, …): only they need a tombstone when they go. One query per kind."""
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, object_id in objects:
        by_kind[kind].append(object_id)
    shown: set[tuple[str, int]] = set()
    for kind, ids in by_kind.items():
        spec = KINDS[kind]
        shown |= {(kind, row.id) for row in session.exec(spec.query(None).where(col(spec.model.id).in_(ids)))}
    return [obj for obj in dict.fromkeys(objects) if obj in shown]


def _created_of(session: Session, objects: Sequence[tuple[str, int]]) -> dict[tuple[str, int], datetime]:
    """The ``created`` of each object that still exists (one query per kind)."""
    found: dict[tuple[str, int], datetime] = {}
    by_kind: dict[str, list[int]] = defaultdict(list)
    for kind, object_id in objects:
        by_kind[kind].append(object_id)
    for kind, ids in by_kind.items():
        model = _WITHDRAWABLE_MODELS[kind]
        for object_id, created in session.exec(select(model.id, model.created).where(col(model.id).in_(ids))):
            if created is not None:
                found[(kind, object_id)] = created
    return found


def touch_parents(session: Session, objects: Sequence[tuple[str, int]], at: datetime) -> None:
    """A new ``modified`` for what embeds or links the objects: a TOP's Sitzung (its
    ``agendaItem``) and Beratung (its ``agendaItem`` link), the Vorlage of an Anlage or a
    Beratung (its ``auxiliaryFile``, ``consultation``), the Beratungen (and their Vorlagen) of a
    Sitzung (their ``meeting``), the Person and Gremium of a Mitgliedschaft (their
    ``membership``). Core statements: nothing is loaded."""
    ids: dict[str, list[int]] = defaultdict(list)
    for kind, object_id in objects:
        ids[kind].append(object_id)
    items, meetings, consultations = table_of(AgendaItem), table_of(Meeting), table_of(Consultation)
    papers, files, memberships = table_of(Paper), table_of(File), table_of(Membership)
    if ids["agendaitem"]:
        of_items = items.c.id.in_(ids["agendaitem"])
        session.execute(update(meetings).where(meetings.c.id.in_(
            sa_select(items.c.meeting_id).where(of_items).scalar_subquery())).values(modified=at))
        session.execute(update(consultations).where(consultations.c.id.in_(
            sa_select(items.c.consultation_id).where(of_items).scalar_subquery())).values(modified=at))
        session.execute(update(papers).where(papers.c.id.in_(
            sa_select(consultations.c.paper_id).join(items, items.c.consultation_id == consultations.c.id)
            .where(of_items).scalar_subquery())).values(modified=at))
    if ids["file"]:
        session.execute(update(papers).where(papers.c.id.in_(
            sa_select(files.c.paper_id).where(files.c.id.in_(ids["file"])).scalar_subquery())).values(modified=at))
    if ids["consultation"]:
        session.execute(update(papers).where(papers.c.id.in_(
            sa_select(consultations.c.paper_id).where(consultations.c.id.in_(ids["consultation"]))
            .scalar_subquery())).values(modified=at))
    if ids["meeting"]:
        of_meetings = consultations.c.meeting_id.in_(ids["meeting"])
        session.execute(update(papers).where(papers.c.id.in_(
            sa_select(consultations.c.paper_id).where(of_meetings).scalar_subquery())).values(modified=at))
        session.execute(update(consultations).where(of_meetings).values(modified=at))
    if ids["membership"]:
        of_memberships = memberships.c.id.in_(ids["membership"])
        for model, column in ((Person, memberships.c.person_id),
                              (Organization, memberships.c.organization_id)):
            table = table_of(model)
            session.execute(update(table).where(table.c.id.in_(
                sa_select(column).where(of_memberships).scalar_subquery())).values(modified=at))


def withdraw(session: Session, objects: Iterable[tuple[str, int]], at: datetime | None = None) -> None:
    """Tombstones for objects that were public and are no longer (made non-public, deleted):
    call it while they still exist (a tombstone keeps their ``created``)."""
    at = at or utcnow()
    objects = list(objects)
    created = _created_of(session, objects)
    for kind, object_id in objects:
        assert kind in WITHDRAWABLE, kind
        stone = session.get(OparlTombstone, (kind, object_id))
        if stone is None:
            session.add(OparlTombstone(object_type=kind, object_id=object_id,
                                       created=created.get((kind, object_id), at), deleted_at=at))
        else:
            stone.deleted_at = at
            session.add(stone)
    session.flush()
    touch_parents(session, objects, at)


def restore(session: Session, objects: Iterable[tuple[str, int]], at: datetime | None = None) -> None:
    """Public again: the tombstones go (the objects are listed as they are), and what embeds
    them is modified again."""
    objects = list(objects)
    for kind, object_id in objects:
        stone = session.get(OparlTombstone, (kind, object_id))
        if stone is not None:
            session.delete(stone)
    session.flush()
    touch_parents(session, objects, at or utcnow())


def paper_parts(session: Session, paper_id: int) -> list[tuple[str, int]]:
    """A Vorlage with what leaves the public with it: Beratungen, Anlagen, its public TOPs."""
    parts: list[tuple[str, int]] = [("paper", paper_id)]
    c_ids = [c for c in session.exec(select(Consultation.id).where(Consultation.paper_id == paper_id)) if c]
    parts += [("consultation", c) for c in c_ids]
    parts += [("file", f) for f in session.exec(select(File.id).where(
        File.paper_id == paper_id, col(File.sha_512_checksum).is_not(None))) if f]
    if c_ids:
        parts += [("agendaitem", i) for i in session.exec(select(AgendaItem.id).where(
            col(AgendaItem.consultation_id).in_(c_ids), col(AgendaItem.public).is_(True))) if i]
    return parts


def withdraw_paper(session: Session, paper_id: int, at: datetime | None = None) -> None:
    """Before a public Vorlage is deleted (or when it is made non-public): tombstones for it."""
    withdraw(session, paper_parts(session, paper_id), at)


def set_paper_public(session: Session, paper: Paper, public: bool, at: datetime | None = None) -> None:
    """Make a Vorlage public or non-public; the OParl server follows (tombstones or none)."""
    if paper.public == public:
        return
    assert paper.id is not None
    if public:
        restore(session, paper_parts(session, paper.id), at)
    else:
        withdraw_paper(session, paper.id, at)
    paper.public = public
    paper.modified = at or utcnow()
    session.add(paper)
    session.flush()
    index_paper(session, paper.id)  # in the search index exactly while published


def public_file(session: Session, file_id: int) -> File | None:
    """An Anlage of a public Vorlage with its content stored (for accessUrl and downloadUrl)."""
    return session.exec(_files(None).where(col(File.id) == file_id)).first()
