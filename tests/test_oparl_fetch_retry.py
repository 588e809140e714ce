"""The OParl fetcher honours ``Retry-After`` (429/503), capped; the importer reports progress
to a callback its caller supplies (the engine draws no progress bar)."""

from __future__ import annotations

import ast
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.oparl.fetch import RETRY_AFTER_MAX, Fetcher, OutOfTime, retry_after

from .conftest import PROJECT


class Busy:
    """A server on loopback that answers ``status`` with ``Retry-After: wait`` ``times`` times, then 200."""

    def __init__(self, status: int, wait: str, times: int = 1) -> None:
        self.left = times
        self.hits = 0
        busy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                busy.hits += 1
                if busy.left > 0:
                    busy.left -= 1
                    self.send_response(status)
                    self.send_header("Retry-After", wait)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/system"

    def __enter__(self) -> Busy:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def pauses() -> list[float]:
    return []


def fetch(server: Busy, pauses: list[float]) -> bytes:
    with Fetcher(sleep=pauses.append, backoff=lambda _attempt: 0.25, allow_private=True, timeout=5) as fetcher:
        fetcher.add_source(server.url)
        return fetcher.get(server.url)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_is_waited_for(status: int, pauses: list[float]) -> None:
    with Busy(status, "1") as server:
        assert fetch(server, pauses) == b'{"ok": true}'
    assert server.hits == 2
    assert pauses == [1.0]  # the server's wish, not the backoff's 0.25


def test_retry_after_as_an_http_date(pauses: list[float]) -> None:
    with Busy(429, format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)) as server:
        assert fetch(server, pauses) == b'{"ok": true}'
    assert len(pauses) == 1 and 25 <= pauses[0] <= 30


def test_a_long_retry_after_is_capped(pauses: list[float]) -> None:
    with Busy(429, "86400") as server:
        fetch(server, pauses)
    assert pauses == [RETRY_AFTER_MAX]


def test_without_retry_after_the_backoff_applies(pauses: list[float]) -> None:
    with Busy(503, "") as server:
        fetch(server, pauses)
    assert pauses == [0.25]


def test_a_retry_after_beyond_the_run_time_ends_the_fetch_as_out_of_time(pauses: list[float]) -> None:
    with Busy(429, "30") as server, \
            Fetcher(sleep=pauses.append, allow_private=True, timeout=5) as fetcher:
        fetcher.add_source(server.url)
        fetcher.deadline = time.monotonic() + 5
        with pytest.raises(OutOfTime):
            fetcher.get(server.url)
    assert pauses == []


def test_retry_after_parsing() -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert retry_after("2") == 2.0
    assert retry_after(None) is None and retry_after("bald") is None
    assert retry_after("Tue, 01 Dec 2026 09:00:10 GMT", now) == 10.0
    assert retry_after("Tue, 01 Dec 2026 08:00:00 GMT", now) == 0.0  # in the past: at once


def test_the_engine_draws_no_progress_bar() -> None:
    """The importer reports to a callback; the bar (tqdm) belongs to the CLI."""
    for path in (PROJECT / "engine").rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom)}
        assert "tqdm" not in imported, path


def test_the_cli_draws_the_bar_from_the_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from web.cli import _progress_bar

    with _progress_bar(True) as report:  # not a terminal: no bar
        assert report is None
    screen = io.StringIO()
    monkeypatch.setattr(screen, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(sys, "stderr", screen)
    with _progress_bar(True) as report:
        assert report is not None
        report(10, 0, "paper")
        report(0, 4, "1 Seiten, paper")
    assert "4/10" in screen.getvalue() and "1 Seiten, paper" in screen.getvalue()
    with _progress_bar(False) as report:
        assert report is None
