"""Production serving: ``ratsflow serve --workers N`` (gunicorn, ``web/gunicorn_conf.py``) as a
real process on PostgreSQL with the login counters in Redis; what it refuses; the script
sandbox in forked processes."""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
from click.testing import CliRunner

from engine.workflow import sandbox
from web.cli import main

from .load_scenario import prepare
from .serving import Client, Server, complete_tasks, free_port, ratsflow_env

REDIS_URL = os.environ.get("RATSFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.mark.parametrize(("backend", "storage", "message"), [
    ("sqlite", "redis://127.0.0.1:6379", "mehrere Web-Prozesse nur mit PostgreSQL"),
    ("postgresql", "memory://", "RATSFLOW_RATELIMIT_STORAGE=redis://host:6379 setzen"),
    ("postgresql", "redis://127.0.0.1:{closed}", "ist nicht erreichbar"),
])
def test_several_workers_are_refused_where_they_cannot_share(tmp_path, backend, storage, message):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'x.sqlite'}" if backend == "sqlite" \
        else "postgresql://postgres@127.0.0.1:5432/gibt_es_nicht"
    env = {"DATABASE_URL": url, "RATSFLOW_INSTANCE_PATH": str(tmp_path),
           "RATSFLOW_RATELIMIT_STORAGE": storage.format(closed=free_port())}
    result = CliRunner().invoke(main, ["serve", "--workers", "2"], env=env)
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "x.sqlite").exists()  # refused before anything was touched


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_serve_with_two_workers_completes_tasks_and_counts_logins_together(database, tmp_path):  # type: ignore[no-untyped-def]
    prepared = prepare(database, tasks=8, meetings=1)
    settings = database.settings
    env = ratsflow_env(settings.database_url, settings.instance_path, RATSFLOW_RATELIMIT_STORAGE=REDIS_URL,
                       RATSFLOW_LOGIN_FAILURES="3")
    with Server(env, 2) as server:
        # Both workers run the models' scripts in their own sandbox pools: every task is done.
        done = complete_tasks(server.port, prepared.token, prepared.jobs, clients=4)
        statuses = {task: codes for task, codes in done.statuses.items() if codes != [200]}
        assert statuses == {} and done.completed == 8, done.errors

        # Failed logins are counted by both workers together (in Redis): each attempt on a new
        # connection, whichever worker takes it; the 4th is refused unchecked.
        nobody = f"niemand-{uuid.uuid4().hex[:8]}"
        answers = []
        for _ in range(4):
            client = Client(server.port)
            status, page = client.request("GET", "/anmelden")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.decode())
            assert token is not None
            client.csrf = token.group(1)
            answers.append(client.post_form("/anmelden", {"username": nobody, "password": "falsch"})[0])
            client.close()
        assert answers == [401, 401, 401, 429]

        started = re.search(r"Scheduler als Prozess (\d+)", "".join(server.log.lines))
        assert started, server.log.tail()
        scheduler_pid = int(started.group(1))
        assert _alive(scheduler_pid)
    assert server.process.returncode == 0
    assert not _alive(scheduler_pid)  # stopped with the server, not left behind


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_forked_child_starts_its_own_sandbox_pool_and_holds_none_of_the_parents_pipes() -> None:
    pool = sandbox.pool()
    assert pool.run("eval", "6 * 7", {}, {}) == 42
    started = pool.started
    inherited = [fd for worker in list(pool._workers) for fd in (worker.stdin.fileno(), worker.stdout.fileno())]
    assert inherited
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 0
        try:
            for fd in inherited:
                try:
                    os.fstat(fd)
                    code |= 1  # a parent's pipe is still open here
                except OSError:
                    pass
            own = sandbox.pool()
            code |= 2 if own is pool or own.pid != os.getpid() else 0
            code |= 4 if own.run("eval", "6 * 7", {}, {}) != 42 else 0
            own.close()
        except BaseException:
            code |= 8
        os._exit(code)
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # polling the child's end with a bound
    assert done == pid and os.waitstatus_to_exitcode(status) == 0
    # The parent's worker was left alone by the child: used again, none started.
    assert pool.run("eval", "6 * 7", {}, {}) == 42
    assert sandbox.pool() is pool and pool.started == started
