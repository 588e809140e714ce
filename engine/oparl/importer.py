"""Import from an OParl 1.0 or 1.1 endpoint (a council's old RIS) into the council tables.

``import_oparl(database, url)`` crawls a System or Body URL over HTTP: bodies, legislative
terms, organizations, persons with their memberships, meetings with agenda items, papers with
consultations and files. Each list is crawled by its own thread following ``next`` links; at
most ``limit`` requests run at a time (a polite crawler); timeouts and 5xx are retried with
backoff. The database is written by the calling thread only, one unit of work per page.

Every imported object keeps its origin URL and its original JSON in ``oparl_origin`` (embedded
objects reduced to their ids there, each kept in its own row); re-imports match on the URL
and write nothing when the JSON is the same. A second run asks only for what changed since
the last successful one (``oparl_source.last_success``); a server that ignores the filter is
noticed (older objects come back) and then the stored ``modified`` decides. Only ``deleted:
true`` (OParl 1.1 §2.8) removes an object – never its absence from a list: real sources page
unreliably (a page skipped or repeated, a list cut short), and a copy that empties itself is
worse than one that keeps a deleted object. What is removed and was served by our OParl server
gets a tombstone there (``engine.oparl.server.withdraw``); the origin keeps the local id
(``deleted_id``), so an object its source un-deletes comes back under the same id and its
tombstone goes.
An interrupted run resumes each list at the page it stopped at. Objects that could not be
imported are listed in the summary and fetched again by the next run.

A source is input from outside and may be hostile. The importer stays on it: only URLs on the
source's scheme, host and port (and ``allow_hosts``) are fetched, redirects included, and only
from public addresses (unless ``allow_private``); objects with an id elsewhere, or that another
source brought, are not written. Every list, response, JSON answer and the run itself is
bounded (``MAX_PAGES``, ``MAX_BYTES``, ``MAX_DEPTH``, ``MAX_SECONDS``, ``RESPONSE_SECONDS``;
documents up to the upload limit, of the allowed types only); text is cleaned of control
characters. Whatever a bound or a refusal cut off is named in the summary, and the next run
goes on from there.

This module stores; the HTTP client and its guards are in ``engine.oparl.fetch``, the list threads in
``engine.oparl.crawl``, the mapping of the source's data in ``engine.oparl.mapping``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import queue
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ARRAY,
    Column,
    ColumnElement,
    Index,
    Integer,
    Table,
    Text,
    any_,
    bindparam,
    case,
    insert,
    update,
)
from sqlalchemy import text as sa_text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from engine import audit, search
from engine.council import (
    MEETING_CANCELLED,
    MEETING_HELD,
    MEETING_PLANNED,
    PAPER_DONE,
    PAPER_DRAFT,
    AgendaItem,
    Body,
    Consultation,
    File,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
)
from engine.db import Database, forget
from engine.files import BadUpload, FileStore, check_upload
from engine.oparl import server as oparl_server
from engine.oparl.crawl import _Chain, _crawl
from engine.oparl.fetch import MAX_PAGES, MAX_SECONDS, Fetcher, FetchError, NotServed
from engine.oparl.mapping import (
    EMBEDDED,
    STATES,
    _bool,
    _date,
    _datetime,
    _first,
    _kind,
    _refs,
    _text,
    canonical,
    normalise_result,
    normalise_role,
    parse_votes,
    split,
)
from engine.settings import TIMEZONE
from engine.types import UTCDateTime, table_of, utc_column, utcnow
from engine.writes import python_defaults

# ----------------------------------------------------------------------------- tables


class OparlSource(SQLModel, table=True):
    """One OParl endpoint imported from: when it last ran through, where to resume."""

    __tablename__ = "oparl_source"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(unique=True)
    last_started: datetime | None = Field(default=None, sa_column=utc_column())
    #: Start of the last run that fetched everything without a failed page: the next run's
    #: ``modified_since``.
    last_success: datetime | None = Field(default=None, sa_column=utc_column())
    #: The server answered ``modified_since`` with older objects (it ignores the filters).
    filters_ignored: bool = False
    #: JSON {list URL: URL of the page to go on with} of an interrupted run.
    resume: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    #: JSON [object URL]: objects the last run could not import, fetched again by the next.
    retry: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class OparlOrigin(SQLModel, table=True):
    """Where an imported object came from and what the source said (its original JSON)."""

    __tablename__ = "oparl_origin"
    __table_args__ = (Index("ix_oparl_origin_object", "object_type", "object_id"),)

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="oparl_source.id", index=True)
    #: body, organization, person, membership, meeting, agenda_item, paper, consultation, file,
    #: legislative_term (kept as JSON only: no table).
    object_type: str
    #: The row in the object type's table; None: kept as JSON only, or deleted at the source.
    object_id: int | None = None
    #: The id the row had before the source deleted it (migration 0021): an object that comes
    #: back gets it again, so our OParl server's tombstone for it goes and its URL stays.
    deleted_id: int | None = None
    origin_url: str = Field(unique=True)
    original: str = Field(sa_column=Column(Text, nullable=False))
    modified: datetime | None = Field(default=None, sa_column=utc_column())


MODELS: dict[str, type[SQLModel]] = {
    "body": Body, "organization": Organization, "person": Person, "membership": Membership,
    "meeting": Meeting, "agenda_item": AgendaItem, "paper": Paper, "consultation": Consultation,
    "file": File,
}
#: Rows nothing refers to inside one page: inserted in one batch at the end of the page.
LEAVES = {"agenda_item", "file", "consultation"}
#: The fields whose references the mappings follow (``_known``, ``_resolve``), and the embedded
#: objects: only these are looked up with a page (``_load_known``).
REFERENCE_FIELDS = ("body", "organization", "person", "membership", "meeting", "agendaItem", "paper",
                    "consultation", "underDirectionOf", "mainFile", "auxiliaryFile", "legislativeTerm")
_REFERENCE_SET = frozenset(REFERENCE_FIELDS)
#: The Body's lists, in the order they are written (what comes later refers to what came before).
LISTS = ("organization", "person", "membership", "meeting", "paper")
#: The importer's object types by their OParl server's kinds (path segments), where they differ.
SERVED_AS = {"agenda_item": "agendaitem"}


class Later:
    """The id of a row written with its page's batch, not known before: the row's origin URL.
    Stands in a child's foreign key until the batch has inserted the parent."""

    __slots__ = ("url",)

    def __init__(self, url: str) -> None:
        self.url = url


#: A parent's id as the mappings get it: known, or written with the page's batch.
Key = int | Later
#: The columns of a new row that may point to a parent written in the same batch.
PARENT_KEYS = {"membership": ("person_id",), "agenda_item": ("meeting_id",), "consultation": ("paper_id",),
               "file": ("paper_id",)}
#: A new row waiting for its page's batch: (values, object type, origin URL, JSON, modified, raw).
Deferred = tuple[dict[str, Any], str, str, str, datetime | None, dict[str, Any]]
#: The order a page's batch inserts its new rows in: parents before the rows that point to them.
BATCH_ORDER = ("body", "organization", "person", "meeting", "paper", "membership", "consultation",
               "agenda_item", "file")


class Skip(Exception):
    """This object cannot be imported: why (reported; the run goes on)."""


class ForeignObject(Skip):
    """An object this source may not write: its id is on another host, or it belongs to another
    source (reported, not fetched again)."""


def chunks(values: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """A long list in pieces (a page's lookups: SQLite takes a bounded number of parameters)."""
    for i in range(0, len(values), size):
        yield values[i:i + size]


def among(s: Session, column: Any, values: list[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL as ``= ANY`` of one array parameter (a long IN list
    is a parameter each, rendered and sent one by one)."""
    if s.get_bind().dialect.name == "postgresql":
        element = Text() if isinstance(values[0], str) else Integer()
        return column == any_(bindparam(None, values, type_=ARRAY(element)))  # type: ignore[no-any-return]
    return column.in_(values)  # type: ignore[no-any-return]


#: ``n[i]`` new ids from the sequence of each table ``t[i]`` (PostgreSQL), one statement a page.
#: (The sequence looked up once per table, not once per id.)
_DRAW_IDS = sa_text(
    "WITH w AS MATERIALIZED (SELECT t, n, pg_get_serial_sequence(t, 'id')::regclass AS seq"
    " FROM unnest(CAST(:t AS text[]), CAST(:n AS integer[])) AS u(t, n))"
    " SELECT w.t, nextval(w.seq) FROM w, generate_series(1, w.n)")


#: The TOPs of a page pointed to their new Beratungen (PostgreSQL, in the page's pipeline).
_LINK_ITEMS = ("UPDATE agenda_item SET consultation_id = v.c"
               " FROM unnest(%b::integer[], %b::integer[]) AS v(i, c) WHERE agenda_item.id = v.i")
#: The Aktenzeichen of a page already taken (PostgreSQL).
_TAKEN = "SELECT reference, id FROM paper WHERE reference = ANY(%b::text[])"
#: The source's resume marks (PostgreSQL, in the page's pipeline).
_RESUME = "UPDATE oparl_source SET resume = %s WHERE id = %s"


@lru_cache(maxsize=64)
def _highest_ids(tables: tuple[str, ...]) -> str:
    """One SELECT of the highest id of each table (SQLite; the names are the models' own)."""
    return "SELECT " + ", ".join(f'(SELECT max(id) FROM "{name}")' for name in tables)


def origin_rows(s: Session, urls: list[str], with_json: bool, modified: bool = True) -> Iterator[Any]:
    """The origin rows of ``urls``: (URL, type, object id, source id, modified, original JSON or
    None), straight from the driver – a page asks for hundreds, and SQLAlchemy's statement
    building and row processing cost more than the lookup. ``modified=False``: None there."""
    if not urls:
        return
    conn = s.connection()
    sql = _origin_sql(conn.dialect.name, with_json, modified)
    if conn.dialect.name == "postgresql":  # one array parameter, one fetch; planned each time
        yield from _unprepared(conn, sql, {"urls": urls})
        return
    for chunk in chunks(urls):  # SQLite takes a bounded number of parameters
        for url, kind, oid, source, moment, original in conn.exec_driver_sql(
                sql.format(marks=", ".join("?" * len(chunk))), tuple(chunk)).all():
            # Stored by SQLAlchemy as naive UTC text ("2024-05-06 07:08:09.000000").
            yield (url, kind, oid, source,
                   datetime.fromisoformat(moment).replace(tzinfo=UTC) if moment else None, original)


@lru_cache(maxsize=8)
def _origin_sql(dialect: str, with_json: bool, modified: bool) -> str:
    columns = (f"origin_url, object_type, object_id, source_id, {'modified' if modified else 'NULL'}, "
               f"{'original' if with_json else 'NULL'}")
    if dialect == "postgresql":  # binary: no quoting of each URL into an array literal
        return f"SELECT {columns} FROM oparl_origin WHERE origin_url = ANY(%(urls)b)"
    return f"SELECT {columns} FROM oparl_origin WHERE origin_url IN ({{marks}})"


def _sqlite_utc(value: datetime) -> str:
    """A moment as SQLAlchemy stores it on SQLite for a UTCDateTime column (naive UTC text,
    microseconds), in one step: its two processors, in Python, cost more than the insert."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _bind_processor(kind: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if dialect.name == "sqlite" and isinstance(kind, UTCDateTime):
        return _sqlite_utc
    return kind._cached_bind_processor(dialect)  # type: ignore[no-any-return]


def bulk_insert(s: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """``rows`` (all with the same keys) into ``table`` in one statement: on PostgreSQL one
    ``INSERT … SELECT FROM unnest(…)`` with a binary array per column (one round trip, and it
    can go in a pipeline: see :func:`pipelined`; psycopg sends an executemany as one INSERT per
    row, a COPY takes two round trips), elsewhere one executemany of the driver. The columns'
    bind processing and defaults are applied here as an INSERT would, the defaults once for
    the batch (one ``created`` for the page's rows)."""
    forget(s)  # past the session's execute path: what the unit of work remembered is stale
    conn = s.connection()
    dialect = conn.dialect
    given = list(rows[0])
    defaults = python_defaults(table, rows[0])  # once for the batch
    names = given + list(defaults)
    tail: list[Any] = []
    for name, value in defaults.items():
        processor = table.c[name].type._cached_bind_processor(dialect)
        tail.append(processor(value) if processor is not None else value)
    processed = [(i, processor) for i, processor in enumerate(
        _bind_processor(table.c[name].type, dialect) for name in given) if processor is not None]
    pick = itemgetter(*given) if len(given) > 1 else lambda row: (row[given[0]],)

    def values(row: dict[str, Any]) -> list[Any]:
        out = list(pick(row))
        for i, processor in processed:  # most columns need none; None stays None
            if out[i] is not None:
                out[i] = processor(out[i])
        out += tail
        return out

    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(name) for name in names)
    if dialect.name == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None
        arrays = [list(column) for column in zip(*(values(row) for row in rows), strict=True)]
        sql = _unnest_sql(table, tuple(names), dialect)
        _send(conn, sql, arrays)  # in a pipeline: sent, its result read at the sync
        return
    if dialect.paramstyle != "qmark":  # not sqlite3: SQLAlchemy's executemany
        conn.execute(insert(table), rows)
        return
    marks = ", ".join("?" for _ in names)
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({marks})",
                         [tuple(values(row)) for row in rows])


_LENGTH = re.compile(r"\(.*\)")


@lru_cache(maxsize=128)
def _unnest_sql(table: Table, names: tuple[str, ...], dialect: Any) -> str:
    """``INSERT INTO table (names) SELECT * FROM unnest(%b::type[], …)``: each column's values as one
    binary array, cast to the column's type without a length (an explicit cast to ``VARCHAR(20)``
    would cut a longer text; the INSERT's own assignment refuses it, as a plain INSERT does)."""
    quote = dialect.identifier_preparer.quote
    types = [_LENGTH.sub("", table.c[name].type.compile(dialect=dialect)) for name in names]
    arrays = ", ".join(f"%b::{kind}[]" for kind in types)
    return (f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "
            f"SELECT * FROM unnest({arrays})")


def _unprepared(conn: Connection, statement: str, params: Any) -> list[Any]:
    """The rows of a lookup on PostgreSQL, planned anew each time, never prepared: psycopg
    prepares a statement at its fifth run, and PostgreSQL then kept the plan it made while the
    import's tables were nearly empty – for the Aktenzeichen a scan of all Vorlagen per page
    (17 ms a page at 14,000 Vorlagen, 2.4 s of a city's first import)."""
    conn.dispatch.before_cursor_execute(conn, None, statement, params, None, False)
    driver = conn.connection.driver_connection
    assert driver is not None
    rows: list[Any] = driver.execute(statement, params, prepare=False).fetchall()
    return rows


def _send(conn: Connection, statement: str, params: list[Any]) -> None:
    """``statement`` straight to psycopg (PostgreSQL), told to the engine's listeners first
    (``count_statements`` sees it as any other)."""
    conn.dispatch.before_cursor_execute(conn, None, statement, params, None, False)
    driver = conn.connection.driver_connection
    assert driver is not None
    with _driver_errors(statement):
        driver.execute(statement, params)


@contextmanager
def _driver_errors(statement: str) -> Iterator[None]:
    """psycopg's errors of statements sent past SQLAlchemy as SQLAlchemy's (``IntegrityError``,
    ``DataError`` …), so that a page's batch that fails is done again object by object."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise DBAPIError.instance(statement, None, exc, psycopg.Error) from exc


@contextmanager
def pipelined(s: Session) -> Iterator[None]:
    """On PostgreSQL, the statements sent to the driver inside the block (a page's INSERTs, links
    and resume mark) go in one pipeline: one round trip for all of them instead of one each; an
    error comes out at the end of the block, as SQLAlchemy's. Elsewhere nothing changes."""
    conn = s.connection()
    if conn.dialect.name != "postgresql":
        yield
        return
    driver = conn.connection.driver_connection
    assert driver is not None
    with _driver_errors("(Stapel der Seite)"), driver.pipeline():
        yield


def _without_transaction(s: Session) -> None:
    """The lookups of a page on PostgreSQL without BEGIN and COMMIT (two round trips of four:
    a SELECT alone needs none; what they read is checked again by the page's writing unit of
    work and its constraints). Called before the session's first statement."""
    if s.get_bind().dialect.name == "postgresql":
        s.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


#: The youngest generation's threshold while a run lasts (Python's default: 700).
YOUNG_THRESHOLD = 10_000


@contextmanager
def collecting_less() -> Iterator[None]:
    """Fewer garbage collections while a run lasts: it makes millions of short-lived objects (a
    page's JSON, rows, tuples) and keeps hundreds of thousands (ids, origins), and at the default
    threshold the collector spent a tenth of the run's time walking them (2,000 Vorlagen: 0.46 s
    against 0.42 s of CPU). The threshold is the process's: set back afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], YOUNG_THRESHOLD), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


# ----------------------------------------------------------------------------- the summary


@dataclass
class Summary:
    url: str
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    #: What could not be mapped (or only partly), by reason: how often, and a few examples.
    problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    failed_pages: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    pages: int = 0
    objects: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    since: datetime | None = None
    filters_ignored: bool = False
    legislative_terms: int = 0
    complete: bool = False
    writes: int = 0

    def count(self, kind: str, what: str) -> None:
        counts = self.counts.get(kind)
        if counts is None:
            counts = self.counts[kind] = Counter()
        counts[what] += 1
        if what in ("neu", "geändert", "gelöscht"):
            self.writes += 1

    def problem(self, reason: str, example: str | None = None) -> None:
        self.problems[reason] += 1
        if example:
            shown = self.examples.setdefault(reason, [])
            if len(shown) < 3:
                shown.append(example)

    def lines(self) -> list[str]:
        out = [f"OParl-Import von {self.url}: {self.objects} Objekte auf {self.pages} Seiten, "
               f"{self.requests} Abrufe ({self.retries} wiederholt) in {self.seconds:.1f} s"
               + (f", geändert seit {self.since.astimezone(TIMEZONE):%d.%m.%Y %H:%M}" if self.since else "")]
        for kind in ("body", "organization", "person", "membership", "meeting", "agenda_item", "paper",
                     "consultation", "file"):
            if kind in self.counts:
                c = self.counts[kind]
                out.append(f"  {kind:<13} " + ", ".join(f"{n} {what}" for what, n in sorted(c.items())))
        if self.legislative_terms:
            out.append(f"  {self.legislative_terms} Wahlperioden: nur im Original-JSON gespeichert "
                       "(keine Tabelle dafür)")
        if self.filters_ignored:
            out.append("  Der Server ignoriert modified_since: verglichen wurde nach 'modified'.")
        if self.problems:
            out.append("Nicht (vollständig) übernommen:")
            for reason, n in self.problems.most_common():
                examples = self.examples.get(reason)
                out.append(f"  {n:>5} × {reason}" + (f" – z. B. {', '.join(examples)}" if examples else ""))
        for url, reason in self.failed_pages:
            out.append(f"  Seite nicht abrufbar: {url} ({reason}); der nächste Lauf setzt dort fort.")
        if self.skipped:
            out.append(f"  {len(self.skipped)} Objekte übersprungen; der nächste Lauf holt sie erneut.")
        out.append("Vollständig." if self.complete else
                   "Nicht vollständig: der nächste Lauf holt das Fehlende nach.")
        return out


# ----------------------------------------------------------------------------- the importer


class Importer:
    """Reads an OParl source into the database. ``progress`` (supplied by the caller, e.g. the
    CLI's progress bar) is called as ``progress(announced, written, note)``: ``announced`` objects
    more that a list says it holds (its first page), ``written`` objects of a page just stored."""

    def __init__(self, database: Database, fetcher: Fetcher, *, files: FileStore | None = None,
                 with_files: bool = False, now: datetime | None = None,
                 progress: Callable[[int, int, str], None] | None = None,
                 page_size: int = 100, on_page: Callable[[str], None] | None = None,
                 max_pages: int = MAX_PAGES, max_seconds: float = MAX_SECONDS,
                 max_file_bytes: int | None = None) -> None:
        self.database = database
        self.fetcher = fetcher
        self.files = files
        self.with_files = with_files
        self.now = now
        self.progress = progress
        self.page_size = page_size
        self.on_page = on_page
        self.ids: dict[str, tuple[str, int | None]] = {}  # origin URL -> (type, id), committed
        self.pending: dict[str, tuple[str, int | None]] = {}  # ... written in the open unit of work
        self.not_served: set[str] = set()
        #: URLs looked up as references and not stored here (not asked for again this run).
        self.absent: set[str] = set()
        #: The page's own objects already looked up (``originals``).
        self.looked: set[str] = set()
        self.prefetched: dict[str, Any] = {}
        self.retry: set[str] = set()
        self.source_id = 0
        self.since: datetime | None = None
        self.ignored = False
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="oparl-fetch")
        self.membership_refs: set[str] = set()
        #: origin URL -> (original JSON, modified, object id) of the page's objects, read before writing.
        self.originals: dict[str, tuple[str | None, datetime | None, int | None]] = {}
        self.touched: set[str] = set()
        #: Objects imported to resolve a reference are written at once (their id is needed now).
        self.immediate = 0
        #: The page's existing objects that changed: their origin rows, read in one query.
        self.origin_rows: dict[str, OparlOrigin] = {}
        #: Canonical JSON of the page's objects, computed once.
        self.texts: dict[str, str] = {}
        self.downloads: dict[str, bytes | FetchError] = {}
        self.deferred: list[Deferred] = []
        self.new_origins: list[dict[str, Any]] = []
        self.links: list[dict[str, int]] = []
        self.meeting_start: dict[int, datetime] = {}
        self.taken: dict[str, int | str] = {}  # Aktenzeichen -> paper id (or origin URL, new in this page)
        self.checked: set[str] = set()  # Aktenzeichen looked up for the page (taken or not)
        self.max_pages = max_pages
        self.max_seconds = max_seconds
        #: A document is stored only up to the size of an upload.
        self.max_file_bytes = max_file_bytes or database.settings.max_upload_bytes
        #: origin URL -> the other source it belongs to (objects of another source are not touched).
        self.owner: dict[str, int] = {}
        #: A list was cut short (circle, foreign ``next``, time): the run is not complete.
        self.truncated = False
        self.timed_out = False
        #: PostgreSQL: ids drawn from each table's sequence and not used yet (``_allocate``).
        self.spare_ids: dict[str, list[int]] = {}
        #: The source's resume marks {list URL: page to go on with}, as the pages write them.
        self.resume_marks: dict[str, str] = {}

    # ------------------------------------------------------------------ the run

    def run(self, url: str) -> Summary:
        with collecting_less():
            return self._run(url)

    def _run(self, url: str) -> Summary:
        started = time.perf_counter()
        run_started = utcnow()
        summary = self.summary = Summary(url)
        stop = threading.Event()
        chains: list[_Chain] = []
        self.fetcher.add_source(url)
        self.fetcher.deadline = time.monotonic() + self.max_seconds
        try:
            with self.database.unit_of_work() as s:
                source = s.exec(select(OparlSource).where(OparlSource.url == url)).first()
                if source is None:
                    source = OparlSource(url=url)
                    s.add(source)
                    s.flush()
                assert source.id is not None
                self.source_id = source.id
                # As sent (whole seconds): an object stamped in that same second counts as changed.
                self.since = source.last_success.replace(microsecond=0) if source.last_success else None
                resume: dict[str, str] = json.loads(source.resume)
                self.resume_marks = dict(resume)
                self.retry = set(json.loads(source.retry))
                if source.last_started is None or source.last_success != source.last_started:
                    source.last_started = run_started
            summary.since = self.since
            try:
                root = self.fetcher.json(url)
            except FetchError as exc:
                summary.failed_pages.append((url, exc.reason))
                return summary
            bodies = self._bodies(root, summary)
            for body in bodies:
                if not self.fetcher.allowed(body.get("id")):
                    summary.problem("Körperschaft mit id auf einem fremden Host: abgelehnt",
                                    str(body.get("id"))[:200])
                    continue
                self._write_page("body", [body], summary)
                for kind in LISTS:
                    list_url = body.get(kind)
                    if not isinstance(list_url, str):
                        continue
                    params = {"limit": str(self.page_size)}
                    if self.since is not None:
                        params["modified_since"] = self.since.isoformat(timespec="seconds")
                    if list_url in resume:
                        chains.append(_Chain(kind, resume[list_url], None, list_url))
                    else:
                        chains.append(_Chain(kind, list_url, params, list_url))
            for chain in chains:
                chain.thread = threading.Thread(
                    target=_crawl, args=(self.fetcher, chain, stop, self.max_pages), daemon=True)
                chain.thread.start()
            for chain in chains:
                self._consume(chain, summary)
                if chain.kind == "person":
                    self._memberships_of_organizations(summary)
            self._retry_objects(summary)
            for chain in chains:
                # A list that ignored modified_since was a full listing: what it no longer shows
                # is named, not removed.
                if chain.older and chain.error is None and chain.params is not None \
                        and chain.kind in ("meeting", "paper") and not self.truncated:
                    self._report_unlisted(chain, summary)
            summary.complete = not summary.failed_pages and not summary.skipped and not self.truncated
            summary.filters_ignored = self.ignored
            with self.database.unit_of_work() as s:
                source = s.get(OparlSource, self.source_id)
                assert source is not None
                if not summary.failed_pages and not self.truncated:
                    source.last_success = source.last_started = run_started
                    source.resume = "{}"
                if self.ignored != source.filters_ignored:
                    source.filters_ignored = self.ignored
                retry = json.dumps(sorted(self.retry))
                if retry != source.retry:
                    source.retry = retry
                if summary.writes:
                    audit.record(s, "oparl-import", "OParl-Import", "oparl.imported", details={
                        "url": url, "written": summary.writes,
                        "counts": {k: dict(v) for k, v in summary.counts.items()}})
            return summary
        finally:
            stop.set()
            self.fetcher.deadline = min(self.fetcher.deadline, time.monotonic())  # what still waits ends now
            for chain in chains:
                if chain.thread is not None:
                    chain.thread.join()
            self.pool.shutdown(wait=True)
            self.fetcher.deadline = math.inf
            self._report_fetcher(summary)
            summary.requests = self.fetcher.requests
            summary.retries = self.fetcher.retried
            summary.seconds = time.perf_counter() - started

    def _report_fetcher(self, summary: Summary) -> None:
        """What the fetcher refused to ask for and what text it cleaned, named in the summary."""
        with self.fetcher.lock:
            refused, self.fetcher.refused = self.fetcher.refused, []
            cleaned, self.fetcher.cleaned = self.fetcher.cleaned, []
        reasons: dict[str, str] = {}
        for url, reason in refused:
            reasons.setdefault(url, reason)
        for url, reason in reasons.items():
            summary.problem(f"Abruf verweigert: {reason}", url[:200])
        for what in dict.fromkeys(cleaned):
            summary.problem("Steuerzeichen (z. B. NUL) aus Textfeldern entfernt", what[:200])

    def _out_of_time(self, summary: Summary) -> bool:
        """Whether the run's time is up (said once in the summary; the run is then not complete)."""
        if not self.fetcher.out_of_time():
            return False
        if not self.timed_out:
            self.timed_out = True
            summary.problem(f"Zeitlimit des Laufs erreicht ({self.max_seconds:g} s): abgebrochen, "
                            "der nächste Lauf setzt fort")
        self.truncated = True
        return True

    def _bodies(self, root: Any, summary: Summary) -> list[dict[str, Any]]:
        kind = _kind(root)
        if kind == "body":
            return [root]
        if kind != "system":
            raise FetchError(summary.url, "weder System noch Body")
        items: list[Any] = []
        refs = root.get("body")
        if isinstance(refs, str):  # a list URL (1.1) – or in some 1.0 servers a list of URLs
            url: str | None = refs
            visited: set[str] = set()
            while url:
                if url in visited:
                    summary.problem("'next' führt im Kreis: Liste dort beendet", url[:200])
                    self.truncated = True
                    break
                if len(visited) >= self.max_pages:
                    summary.failed_pages.append((url, f"mehr als {self.max_pages} Seiten in einer Liste"))
                    break
                visited.add(url)
                try:
                    page = self.fetcher.json(url)
                except FetchError as exc:
                    summary.failed_pages.append((url, exc.reason))
                    break
                data = page.get("data") if isinstance(page, dict) else None
                items += data if isinstance(data, list) else []
                links = page.get("links") if isinstance(page, dict) else None
                following = links.get("next") if isinstance(links, dict) else None
                url = following if isinstance(following, str) else None
        else:
            items = _refs(refs)
        bodies: dict[str, dict[str, Any]] = {}
        for item in items:
            if isinstance(item, str):
                try:
                    item = self.fetcher.json(item)
                except FetchError as exc:
                    summary.failed_pages.append((exc.url, exc.reason))
                    continue
            if not isinstance(item, dict) or _kind(item) not in ("body", None) \
                    or not isinstance(item.get("id"), str):
                summary.problem("kein Body in der Liste der Körperschaften", str(
                    item.get("id") if isinstance(item, dict) else item)[:200])
                continue
            bodies.setdefault(item["id"], item)
        return list(bodies.values())

    def _consume(self, chain: _Chain, summary: Summary) -> None:
        key = chain.key
        ahead: str | None = chain.first  # the next page to write: where a cut-off run goes on
        error: tuple[str, str] | None = None
        while True:
            if self._out_of_time(summary):
                error = (ahead, "Zeitlimit des Laufs erreicht") if ahead else None
                break
            try:
                item = chain.pages.get(timeout=0.2)
            except queue.Empty:
                if chain.thread is None or chain.thread.is_alive() or not chain.pages.empty():
                    continue
                item = None  # the reader is gone without its end mark (cannot happen; never wait forever)
            if item is None:
                error = chain.error
                self._out_of_time(summary)  # the reader may have stopped for it: said in the summary
                break
            where, page, following = item
            ahead = following
            if self.progress is not None and page.get("pagination", {}).get("currentPage") in (None, 1):
                total = page.get("pagination", {}).get("totalElements")
                if isinstance(total, int):
                    self.progress(total, 0, chain.kind)
            data = page["data"]
            for o in data:
                if isinstance(o, dict) and isinstance(o.get("id"), str):
                    chain.seen.add(o["id"])
                    modified = _datetime(o.get("modified")) if self.since is not None else None
                    if modified is not None and self.since is not None and modified < self.since:
                        chain.older += 1
                        self.ignored = True  # asked for what changed since, got older objects
            self._write_page(chain.kind, data, summary, resume=(key, following))
            summary.pages += 1
            if self.progress is not None:
                self.progress(0, len(data), f"{summary.pages} Seiten, {chain.kind}")
            if self.on_page is not None:
                self.on_page(where)
        if chain.loop is not None:
            summary.problem(f"'next' führt im Kreis (Liste {chain.kind}): Liste dort beendet",
                            chain.loop[:200])
            self.truncated = True
        if chain.foreign is not None:
            summary.problem(f"'next' auf einem fremden Host (Liste {chain.kind}): nicht gefolgt",
                            chain.foreign[:200])
            self.truncated = True
        chain.error = error
        if error is not None:
            summary.failed_pages.append(error)
            self.resume_marks[key] = error[0]
            with self.database.unit_of_work() as s:
                self._write_resume(s, json.dumps(self.resume_marks))

    # ------------------------------------------------------------------ one page, one unit of work

    def _write_page(self, kind: str, data: list[Any], summary: Summary,
                    resume: tuple[str, str | None] | None = None) -> None:
        self.originals = {}
        self.looked = set()
        with self.database.unit_of_work(write=False) as s:
            _without_transaction(s)
            self._load_own(s, kind, data)
            # What is stored here unchanged, embedded objects and all, needs nothing more.
            stored = [self._as_stored(kind, raw) for raw in data]
            rest = [raw for raw, same in zip(data, stored, strict=True) if same is None]
            self._load_known(s, rest)
        if not rest:  # nothing to write: no unit of work (a run cut off here reads these again)
            for raw, same in zip(data, stored, strict=True):
                summary.objects += 1
                self._count_stored(raw, same, summary)
            return
        self._prefetch(kind, rest)
        self.texts = {}
        for attempt in ("page", "each"):
            uow = self.database.begin()
            s = uow.session
            counts_before = {k: Counter(v) for k, v in summary.counts.items()}
            writes_before, problems_before = summary.writes, Counter(summary.problems)
            skipped_before = list(summary.skipped)
            originals, starts = dict(self.originals), dict(self.meeting_start)
            try:
                self._load_changed(s, kind, rest)
                if kind == "paper":
                    self._load_references(s, rest)
                for raw, same in zip(data, stored, strict=True):
                    summary.objects += 1
                    if self._count_stored(raw, same, summary):
                        continue
                    if attempt == "page":
                        self._one(s, kind, raw, summary)
                    else:
                        nested = s.begin_nested()
                        try:
                            self._one(s, kind, raw, summary)
                            self._write_deferred(s)
                            nested.commit()
                        except (IntegrityError, DataError) as exc:
                            nested.rollback()
                            self.deferred.clear()
                            self.new_origins.clear()
                            self.links.clear()
                            self._skip(summary, raw, f"Datenbank lehnt ab ({type(exc.orig).__name__})")
                marks = self._marks(*resume) if resume is not None else self.resume_marks
                self._write_deferred(s, json.dumps(marks) if marks != self.resume_marks else None)
                uow.commit()
            except (IntegrityError, DataError):
                self._drop_page(uow)
                self.originals, self.meeting_start = originals, starts
                summary.counts, summary.writes = counts_before, writes_before
                summary.problems, summary.skipped = problems_before, skipped_before
                summary.objects -= len(data)
                if attempt == "page":
                    continue
                raise
            except BaseException:
                self._drop_page(uow)
                raise
            uow.close()
            self.resume_marks = marks
            self.ids.update(self.pending)
            self.pending.clear()
            self.origin_rows = {}
            return

    def _drop_page(self, uow: Any) -> None:
        """A page's unit of work failed: roll it back and forget what it had queued."""
        uow.rollback()
        uow.close()
        self.pending.clear()
        self.deferred.clear()
        self.new_origins.clear()
        self.links.clear()

    def _load_references(self, s: Session, data: list[Any]) -> None:
        """The Aktenzeichen of a page's Vorlagen already taken here, and the start of the
        Sitzungen their Beratungen name (one query each)."""
        self.taken = {}
        wanted = sorted({r for r in (_text(o.get("reference")) for o in data if isinstance(o, dict)) if r})
        self.checked = set(wanted)
        conn = s.connection()
        if conn.dialect.name == "postgresql" and wanted:
            self.taken.update(_unprepared(conn, _TAKEN, [wanted]))
        else:
            for chunk in chunks(wanted):
                for reference, oid in s.exec(select(Paper.reference, Paper.id)
                                             .where(among(s, col(Paper.reference), chunk))):
                    self.taken[reference] = oid  # type: ignore[assignment]
        meetings: set[int] = set()
        for raw in data:
            consultations = raw.get("consultation") if isinstance(raw, dict) else None
            for c in consultations if isinstance(consultations, list) else []:
                for url in _refs(c.get("meeting")) if isinstance(c, dict) else []:
                    known = self._known(url)
                    if known is not None and known[0] == "meeting" and known[1] is not None \
                            and known[1] not in self.meeting_start:
                        meetings.add(known[1])
        ids = sorted(meetings)
        for chunk in chunks(ids):
            starts = select(Meeting.id, Meeting.start).where(among(s, col(Meeting.id), chunk))
            for oid, start in s.exec(starts):
                assert oid is not None
                self.meeting_start[oid] = start

    def _same(self, kind: str, url: str, own: dict[str, Any], modified: datetime | None) -> bool:
        """Whether the object is as stored: by ``modified`` when the server ignores the filters
        (it sends everything again), else by its JSON."""
        stored = self.originals.get(url)
        if stored is None or stored[2] is None:
            return False
        if self.ignored:
            return stored[1] == modified and modified is not None
        return stored[0] == self._canonical(url, own)

    def _canonical(self, url: str, own: dict[str, Any]) -> str:
        text = self.texts.get(url)
        if text is None:
            text = self.texts[url] = canonical(own)
        return text

    def _load_changed(self, s: Session, kind: str, data: list[Any]) -> None:
        """The rows (and origin rows) of the page's objects that are stored here and changed at
        the source, read with one query per table: what an update compares with. Unchanged
        objects are not read at all."""
        self.origin_rows = {}
        need: dict[str, list[int]] = {}
        urls: list[str] = []

        def look(kind: str, raw: Any, forced: bool) -> None:
            if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or raw.get("deleted"):
                return
            url = raw["id"]
            stored = self.originals.get(url)
            if stored is None and not forced and not self._embeds_stored(kind, raw):
                return  # new, and so is all it embeds
            own, children = split(kind, raw)
            changed = forced or not self._same(kind, url, own, _datetime(raw.get("modified")))
            if changed and stored is not None and stored[2] is not None and kind in MODELS:
                need.setdefault(kind, []).append(stored[2])
                urls.append(url)
            for _, child_kind, child in children:
                look(child_kind, child, changed)

        for raw in data:
            try:
                look(kind, raw, False)
            except (ValueError, TypeError, AttributeError):
                continue  # reported when the object itself is imported
        for chunk in chunks(urls):
            for origin in s.exec(select(OparlOrigin).where(among(s, col(OparlOrigin.origin_url), chunk))):
                self.origin_rows[origin.origin_url] = origin
        for name, ids in need.items():
            model = MODELS[name]
            for chunk in chunks(ids):
                s.exec(select(model).where(among(s, col(model.id), chunk))).all()  # type: ignore[attr-defined]

    def _marks(self, key: str, following: str | None) -> dict[str, str]:
        """The resume marks with the list ``key`` going on at ``following`` (written with the
        page if they change; kept here once the page is committed, not read back for each page)."""
        marks = dict(self.resume_marks)
        if following:
            marks[key] = following
        else:
            marks.pop(key, None)
        return marks

    def _write_resume(self, s: Session, text: str) -> None:
        s.execute(update(table_of(OparlSource)).where(col(OparlSource.id) == self.source_id)
                  .values(resume=text))

    def _one(self, s: Session, kind: str, raw: Any, summary: Summary) -> None:
        url = raw.get("id") if isinstance(raw, dict) else None
        try:
            if not isinstance(url, str) or not url:
                raise Skip("Objekt ohne id")
            actual = _kind(raw)
            if actual is not None and actual != kind:
                raise Skip(f"{raw.get('type')} in der Liste der {kind}")
            self._import(s, kind, raw)
            self.retry.discard(url)
        except ForeignObject as exc:
            summary.problem(str(exc), url[:200] if isinstance(url, str) else None)
        except Skip as exc:
            self._skip(summary, raw, str(exc))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._skip(summary, raw, f"fehlerhaftes Objekt ({type(exc).__name__}: {exc})")

    def _skip(self, summary: Summary, raw: Any, reason: str) -> None:
        url = raw.get("id") if isinstance(raw, dict) else None
        summary.problem(reason, url if isinstance(url, str) else repr(raw)[:60])
        if isinstance(url, str):
            summary.skipped.append(url)
            self.retry.add(url)

    def _known(self, url: str | None) -> tuple[str, int | None] | None:
        """The local row of an object of this source (another source's objects are not ours)."""
        if url is None or self._foreign(url):
            return None
        return self.pending.get(url) or self.ids.get(url)

    def _foreign(self, url: str) -> bool:
        return self.owner.get(url, self.source_id) != self.source_id

    def _check_ours(self, url: str) -> None:
        """Refuse to write an object whose id is on another host or that another source brought."""
        if not self.fetcher.allowed(url):
            raise ForeignObject("Objekt mit id auf einem fremden Host: abgelehnt")
        if self._foreign(url):
            raise ForeignObject("Objekt einer anderen Quelle: nicht geändert")

    def _as_stored(self, kind: str, raw: Any) -> list[tuple[str, str]] | None:
        """The object and the objects it embeds (type, URL), if all of them are stored here
        unchanged by their ``modified`` (the server ignores the filters and sends everything
        again: the common case of a re-import); None if anything needs the whole way."""
        if not self.ignored or not isinstance(raw, dict):
            return None
        actual = _kind(raw)
        if actual is not None and actual != kind:
            return None
        objects = [(kind, raw)]  # the object, then what it embeds
        for name, child_kind in EMBEDDED.get(kind, {}).items():
            if name not in raw:
                continue
            for child in raw[name] if isinstance(raw[name], list) else [raw[name]]:
                if isinstance(child, dict):
                    objects.append((child_kind, child))
                elif isinstance(child, str) and child:
                    return None  # sent as a URL: fetched the whole way
        # One loop with the lookups at hand: a re-import of a city runs it for 80,000 objects.
        originals, pending, owner, mine = self.originals, self.pending, self.owner, self.source_id
        allowed, files = self.fetcher.allowed, self.with_files
        found: list[tuple[str, str]] = []
        seen: set[str] = set()
        for object_kind, obj in objects:
            url = obj.get("id")
            if not isinstance(url, str) or url in seen or url in pending or obj.get("deleted"):
                return None
            stored = originals.get(url)
            if stored is None or stored[1] is None or stored[2] is None or object_kind not in MODELS \
                    or (files and object_kind == "file") or owner.get(url, mine) != mine or not allowed(url):
                return None
            text = obj.get("modified")
            if not isinstance(text, str):
                return None
            try:  # aware moments compare as instants: no need to convert to UTC first
                moment: datetime | None = datetime.fromisoformat(text)
                if moment is None or moment.tzinfo is None or stored[1] != moment:
                    moment = _datetime(text)
            except ValueError:
                return None
            if stored[1] != moment:
                return None
            seen.add(url)
            found.append((object_kind, url))
        return found

    def _count_stored(self, raw: Any, same: list[tuple[str, str]] | None, summary: Summary) -> bool:
        """Count the object as unchanged (with what it embeds) if it is as stored (``same``)."""
        if same is None:
            return False
        self.retry.discard(raw["id"])
        counts, touched = summary.counts, self.touched
        for object_kind, url in same:
            counted = counts.get(object_kind)
            if counted is None:
                counted = counts[object_kind] = Counter()
            counted["unverändert"] += 1
            touched.add(url)
        return True

    def _embeds_stored(self, kind: str, raw: dict[str, Any]) -> bool:
        """Whether any object ``raw`` embeds is stored here."""
        for name in EMBEDDED.get(kind, {}):
            values = raw.get(name)
            for child in values if isinstance(values, list) else [values]:
                url = child.get("id") if isinstance(child, dict) else child
                if isinstance(url, str) and url in self.originals:
                    return True
        return False

    def _load_own(self, s: Session, kind: str, data: list[Any]) -> None:
        """The origin rows of a page's objects and the objects they embed (one query)."""
        own: set[str] = set()
        for raw in data:
            if not isinstance(raw, dict):
                continue
            if isinstance(raw.get("id"), str):
                own.add(raw["id"])
            for name in EMBEDDED.get(kind, {}):
                values = raw.get(name)
                for child in values if isinstance(values, list) else [values]:
                    if isinstance(child, dict) and isinstance(child.get("id"), str):
                        own.add(child["id"])
        self._load_originals(s, own)

    def _load_originals(self, s: Session, own: set[str]) -> None:
        wanted = sorted(own - self.looked)
        self.looked.update(wanted)
        # A server that ignores the filters is compared by ``modified``: the JSON is not read then.
        with_json = not self.ignored or self.with_files
        ids, originals, mine = self.ids, self.originals, self.source_id
        for url, kind, oid, source, modified, original in origin_rows(s, wanted, with_json):
            ids[url] = (kind, oid)
            if source == mine:
                originals[url] = (original, modified, oid)
            else:
                self.owner[url] = source

    def _load_known(self, s: Session, data: Iterable[Any]) -> None:
        """Read the origin rows of a page's objects and references in few queries."""
        urls: set[str] = set()
        own: set[str] = set()
        # The page walked without recursion, four levels deep: strings that look like URLs
        # and the ids of the objects on the way, in the fields the mappings follow only (a
        # city's page holds ~100,000 values).
        todo: list[tuple[Any, int]] = [(raw, 0) for raw in data]
        fields = _REFERENCE_SET
        while todo:
            value, depth = todo.pop()
            if isinstance(value, str):
                if value.startswith("http"):
                    urls.add(value)
            elif depth < 4:
                if isinstance(value, dict):
                    if isinstance(value.get("id"), str):
                        own.add(value["id"])
                    for key in value.keys() & fields:  # the object's keys against the set, in C
                        todo.append((value[key], depth + 1))
                elif isinstance(value, list):
                    todo.extend((v, depth + 1) for v in value)
        urls = {url for url in urls if url not in self.ids and url not in self.absent} - own
        self.absent.update(urls)
        for url, kind, oid, source, *_ in origin_rows(s, sorted(urls), with_json=False, modified=False):
            self.ids[url] = (kind, oid)
            if source != self.source_id:
                self.owner[url] = source
            self.absent.discard(url)
        self._load_originals(s, own)

    def _origin(self, s: Session, url: str) -> OparlOrigin | None:
        loaded = self.origin_rows.get(url)
        if loaded is not None:
            return loaded
        return s.exec(select(OparlOrigin).where(OparlOrigin.origin_url == url)).first()

    # ------------------------------------------------------------------ references

    def _fetch_one(self, url: str) -> tuple[str, Any]:
        """One referenced object: its JSON, None if the server no longer serves it, or why not."""
        try:
            return url, self.fetcher.json(url)
        except NotServed:
            return url, None
        except FetchError as exc:
            return url, exc

    def _prefetch(self, kind: str, data: list[Any]) -> None:
        """Fetch, concurrently, the referenced objects nothing imported yet (and embedded
        objects sent as URLs only)."""
        wanted: set[str] = set()
        self.downloads = {}
        if self.with_files and self.files is not None and kind == "paper":
            self._prefetch_files(data)
        for raw in data:
            if not isinstance(raw, dict):
                continue
            for ref in self._references(kind, raw):
                if ref not in self.ids and ref not in self.not_served and ref not in self.prefetched:
                    wanted.add(ref)
        if not wanted:
            return
        with self.database.unit_of_work(write=False) as s:
            self._load_known(s, [sorted(wanted)])
        wanted = {u for u in wanted if u not in self.ids}

        for url, value in self.pool.map(self._fetch_one, sorted(wanted)):
            if value is None:
                self.not_served.add(url)
            elif not isinstance(value, FetchError):
                self.prefetched[url] = value

    def _prefetch_files(self, data: list[Any]) -> None:
        """Download, concurrently, the documents of a page's files that changed or are missing."""
        urls = []
        for raw in data:
            files = raw.get("auxiliaryFile") if isinstance(raw, dict) else None
            for f in [raw.get("mainFile") if isinstance(raw, dict) else None,
                      *(files if isinstance(files, list) else [])]:
                if not isinstance(f, dict) or not isinstance(f.get("id"), str):
                    continue
                stored = self.originals.get(f["id"])
                if stored is not None and stored[2] is not None and stored[0] == canonical(f):
                    with self.database.unit_of_work(write=False) as s:
                        if self._has_content(s, stored[2]):
                            continue
                url = _text(f.get("downloadUrl")) or _text(f.get("accessUrl"))
                if url:
                    urls.append(url)

        def fetch(url: str) -> tuple[str, bytes | FetchError]:
            try:
                return url, self.fetcher.get(url, max_bytes=self.max_file_bytes)
            except FetchError as exc:
                return url, exc

        self.downloads = dict(self.pool.map(fetch, urls))

    def _references(self, kind: str, raw: dict[str, Any]) -> list[str]:
        refs: list[str] = []
        if kind == "meeting":
            refs += _refs(raw.get("organization"))[:1]
            refs += [a for a in raw.get("agendaItem") or [] if isinstance(a, str)]
        elif kind == "paper":
            refs += _refs(raw.get("underDirectionOf"))[:1]
            for c in raw.get("consultation") or []:
                if isinstance(c, str):
                    refs.append(c)
                elif isinstance(c, dict):
                    refs += _refs(c.get("organization"))[:1] + _refs(c.get("meeting"))
            files: list[Any] = raw["auxiliaryFile"] if isinstance(raw.get("auxiliaryFile"), list) else []
            refs += [f for f in [raw.get("mainFile"), *files] if isinstance(f, str) and f]
        elif kind == "membership":
            refs += _refs(raw.get("person")) + _refs(raw.get("organization"))
        elif kind == "person":
            for m in raw.get("membership") or []:
                if isinstance(m, dict):
                    refs += _refs(m.get("organization"))
                elif isinstance(m, str):
                    refs.append(m)
        return refs

    def _resolve(self, s: Session, url: str | None, kind: str) -> int | None:
        """The local id of a referenced object: known, or fetched and imported now."""
        if not url:
            return None
        if self._foreign(url):
            self.summary.problem("Verweis auf ein Objekt einer anderen Quelle: nicht verknüpft", url[:200])
            return None
        known = self._known(url)
        if known is not None:
            return known[1] if known[0] == kind else None
        if url in self.not_served:
            return None
        raw = self.prefetched.pop(url, None)
        if raw is None:
            try:
                raw = self.fetcher.json(url)
            except NotServed:
                self.not_served.add(url)
                return None
            except FetchError:
                return None
        if _kind(raw) != kind or raw.get("deleted"):
            return None
        self.immediate += 1  # its id is needed now: written at once, not with the page's batch
        try:
            self._import(s, kind, raw)
        except ForeignObject as exc:
            self.summary.problem(str(exc), str(raw.get("id"))[:200])
            return None
        finally:
            self.immediate -= 1
        found = self._known(url)
        return found[1] if found else None

    def _need(self, s: Session, url: str | None, kind: str, what: str) -> int:
        oid = self._resolve(s, url, kind)
        if oid is None:
            if url and url in self.not_served:
                raise Skip(f"{what} wird vom Server nicht mehr ausgeliefert (404)")
            raise Skip(f"{what} fehlt" if not url else f"{what} nicht importierbar")
        return oid

    # ------------------------------------------------------------------ import one object

    def _import(self, s: Session, kind: str, raw: dict[str, Any], parent: Key | None = None,
                position: int | None = None, force: bool = False) -> int | None:
        url = raw["id"]
        self._check_ours(url)
        if raw.get("deleted"):
            self._delete(s, kind, url)
            return None
        if url in self.pending:  # imported a moment ago (referenced before it came in its list)
            return self.pending[url][1]
        own, children = split(kind, raw)
        modified = _datetime(raw.get("modified"))
        self.touched.add(url)
        stored = self.originals.get(url)
        if stored is not None and stored[2] is not None and not force:
            # The server ignores the filters: its ``modified`` says what changed; else the JSON.
            same = self._same(kind, url, own, modified)
            if same and kind == "file" and self.with_files and not self._has_content(s, stored[2]):
                same = False
            if same:
                self.summary.count(kind, "unverändert")
                self._children(s, kind, stored[2], children, changed=False)
                return stored[2]
        text = self._canonical(url, own)
        known = self._known(url)
        origin = self._origin(s, url) if known is not None or stored is not None else None
        if kind == "legislative_term":
            self.summary.legislative_terms += 1
            self._save_origin(s, origin, kind, None, url, text, modified)
            return None
        values = getattr(self, f"_map_{kind}")(s, raw, parent, position)
        model = MODELS[kind]
        row = s.get(model, origin.object_id) if origin is not None and origin.object_id is not None else None
        created = row is None
        back: int | None = None  # un-deleted at the source: its old id again (while free)
        if row is None and origin is not None and origin.object_id is None and origin.deleted_id is not None \
                and s.get(model, origin.deleted_id) is None:
            back = origin.deleted_id
        if row is None:
            self.summary.count(kind, "wiederhergestellt" if back is not None else "neu")
            if origin is None and (kind in LEAVES or self._batched(children)):
                # Written with the page's other new rows, one INSERT per table (their ids come
                # with it); its embedded objects point to it until then.
                self.deferred.append((values, kind, url, text, modified, raw))
                self.pending[url] = (kind, None)
                self._children(s, kind, Later(url), children, changed=True, created=True)
                return None
            row = model(**values) if back is None else model(id=back, **values)
            s.add(row)
            s.flush()
            if back is not None and origin is not None:
                origin.deleted_id = None
                self._restored(s, kind, back)
        else:
            changed = False
            if kind == "paper" and row.status not in (PAPER_DONE, PAPER_DRAFT):  # type: ignore[attr-defined]
                values.pop("status")  # its Beratungsfolge runs here now
            for key, value in values.items():
                if getattr(row, key) != value:
                    setattr(row, key, value)
                    changed = True
            self.summary.count(kind, "geändert" if changed else "unverändert")
        oid: int = row.id  # type: ignore[attr-defined]
        self._save_origin(s, origin, kind, oid, url, text, modified)
        if kind == "meeting":
            self.meeting_start[oid] = values["start"]
        self._children(s, kind, oid, children, changed=True, created=created)
        if kind == "consultation":
            self._link_agenda_item(s, raw, oid)
        if back is not None and kind == "paper":
            search.index_paper(s, oid)  # searchable again, with its Beratungen and Anlagen
        return oid

    def _batched(self, children: list[tuple[str, str, Any]]) -> bool:
        """Whether a new row can wait for the page's batch: nothing needs its id now, and none of
        its embedded objects is stored here already (that one would point to it at once)."""
        if self.immediate:
            return False
        for _, _, child in children:
            url = child.get("id") if isinstance(child, dict) else child
            if isinstance(url, str) and (url in self.ids or url in self.pending or url in self.originals):
                return False
        return True

    def _write_deferred(self, s: Session, resume: str | None = None) -> None:
        """The page's new rows and all its new origin rows, one INSERT per table: parents first,
        their ids then put into the rows that point to them; the TOPs pointed to their new
        Beratungen, and the source's resume marks (``resume``, if they change). On PostgreSQL all
        of that in one pipeline (one round trip)."""
        rows_by_table: list[tuple[Table, list[dict[str, Any]]]] = []
        if self.deferred:
            s.flush()
            by_kind: dict[str, list[Deferred]] = {}
            for d in self.deferred:
                by_kind.setdefault(d[1], []).append(d)
            self.deferred.clear()
            kinds = [kind for kind in BATCH_ORDER if kind in by_kind]
            allocated = self._allocate(s, [(table_of(MODELS[k]), len(by_kind[k])) for k in kinds])
            for kind, ids in zip(kinds, allocated, strict=True):
                rows = by_kind[kind]
                model = MODELS[kind]
                table = table_of(model)
                keys = set().union(*(d[0].keys() for d in rows))
                fields = model.model_fields
                defaults = {k: fields[k].default for k in keys}
                parents = [k for k in PARENT_KEYS.get(kind, ()) if k in keys]
                params = []
                for d, oid in zip(rows, ids, strict=True):
                    row = {**defaults, **d[0], "id": oid}
                    for k in parents:
                        if isinstance(row[k], Later):
                            row[k] = self._key(row[k])
                    params.append(row)
                rows_by_table.append((table, params))
                for (values, _kind, url, text, modified, raw), oid in zip(rows, ids, strict=True):
                    self._save_origin(s, None, kind, oid, url, text, modified)
                    if kind == "meeting":
                        self.meeting_start[oid] = values["start"]
                    elif kind == "consultation":
                        self._link_agenda_item(s, raw, oid)
        if self.new_origins:
            rows_by_table.append((table_of(OparlOrigin), self.new_origins))
            self.new_origins = []
        links = {link["b_item"]: link["b_consultation"] for link in self.links}
        self.links.clear()
        if not rows_by_table and not links and resume is None:
            return
        if s.get_bind().dialect.name != "postgresql":
            for table, batch in rows_by_table:
                bulk_insert(s, table, batch)
            if links:  # one statement (an executemany is a statement per row)
                items = table_of(AgendaItem)
                s.execute(update(items).where(items.c.id.in_(list(links)))
                          .values(consultation_id=case(links, value=items.c.id)))
            if resume is not None:
                self._write_resume(s, resume)
            return
        s.flush()  # what the unit of work holds goes first (the pipeline is past it)
        conn = s.connection()
        with pipelined(s):
            for table, batch in rows_by_table:
                bulk_insert(s, table, batch)
            if links:
                _send(conn, _LINK_ITEMS, [list(links), list(links.values())])
            if resume is not None:
                _send(conn, _RESUME, [resume, self.source_id])

    def _allocate(self, s: Session, wanted: list[tuple[Table, int]]) -> list[list[int]]:
        """For each (table, n): ``n`` ids for new rows of the table – all in one statement, so
        that one INSERT per table writes a page's rows (a RETURNING in parameter order would
        cost a statement per row). PostgreSQL draws them from the columns' sequences; on
        SQLite the writing unit of work holds the write lock from its start (BEGIN IMMEDIATE),
        so the ids after each table's highest are ours.

        On PostgreSQL a table short of ids draws three times what the page needs and keeps the
        rest for the next pages (``spare_ids``): most pages need no draw, a round trip less.
        Drawn ids are never given back (a sequence is not rolled back either): a run leaves at
        most two pages' worth unused per table, a gap in the ids and nothing more."""
        names = tuple(table.name for table, _ in wanted)
        if s.get_bind().dialect.name == "postgresql":
            spare = self.spare_ids
            have = {name: len(spare.get(name, ())) for name in names}
            short = [(name, 3 * n - have[name]) for name, (_, n) in zip(names, wanted, strict=True)
                     if have[name] < n]
            if short:
                params = {"t": [name for name, _ in short], "n": [n for _, n in short]}
                for name, oid in s.execute(_DRAW_IDS, params):
                    spare.setdefault(name, []).append(oid)
            out = []
            for name, (_, n) in zip(names, wanted, strict=True):
                out.append(spare[name][:n])
                del spare[name][:n]
            return out
        tops = s.connection().exec_driver_sql(_highest_ids(names)).one()
        return [list(range((top or 0) + 1, (top or 0) + n + 1))
                for top, (_, n) in zip(tops, wanted, strict=True)]

    def _key(self, value: Any) -> Any:
        """A value for the batch: a parent written before it in the batch gives its id."""
        if isinstance(value, Later):
            oid = self.pending[value.url][1]
            assert oid is not None, value.url
            return oid
        return value

    def _has_content(self, s: Session, file_id: int) -> bool:
        assert self.files is not None
        row = s.get(File, file_id)
        digest = row.sha_512_checksum if row is not None else None
        return bool(digest) and self.files.exists(digest or "")

    def _save_origin(self, s: Session, origin: OparlOrigin | None, kind: str, oid: int | None, url: str,
                     text: str, modified: datetime | None) -> None:
        if origin is None:
            self.new_origins.append({"source_id": self.source_id, "object_type": kind, "object_id": oid,
                                     "origin_url": url, "original": text, "modified": modified})
        else:
            if origin.original != text:
                origin.original = text
            if origin.modified != modified:
                origin.modified = modified
            if origin.object_id != oid:
                origin.object_id = oid
        self.pending[url] = (kind, oid)
        self.originals[url] = (text, modified, oid)

    def _children(self, s: Session, kind: str, oid: Key, children: list[tuple[str, str, Any]],
                  changed: bool, created: bool = False) -> None:
        if not children and not changed:
            return
        if kind == "paper":
            consultations = [c for f, k, c in children if k == "consultation"]
            files = [c for f, k, c in children if k == "file"]
            self._sync(s, Consultation, "consultation", oid, consultations, changed, created)
            self._sync(s, File, "file", oid, files, changed, created)
        elif kind == "meeting":
            self._sync(s, AgendaItem, "agenda_item", oid, [c for _, _, c in children], changed, created)
        elif kind == "person":
            for _, _, c in children:
                self._child(s, "membership", c, oid, None, False)
        elif kind == "body":
            for _, _, c in children:
                self._child(s, "legislative_term", c, oid, None, False)

    def _child(self, s: Session, kind: str, value: Any, parent: Key, position: int | None,
               force: bool) -> str | None:
        raw = value if isinstance(value, dict) else self.prefetched.pop(value, None)
        if raw is None and isinstance(value, str):
            try:
                raw = self.fetcher.json(value)
            except FetchError as exc:
                self.summary.problem(f"eingebettetes Objekt nicht abrufbar ({exc.reason})", value)
                return None
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            self.summary.problem(f"fehlerhaftes eingebettetes Objekt ({kind})")
            return None
        try:
            self._import(s, kind, raw, parent, position, force)
        except Skip as exc:
            self.summary.problem(str(exc), raw["id"])
            return None
        return str(raw["id"])

    def _sync(self, s: Session, model: type[SQLModel], kind: str, parent: Key, values: list[Any],
              changed: bool, created: bool) -> None:
        """The embedded list of a parent: import each; when the parent changed, positions follow
        the list and what left the list is removed."""
        parent_column = "meeting_id" if kind == "agenda_item" else "paper_id"
        table = table_of(model)
        if changed and not created:
            urls = list(dict.fromkeys(v if isinstance(v, str) else v.get("id") for v in values))
            existing = {url: oid for url, kind_, oid in s.exec(
                select(OparlOrigin.origin_url, OparlOrigin.object_type, OparlOrigin.object_id)
                .join(table, table.c.id == OparlOrigin.object_id)
                .where(OparlOrigin.object_type == kind, OparlOrigin.source_id == self.source_id,
                       table.c[parent_column] == parent))}
            gone = [oid for url, oid in existing.items() if url not in urls and oid is not None]
            for oid in gone:
                self._remove(s, kind, oid)
                self.summary.count(kind, "gelöscht")
            if gone:
                s.execute(update(table_of(OparlOrigin)).where(
                    col(OparlOrigin.object_type) == kind, col(OparlOrigin.object_id).in_(gone))
                    .values(object_id=None))
            if "position" in table.c and existing:
                rows = {oid: pos for oid, pos in s.execute(
                    select(table.c.id, table.c.position).where(table.c[parent_column] == parent)).all()}
                wanted = {existing[u]: i for i, u in enumerate(urls, start=1) if u in existing}
                if any(rows.get(oid) != pos for oid, pos in wanted.items()):
                    s.execute(update(table).where(table.c[parent_column] == parent)
                              .values(position=-table.c.position - 1000))
                    for obj in s.identity_map.values():
                        if isinstance(obj, model) and getattr(obj, parent_column) == parent:
                            s.expire(obj, ["position"])
        seen: set[str] = set()
        position = 0
        for v in values:
            url = v if isinstance(v, str) else v.get("id") if isinstance(v, dict) else None
            if isinstance(url, str):
                if url in seen:
                    self.summary.problem(f"doppelt in der Liste ({kind}): einmal übernommen", url)
                    continue
                seen.add(url)
            position += 1
            self._child(s, kind, v, parent, position, changed)

    def _paper_status(self, s: Session, raw: dict[str, Any]) -> str:
        """An imported Vorlage is a record (abgeschlossen) – unless a Beratung lies ahead:
        then it stays Entwurf, so its Beratungsfolge can be started here."""
        now = self.now or utcnow()
        starts = []
        for c in raw.get("consultation") or []:
            for url in _refs(c.get("meeting")) if isinstance(c, dict) else []:
                known = self._known(url)
                if known is None or known[0] != "meeting" or known[1] is None:
                    continue
                if known[1] not in self.meeting_start:
                    meeting = s.get(Meeting, known[1])
                    if meeting is None:
                        continue
                    self.meeting_start[known[1]] = meeting.start
                starts.append(self.meeting_start[known[1]])
        return PAPER_DRAFT if any(start > now for start in starts) else PAPER_DONE

    # ------------------------------------------------------------------ deletions

    def _delete(self, s: Session, kind: str, url: str) -> None:
        origin = self._origin(s, url)
        if origin is None or origin.object_id is None:
            return  # never had it (or removed already)
        if origin.source_id != self.source_id:
            self.summary.problem("Löschung eines Objekts einer anderen Quelle: abgelehnt", url[:200])
            return
        if kind == "paper":
            from engine.workflow.models import ProcessInstance

            if s.exec(select(ProcessInstance.id).where(ProcessInstance.paper_id == origin.object_id)).first():
                self.summary.problem("an der Quelle gelöscht, hier aber in Beratung: behalten", url)
                return
        nested = s.begin_nested()
        try:
            self._remove(s, kind, origin.object_id)
            nested.commit()
        except IntegrityError:
            nested.rollback()
            self.summary.problem(f"an der Quelle gelöscht, hier noch verwendet ({kind}): behalten", url)
            return
        origin.deleted_id = origin.object_id
        origin.object_id = None
        origin.modified = _datetime(None)
        self.pending[url] = (kind, None)
        self.summary.count(kind, "gelöscht")

    def _remove(self, s: Session, kind: str, oid: int) -> None:
        """Delete one row and what hangs on it; what of it our OParl server showed gets a
        tombstone first (it needs the rows' ``created``), and what embeds it a new ``modified``."""
        at = self.now or utcnow()
        parts = self._parts(s, kind, oid)
        gone = oparl_server.served(s, parts)
        if gone:
            oparl_server.withdraw(s, gone, at)
        if kind == "paper":  # its TOPs stay, without their Vorlage: what shows them changes
            items = [("agendaitem", i) for (i,) in s.execute(
                select(AgendaItem.id).join(Consultation, col(Consultation.id) == AgendaItem.consultation_id)
                .where(Consultation.paper_id == oid))]
            oparl_server.touch_parents(s, items, at)
        self._remove_rows(s, kind, oid)

    def _parts(self, s: Session, kind: str, oid: int) -> list[tuple[str, int]]:
        """The object and what goes with it (``_remove_rows``), as our OParl server names them."""
        parts = [(SERVED_AS.get(kind, kind), oid)]
        if kind == "paper":
            parts += [("consultation", c) for (c,) in s.execute(
                select(Consultation.id).where(Consultation.paper_id == oid))]
            parts += [("file", f) for (f,) in s.execute(select(File.id).where(File.paper_id == oid))]
        elif kind == "meeting":
            parts += [("location", oid)]
            parts += [("agendaitem", a) for (a,) in s.execute(
                select(AgendaItem.id).where(AgendaItem.meeting_id == oid))]
        elif kind == "person":
            parts += [("membership", m) for (m,) in s.execute(
                select(Membership.id).where(Membership.person_id == oid))]
        return [(k, i) for k, i in parts if k in oparl_server.WITHDRAWABLE]

    def _remove_rows(self, s: Session, kind: str, oid: int) -> None:
        """Delete one row and what hangs on it (its consultations, files, agenda items)."""
        if kind == "paper":
            consultations = [c for (c,) in s.execute(
                select(Consultation.id).where(Consultation.paper_id == oid))]
            for c in consultations:
                self._remove_rows(s, "consultation", c)
            for (f,) in s.execute(select(File.id).where(File.paper_id == oid)):
                self._remove_rows(s, "file", f)
        elif kind == "consultation":
            s.execute(update(table_of(AgendaItem)).where(col(AgendaItem.consultation_id) == oid)
                      .values(consultation_id=None, modified=self.now or utcnow()))
        elif kind == "meeting":
            s.execute(update(table_of(Consultation)).where(col(Consultation.meeting_id) == oid)
                      .values(meeting_id=None, modified=self.now or utcnow()))
            for (a,) in s.execute(select(AgendaItem.id).where(AgendaItem.meeting_id == oid)):
                self._remove_rows(s, "agenda_item", a)
        elif kind == "person":
            for (m,) in s.execute(select(Membership.id).where(Membership.person_id == oid)):
                self._remove_rows(s, "membership", m)
        model = MODELS[kind]
        row = s.get(model, oid)
        if row is not None:
            s.delete(row)
            s.flush()
        if kind == "paper":
            search.index_papers(s, [oid])  # whatever the search keeps of it goes
        s.execute(update(table_of(OparlOrigin)).where(
            col(OparlOrigin.object_type) == kind, col(OparlOrigin.object_id) == oid)
            .values(object_id=None, deleted_id=oid))
        for url, (k, i) in list(self.ids.items()):
            if k == kind and i == oid:
                self.ids[url] = (k, None)

    def _restored(self, s: Session, kind: str, oid: int) -> None:
        """Back under its old id (the source un-deleted it): its tombstones go, what embeds it
        is modified again; a Vorlage is searchable again."""
        back = [(SERVED_AS.get(kind, kind), oid)] + ([("location", oid)] if kind == "meeting" else [])
        oparl_server.restore(s, [(k, i) for k, i in back if k in oparl_server.WITHDRAWABLE],
                             self.now or utcnow())

    def _report_unlisted(self, chain: _Chain, summary: Summary) -> None:
        """A complete listing without filters that no longer shows some objects: named in the
        summary, never removed – only ``deleted: true`` removes (a real source's paging skips
        and repeats objects, and a list cut short looks just like one that lost them)."""
        with self.database.unit_of_work(write=False) as s:
            rows = s.exec(select(OparlOrigin.origin_url).where(  # the URLs only: a city has many
                OparlOrigin.source_id == self.source_id, OparlOrigin.object_type == chain.kind,
                col(OparlOrigin.object_id).is_not(None))).all()
        missing = [url for url in rows if url not in chain.seen and url not in self.retry
                   and url not in self.touched]
        if missing:
            summary.problem(f"{len(missing)} Objekte der Liste {chain.kind} fehlen in der vollständigen "
                            "Auflistung: behalten (gelöscht wird nur, was die Quelle als deleted meldet)",
                            missing[0][:200])

    # ------------------------------------------------------------------ the rest of a run

    def _memberships_of_organizations(self, summary: Summary) -> None:
        """Organizations list their memberships as URLs; those no person embedded are fetched."""
        with self.database.unit_of_work(write=False) as s:
            self._load_known(s, [sorted(self.membership_refs)])
        missing = sorted(u for u in self.membership_refs if u not in self.ids)
        self.membership_refs.clear()
        for i in range(0, len(missing), 100):
            if self._out_of_time(summary):
                return
            chunk = missing[i:i + 100]
            found = []
            for url, value in self.pool.map(self._fetch_one, chunk):
                if value is None:
                    self.not_served.add(url)
                    summary.problem("Mitgliedschaft wird vom Server nicht mehr ausgeliefert (404)", url)
                elif isinstance(value, FetchError):
                    summary.problem(f"Mitgliedschaft nicht abrufbar ({value.reason})", url)
                else:
                    found.append(value)
            if found:
                self._write_page("membership", found, summary)

    def _retry_objects(self, summary: Summary) -> None:
        """What the last run could not import and this run did not see again: fetched once more."""
        left = sorted(self.retry - set(summary.skipped))
        if not left:
            return
        by_kind: dict[str, list[Any]] = {}
        for url in left:
            if self._out_of_time(summary):
                return
            try:
                raw = self.fetcher.json(url)
            except NotServed:
                self.retry.discard(url)
                continue
            except FetchError as exc:
                summary.problem(f"erneuter Abruf fehlgeschlagen ({exc.reason})", url)
                continue
            kind = _kind(raw)
            if kind in MODELS:
                by_kind.setdefault(kind, []).append(raw)
            else:
                self._skip(summary, raw if isinstance(raw, dict) else {"id": url}, "unbekannter Typ")
        for kind in ("organization", "person", "membership", "meeting", "paper", "consultation",
                     "agenda_item", "file"):
            if kind in by_kind:
                self._write_page(kind, by_kind[kind], summary)

    # ------------------------------------------------------------------ the mappings

    def _map_body(self, s: Session, raw: dict[str, Any], parent: Key | None,
                  position: int | None) -> dict[str, Any]:
        name = _text(raw.get("name")) or _text(raw.get("shortName"))
        if not name:
            raise Skip("Körperschaft ohne Namen")
        ags = _text(raw.get("ags")) or ""
        return {"name": name, "short_name": _text(raw.get("shortName")), "website": _text(raw.get("website")),
                "state": STATES.get(ags[:2])}

    def _body_id(self, s: Session, raw: dict[str, Any]) -> int:
        body = self._resolve(s, _refs(raw.get("body"))[0] if _refs(raw.get("body")) else None, "body")
        if body is None:
            bodies = [oid for url, (kind, oid) in list(self.ids.items()) + list(self.pending.items())
                      if kind == "body" and oid is not None and not self._foreign(url)]
            if not bodies:
                raise Skip("keine Körperschaft")
            body = bodies[-1]
        return body

    def _map_organization(self, s: Session, raw: dict[str, Any], parent: Key | None,
                          position: int | None) -> dict[str, Any]:
        name = _text(raw.get("name")) or _text(raw.get("shortName"))
        if not name:
            raise Skip("Gremium ohne Namen")
        kind = (_text(raw.get("organizationType")) or "").lower()
        classification = _text(raw.get("classification"))
        if kind:
            administrative = re.search(r"verwaltung|amt|dezernat|fachbereich|referat|dienst", kind)
            org_type = "Verwaltungsbereich" if administrative else "Gremium"
        elif classification and re.search(r"verwaltung|amt|dezernat|fachbereich", classification, re.I):
            org_type = "Verwaltungsbereich"
        elif classification or raw.get("meeting") or raw.get("membership"):
            org_type = "Gremium"
        else:
            org_type = "Verwaltungsbereich"
            self.summary.problem("Art der Organisation nicht angegeben: als Verwaltungsbereich übernommen "
                                 "(keine Sitzungen, keine Mitglieder)")
        self.membership_refs.update(m for m in _refs(raw.get("membership")))
        return {"body_id": self._body_id(s, raw), "name": name[:300],
                "short_name": _text(raw.get("shortName")),
                "organization_type": org_type, "classification": classification}

    def _map_person(self, s: Session, raw: dict[str, Any], parent: Key | None,
                    position: int | None) -> dict[str, Any]:
        family, given = _text(raw.get("familyName")), _text(raw.get("givenName"))
        name = _text(raw.get("name"))
        if not family and name:
            parts = name.rsplit(" ", 1)
            given, family = (parts[0], parts[1]) if len(parts) == 2 else ("", parts[0])
            self.summary.problem("Person nur mit 'name': in Vor- und Familienname geteilt")
        if not family:
            raise Skip("Person ohne Namen")
        email = _refs(raw.get("email"))
        return {"body_id": self._body_id(s, raw), "family_name": family, "given_name": given or "",
                "form_of_address": _text(raw.get("formOfAddress")), "email": email[0] if email else None}

    def _map_membership(self, s: Session, raw: dict[str, Any], parent: Key | None,
                        position: int | None) -> dict[str, Any]:
        person = parent if parent is not None else self._need(s, _refs(raw.get("person"))[0]
                                                              if _refs(raw.get("person")) else None,
                                                              "person", "Person der Mitgliedschaft")
        orgs = _refs(raw.get("organization"))
        org = self._need(s, orgs[0] if orgs else None, "organization", "Gremium der Mitgliedschaft")
        role = _text(raw.get("role"))
        if not role or role.lower() == "unbekannt":
            self.summary.problem(f"Rolle der Mitgliedschaft '{role or ''}': als 'Mitglied' übernommen")
        return {"person_id": person, "organization_id": org,
                "role": role if role and role.lower() != "unbekannt" else "Mitglied",
                "voting_right": _bool(raw.get("votingRight"), True),
                "start_date": _date(raw.get("startDate")), "end_date": _date(raw.get("endDate"))}

    def _map_meeting(self, s: Session, raw: dict[str, Any], parent: Key | None,
                     position: int | None) -> dict[str, Any]:
        orgs = _refs(raw.get("organization"))
        if len(orgs) > 1:
            self.summary.problem("gemeinsame Sitzung mehrerer Gremien: beim ersten geführt", raw["id"])
        org = self._need(s, orgs[0] if orgs else None, "organization", "Gremium der Sitzung")
        start = _datetime(raw.get("start"))
        if start is None:
            raise Skip("Sitzung ohne Beginn")
        end = _datetime(raw.get("end"))
        if end is not None and end < start:
            self.summary.problem("Sitzungsende vor dem Beginn: Ende weggelassen")
            end = None
        location = raw.get("location")
        place = None
        if isinstance(location, dict):
            place = _text(location.get("description")) or ", ".join(
                p for p in (_text(location.get("room")), _text(location.get("streetAddress")),
                            _text(location.get("locality"))) if p) or None
        cancelled = _bool(raw.get("cancelled"), False)
        state = _text(raw.get("meetingState"))
        if state is None:
            state = MEETING_CANCELLED if cancelled else (
                MEETING_HELD if start < (self.now or utcnow()) else MEETING_PLANNED)
        return {"organization_id": org, "name": _text(raw.get("name")) or "Sitzung", "start": start,
                "end": end,
                "location": place, "meeting_state": state, "cancelled": cancelled}

    def _map_agenda_item(self, s: Session, raw: dict[str, Any], parent: Key | None,
                         position: int | None) -> dict[str, Any]:
        meeting = parent if parent is not None else self._need(
            s, _first(raw.get("meeting")), "meeting", "Sitzung des TOP")
        text = _text(raw.get("result"))
        result = normalise_result(text)
        if text and result is None:
            self.summary.problem(f"Ergebnis '{text}' keinem Ergebnis zuzuordnen: als Text übernommen")
        resolution = _text(raw.get("resolutionText"))
        yes, no, abstain = parse_votes(text, resolution)
        values: dict[str, Any] = {
            "meeting_id": meeting, "number": _text(raw.get("number")), "position": position,
            "name": _text(raw.get("name")) or "(ohne Titel)", "public": _bool(raw.get("public"), True),
            "result": result, "result_text": text, "resolution_text": resolution,
            "votes_yes": yes, "votes_no": no, "votes_abstain": abstain, "result_released": True}
        # Linked from whichever side comes second (the Beratung may come with its Vorlage later).
        consultation = self._known(_first(raw.get("consultation")))
        if consultation is not None and consultation[0] == "consultation" and consultation[1] is not None:
            values["consultation_id"] = consultation[1]
        return values

    def _map_paper(self, s: Session, raw: dict[str, Any], parent: Key | None,
                   position: int | None) -> dict[str, Any]:
        name = _text(raw.get("name"))
        if not name:
            raise Skip("Vorlage ohne Betreff")
        reference = _text(raw.get("reference"))
        if not reference:
            tail = raw["id"].rstrip("/").rsplit("/", 2)
            reference = "OParl " + "/".join(tail[-2:])
            self.summary.problem("Vorlage ohne Aktenzeichen: aus der URL gebildet", raw["id"])
        if reference not in self.taken and reference not in self.checked:
            clash = s.exec(select(Paper.id).where(Paper.reference == reference)).first()
            if clash is not None:
                self.taken[reference] = clash
        holder = self.taken.get(reference)
        mine = self._known(raw["id"])
        if holder is not None and holder != raw["id"] and (mine is None or mine[1] != holder):
            raise Skip(f"Aktenzeichen {reference} ist hier schon vergeben")
        self.taken[reference] = mine[1] if mine is not None and mine[1] is not None else raw["id"]
        lead = _refs(raw.get("underDirectionOf"))
        lead_id = self._resolve(s, lead[0], "organization") if lead else None
        if lead and lead_id is None:
            self.summary.problem("federführende Stelle nicht abrufbar: weggelassen", lead[0])
        return {"body_id": self._body_id(s, raw), "reference": reference, "name": name,
                "paper_type": _text(raw.get("paperType")) or "Standardvorlage",
                "date": _date(raw.get("date") or raw.get("publishedDate")), "public": True,
                # Its source published it: released here too (engine.visibility.published_clause).
                "released": (_datetime(raw.get("created")) or _datetime(raw.get("modified"))
                             or self.now or utcnow()),
                "under_direction_of_id": lead_id, "status": self._paper_status(s, raw)}

    def _map_consultation(self, s: Session, raw: dict[str, Any], parent: Key | None,
                          position: int | None) -> dict[str, Any]:
        paper = parent if parent is not None else self._need(
            s, _first(raw.get("paper")), "paper", "Vorlage der Beratung")
        orgs = _refs(raw.get("organization"))
        meeting_url = _refs(raw.get("meeting"))
        meeting = self._resolve(s, meeting_url[0], "meeting") if meeting_url else None
        if not orgs and meeting is not None:
            m = s.get(Meeting, meeting)
            org: int | None = m.organization_id if m else None
        else:
            org = self._need(s, orgs[0] if orgs else None, "organization", "Gremium der Beratung")
        if org is None:
            raise Skip("Beratung ohne Gremium")
        if not meeting_url:
            self.summary.problem("Beratung ohne Sitzung: ohne Sitzung übernommen")
        elif meeting is None:
            self.summary.problem("Sitzung der Beratung nicht abrufbar: ohne Sitzung übernommen",
                                 meeting_url[0])
        authoritative = _bool(raw.get("authoritative"), False)
        text = _text(raw.get("role"))
        role = normalise_role(text, authoritative)
        if role is None:
            self.summary.problem(f"Rolle '{text or ''}' keiner Rolle zuzuordnen: als Text übernommen")
        elif authoritative and role == "Kenntnisnahme":
            self.summary.problem("'authoritative' bei Kenntnisnahme: so übernommen")
        if position is None:
            existing = s.exec(select(Consultation.position).where(Consultation.paper_id == paper)
                              .order_by(col(Consultation.position).desc())).first()
            position = (existing or 0) + 1
        return {"paper_id": paper, "position": position, "organization_id": org, "meeting_id": meeting,
                "role": role or text or "unbekannt", "role_text": text, "authoritative": authoritative}

    def _link_agenda_item(self, s: Session, raw: dict[str, Any], consultation_id: int) -> None:
        """The TOP the Beratung was dealt with in, imported with its Sitzung, points back to it."""
        for url in _refs(raw.get("agendaItem")):
            known = self._known(url)
            if known is None or known[0] != "agenda_item" or known[1] is None:
                continue
            self.links.append({"b_item": known[1], "b_consultation": consultation_id})

    def _map_file(self, s: Session, raw: dict[str, Any], parent: Key | None,
                  position: int | None) -> dict[str, Any]:
        if parent is None:
            papers = _refs(raw.get("paper"))
            parent = self._need(s, papers[0] if papers else None, "paper", "Vorlage der Datei")
        size = raw.get("size") if isinstance(raw.get("size"), int) else None
        values: dict[str, Any] = {
            "paper_id": parent, "position": position or 1,
            "name": _text(raw.get("name")) or _text(raw.get("fileName")) or "Datei",
            "file_name": _text(raw.get("fileName")), "mime_type": _text(raw.get("mimeType")),
            "size": size or 0,
        }
        if self.with_files and self.files is not None:
            digest, length, detected = self._download(s, raw)
            if digest is not None:
                values["sha_512_checksum"] = digest
                values["size"] = length
            if detected is not None:  # the type told from the bytes, as for uploads
                values["mime_type"] = detected
        else:
            known = self._known(raw["id"])
            if known is not None and known[1] is not None:
                row = s.get(File, known[1])
                if row is not None and row.sha_512_checksum:
                    values["sha_512_checksum"] = row.sha_512_checksum
                    values["size"] = row.size
        return values

    def _download(self, s: Session, raw: dict[str, Any]) -> tuple[str | None, int, str | None]:
        """The document stored with this page's unit of work (in place once it commits):
        its SHA-512, size and the type its bytes show; none of them if it is not on the allow-list."""
        assert self.files is not None
        url = _text(raw.get("downloadUrl")) or _text(raw.get("accessUrl"))
        if not url:
            self.summary.problem("Datei ohne accessUrl/downloadUrl", raw["id"])
            return None, 0, None
        known = self._known(raw["id"])
        expected512 = (_text(raw.get("sha512Checksum")) or "").lower() or None
        if expected512 and self.files.exists(expected512) and known is not None:
            return expected512, int(raw.get("size") or 0), None
        got = self.downloads.pop(url, None)
        try:
            if isinstance(got, FetchError):
                raise got
            content = got if got is not None else self.fetcher.get(url, max_bytes=self.max_file_bytes)
        except FetchError as exc:
            self.summary.problem(f"Datei nicht abrufbar ({exc.reason})", url)
            return None, 0, None
        size = raw.get("size")
        if isinstance(size, int) and size != len(content):
            self.summary.problem("Datei: Größe stimmt nicht: verworfen", url)
            return None, 0, None
        if expected512 and hashlib.sha512(content).hexdigest() != expected512:
            self.summary.problem("Datei: sha512Checksum stimmt nicht: verworfen", url)
            return None, 0, None
        sha1 = (_text(raw.get("sha1Checksum")) or "").lower()
        if sha1 and hashlib.sha1(content).hexdigest() != sha1:  # noqa: S324 - OParl 1.0's checksum
            self.summary.problem("Datei: sha1Checksum stimmt nicht: verworfen", url)
            return None, 0, None
        try:  # only the document types an upload may have, told from the bytes
            upload = check_upload("anlage", content, field="Datei")
        except BadUpload:
            self.summary.problem("Datei leer oder von keinem erlaubten Typ: nicht gespeichert", url[:200])
            return None, 0, None
        return self.files.put(s, content), len(content), upload.doc_type.mime_type


def import_oparl(database: Database, url: str, *, fetcher: Fetcher | None = None,
                 allow_hosts: Iterable[str] = (), allow_private: bool = False, **options: Any) -> Summary:
    """Import everything below the System or Body ``url``; see the module's docstring.
    ``allow_hosts`` and ``allow_private`` go to the fetcher made here (see :class:`Fetcher`)."""
    own = fetcher is None
    client = fetcher or Fetcher(allow_hosts=allow_hosts, allow_private=allow_private)
    try:
        return Importer(database, client, **options).run(url)
    finally:
        if own:
            client.close()
