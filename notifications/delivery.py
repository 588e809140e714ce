"""Delivery of the outbox: over SMTP (``RATSFLOW_SMTP_URL``), or into a folder.

``dispatch`` claims waiting rows (``engine.outbox.claim``: one short unit of work), sends
them outside any transaction, and settles each (sent, retried with backoff, failed after
the last attempt). Several workers may run at once: on PostgreSQL each claims other rows
(``SKIP LOCKED``). A message keeps its Message-ID across attempts, so a resend after a
crash is recognisable by the receiving side.
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from engine import outbox
from engine.db import Database
from engine.outbox import OutboxMessage
from engine.settings import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT = 20  # seconds for connect and each command


def build_email(row: OutboxMessage, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = formataddr((row.to_name or "", row.to_address))
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = format_datetime(row.created or row.next_attempt_at)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(row.body_text)
    if row.body_html:
        message.add_alternative(row.body_html, subtype="html")
    if row.calendar:
        message.add_attachment(row.calendar.encode(), maintype="text", subtype="calendar",
                               filename="sitzung.ics", params={"method": "PUBLISH"})
    return message


class Transport(Protocol):
    def send(self, rows: list[OutboxMessage]) -> dict[int, str | None]:
        """Send each row; the error per row id, or None when it was accepted."""
        ...

    def describe(self) -> str:
        ...


@dataclass
class SmtpTransport:
    """One connection per batch; ``smtp://user:pass@host:587?starttls=true`` or ``smtps://``."""

    url: str
    sender: str

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

    def send(self, rows: list[OutboxMessage]) -> dict[int, str | None]:
        results: dict[int, str | None] = {}
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            return {r.id: f"SMTP nicht erreichbar: {exc}" for r in rows if r.id is not None}
        try:
            envelope_from = parseaddr(self.sender)[1]
            for row in rows:
                assert row.id is not None
                try:
                    # Flattened once here; send_message would flatten again to find addresses.
                    client.sendmail(envelope_from, [row.to_address],
                                    build_email(row, self.sender).as_bytes(policy=SMTP_POLICY))
                    results[row.id] = None
                except smtplib.SMTPServerDisconnected as exc:
                    results[row.id] = f"Verbindung getrennt: {exc}"
                    break
                except (OSError, smtplib.SMTPException) as exc:
                    results[row.id] = f"{type(exc).__name__}: {exc}"
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()
        for row in rows:  # after a disconnect the rest was not tried
            if row.id is not None and row.id not in results:
                results[row.id] = "nicht versucht (Verbindung getrennt)"
        return results


@dataclass
class FolderTransport:
    """The embedded default: each message an .eml file in ``<instance>/mail``."""

    path: Path
    sender: str

    def describe(self) -> str:
        return f"Ordner {self.path}"

    def send(self, rows: list[OutboxMessage]) -> dict[int, str | None]:
        self.path.mkdir(parents=True, exist_ok=True)
        results: dict[int, str | None] = {}
        for row in rows:
            assert row.id is not None
            target = self.path / f"{row.id:08d}.eml"
            temporary = target.with_suffix(".tmp")
            temporary.write_bytes(bytes(build_email(row, self.sender)))
            os.replace(temporary, target)
            results[row.id] = None
        return results


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


def dispatch_batch(database: Database, transport: Transport, now: datetime,
                   batch: int = 100) -> DispatchReport | None:
    """Claim, send and settle one batch; None when nothing was waiting."""
    with database.unit_of_work() as s:
        rows = outbox.claim(s, now, batch)
    if not rows:
        return None
    results = transport.send(rows)
    report = DispatchReport()
    errors = {r.id: results.get(r.id, "nicht versucht") for r in rows if r.id is not None}
    with database.unit_of_work() as s:
        sent = [message_id for message_id, error in errors.items() if error is None]
        outbox.settle_sent(s, sent, now)
        report.sent = len(sent)
        for row in rows:
            error = errors[row.id]  # type: ignore[index]
            if error is None:
                continue
            status = outbox.settle_failed(s, row.id, now, error)  # type: ignore[arg-type]
            if status == outbox.FAILED:
                report.failed += 1
                log.error("e-mail %s to %s failed for good: %s", row.message_id, row.to_address, error)
            else:
                report.retried += 1
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
        while True:
            seen = producing.batches if producing is not None else 0
            report = dispatch_batch(database, transport, clock(), batch)
            if report is None:
                if producing is not None and producing.more(seen):
                    continue
                return
            total.add(report)
            if report.sent == 0:  # the server refuses everything: wait for the backoff
                return

    if workers <= 1:
        work()
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="outbox") as pool:
            for future in [pool.submit(work) for _ in range(workers)]:
                future.result()
    return total
