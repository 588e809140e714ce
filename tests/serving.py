"""Real processes for the serving and load tests (and the benchmarks that share them): a
``ratsflow serve --workers N`` on a free loopback port, ``ratsflow scheduler`` processes, and a
small keep-alive HTTP client (``http.client``) that logs in like a browser or sends a token.

Nothing here waits a fixed time: every wait polls for its condition, with a bound.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

PROJECT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ratsflow_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment of a ratsflow process against this database and instance folder; the
    project is imported from this checkout (not from wherever the venv points)."""
    env = {**os.environ, "DATABASE_URL": database_url, "RATSFLOW_INSTANCE_PATH": str(instance),
           "RATSFLOW_SECRET_KEY": "test-secret", "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([str(PROJECT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.update(extra)
    return env


def ratsflow(*args: str, env: dict[str, str], **popen: Any) -> subprocess.Popen[str]:
    """``ratsflow ARGS`` as a child process (``python -m web.cli``), output as text."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "web.cli", *args], cwd=PROJECT, env=env, text=True,
                            **popen)


class Lines:
    """Reads a process's output (stdout and stderr merged into one stream) in a thread."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self.arrived: list[float] = []  # time.perf_counter() of each line
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line)
                self.arrived.append(time.perf_counter())
                self.changed.notify_all()

    def when(self, text: str) -> float | None:
        """When the first line with ``text`` arrived (``time.perf_counter()``)."""
        with self.changed:
            return next((t for line, t in zip(self.lines, self.arrived, strict=True) if text in line), None)

    def wait_for(self, text: str, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: any(text in line for line in self.lines), timeout)

    def tail(self, n: int = 20) -> str:
        with self.changed:
            return "".join(self.lines[-n:])


def end(process: subprocess.Popen[str] | None, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Stop the process (if it still runs) and close its pipes."""
    if process is None:
        return
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    for pipe in (process.stdout, process.stderr, process.stdin):
        if pipe is not None:
            pipe.close()


class Server:
    """``ratsflow serve --workers N`` in its own process group, started and waited for."""

    def __init__(self, env: dict[str, str], workers: int, *args: str) -> None:
        self.port = free_port()
        self.process = ratsflow("serve", "--workers", str(workers), "--port", str(self.port), *args,
                                env=env, stderr=subprocess.STDOUT)
        self.log = Lines(self.process.stdout)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 120) -> None:
        """Until ``/healthz`` answers 200 (each worker imports the app after the fork)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ratsflow serve ended ({self.process.returncode}):\n{self.log.tail()}")
            probe = Client(self.port, timeout=5)
            try:
                if probe.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            finally:
                probe.close()
            with self.log.changed:  # woken by new output, else polls again shortly
                self.log.changed.wait(0.2)
        raise RuntimeError(f"ratsflow serve not ready after {timeout} s:\n{self.log.tail()}")

    def stop(self) -> None:
        end(self.process)

    def __enter__(self) -> Server:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Client:
    """One keep-alive connection; a cookie jar (one session) and an optional bearer token."""

    def __init__(self, port: int, token: str | None = None, timeout: float = 60) -> None:
        self.port, self.token, self.timeout = port, token, timeout
        self.cookies: dict[str, str] = {}
        self.csrf = ""
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        sent = dict(headers or {})
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=sent)
                response = self.conn.getresponse()
                data = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed an idle keep-alive connection: once more on a new one
                # (only before an answer was read, so nothing is sent twice that was answered).
                self.close()
                if attempt == 2:
                    raise
                continue
            for header in response.headers.get_all("Set-Cookie") or []:
                cookie = SimpleCookie()
                cookie.load(header)
                for key, morsel in cookie.items():
                    self.cookies[key] = morsel.value
            if response.headers.get("Connection", "").lower() == "close":
                self.close()
            return response.status, data
        raise AssertionError("unreachable")

    def post_json(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        status, data = self.request("POST", path, json.dumps(payload).encode(),
                                    {"Content-Type": "application/json"})
        try:
            return status, json.loads(data) if data else None
        except ValueError:
            return status, data.decode("utf-8", "replace")

    def post_form(self, path: str, fields: dict[str, str]) -> tuple[int, bytes]:
        return self.request("POST", path, urlencode({**fields, "csrf_token": self.csrf}).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def login(self, username: str, password: str) -> Client:
        status, page = self.request("GET", "/anmelden")
        found = _CSRF.search(page.decode())
        assert status == 200 and found, (status, page[:300])
        self.csrf = found.group(1)
        status, page = self.post_form("/anmelden", {"username": username, "password": password})
        assert status == 302, (status, page[:300])
        status, page = self.request("GET", "/")  # a new session has a new CSRF token (its logout form)
        found = _CSRF.search(page.decode())
        assert status == 200 and found, (status, page[:300])
        self.csrf = found.group(1)
        return self

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ----------------------------------------------------------------------------- load

@dataclass(frozen=True)
class Job:
    task_id: int
    version: int
    meeting_id: int


@dataclass
class Outcome:
    """What the clients were answered: per task the statuses, per request the seconds."""

    statuses: dict[int, list[int]] = field(default_factory=dict)
    seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0

    @property
    def completed(self) -> int:
        return sum(codes.count(200) for codes in self.statuses.values())

    @property
    def rate(self) -> float:
        return self.completed / (self.ended - self.started) if self.ended > self.started else 0.0

    def percentile(self, p: float) -> float:
        """Milliseconds."""
        if not self.seconds:
            return 0.0
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    @property
    def median_ms(self) -> float:
        return statistics.median(self.seconds) * 1000 if self.seconds else 0.0


def complete_tasks(port: int, token: str, jobs: Sequence[Job], clients: int,
                   duplicate_every: int = 0) -> Outcome:
    """``clients`` connections complete the jobs (dealt out in turn); with
    ``duplicate_every`` n, every n-th job is sent by a second client too, with the same
    expected version: one of the two must be answered 409."""
    lists: list[list[Job]] = [list(jobs[i::clients]) for i in range(clients)]
    if duplicate_every and clients > 1:
        for i, job in enumerate(jobs):
            if i % duplicate_every == 0:  # at about the place the first client sends it
                other = lists[(i + 1) % clients]
                other.insert(min(len(other), i // clients), job)
    outcome = Outcome()
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def work(mine: list[Job]) -> None:
        client = Client(port, token=token)
        try:
            client.request("GET", "/healthz")  # connected before the clock starts
            ready.wait()
            for job in mine:
                t0 = time.perf_counter()
                try:
                    status, body = client.post_json(f"/api/v1/tasks/{job.task_id}/complete", {
                        "data": {"meeting_id": job.meeting_id}, "expected_version": job.version})
                except OSError as exc:
                    with lock:
                        outcome.errors.append(f"task {job.task_id}: {exc!r}")
                    continue
                took = time.perf_counter() - t0
                with lock:
                    outcome.statuses.setdefault(job.task_id, []).append(status)
                    outcome.seconds.append(took)
                    if status not in (200, 409):
                        outcome.errors.append(f"task {job.task_id}: {status} {str(body)[:300]}")
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(mine,), daemon=True) for mine in lists]
    for thread in threads:
        thread.start()
    ready.wait()
    outcome.started = time.perf_counter()
    for thread in threads:
        thread.join()
    outcome.ended = time.perf_counter()
    return outcome




def get_many(port: int, path: str, clients: int, count: int) -> Outcome:
    """``count`` GET requests of ``path`` from ``clients`` connections (a floor to compare with)."""
    outcome = Outcome()
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def work(share: int) -> None:
        client = Client(port)
        try:
            client.request("GET", path)
            ready.wait()
            for _ in range(share):
                t0 = time.perf_counter()
                status, _body = client.request("GET", path)
                with lock:
                    outcome.seconds.append(time.perf_counter() - t0)
                    outcome.statuses.setdefault(0, []).append(status)
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(count // clients,), daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    outcome.started = time.perf_counter()
    for thread in threads:
        thread.join()
    outcome.ended = time.perf_counter()
    return outcome
