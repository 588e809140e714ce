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
noticed (older objects come back) and then the stored ``modified`` decides, and a complete
full listing removes what the source no longer lists. ``deleted: true`` removes the object.
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
"""

from __future__ import annotations

import email.utils
import hashlib
import ipaddress
import json
import math
import operator
import queue
import re
import socket
import ssl
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import accumulate, count
from typing import Any

import httpcore
import httpx
from sqlalchemy import Column, Index, Text, bindparam, insert, update
from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from . import audit
from .council import (
    CONSULTATION_ROLES,
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
from .db import Database
from .files import BadUpload, FileStore, check_upload
from .settings import TIMEZONE
from .types import table_of, utc_column, utcnow

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
    origin_url: str = Field(unique=True)
    original: str = Field(sa_column=Column(Text, nullable=False))
    modified: datetime | None = Field(default=None, sa_column=utc_column())


MODELS: dict[str, type[SQLModel]] = {
    "body": Body, "organization": Organization, "person": Person, "membership": Membership,
    "meeting": Meeting, "agenda_item": AgendaItem, "paper": Paper, "consultation": Consultation,
    "file": File,
}
#: OParl type name -> our object type.
KINDS = {"System": "system", "Body": "body", "Organization": "organization", "Person": "person",
         "Membership": "membership", "Meeting": "meeting", "AgendaItem": "agenda_item", "Paper": "paper",
         "Consultation": "consultation", "File": "file", "LegislativeTerm": "legislative_term",
         "Location": "location"}
#: Rows nothing refers to inside one page: inserted in one batch at the end of the page.
LEAVES = {"agenda_item", "file", "consultation"}
#: The Body's lists, in the order they are written (what comes later refers to what came before).
LISTS = ("organization", "person", "membership", "meeting", "paper")
#: Embedded objects kept in rows of their own: field -> object type, per parent type.
EMBEDDED: dict[str, dict[str, str]] = {
    "body": {"legislativeTerm": "legislative_term"},
    "person": {"membership": "membership"},
    "meeting": {"agendaItem": "agenda_item"},
    "paper": {"mainFile": "file", "auxiliaryFile": "file", "consultation": "consultation"},
}
#: AGS (Amtlicher Gemeindeschlüssel) prefix -> Bundesland (its holidays count for the Ladungsfrist).
STATES = {"01": "SH", "02": "HH", "03": "NI", "04": "HB", "05": "NW", "06": "HE", "07": "RP", "08": "BW",
          "09": "BY", "10": "SL", "11": "BE", "12": "BB", "13": "MV", "14": "SN", "15": "ST", "16": "TH"}


# ----------------------------------------------------------------------------- mapping messy data

_ROLES = [
    (re.compile(r"kenntnis|information|mitteilung", re.I), "Kenntnisnahme"),
    (re.compile(r"anhör|stellungnahme", re.I), "Anhörung"),
    (re.compile(r"empfehl", re.I), "Beschlussempfehlung"),
    (re.compile(r"vorberat", re.I), "Vorberatung"),
    (re.compile(r"entscheid|beschlie|beschluss|abschließend", re.I), "Entscheidung"),
]
#: Generic words: what they mean follows from ``authoritative``.
_GENERIC_ROLES = re.compile(r"^\s*(beratung|behandlung|beraten)\s*$", re.I)


def normalise_role(text: str | None, authoritative: bool) -> str | None:
    """One of CONSULTATION_ROLES for the source's free text, or None ("unbekannt", "")."""
    if not text or not text.strip():
        return None
    if text in CONSULTATION_ROLES:
        return text
    if _GENERIC_ROLES.match(text):
        return "Entscheidung" if authoritative else "Vorberatung"
    for pattern, role in _ROLES:
        if pattern.search(text):
            return role
    return None


_RESULTS = [
    (re.compile(r"zurückgezogen|zurueckgezogen", re.I), "zurueckgezogen"),
    (re.compile(r"vertagt|zurückgestellt|abgesetzt", re.I), "vertagt"),
    (re.compile(r"verwiesen|überwiesen", re.I), "verwiesen"),
    (re.compile(r"abgelehnt", re.I), "abgelehnt"),
    (re.compile(r"kenntnis", re.I), "zur_kenntnis_genommen"),
    (re.compile(r"vorberaten mit änderung|geändert empfohlen", re.I), "geaendert_empfohlen"),
    (re.compile(r"vorberaten|empfohlen", re.I), "empfohlen"),
    (re.compile(r"geändert|änderung|teilweise", re.I), "geaendert_beschlossen"),
    (re.compile(r"beschlossen|zugestimmt|zustimmung|einverstanden|gewählt|angenommen", re.I), "beschlossen"),
]


def normalise_result(text: str | None) -> str | None:
    """A key of engine.council.RESULTS for the source's free text, or None."""
    if not text or not text.strip():
        return None
    for pattern, key in _RESULTS:
        if pattern.search(text):
            return key
    return None


_VOTES = {
    "yes": re.compile(r"(?:ja|dafür|für)[\s:=-]*(\d+)|(\d+)\s*(?:ja|dafür|für)\b", re.I),
    "no": re.compile(r"(?:nein|dagegen|gegen)[\s:=-]*(\d+)|(\d+)\s*(?:nein|dagegen|gegen)\b", re.I),
    "abstain": re.compile(r"enthaltung(?:en)?[\s:=-]*(\d+)|(\d+)\s*enthaltung", re.I),
}


def parse_votes(*texts: str | None) -> tuple[int | None, int | None, int | None]:
    """Vote tallies written in free text ("Ja: 12, Nein: 3, Enthaltungen: 1", "12 dafür")."""
    found: dict[str, int] = {}
    for text in texts:
        if not text:
            continue
        for key, pattern in _VOTES.items():
            match = pattern.search(text)
            if match and key not in found:
                found[key] = int(match.group(1) or match.group(2))
    if "yes" not in found:
        return None, None, None
    return found["yes"], found.get("no", 0), found.get("abstain", 0)


def _kind(raw: Any) -> str | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return None
    return KINDS.get(raw["type"].rstrip("/").rsplit("/", 1)[-1])


def _refs(value: Any) -> list[str]:
    """A reference or a list of them, as URLs or embedded objects (1.0 and 1.1 differ)."""
    if value is None:
        return []
    values = value if isinstance(value, list) else [value]
    out = []
    for v in values:
        if isinstance(v, str) and v:
            out.append(v)
        elif isinstance(v, dict) and isinstance(v.get("id"), str):
            out.append(v["id"])
    return out


def _first(value: Any) -> str | None:
    refs = _refs(value)
    return refs[0] if refs else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # 1.0 servers send some strings as lists
        value = ", ".join(str(v) for v in value if v)
    text = str(value).strip()
    return text or None


def _bool(value: Any, default: bool) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "ja", "yes"}
    return default if value is None else bool(value)


def _datetime(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=TIMEZONE)).astimezone(UTC)


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    return date.fromisoformat(text[:10])


def canonical(raw: dict[str, Any]) -> str:
    return json.dumps(raw, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def split(kind: str, raw: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, Any]]]:
    """The object with embedded objects reduced to their ids, and the embedded ones
    (field, object type, JSON or URL) in order."""
    fields = EMBEDDED.get(kind, {})
    own = dict(raw)
    children: list[tuple[str, str, Any]] = []
    for name, child_kind in fields.items():
        if name not in raw:
            continue
        values = raw[name] if isinstance(raw[name], list) else [raw[name]]
        for v in values:
            if isinstance(v, dict) or (isinstance(v, str) and v):
                children.append((name, child_kind, v))
        own[name] = _refs(raw[name])
    return own, children


class Skip(Exception):
    """This object cannot be imported: why (reported; the run goes on)."""


class ForeignObject(Skip):
    """An object this source may not write: its id is on another host, or it belongs to another
    source (reported, not fetched again)."""


# ----------------------------------------------------------------------------- HTTP

#: Bounds of a run, each a keyword option (README: "OParl-Import: Grenzen").
MAX_PAGES = 10_000  # pages per list
MAX_BYTES = 50 * 1024 * 1024  # bytes per response (a page or an object)
MAX_DEPTH = 64  # nesting of a JSON answer
MAX_SECONDS = 6 * 3600.0  # the whole run
RESPONSE_SECONDS = 300.0  # one response, from the request to its last byte
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(Exception):
    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class NotServed(FetchError):
    """404 or 410: the server no longer serves the object."""


class Refused(FetchError):
    """Not asked for: the URL lies outside the source (another scheme, host or port, or an
    address that is not public)."""


class OutOfTime(FetchError):
    """The run's time is up."""


class _Again(Exception):
    """Worth another try (a timeout, a 5xx, a 429): why, and how long the server asked us to wait."""

    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.wait = wait


#: The longest pause a ``Retry-After`` may ask for; longer requests are shortened to this.
RETRY_AFTER_MAX = 60.0


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """The seconds a ``Retry-After`` header asks for (delay-seconds or an HTTP-date), at most
    ``RETRY_AFTER_MAX``; None when absent or unreadable."""
    value = (value or "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), RETRY_AFTER_MAX)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), RETRY_AFTER_MAX)


class _NotPublic(Exception):
    """The host resolves to (or connected to) an address that is not public."""


def default_backoff(attempt: int) -> float:
    return float(min(30.0, 0.5 * 2 ** attempt))


def public_address(address: str) -> bool:
    """Whether ``address`` (an IP) is a global unicast address: not loopback, link-local,
    private, shared, reserved or multicast (IPv4 inside IPv6 judged as IPv4)."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            ip = inner
    return ip.is_global and not ip.is_multicast


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL, None for anything else."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return None
    scheme = parsed.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parsed.raw_host:
        return None
    host = parsed.raw_host.decode("ascii", "replace").lower().strip("[]")
    return scheme, host, parsed.port or _DEFAULT_PORTS[scheme]


def allowed_origins(spec: str) -> set[tuple[str, str, int]]:
    """The origins ``HOST[:PORT]`` (``--allow-host``) stands for: http and https on that port,
    without one on their default ports."""
    parsed = origin_of(f"http://{spec.strip()}")
    if parsed is None or "/" in spec:
        raise ValueError(f"kein Host[:Port]: {spec!r}")
    _scheme, host, _port = parsed
    if ":" in spec.rsplit("]", 1)[-1]:
        return {("http", host, parsed[2]), ("https", host, parsed[2])}
    return {("http", host, 80), ("https", host, 443)}


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write ends at the current response's deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: Callable[[], float]) -> None:
        self.inner = inner
        self.deadline = deadline

    def _left(self, timeout: float | None) -> float:
        left = self.deadline() - time.monotonic()
        if left <= 0:
            raise httpcore.ReadTimeout("Frist der Antwort abgelaufen")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.inner.read(max_bytes, self._left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.inner.write(buffer, self._left(timeout))

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self.inner.start_tls(ssl_context, server_hostname, self._left(timeout)),
                               self.deadline)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _GuardedBackend(httpcore.NetworkBackend):
    """Connects only to public addresses (unless ``allow_private``): the host is resolved
    here, every address it has is checked, a checked address is connected to (no second
    lookup a DNS rebinding could change) and the peer is checked once more."""

    def __init__(self, allow_private: bool, deadline: Callable[[], float]) -> None:
        self.inner = httpcore.SyncBackend()
        self.allow_private = allow_private
        self.deadline = deadline

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} nicht auflösbar") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.allow_private:
            for address in addresses:
                if not public_address(address):
                    raise _NotPublic(address if address == host else f"{host} ist {address}")
        left = self.deadline() - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("Frist der Antwort abgelaufen")
        timeout = left if timeout is None else min(timeout, left)
        failed: Exception = httpcore.ConnectError(f"{host}: keine Adresse")
        for address in addresses:
            try:
                stream = self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failed = exc
                continue
            peer = stream.get_extra_info("server_addr")
            if not self.allow_private and not (peer and public_address(str(peer[0]))):
                stream.close()
                raise _NotPublic(f"{host} verbunden mit {peer[0] if peer else '?'}")
            return _DeadlineStream(stream, self.deadline)
        raise failed

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("keine Unix-Sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


#: Every byte but brackets and quotes (deleted for the depth count).
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")


def json_depth(body: bytes) -> int:
    """How deep the arrays and objects of the UTF-8 JSON ``body`` nest (brackets inside strings
    do not count), counted without parsing: json.loads of 100,000 ``[`` ends in a RecursionError."""
    if b"\\" in body:  # escaped backslashes, then escaped quotes: what is left of a quote delimits
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = body.translate(None, _NOT_STRUCTURE)
    outside = b"".join(skeleton.split(b'"')[::2]).translate(_DEPTH_STEPS)
    # after the i-th bracket (from 1): 2 * opened so far - i
    return max(map(operator.sub, accumulate(outside), count(1)), default=0)


#: Characters no text from outside keeps: C0 controls but tab, newline and carriage return,
#: DEL, C1 controls, lone surrogates (PostgreSQL refuses NUL; psycopg cannot encode a surrogate).
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
#: Where, in UTF-8 JSON, such a character may hide (escaped or not): only then the walk.
_SUSPECT_ESCAPES = re.compile(rb"\\(?:u00[0189]|u007[fF]|u[dD][89a-fA-F]|[bf])")
_C1_UTF8 = re.compile(rb"\xc2[\x80-\x9f]")


def _suspect(body: bytes) -> bool:
    return b"\x7f" in body or bool(_SUSPECT_ESCAPES.search(body)) or bool(_C1_UTF8.search(body))


def _cleaned(value: Any, touched: list[str], holder: str) -> Any:
    """``value`` without bad characters in any string; the ids of the objects that had some
    are added to ``touched`` (an object whose own id has some loses the id)."""
    if isinstance(value, str):
        if _BAD_CHARS.search(value):
            if holder not in touched:
                touched.append(holder)
            return _BAD_CHARS.sub("", value)
        return value
    if isinstance(value, list):
        return [_cleaned(v, touched, holder) for v in value]
    if isinstance(value, dict):
        own = value.get("id")
        if isinstance(own, str):
            if _BAD_CHARS.search(own):
                touched.append(repr(_BAD_CHARS.sub("", own))[:80] + " (id mit Steuerzeichen: verworfen)")
                value = {k: v for k, v in value.items() if k != "id"}
            else:
                holder = own
        return {_cleaned(k, touched, holder): _cleaned(v, touched, holder) for k, v in value.items()}
    return value


class Fetcher:
    """A polite HTTP client that stays on its source: at most ``limit`` requests at a time,
    retries with backoff, and bounds on everything a hostile server could stretch.

    Only URLs on the origins of the sources it was given (``add_source``) and on
    ``allow_hosts`` (``HOST[:PORT]``) are asked for; redirects are followed by hand, only within
    those, at most ``MAX_REDIRECTS``. Addresses that are not public (loopback, private,
    link-local, …) are refused unless ``allow_private`` (a server on this machine: tests, the
    demo). A response may take ``response_seconds`` and carry ``max_bytes`` (downloads name
    their own cap); JSON may nest ``max_depth`` deep; nothing runs past ``deadline`` (a
    ``time.monotonic()`` value, set by the importer). Text from outside is cleaned of control
    characters (``cleaned`` names the objects).

    ``rewrite`` maps URL prefixes to where they are fetched from (a local copy of a server);
    ``sleep`` and ``backoff`` are injectable so tests never wait.
    """

    def __init__(self, *, limit: int = 4, timeout: float = 30.0, retries: int = 3,
                 backoff: Callable[[int], float] = default_backoff,
                 sleep: Callable[[float], None] = time.sleep, rewrite: dict[str, str] | None = None,
                 transport: httpx.BaseTransport | None = None, allow_hosts: Iterable[str] = (),
                 allow_private: bool = False, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH,
                 response_seconds: float = RESPONSE_SECONDS) -> None:
        self._local = threading.local()
        self.deadline = math.inf
        if transport is None:
            guarded = httpx.HTTPTransport()
            guarded._pool._network_backend = _GuardedBackend(allow_private, self._response_deadline)
            transport = guarded
        # trust_env=False: no proxy from the environment (it would connect where we did not check)
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport,
                                   trust_env=False,
                                   headers={"User-Agent": "ratsflow-oparl-import/0.1",
                                            "Accept": "application/json",
                                            "Accept-Encoding": "gzip, deflate"})
        self.allowed_origins: set[tuple[str, str, int]] = set()
        self._prefixes: tuple[str, ...] = ()
        for spec in allow_hosts:
            self._allow(allowed_origins(spec))
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.response_seconds = response_seconds
        self.slots = threading.Semaphore(limit)
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.rewrite = rewrite or {}
        self.lock = threading.Lock()
        self.requests = 0
        self.retried = 0
        #: (URL, why) of what was not asked for; objects whose text was cleaned (by id).
        self.refused: list[tuple[str, str]] = []
        self.cleaned: list[str] = []

    # ------------------------------------------------------------------ where it may go

    def add_source(self, url: str) -> None:
        """Allow the origin (scheme, host, port) of the source ``url``."""
        origin = origin_of(url)
        if origin is None:
            raise Refused(url, "keine http(s)-Adresse")
        self._allow({origin})

    def _allow(self, origins: set[tuple[str, str, int]]) -> None:
        self.allowed_origins |= origins
        prefixes = []
        for scheme, host, port in sorted(self.allowed_origins):
            shown = f"[{host}]" if ":" in host else host
            prefixes.append(f"{scheme}://{shown}:{port}/")
            if port == _DEFAULT_PORTS[scheme]:
                prefixes.append(f"{scheme}://{shown}/")
        self._prefixes = tuple(prefixes)

    def allowed(self, url: Any) -> bool:
        """Whether ``url`` lies on an allowed origin (the common spelling by its beginning,
        which ends with the authority's ``/``; any other parsed)."""
        if not isinstance(url, str):
            return False
        return url.startswith(self._prefixes) or origin_of(url) in self.allowed_origins

    def _target(self, url: str) -> str:
        for prefix, local in self.rewrite.items():
            if url.startswith(prefix):
                return local + url[len(prefix):]
        return url

    def _logical(self, url: str) -> str:
        """The source's URL for one fetched from a rewritten place (a redirect's target)."""
        for prefix, local in self.rewrite.items():
            if url.startswith(local):
                return prefix + url[len(local):]
        return url

    def _refuse(self, url: str, reason: str) -> Refused:
        with self.lock:
            if len(self.refused) < 1000:
                self.refused.append((url, reason))
        return Refused(url, reason)

    # ------------------------------------------------------------------ time

    def _response_deadline(self) -> float:
        return min(getattr(self._local, "until", math.inf), self.deadline)

    def out_of_time(self) -> bool:
        return time.monotonic() >= self.deadline

    def _late(self, url: str) -> OutOfTime:
        return OutOfTime(url, "Zeitlimit des Laufs erreicht")

    # ------------------------------------------------------------------ fetching

    def get(self, url: str, params: dict[str, str] | None = None, *, max_bytes: int | None = None) -> bytes:
        """The body of ``url`` (at most ``max_bytes``, else the fetcher's ``max_bytes``)."""
        cap = self.max_bytes if max_bytes is None else max_bytes
        reason = ""
        asked: float | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                with self.lock:
                    self.retried += 1
                pause = self.backoff(attempt - 1) if asked is None else asked  # the server's wish first
                if time.monotonic() + pause >= self.deadline:
                    raise self._late(url)
                self.sleep(pause)
            try:
                return self._once(url, params, cap)
            except _Again as exc:
                reason = str(exc)
                asked = exc.wait
        raise FetchError(url, f"{reason} nach {self.retries + 1} Versuchen")

    def _once(self, url: str, params: dict[str, str] | None, cap: int) -> bytes:
        logical = url
        for _hop in range(MAX_REDIRECTS + 1):
            if not self.allowed(logical):
                raise self._refuse(logical, "anderer Host als die Quelle: nicht abgerufen")
            if self.out_of_time():
                raise self._late(url)
            self._local.until = time.monotonic() + self.response_seconds
            try:
                with self.slots:
                    with self.lock:
                        self.requests += 1
                    with self.client.stream("GET", self._target(logical), params=params) as response:
                        status = response.status_code
                        if status in _REDIRECTS and response.headers.get("location"):
                            logical = self._logical(str(response.url.join(response.headers["location"])))
                            params = None
                            continue
                        if status in (404, 410):
                            raise NotServed(url, f"HTTP {status}")
                        if status >= 500 or status == 429:
                            wait = retry_after(response.headers.get("retry-after")) \
                                if status in (429, 503) else None
                            raise _Again(f"HTTP {status}", wait)
                        if status >= 300:
                            raise FetchError(url, f"HTTP {status}")
                        return self._body(url, response, cap)
            except httpx.TimeoutException:
                if self.out_of_time():
                    raise self._late(url) from None
                raise _Again("Zeitüberschreitung") from None
            except httpx.TransportError as exc:
                raise _Again(f"Verbindungsfehler ({type(exc).__name__})") from None
            except _NotPublic as exc:
                raise self._refuse(logical, f"keine öffentliche Adresse ({exc}): nicht abgerufen") from None
            finally:
                self._local.until = math.inf
        raise FetchError(url, f"mehr als {MAX_REDIRECTS} Weiterleitungen")

    def _body(self, url: str, response: httpx.Response, cap: int) -> bytes:
        """The body, read in pieces: refused as soon as it is (or unpacks to) more than ``cap``."""
        too_large = f"Antwort größer als {cap / 2**20:.3g} MB: nicht gelesen"
        declared = response.headers.get("content-length", "")
        if declared.strip().isdigit() and int(declared) > cap:
            raise FetchError(url, too_large)
        coding = response.headers.get("content-encoding", "").strip().lower()
        if coding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise FetchError(url, f"Kodierung {coding[:40]!r} nicht unterstützt")
        # unpacked here, never more than the cap at a time (a small gzip can unpack to gigabytes)
        unpack = zlib.decompressobj(zlib.MAX_WBITS | 32) if coding not in ("", "identity") else None
        chunks: list[bytes] = []
        size = 0
        try:
            for raw in response.iter_raw():
                while raw:
                    if unpack is None:
                        chunk, raw = raw, b""
                    else:
                        chunk = unpack.decompress(raw, cap + 1 - size)
                        raw = unpack.unconsumed_tail
                    size += len(chunk)
                    if size > cap:
                        raise FetchError(url, too_large)
                    chunks.append(chunk)
        except zlib.error:
            raise FetchError(url, "fehlerhaft komprimierte Antwort") from None
        return b"".join(chunks)

    def json(self, url: str, params: dict[str, str] | None = None) -> Any:
        return self.parse(url, self.get(url, params))

    def parse(self, url: str, body: bytes) -> Any:
        """JSON from outside: depth checked before parsing, text cleaned of control characters."""
        try:
            encoding = json.detect_encoding(body)
            text = body.decode(encoding)
            if not encoding.startswith("utf-8"):
                body = text.encode("utf-8", "surrogatepass")
        except (UnicodeError, LookupError):
            raise FetchError(url, "keine JSON-Antwort") from None
        if json_depth(body) > self.max_depth:
            raise FetchError(url, f"JSON tiefer verschachtelt als {self.max_depth} Ebenen: nicht gelesen")
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise FetchError(url, "keine JSON-Antwort") from None
        if _suspect(body):
            touched: list[str] = []
            value = _cleaned(value, touched, url)
            if touched:
                with self.lock:
                    self.cleaned.extend(touched)
        return value

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


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
        self.counts.setdefault(kind, Counter())[what] += 1
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


# ----------------------------------------------------------------------------- crawling


@dataclass
class _Chain:
    kind: str
    url: str
    params: dict[str, str] | None
    key: str = ""  # the Body's list URL (where an interrupted run resumes)
    pages: queue.Queue[tuple[str, Any, str | None] | None] = field(
        default_factory=lambda: queue.Queue(maxsize=4))
    error: tuple[str, str] | None = None
    #: Objects older than the ``modified_since`` asked for: the server ignored the filter.
    older: int = 0
    #: Every object URL the list showed (for removing what a full listing no longer shows).
    seen: set[str] = field(default_factory=set)
    thread: threading.Thread | None = None
    #: A ``next`` that led back to a page read before, or off the source: not followed.
    loop: str | None = None
    foreign: str | None = None

    @property
    def first(self) -> str:
        """Where the list begins (with its query): where a run that read nothing goes on."""
        return str(httpx.URL(self.url, params=self.params)) if self.params else self.url


def _crawl(fetcher: Fetcher, chain: _Chain, stop: threading.Event, max_pages: int) -> None:
    """Read one list page by page (to ``chain.pages``), following ``next`` – never in a
    circle, never off the source, at most ``max_pages`` pages. Whatever goes wrong ends the
    list with ``chain.error``; the consumer always gets its end mark."""
    url: str | None = chain.url
    params = chain.params
    visited: set[str] = set()
    where = chain.first
    try:
        while url and not stop.is_set():
            where = str(httpx.URL(url, params=params)) if params else url
            if len(visited) >= max_pages:
                chain.error = (where, f"mehr als {max_pages} Seiten in einer Liste (Höchstzahl je Lauf)")
                break
            visited.add(where)
            try:
                page = fetcher.json(url, params)
                if not isinstance(page, dict) or not isinstance(page.get("data"), list):
                    raise FetchError(where, "keine OParl-Liste")
            except FetchError as exc:
                chain.error = (where, exc.reason)
                break
            links: dict[str, Any] = page["links"] if isinstance(page.get("links"), dict) else {}
            following = links.get("next") if isinstance(links.get("next"), str) else None
            if following is not None and (following in visited or following == url):
                chain.loop, following = following, None  # a server whose pages link in a circle
            elif following is not None and not fetcher.allowed(following):
                chain.foreign, following = following, None
            item = (where, page, following)
            while not stop.is_set():
                try:
                    chain.pages.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            url, params = following, None
    except BaseException as exc:  # noqa: BLE001 - reported as the list's error; the run goes on
        chain.error = (where, f"unerwarteter Fehler beim Abruf ({type(exc).__name__})")
    finally:
        while not stop.is_set():
            try:
                chain.pages.put(None, timeout=0.1)
                break
            except queue.Full:
                continue


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
        self.prefetched: dict[str, Any] = {}
        self.retry: set[str] = set()
        self.source_id = 0
        self.since: datetime | None = None
        self.ignored = False
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="oparl-fetch")
        self.membership_refs: set[str] = set()
        #: origin URL -> (original JSON, modified, object id) of the page's objects, read before writing.
        self.originals: dict[str, tuple[str, datetime | None, int | None]] = {}
        self.touched: set[str] = set()
        self.downloads: dict[str, bytes | FetchError] = {}
        self.deferred: list[tuple[dict[str, Any], str, str, str, datetime | None, dict[str, Any]]] = []
        self.new_origins: list[dict[str, Any]] = []
        self.links: list[dict[str, int]] = []
        self.meeting_start: dict[int, datetime] = {}
        self.taken: dict[str, int | str] = {}  # Aktenzeichen -> paper id (or origin URL, new in this page)
        self.max_pages = max_pages
        self.max_seconds = max_seconds
        #: A document is stored only up to the size of an upload.
        self.max_file_bytes = max_file_bytes or database.settings.max_upload_bytes
        #: origin URL -> the source it belongs to (objects of another source are not touched).
        self.owner: dict[str, int] = {}
        #: A list was cut short (circle, foreign ``next``, time): the run is not complete.
        self.truncated = False
        self.timed_out = False

    # ------------------------------------------------------------------ the run

    def run(self, url: str) -> Summary:
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
                # A list that ignored modified_since was a full listing: what it no longer shows is gone.
                if chain.older and chain.error is None and chain.params is not None \
                        and chain.kind in ("meeting", "paper") and not self.truncated:
                    self._remove_unlisted(chain, summary)
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
            with self.database.unit_of_work() as s:
                source = s.get(OparlSource, self.source_id)
                assert source is not None
                resume = json.loads(source.resume)
                resume[key] = error[0]
                source.resume = json.dumps(resume)

    # ------------------------------------------------------------------ one page, one unit of work

    def _write_page(self, kind: str, data: list[Any], summary: Summary,
                    resume: tuple[str, str | None] | None = None) -> None:
        with self.database.unit_of_work(write=False) as s:
            self._load_known(s, data)
        self._prefetch(kind, data)
        for attempt in ("page", "each"):
            uow = self.database.begin()
            s = uow.session
            counts_before = {k: Counter(v) for k, v in summary.counts.items()}
            writes_before, problems_before = summary.writes, Counter(summary.problems)
            skipped_before = list(summary.skipped)
            originals, starts = dict(self.originals), dict(self.meeting_start)
            try:
                if kind == "paper":
                    self._load_references(s, data)
                for raw in data:
                    summary.objects += 1
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
                self._write_deferred(s)
                if resume is not None:
                    self._save_resume(s, *resume)
                uow.commit()
            except (IntegrityError, DataError):
                uow.rollback()
                uow.close()
                self.pending.clear()
                self.deferred.clear()
                self.new_origins.clear()
                self.links.clear()
                self.originals, self.meeting_start = originals, starts
                summary.counts, summary.writes = counts_before, writes_before
                summary.problems, summary.skipped = problems_before, skipped_before
                summary.objects -= len(data)
                if attempt == "page":
                    continue
                raise
            except BaseException:
                uow.rollback()
                uow.close()
                self.pending.clear()
                self.deferred.clear()
                self.new_origins.clear()
                self.links.clear()
                raise
            uow.close()
            self.ids.update(self.pending)
            self.pending.clear()
            return

    def _load_references(self, s: Session, data: list[Any]) -> None:
        """The Aktenzeichen of a page's Vorlagen already taken here (one query)."""
        self.taken = {}
        wanted = sorted({r for r in (_text(o.get("reference")) for o in data if isinstance(o, dict)) if r})
        for i in range(0, len(wanted), 500):
            for reference, oid in s.exec(select(Paper.reference, Paper.id)
                                         .where(col(Paper.reference).in_(wanted[i:i + 500]))):
                self.taken[reference] = oid  # type: ignore[assignment]

    def _save_resume(self, s: Session, key: str, following: str | None) -> None:
        source = s.get(OparlSource, self.source_id)
        assert source is not None
        resume = json.loads(source.resume)
        if following:
            resume[key] = following
        else:
            resume.pop(key, None)
        text = json.dumps(resume)
        if text != source.resume:
            source.resume = text

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

    def _load_known(self, s: Session, data: Iterable[Any]) -> None:
        """Read the origin rows of a page's objects and references in few queries."""
        urls: set[str] = set()
        own: set[str] = set()

        def collect(value: Any, depth: int = 0) -> None:
            if isinstance(value, str):
                if value.startswith("http") and value not in self.ids:
                    urls.add(value)
            elif isinstance(value, dict) and depth < 4:
                if isinstance(value.get("id"), str):
                    own.add(value["id"])
                for v in value.values():
                    collect(v, depth + 1)
            elif isinstance(value, list) and depth < 4:
                for v in value:
                    collect(v, depth + 1)

        for raw in data:
            collect(raw)
        pending = sorted(urls)
        for i in range(0, len(pending), 500):
            chunk = pending[i:i + 500]
            for url, kind, oid, source in s.exec(select(OparlOrigin.origin_url, OparlOrigin.object_type,
                                                        OparlOrigin.object_id, OparlOrigin.source_id)
                                                 .where(col(OparlOrigin.origin_url).in_(chunk))):
                self.ids[url] = (kind, oid)
                self.owner[url] = source
        self.originals = {}
        wanted = sorted(own)
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            for url, kind, oid, original, modified, source in s.execute(
                    sa_select(col(OparlOrigin.origin_url), col(OparlOrigin.object_type),
                              col(OparlOrigin.object_id), col(OparlOrigin.original),
                              col(OparlOrigin.modified), col(OparlOrigin.source_id))
                    .where(col(OparlOrigin.origin_url).in_(chunk))).all():
                self.ids[url] = (kind, oid)
                self.owner[url] = source
                if source == self.source_id:
                    self.originals[url] = (original, modified, oid)

    def _origin(self, s: Session, url: str) -> OparlOrigin | None:
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
        try:
            self._import(s, kind, raw)
        except ForeignObject as exc:
            self.summary.problem(str(exc), str(raw.get("id"))[:200])
            return None
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

    def _import(self, s: Session, kind: str, raw: dict[str, Any], parent: int | None = None,
                position: int | None = None, force: bool = False) -> int | None:
        url = raw["id"]
        self._check_ours(url)
        if raw.get("deleted"):
            self._delete(s, kind, url)
            return None
        if url in self.pending:  # imported a moment ago (referenced before it came in its list)
            return self.pending[url][1]
        own, children = split(kind, raw)
        text = canonical(own)
        modified = _datetime(raw.get("modified"))
        self.touched.add(url)
        stored = self.originals.get(url)
        if stored is not None and stored[2] is not None and not force:
            # The server ignores the filters: its ``modified`` says what changed; else the JSON.
            same = (stored[1] == modified and modified is not None) if self.ignored else stored[0] == text
            if same and kind == "file" and self.with_files and not self._has_content(s, stored[2]):
                same = False
            if same:
                self.summary.count(kind, "unverändert")
                self._children(s, kind, stored[2], children, changed=False)
                return stored[2]
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
        if row is None:
            self.summary.count(kind, "neu")
            if kind in LEAVES and origin is None:
                # Written with the page's other new rows in one batch (their ids come with it).
                self.deferred.append((values, kind, url, text, modified, raw))
                self.pending[url] = (kind, None)
                return None
            row = model(**values)
            s.add(row)
            s.flush()
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
        return oid

    def _write_deferred(self, s: Session) -> None:
        """The page's new leaf rows and all its new origin rows, one INSERT batch per table."""
        if self.deferred:
            s.flush()
            for kind in ("consultation", "agenda_item", "file"):
                rows = [d for d in self.deferred if d[1] == kind]
                if not rows:
                    continue
                model = MODELS[kind]
                table = table_of(model)
                keys = set().union(*(d[0].keys() for d in rows))
                fields = model.model_fields
                params = [{k: d[0][k] if k in d[0] else fields[k].default for k in keys} for d in rows]
                ids = s.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                params).scalars().all()
                for (_values, _kind, url, text, modified, raw), oid in zip(rows, ids, strict=True):
                    self._save_origin(s, None, kind, oid, url, text, modified)
                    if kind == "consultation":
                        self._link_agenda_item(s, raw, oid)
            self.deferred.clear()
        if self.new_origins:
            s.execute(insert(table_of(OparlOrigin)), self.new_origins)
            self.new_origins.clear()
        if self.links:
            items = table_of(AgendaItem)
            s.execute(update(items).where(items.c.id == bindparam("b_item"))
                      .values(consultation_id=bindparam("b_consultation")), self.links)
            self.links.clear()

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
        self.owner[url] = self.source_id

    def _children(self, s: Session, kind: str, oid: int, children: list[tuple[str, str, Any]],
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

    def _child(self, s: Session, kind: str, value: Any, parent: int, position: int | None,
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

    def _sync(self, s: Session, model: type[SQLModel], kind: str, parent: int, values: list[Any],
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
            from .workflow.models import ProcessInstance

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
        origin.object_id = None
        origin.modified = _datetime(None)
        self.pending[url] = (kind, None)
        self.summary.count(kind, "gelöscht")

    def _remove(self, s: Session, kind: str, oid: int) -> None:
        """Delete one row and what hangs on it (its consultations, files, agenda items)."""
        if kind == "paper":
            consultations = [c for (c,) in s.execute(
                select(Consultation.id).where(Consultation.paper_id == oid))]
            for c in consultations:
                self._remove(s, "consultation", c)
            for (f,) in s.execute(select(File.id).where(File.paper_id == oid)):
                self._remove(s, "file", f)
        elif kind == "consultation":
            s.execute(update(table_of(AgendaItem)).where(col(AgendaItem.consultation_id) == oid)
                      .values(consultation_id=None))
        elif kind == "meeting":
            s.execute(update(table_of(Consultation)).where(col(Consultation.meeting_id) == oid)
                      .values(meeting_id=None))
            for (a,) in s.execute(select(AgendaItem.id).where(AgendaItem.meeting_id == oid)):
                self._remove(s, "agenda_item", a)
        elif kind == "person":
            for (m,) in s.execute(select(Membership.id).where(Membership.person_id == oid)):
                self._remove(s, "membership", m)
        model = MODELS[kind]
        row = s.get(model, oid)
        if row is not None:
            s.delete(row)
            s.flush()
        s.execute(update(table_of(OparlOrigin)).where(
            col(OparlOrigin.object_type) == kind, col(OparlOrigin.object_id) == oid).values(object_id=None))
        for url, (k, i) in list(self.ids.items()):
            if k == kind and i == oid:
                self.ids[url] = (k, None)

    def _remove_unlisted(self, chain: _Chain, summary: Summary) -> None:
        """A complete listing without filters: what it no longer shows is gone at the source."""
        with self.database.unit_of_work() as s:
            rows = list(s.exec(select(OparlOrigin).where(
                OparlOrigin.source_id == self.source_id, OparlOrigin.object_type == chain.kind,
                col(OparlOrigin.object_id).is_not(None))))
            gone = [o for o in rows if o.origin_url not in chain.seen and o.origin_url not in self.retry
                    and o.origin_url not in self.touched]
            if len(gone) > max(5, len(rows) // 10):
                # Not what a full listing looks like: rather keep everything than empty the copy.
                summary.problem(f"Abgleich der Liste {chain.kind} übersprungen: {len(gone)} von {len(rows)} "
                                "fehlen in der Auflistung")
                return
            for origin in gone:
                self._delete(s, chain.kind, origin.origin_url)
        self.ids.update(self.pending)
        self.pending.clear()

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

    def _map_body(self, s: Session, raw: dict[str, Any], parent: int | None,
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

    def _map_organization(self, s: Session, raw: dict[str, Any], parent: int | None,
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

    def _map_person(self, s: Session, raw: dict[str, Any], parent: int | None,
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

    def _map_membership(self, s: Session, raw: dict[str, Any], parent: int | None,
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

    def _map_meeting(self, s: Session, raw: dict[str, Any], parent: int | None,
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

    def _map_agenda_item(self, s: Session, raw: dict[str, Any], parent: int | None,
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

    def _map_paper(self, s: Session, raw: dict[str, Any], parent: int | None,
                   position: int | None) -> dict[str, Any]:
        name = _text(raw.get("name"))
        if not name:
            raise Skip("Vorlage ohne Betreff")
        reference = _text(raw.get("reference"))
        if not reference:
            tail = raw["id"].rstrip("/").rsplit("/", 2)
            reference = "OParl " + "/".join(tail[-2:])
            self.summary.problem("Vorlage ohne Aktenzeichen: aus der URL gebildet", raw["id"])
        if reference not in self.taken:
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
                "under_direction_of_id": lead_id, "status": self._paper_status(s, raw)}

    def _map_consultation(self, s: Session, raw: dict[str, Any], parent: int | None,
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

    def _map_file(self, s: Session, raw: dict[str, Any], parent: int | None,
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
