"""What an operator sees and what the links say (issue 22): ``ratsflow serve --port N``
without ``RATSFLOW_BASE_URL`` links to where it serves, a base URL that cannot reach it is
warned about at start-up; the scheduler's console holds one INFO line per sweep, the
engine's chatter only at DEBUG."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from engine.settings import PROJECT_ROOT, base_url_warning, served_base_url


def _env(**more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RATSFLOW_") and k != "DATABASE_URL"}
    env.update(more)
    return env


def _scheduler_once(settings, moment: str, **more: str) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "web.cli", "scheduler", "--once", "--now", moment], cwd=PROJECT_ROOT,
        env=_env(DATABASE_URL=settings.database_url, RATSFLOW_INSTANCE_PATH=str(settings.instance_path),
                 RATSFLOW_BASE_URL="https://rat.example.org", **more),
        capture_output=True, text=True, timeout=120, check=True)


def test_the_scheduler_console_is_one_line_per_sweep(demo, settings):  # type: ignore[no-untyped-def]
    # At DEBUG the engine's steps are there to read (so the filter below has something to filter).
    chatty = _scheduler_once(settings, "2026-12-05T09:00+01:00", RATSFLOW_LOG_LEVEL="DEBUG")
    assert " DEBUG spiff." in chatty.stderr
    # 20.12.: the demo's sessions have begun, timers fire, reminders go out (much to tell).
    quiet = _scheduler_once(settings, "2026-12-20T09:00+01:00")
    lines = [line for line in quiet.stderr.splitlines() if line.strip()]
    assert not [line for line in lines if " spiff." in line or " apscheduler" in line]
    sweeps = [line for line in lines if " INFO notifications.sweep: sweep at " in line]
    assert len(sweeps) == 1 and "Erinnerungen ausgelöst" in sweeps[0]
    assert [line for line in lines if " INFO " in line] == sweeps


def test_a_scheduler_without_a_base_url_says_where_its_links_lead(demo, settings):  # type: ignore[no-untyped-def]
    done = subprocess.run(
        [sys.executable, "-m", "web.cli", "scheduler", "--once", "--now", "2026-12-20T09:00+01:00"],
        cwd=PROJECT_ROOT, env=_env(DATABASE_URL=settings.database_url,
                                   RATSFLOW_INSTANCE_PATH=str(settings.instance_path)),
        capture_output=True, text=True, timeout=120, check=True)
    assert "RATSFLOW_BASE_URL ist nicht gesetzt" in done.stderr and "http://127.0.0.1:5000" in done.stderr


def test_a_base_url_that_cannot_reach_the_server_is_named() -> None:
    assert base_url_warning("http://127.0.0.1:5000", "127.0.0.1", 5101) == (
        "RATSFLOW_BASE_URL=http://127.0.0.1:5000 passt nicht zur Adresse, unter der ratsflow läuft "
        "(127.0.0.1:5101): Links in E-Mails und Kalendern führen auf Port 5000.")
    assert "andere Rechner" in (base_url_warning("http://localhost:8000", "0.0.0.0", 8000) or "")
    # A proxy's address in front of the server is its own business; a matching one is fine.
    assert base_url_warning("https://ratsinfo.example.org", "127.0.0.1", 5101) is None
    assert base_url_warning("http://127.0.0.1:5101", "127.0.0.1", 5101) is None
    assert served_base_url("127.0.0.1", 5101) == "http://127.0.0.1:5101"
    assert served_base_url("::1", 5101) == "http://[::1]:5101"
    assert served_base_url("0.0.0.0", 8080) == f"http://{socket.getfqdn()}:8080"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, port: int, **more: str) -> tuple[subprocess.Popen[str], list[str]]:
    """``ratsflow serve --demo --port`` in its own process; returns once it answers (its own
    log line says so), with what it printed until then."""
    process = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--demo", "--port", str(port)], cwd=PROJECT_ROOT,
        env=_env(RATSFLOW_INSTANCE_PATH=str(tmp_path), RATSFLOW_SCHEDULER="false", **more),
        stderr=subprocess.STDOUT, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    printed: list[str] = []
    for line in process.stdout:  # blocks until the next line: no polling, no sleep
        printed.append(line)
        if "Running on" in line:
            return process, printed
    raise AssertionError("".join(printed))


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.communicate(timeout=30)  # reads and closes its output


def test_serve_on_another_port_links_there(tmp_path: Path) -> None:
    port = _free_port()
    process, printed = _serve(tmp_path, port)
    try:
        assert f"Links in E-Mails und Kalendern: http://127.0.0.1:{port} " in "".join(printed)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/kalender.ics", timeout=30) as response:
            feed = response.read().decode()
        urls = [line for line in feed.splitlines() if line.startswith("URL")]
        assert urls and all(f"http://127.0.0.1:{port}/sitzungen/" in u for u in urls)
    finally:
        _stop(process)


def test_serve_warns_when_the_base_url_misses_it(tmp_path: Path) -> None:
    port = _free_port()
    process, printed = _serve(tmp_path, port, RATSFLOW_BASE_URL="http://127.0.0.1:5000")
    _stop(process)
    assert f"Warnung: RATSFLOW_BASE_URL=http://127.0.0.1:5000 passt nicht zur Adresse, unter der ratsflow " \
        f"läuft (127.0.0.1:{port})" in "".join(printed)
