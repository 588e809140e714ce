"""The HTTP side of the OParl import: the :class:`Fetcher` (a polite client that stays on its
source, with retries, ``Retry-After`` and the bounds of a run), the URL and address guards and
its errors (split from the importer; see there for the whole picture)."""

from __future__ import annotations

import email.utils
import ipaddress
import json
import math
import operator
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from itertools import accumulate, count
from typing import Any

import httpcore
import httpx

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
