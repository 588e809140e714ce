"""The app served in a process of its own for a benchmark, with server-side timers.

A benchmark starts this (``TimedServer`` below) against its database, talks HTTP to it from
its own process, and reads what the server measured over HTTP:

* every request's wall time and the serving thread's CPU time around Flask's WSGI call
  (routing, login lookup, SQL, rendering, the teardown that ends the unit of work):
  ``GET /_bench/times`` returns ``[[wall_s, cpu_s], …]`` since the last call and forgets them;
* the time between the first ``before_request`` and the last ``after_request`` hook, sent back
  with each response as ``Server-Timing: app;dur=<ms>``;
* ``GET /_bench/prepared?like=<SQL LIKE pattern>``: the statements psycopg prepared on the
  app's pooled connections that match, and how often PostgreSQL ran them with a generic or
  a custom plan.

Served by werkzeug's threaded server on 127.0.0.1 (a free port, printed as ``port N`` on
stdout once listening). The clock may be fixed (``--now``), so data and requests share one
"today".
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def timed_app(app: Any) -> Any:
    """``app`` with the timers and the ``/_bench/`` answers around it (a WSGI callable)."""
    from flask import g

    times: list[tuple[float, float]] = []
    inner = app.wsgi_app

    def answer(start_response: Callable[..., Any], value: Any) -> list[bytes]:
        body = json.dumps(value).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    def timed(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/_bench/times":
            taken = times[:]
            del times[:len(taken)]
            return answer(start_response, taken)
        if path == "/_bench/prepared":
            from urllib.parse import parse_qs
            like = parse_qs(environ.get("QUERY_STRING", "")).get("like", ["%"])[0]
            return answer(start_response, prepared(app, like))
        t0, c0 = time.perf_counter(), time.thread_time()
        body = inner(environ, start_response)
        times.append((time.perf_counter() - t0, time.thread_time() - c0))
        return body  # type: ignore[no-any-return]

    def started() -> None:
        g.bench_t0 = time.perf_counter()

    def finished(response: Any) -> Any:
        if "bench_t0" in g:
            response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - g.bench_t0) * 1000:.3f}"
        return response

    app.wsgi_app = timed
    app.before_request_funcs.setdefault(None, []).insert(0, started)
    app.after_request_funcs.setdefault(None, []).insert(0, finished)  # run in reverse: last
    return app


def prepared(app: Any, like: str) -> dict[str, int]:
    """psycopg prepares a statement after 5 executions on a connection, and PostgreSQL may
    then switch to a generic plan: which plans the matching statements got, on every pooled
    connection (all idle ones are checked out at once, so each is asked)."""
    engine = app.extensions["ratsflow.db"].engine
    raws = [engine.raw_connection() for _ in range(max(engine.pool.checkedin(), 1))]
    statements = generic = custom = 0
    try:
        for raw in raws:
            for _, generic_plans, custom_plans in raw.driver_connection.execute(
                    "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE %s", [like]).fetchall():
                statements, generic, custom = statements + 1, generic + generic_plans, custom + custom_plans
            raw.driver_connection.rollback()
    finally:
        for raw in raws:
            raw.close()
    return {"connections": len(raws), "statements": statements, "generic": generic, "custom": custom}


class TimedServer:
    """This module run as a child process; ``port`` once it listens."""

    def __init__(self, database_url: str, instance: Path, now: datetime | None = None) -> None:
        command = [sys.executable, str(Path(__file__).resolve()), "--database-url", database_url,
                   "--instance", str(instance)]
        if now is not None:
            command += ["--now", now.isoformat()]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, env=env, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("port "):
            self.close()
            raise RuntimeError(f"the server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.pid = self.process.pid

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--instance", required=True, type=Path)
    parser.add_argument("--now", type=datetime.fromisoformat, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from werkzeug.serving import make_server

    from engine.settings import load_settings
    from web import create_app

    settings = load_settings(env={}, database_url=args.database_url, instance_path=args.instance,
                             scheduler_in_process=False, secret_key="bench")
    app = create_app(settings, upgrade=False)
    if args.now is not None:
        now = args.now
        app.extensions["ratsflow.clock"] = lambda: now
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = make_server("127.0.0.1", 0, timed_app(app), threaded=True)
    print(f"port {server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        app.extensions["ratsflow.db"].dispose()


if __name__ == "__main__":
    main()
