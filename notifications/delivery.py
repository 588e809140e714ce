"""Delivery of the outbox: over SMTP (``RATSFLOW_SMTP_URL``), or into a folder.

``dispatch`` claims waiting rows (``engine.outbox.claim``: one short transaction per batch),
sends them one after the other outside any transaction, and settles each right after it was
tried: sent (one UPDATE, committed on its own, ``engine.outbox.DispatchConnection.sent``),
retried with backoff, failed after the last attempt. A message the server accepted is
recorded as sent before the next one on that connection can be accepted: the mark's
statement goes to the database while the next message's envelope (MAIL, RCPT, DATA) goes to
the SMTP server, and that message's content, after which alone the server accepts it, leaves
only once the mark is committed (the transport calls ``settled()`` right before it). So a
later crash in the batch cannot send an accepted message again; a crash between the server's
acceptance and the mark's commit can, as before (then with the same Message-ID).
Several workers run at once (``dispatch(workers=N)``), each with its own SMTP connection and
its own database connection for the pass: on PostgreSQL each claims other rows (``SKIP
LOCKED``). A message keeps its Message-ID across attempts, so a resend after a crash is
recognisable by the receiving side.

SMTP connections persist through a pass: a worker takes one from the transport's pool for
a batch and gives it back after, so 10,000 messages go over as many connections as there
are workers, not one per batch (``dispatch`` closes them when the pass ends); one idle for
a while is checked with NOOP before it is used again, one the server dropped is replaced,
and a message whose connection broke mid-way is retried with backoff (it may have arrived)
while the rest of the batch goes over a new connection.
A message written with its bytes (``raw``, rendered ahead by the sweep) is sent as it is,
behind the transport's ``From`` line.

A message whose data cannot go into an e-mail (a line break or control character in the
recipient's name or the subject, an address that is no single ASCII ``local@domain``) is
refused, not repaired: it fails at once with a German reason, shown in the admin's
Postausgang, and the other messages go out. Cleaning a name silently would hide bad data
(or an attempt at header injection) that the admin should correct where it came from.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import errors as email_errors
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import EmailPolicy, Policy
from email.utils import format_datetime, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from engine import outbox
from engine.db import Database
from engine.outbox import Claimed, OutboxMessage
from engine.settings import Settings
from engine.text import line_problem

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 20  # seconds for connect and each command


#: Headers written as they are, unfolded (``List-Unsubscribe``: a URL in angle brackets).
_AS_IS = frozenset({"list-unsubscribe", "list-unsubscribe-post"})


class _MailPolicy(EmailPolicy):
    """Python's e-mail policy, but the Subject folded as RFC 2047 mailers always did.

    Python folds a header whose value would fit on a line of its own, but not after
    ``Subject:``, onto the next line (``Subject:\r\n Ladungsfrist abgelaufen …``); unfolded,
    the subject then starts with a blank, and Python's own parser (and others) show it so.
    Here the value starts on the header's line: plain ASCII folded at its spaces, anything
    else as UTF-8 encoded words of at most 75 characters."""

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _AS_IS and str(value).isascii():
            # A URL has no place to fold: as one line (RFC 5322 allows 998), never as encoded
            # words (which Python's folding makes of a long token, and no client reads as a URL).
            return f"{name}: {value}{self.linesep}".encode("ascii")
        if name.lower() != "subject":
            return super().fold_binary(name, value)
        text = str(value)
        charset = "us-ascii" if text.isascii() else "utf-8"
        folded = Header(text, charset, header_name=name).encode(linesep=self.linesep, maxlinelen=76)
        return f"{name}: {folded}{self.linesep}".encode("ascii")


#: What leaves by SMTP (CRLF), and what the embedded default writes as .eml files (LF).
SMTP_POLICY = _MailPolicy(linesep="\r\n")
DEFAULT_POLICY = _MailPolicy()
#: A batch stops sending this long before its claim runs out (another worker may take the
#: rest then); what it did not try is released at once.
LEASE_MARGIN = SMTP_TIMEOUT * 2
#: A pooled SMTP connection idle longer than this is checked with NOOP before it is used.
NOOP_AFTER = 1.0
#: One idle longer than this is closed instead (servers drop idle clients after minutes).
IDLE_LIMIT = 60.0

#: An outbox row as the transports read it: the ORM row, or the columns a claim returned.
Row = OutboxMessage | Claimed


class Unsendable(ValueError):
    """The message cannot be built from its row; the German reason is the text. Another
    attempt would fail the same way."""


def _one_line(value: str, what: str) -> str:
    problem = line_problem(value)
    if problem is not None:
        raise Unsendable(f"{what}: {problem}")
    return value


def recipient(row: Row) -> Address:
    """The To: of ``row``, checked: one ASCII addr-spec, a display name on one line."""
    address = _one_line(row.to_address, "Ungültige Empfängeradresse")
    if not address.isascii():  # no SMTPUTF8 here: the envelope could not carry it
        raise Unsendable("Ungültige Empfängeradresse: enthält Zeichen außerhalb von ASCII")
    name = _one_line(row.to_name or "", "Ungültiger Empfängername")
    try:
        return Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError, email_errors.HeaderParseError):
        raise Unsendable(f"Ungültige Empfängeradresse: {address}") from None


def build_email(row: Row, sender: str | None) -> EmailMessage:
    """The message of ``row``; :class:`Unsendable` when its data cannot go into the headers.

    Every header from data is checked here (the e-mail library refuses CR and LF, but lets
    NUL and other control characters through). Without ``sender``: no ``From`` (a message
    rendered ahead; the transport puts its ``From`` line in front when it sends it)."""
    to = recipient(row)
    subject = _one_line(row.subject, "Ungültiger Betreff")
    message = EmailMessage()
    if sender is not None:
        message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created or row.next_attempt_at)
    message["Auto-Submitted"] = "auto-generated"
    if row.list_unsubscribe:  # RFC 2369, one click per RFC 8058 (a POST, no login)
        message["List-Unsubscribe"] = f"<{_one_line(row.list_unsubscribe, 'Ungültiger Abmeldelink')}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(row.body_text)
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html")
    if row.calendar:
        # The bytes as written (CRLF, as iCalendar wants them), and their charset named: without
        # it a reader takes the part for ASCII and shows U+FFFD for every umlaut.
        message.add_attachment(row.calendar.encode(), maintype="text", subtype="calendar",
                               filename="sitzung.ics", params={"method": "PUBLISH", "charset": "utf-8"})
    return message


def encode(row: Row, sender: str | None, policy: Policy = SMTP_POLICY) -> bytes:
    """``row`` as the bytes that leave (CRLF line ends for SMTP)."""
    return build_email(row, sender).as_bytes(policy=policy)


def prebuild(row: OutboxMessage) -> bytes | None:
    """The bytes of ``row`` without its ``From`` line, for ``row.raw`` (encoded when the row
    is written, so that its moment only sends bytes); None when it cannot be built: the
    dispatcher builds it again then and records why it cannot leave."""
    try:
        return encode(row, None)
    except Exception:  # noqa: BLE001 - the dispatcher meets the same error and records it on the row
        return None


@lru_cache(maxsize=16)
def from_line(sender: str) -> bytes:
    """``From: <sender>\r\n`` as the SMTP policy encodes it (put before a prebuilt message)."""
    message = EmailMessage()
    message["From"] = sender
    return message.as_bytes(policy=SMTP_POLICY).split(b"\r\n\r\n", 1)[0] + b"\r\n"


@dataclass(frozen=True)
class Outcome:
    """What became of one message: accepted (no error), to retry, or ``permanent``ly refused."""

    error: str | None = None
    permanent: bool = False


ACCEPTED = Outcome()
#: Each message with its outcome, one after the other (the next leaves when asked for).
Deliveries = Generator[tuple[Row, Outcome], None, None]


def _internal(row: Row, exc: Exception) -> Outcome:
    """An error nobody expected while preparing one message: retried with backoff (the
    reason on the row, the traceback in the log), the batch goes on."""
    log.exception("e-mail %s to %s could not be prepared", row.message_id, row.to_address)
    return Outcome(f"Interner Fehler: {type(exc).__name__}: {exc}")


def _prepared(row: Row, sender: str, policy: Policy = SMTP_POLICY) -> bytes | Outcome:
    """The bytes of one message, or why it cannot leave (for good, or to retry)."""
    if row.raw is not None:  # encoded ahead with CRLF line ends (the SMTP policy)
        data = from_line(sender) + bytes(row.raw)
        return data if policy.linesep == "\r\n" else data.replace(b"\r\n", policy.linesep.encode())
    try:
        return encode(row, sender, policy)
    except Unsendable as exc:
        return Outcome(str(exc), permanent=True)
    except Exception as exc:  # noqa: BLE001 - recorded on the row and logged
        return _internal(row, exc)


def _nothing() -> None:
    return None


class Transport(Protocol):
    def deliver(self, rows: list[Claimed], settled: Callable[[], None] = _nothing) -> Deliveries:
        """Send the rows one after the other, yielding each with its outcome right after it
        was tried (the next one is tried only when the caller asks for it); ``settled()``
        right before a message's content leaves (it returns once the caller has recorded
        every outcome yielded before)."""
        ...

    def describe(self) -> str:
        ...

    def close(self) -> None:
        """Give up what is held between batches (the pooled connections)."""
        ...


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


#: An address that smtplib's ``quoteaddr`` returns as it is, in angle brackets.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def _angle(address: str) -> str:
    """``<address>`` for MAIL FROM and RCPT TO, as smtplib quotes it (without parsing a plain
    address: that parse, twice a message, cost a third of smtplib's own work per message)."""
    return f"<{address}>" if _PLAIN_ADDRESS.fullmatch(address) else smtplib.quoteaddr(address)


def _refused(client: smtplib.SMTP, code: int) -> None:
    """After a refusal, as ``sendmail``: closed on 421, else reset for the next message."""
    if code == 421:
        client.close()
        return
    try:
        client.rset()
    except smtplib.SMTPServerDisconnected:
        pass


#: A line that starts with a dot, which SMTP's DATA doubles (RFC 5321 4.5.2).
_DOT_LINE = re.compile(rb"(?m)^\.")


def _send(client: smtplib.SMTP, sender: str, to: str, data: bytes, settled: Callable[[], None]) -> None:
    """What ``client.sendmail`` does for one recipient, raising what it raises, with the
    addresses already in angle brackets, and ``settled()`` after the envelope (MAIL, RCPT,
    DATA) and before the content: the server accepts a message only at the end of its
    content, so the previous message's mark may still be on its way while this one's
    envelope goes. A content without a line that starts with a dot is sent as it is
    (smtplib's search for those with a regular expression took about 50 µs per message)."""
    client.ehlo_or_helo_if_needed()
    size = f" size={len(data)}" if client.does_esmtp and client.has_extn("size") else ""
    code, reply = client.docmd("mail", f"FROM:{sender}{size}")
    if code != 250:
        _refused(client, code)
        raise smtplib.SMTPSenderRefused(code, reply, sender)
    code, reply = client.docmd("rcpt", f"TO:{to}")
    if code not in (250, 251):
        _refused(client, code)
        raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
    code, reply = client.docmd("data")
    if code != 354:
        _refused(client, code)
        raise smtplib.SMTPDataError(code, reply)
    settled()
    if data.startswith(b".") or b"\n." in data:
        data = _DOT_LINE.sub(b"..", data)
    client.send(data + b".\r\n" if data.endswith(b"\r\n") else data + b"\r\n.\r\n")
    code, reply = client.getreply()
    if code != 250:
        _refused(client, code)
        raise smtplib.SMTPDataError(code, reply)


def _connection_kept(exc: Exception) -> bool:
    """The server refused this message and the connection is still in a known state (the
    client sent RSET); otherwise the connection is gone or in an unknown state."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code != 421


@dataclass
class SmtpTransport:
    """``smtp://user:pass@host:587?starttls=true`` or ``smtps://``; its connections persist
    between batches until :meth:`close` (a small pool: one per worker sending at the same
    time)."""

    url: str
    sender: str
    _idle: list[tuple[smtplib.SMTP, float]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def describe(self) -> str:
        parts = urlsplit(self.url)
        return f"SMTP {parts.hostname}:{parts.port or (465 if parts.scheme == 'smtps' else 25)}"

    def _connect(self) -> smtplib.SMTP:
        parts = urlsplit(self.url)
        query = parse_qs(parts.query)
        host = parts.hostname or "localhost"
        if parts.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, parts.port or 465, timeout=SMTP_TIMEOUT,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, parts.port or 25, timeout=SMTP_TIMEOUT)
            if query.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"}:
                client.starttls(context=ssl.create_default_context())
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        return client

    def _checkout(self) -> smtplib.SMTP:
        """A pooled connection that still answers, else a new one."""
        while True:
            with self._lock:
                if not self._idle:
                    break
                client, since = self._idle.pop()
            idle = time.monotonic() - since
            if idle < NOOP_AFTER:
                return client
            if idle < IDLE_LIMIT:
                try:
                    if client.noop()[0] == 250:
                        return client
                except (OSError, smtplib.SMTPException):
                    pass
            _quit(client)
        return self._connect()

    def _checkin(self, client: smtplib.SMTP) -> None:
        with self._lock:
            self._idle.append((client, time.monotonic()))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for client, _ in idle:
            _quit(client)

    def deliver(self, rows: list[Claimed], settled: Callable[[], None] = _nothing) -> Deliveries:
        envelope_from = _angle(parseaddr(self.sender)[1])
        client: smtplib.SMTP | None = None
        sending = False  # inside an SMTP transaction: the connection's state is unknown
        try:
            for position, row in enumerate(rows):
                data = _prepared(row, self.sender)
                if isinstance(data, Outcome):
                    yield row, data
                    continue
                if client is None:
                    try:
                        client = self._checkout()
                    except (OSError, smtplib.SMTPException) as exc:
                        for rest in rows[position:]:
                            yield rest, Outcome(f"SMTP nicht erreichbar: {exc}")
                        return
                try:
                    sending = True
                    _send(client, envelope_from, _angle(row.to_address), data, settled)
                    sending = False
                except (OSError, smtplib.SMTPException) as exc:
                    sending = False
                    if _connection_kept(exc):
                        yield row, Outcome(f"{type(exc).__name__}: {exc}")
                        continue
                    # Gone mid-way: this one may have arrived (retried with backoff, same
                    # Message-ID); the rest of the batch over a new connection.
                    _quit(client)
                    client = None
                    yield row, Outcome(f"Verbindung getrennt: {type(exc).__name__}: {exc}")
                    continue
                yield row, ACCEPTED
        finally:
            if client is not None:
                if sending:  # something nobody caught left it mid-transaction
                    client.close()
                else:
                    self._checkin(client)


@dataclass
class FolderTransport:
    """The embedded default: each message an .eml file in ``<instance>/mail``."""

    path: Path
    sender: str

    def describe(self) -> str:
        return f"Ordner {self.path}"

    def close(self) -> None:
        return None

    def deliver(self, rows: list[Claimed], settled: Callable[[], None] = _nothing) -> Deliveries:
        self.path.mkdir(parents=True, exist_ok=True)
        for row in rows:
            assert row.id is not None
            data = _prepared(row, self.sender, DEFAULT_POLICY)
            if isinstance(data, Outcome):
                yield row, data
                continue
            target = self.path / f"{row.id:08d}.eml"
            temporary = target.with_suffix(".tmp")
            temporary.write_bytes(data)
            settled()
            os.replace(temporary, target)
            yield row, ACCEPTED


def transport_for(settings: Settings) -> Transport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url, settings.mail_from)
    return FolderTransport(settings.mail_path, settings.mail_from)


@dataclass
class DispatchReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, other: DispatchReport) -> None:
        with self._lock:
            self.sent += other.sent
            self.retried += other.retried
            self.failed += other.failed


def _settle(database: Database, connection: outbox.DispatchConnection, row: Row, outcome: Outcome,
            now: datetime, report: DispatchReport) -> None:
    """One message's outcome, committed before the next one can be accepted.

    On the hot path: one UPDATE, committed on its own, on the dispatcher's connection
    (``engine.outbox.DispatchConnection``; on PostgreSQL awaited before the next content
    leaves)."""
    assert row.id is not None
    if outcome.error is None:
        connection.sent(row.id, now)
        report.sent += 1
        return
    with database.unit_of_work() as s:
        status = outbox.settle_failed(s, row.id, now, outcome.error, permanent=outcome.permanent)
    if status == outbox.FAILED:
        report.failed += 1
        log.error("e-mail %s to %s failed for good: %s", row.message_id, row.to_address, outcome.error)
    else:
        report.retried += 1


def dispatch_batch(database: Database, transport: Transport, now: datetime | Callable[[], datetime],
                   batch: int = 100, connection: outbox.DispatchConnection | None = None,
                   ) -> DispatchReport | None:
    """Claim one batch, send and settle it message by message; None when nothing was waiting.

    ``now`` is a moment or a clock; with a clock the batch stops sending
    :data:`LEASE_MARGIN` before its claim runs out and releases what it did not try.
    ``connection``: the dispatcher's for its pass (else one for this batch)."""
    if connection is None:
        with outbox.dispatching(database.engine) as own:
            return dispatch_batch(database, transport, now, batch, own)
    clock: Callable[[], datetime] = now if callable(now) else (lambda: now)
    claimed_at = clock()
    rows = connection.claim(claimed_at, batch)
    if not rows:
        return None
    report = DispatchReport()
    stop_at = claimed_at + outbox.LEASE - timedelta(seconds=LEASE_MARGIN)
    settled: set[int] = set()
    deliveries = transport.deliver(rows, connection.wait)
    try:
        for row, outcome in deliveries:
            moment = clock()
            _settle(database, connection, row, outcome, moment, report)
            settled.add(row.id or 0)
            if moment >= stop_at:
                break
    finally:
        deliveries.close()
    connection.wait()  # the batch's last mark
    untried = [r.id for r in rows if r.id not in settled]
    if untried:
        with database.unit_of_work() as s:
            outbox.release(s, untried)
    return report


class Producing:
    """Outbox rows still being written by a producer beside the delivery (a sweep firing
    reminders in batches): the workers wait for its next committed batch instead of ending."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open = True
        self.batches = 0

    def added(self) -> None:
        with self._changed:
            self.batches += 1
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._open = False
            self._changed.notify_all()

    def more(self, seen: int) -> bool:
        """Wait until a batch after ``seen`` committed (True) or the producer is done (False)."""
        with self._changed:
            self._changed.wait_for(lambda: self.batches != seen or not self._open)
            return self.batches != seen


def dispatch(database: Database, transport: Transport, now: datetime | Callable[[], datetime],
             batch: int = 100, workers: int = 1, producing: Producing | None = None) -> DispatchReport:
    """Send everything that is waiting; returns when nothing claimable is left (and, with
    ``producing``, once its producer is done).

    ``now`` is a moment or a clock. A batch that failed is not retried before its backoff,
    so a server that is down ends the pass instead of spinning.
    """
    clock: Callable[[], datetime] = now if callable(now) else (lambda: now)
    total = DispatchReport()

    def work() -> None:
        with outbox.dispatching(database.engine) as connection:
            while True:
                seen = producing.batches if producing is not None else 0
                report = dispatch_batch(database, transport, clock, batch, connection)
                if report is None:
                    if producing is not None and producing.more(seen):
                        continue
                    return
                total.add(report)
                if report.sent == 0 and report.failed == 0:  # the server refuses everything: the backoff
                    return

    try:
        if workers <= 1:
            work()
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="outbox") as pool:
                for future in [pool.submit(work) for _ in range(workers)]:
                    future.result()
    finally:
        transport.close()  # the connections persist for the pass, not while nothing is due
    return total
