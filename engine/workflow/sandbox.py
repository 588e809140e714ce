"""Where expressions and scripts inside BPMN models run: a pool of worker processes.

SpiffWorkflow's default script engine is plain ``eval``/``exec`` in the engine's own process.
Here :class:`RestrictedEnvironment` compiles the code with the restricted policy
(:mod:`engine.workflow.restricted`: refusals as ``ValueError`` before anything runs) and
hands it, with the task data it may see, to a worker process
(:mod:`engine.workflow.sandbox_worker`) that runs it under hard OS limits and sends back
data only (:mod:`engine.workflow.wire`). The engine waits at most the time limit and a
grace second, then kills the worker and starts another: a C call that holds its
interpreter (``pow(10, 10**8)``) or a loop that catches every stop cannot hang a request or
the scheduler, and a script that exhausts its memory takes only its worker down. Every
limit surfaces as :class:`ScriptLimit`, which fails the step with an incident.

The pool keeps its workers between evaluations (one round trip costs about a tenth of a
millisecond, see ``benchmarks/bench_sandbox.py``); a worker starts on first need
(60–80 ms), at most ``RATSFLOW_SCRIPT_WORKERS`` run at once, each with
``RATSFLOW_SCRIPT_MEMORY_MB`` of address space.
"""

from __future__ import annotations

import atexit
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment

from engine.workflow import restricted, wire
from engine.workflow.restricted import MAX_INT_BITS, MAX_ITEMS, TIME_LIMIT, ScriptLimit, check_source

__all__ = ["MAX_INT_BITS", "MAX_ITEMS", "TIME_LIMIT", "RestrictedEnvironment", "SandboxPool",
           "ScriptLimit", "check_source", "configure", "restricted_script_engine"]

#: Seconds past the time limit before the engine kills a worker that did not answer.
GRACE = 1.0
#: Seconds a new worker may take to say it is ready.
START_TIMEOUT = 20.0
_ROOT = Path(__file__).resolve().parents[2]

#: Exceptions of the model's own code that come back as themselves (SpiffWorkflow words
#: some of them specially, e.g. "did you mean" for a NameError); others as RuntimeError.
_REBUILT: dict[str, type[Exception]] = {
    cls.__name__: cls for cls in (
        ArithmeticError, AssertionError, AttributeError, IndexError, KeyError, LookupError,
        NameError, NotImplementedError, OverflowError, RuntimeError, StopIteration, TypeError,
        UnboundLocalError, UnicodeError, ValueError, ZeroDivisionError)
}


class _Stopped(Exception):
    """The worker is gone (killed after the time limit, or ended by its own limits)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _died(returncode: int | None) -> str:
    if returncode == -signal.SIGXCPU:
        return "Rechenzeitgrenze überschritten"
    if returncode in (-signal.SIGKILL, -signal.SIGSEGV, -signal.SIGABRT):
        return "Skript abgebrochen (Speicher- oder Rechenzeitgrenze)"
    return "Skript abgebrochen"


class _Worker:
    """One worker process and its two pipes."""

    def __init__(self, memory_mb: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-s", "-m", "engine.workflow.sandbox_worker", str(memory_mb)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=_ROOT, env={"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
            close_fds=True, start_new_session=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.stdout, selectors.EVENT_READ)
        ready = self._read(time.monotonic() + START_TIMEOUT, "Skript-Prozess startet nicht")
        if not ready.get("ready"):
            self.kill()
            raise RuntimeError("Skript-Prozess startet nicht")

    def _read(self, deadline: float, late: str) -> dict[str, Any]:
        """The next frame: one ``select`` and one ``read`` for a small answer, at most
        until ``deadline`` (then the worker is killed)."""
        fd, buffer, length = self.stdout.fileno(), bytearray(), None
        while length is None or len(buffer) < wire.HEADER_SIZE + length:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.select(remaining):
                self.kill()
                raise _Stopped(late)
            chunk = os.read(fd, 1 << 20)
            if not chunk:  # it ended: by its CPU limit, its memory, or a crash
                try:
                    self.process.wait(timeout=GRACE)
                except subprocess.TimeoutExpired:
                    pass
                self.kill()
                raise _Stopped(_died(self.process.returncode))
            buffer += chunk
            if length is None and len(buffer) >= wire.HEADER_SIZE:
                length = wire.header_length(bytes(buffer[:wire.HEADER_SIZE]))
                if length > wire.MAX_FRAME:
                    self.kill()
                    raise _Stopped("Ergebnis zu groß")
        return wire.decode(bytes(buffer[wire.HEADER_SIZE:]))

    def call(self, request: bytes, seconds: float, late: str) -> dict[str, Any]:
        deadline = time.monotonic() + seconds + GRACE
        view, fd = memoryview(request), self.stdin.fileno()
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError:  # BrokenPipeError: it ended between two requests
            self.kill()
            raise _Stopped(_died(self.process.returncode)) from None
        return self._read(deadline, late)

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.selector.close()
        for pipe in (self.stdin, self.stdout):
            try:
                pipe.close()
            except OSError:
                pass


class SandboxPool:
    """Worker processes that run model code, started on need, kept while they are healthy."""

    def __init__(self, workers: int = 2, memory_mb: int = 256, seconds: float = TIME_LIMIT) -> None:
        self.workers, self.memory_mb, self.seconds = workers, memory_mb, seconds
        #: Seconds a worker waits past the limit before it stops its own code (the engine
        #: kills it ``GRACE`` seconds after the limit); a test sets it higher to see the kill.
        self.alarm_delay = 0.0
        self.pid = os.getpid()
        self._slots = threading.BoundedSemaphore(workers)
        self._idle: list[_Worker] = []
        #: Every worker alive, idle or busy (a fork closes the pipes of all of them).
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        #: Workers started, and killed or ended by a limit (for tests and the benchmark).
        self.started = self.stopped = 0

    def run(self, mode: str, source: str, data: dict[str, Any], external: dict[str, Any],
            seconds: float | None = None, late: str | None = None) -> Any:
        """Evaluate (``"eval"``) or execute (``"exec"``) ``source`` in a worker; the value, or
        what the script set and removed (``({name: value}, [removed names])``). Refused code
        raises ValueError, a limit :class:`ScriptLimit` (past ``seconds``, at most the pool's,
        with the message ``late``). Only the data the code names is sent."""
        seconds = self.seconds if seconds is None else min(seconds, self.seconds)
        late = late or f"Zeitlimit überschritten: läuft länger als {seconds:g} s"
        names = restricted.names_of(source, mode)  # compiles: refusals answered here, no round trip
        try:
            request = wire.frame({"mode": mode, "source": source, "late": late,
                                  "seconds": seconds + self.alarm_delay,
                                  "data": {k: v for k, v in data.items() if k in names},
                                  "external": {k: v for k, v in external.items() if k in names}})
        except wire.NotData as exc:
            raise ValueError(f"Die Daten des Schritts lassen sich nicht übergeben: {exc}") from None
        with self._slots:
            worker = self._take()
            try:
                answer = worker.call(request, seconds, late)
            except _Stopped as stopped:
                self.stopped += 1
                self._drop(worker)
                raise ScriptLimit(stopped.message) from None
            except BaseException:
                self._drop(worker)
                raise
            if worker.alive and answer.get("error") != "memory":
                with self._lock:
                    self._idle.append(worker)
            else:
                self.stopped += 1
                self._drop(worker)
        return _answer(mode, answer)

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    return worker
                self._workers.discard(worker)
                worker.kill()
        self.started += 1
        worker = _Worker(self.memory_mb)
        with self._lock:
            self._workers.add(worker)
        return worker

    def _drop(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._workers.discard(worker)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
            self._workers.difference_update(idle)
        for worker in idle:
            worker.kill()

    def forget_after_fork(self) -> None:
        """In a forked child: close the pipes inherited from the parent's workers without
        touching the workers (they stay the parent's). Otherwise the child would hold the
        write end of each worker's stdin open, and a parent's worker would never see its
        parent go away; nor could the child write into a pipe another process reads."""
        for worker in self._workers:
            worker.selector.close()
            for pipe in (worker.stdin, worker.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
        self._workers.clear()
        self._idle.clear()


def _answer(mode: str, answer: dict[str, Any]) -> Any:
    error = answer.get("error")
    if error is None:
        if mode == "eval" and "value" in answer:
            return answer["value"]
        data, removed = answer.get("data"), answer.get("removed")
        if mode == "exec" and isinstance(data, dict) and isinstance(removed, list):
            return data, [str(name) for name in removed]
        raise ScriptLimit("Antwort des Skript-Prozesses unlesbar")
    message = str(answer.get("message", ""))[:2000]
    if error in ("limit", "memory"):
        raise ScriptLimit(message)
    if error == "refused":
        raise ValueError(message)
    cls = _REBUILT.get(str(answer.get("type")))
    if cls is None:
        raise RuntimeError(f"{answer.get('type')}: {message}")
    if cls is NameError:
        raise NameError(message, name=answer.get("name"))
    raise cls(message)


_pool: SandboxPool | None = None
_pool_lock = threading.Lock()
_config = {"workers": 2, "memory_mb": 256}


def configure(*, workers: int, memory_mb: int) -> None:
    """Set the pool's size and memory per worker (``RATSFLOW_SCRIPT_WORKERS``,
    ``RATSFLOW_SCRIPT_MEMORY_MB``); a running pool is replaced when they change."""
    global _pool
    with _pool_lock:
        if _config == {"workers": workers, "memory_mb": memory_mb}:
            return
        _config.update(workers=workers, memory_mb=memory_mb)
        old, _pool = _pool, None
    if old is not None and old.pid == os.getpid():
        old.close()


def pool() -> SandboxPool:
    """This process's pool (a forked child, e.g. a gunicorn worker, starts its own)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool.pid != os.getpid():
            _pool = SandboxPool(**_config)
        return _pool


@atexit.register
def _close() -> None:
    if _pool is not None and _pool.pid == os.getpid():
        _pool.close()


def _after_fork_in_child() -> None:
    """A forked child (a gunicorn worker when the app was preloaded, a multiprocessing child)
    starts its own pool on first need; the parent's pipes are closed in it at once. The
    locks are new too: a thread of the parent may have held them at the fork."""
    global _pool, _pool_lock
    _pool_lock = threading.Lock()
    inherited, _pool = _pool, None
    if inherited is not None:
        inherited.forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


#: Seconds all the model code of one workflow may run together in one unit of work (a
#: request, a scheduler job): a model that loops through many scripts, each under the limit,
#: cannot hold SQLite's write lock (``busy_timeout`` 10 s) for longer.
RUN_BUDGET = 5.0


class RestrictedEnvironment(TaskDataEnvironment):
    """A ``TaskDataEnvironment`` whose code runs restricted, in a sandbox worker process,
    within :data:`RUN_BUDGET` seconds together (a new environment for each restore)."""

    def __init__(self, sandbox: SandboxPool | None = None, budget: float = RUN_BUDGET) -> None:
        super().__init__({})
        self._sandbox = sandbox
        self.budget, self.spent = budget, 0.0

    def _run(self, mode: str, source: str, context: dict[str, Any], external: dict[str, Any]) -> Any:
        left = self.budget - self.spent
        if left <= 0:
            raise ScriptLimit(self._over_budget())
        sandbox = self.sandbox
        late = None if left >= sandbox.seconds else self._over_budget()
        started = time.monotonic()
        try:
            return sandbox.run(mode, source, context, external, seconds=left, late=late)
        finally:
            self.spent += time.monotonic() - started

    def _over_budget(self) -> str:
        return ("Zeitlimit überschritten: die Skripte dieses Schritts laufen zusammen länger als "
                f"{self.budget:g} s")

    @property
    def sandbox(self) -> SandboxPool:
        return self._sandbox or pool()

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        plain = restricted.plain_expression(expression)
        if plain is not None and self.spent < self.budget:
            # Names as SpiffWorkflow's environment resolves them: task data over external.
            external = external_context or {}
            scope = {name: context[name] if name in context else external[name]
                     for name in plain.co_names if name in context or name in external}
            if all(type(value) in restricted.PLAIN_DATA for value in scope.values()):
                return restricted.run_plain(plain, scope)
        return self._run("eval", expression, context, external_context or {})

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        self.check_for_overwrite(context, external_context or {})
        changed, removed = self._run("exec", script, context, external_context or {})
        context.update(changed)
        for name in removed:
            context.pop(name, None)
        return True


def restricted_script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=RestrictedEnvironment())

