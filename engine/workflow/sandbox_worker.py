"""The sandbox worker: a separate process that runs model code, and nothing else.

Started by :mod:`engine.workflow.sandbox` as ``python -s -m engine.workflow.sandbox_worker
MEMORY_MB`` with an empty environment (no database URL, no keys). Before it reads
its first request it limits itself with ``resource.setrlimit``: address space (a
``MemoryError`` instead of a swapping machine), no files written, no core dumps, no new
processes, and CPU time over its life (a backstop: SIGXCPU ends it; it leaves on its own
shortly before). A request is one frame (:mod:`engine.workflow.wire`): the source, its
mode, its data and its time limit; the answer is the value (``eval``), the script's data (``exec``) or what
went wrong. ``SIGALRM`` stops code that runs past the time limit (also the one-line loops
that ``sys.settrace`` never sees, and again every 0.1 s for code that catches it); the
engine kills the process if even that fails. It ends when its input ends.
"""

from __future__ import annotations

import math
import resource
import signal
import sys
from types import FrameType
from typing import Any

from engine.workflow.restricted import FILENAME, HIDDEN, ScriptLimit, run
from engine.workflow.wire import NotData, frame, read_frame

#: CPU seconds a worker may use in its life; it exits (and is replaced) past this.
LIFETIME_CPU_SECONDS = 600
#: Bytes held back during each request and freed when the script runs out of memory.
_RESERVE = 4 * 1024 * 1024


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def limit_process(memory_mb: int) -> None:
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
    # A backstop only: the engine kills a worker that runs past the time limit.
    hard = math.ceil(_cpu_used()) + LIFETIME_CPU_SECONDS
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


class _Alarm:
    def __init__(self) -> None:
        self.armed, self.message = False, ""
        signal.signal(signal.SIGALRM, self)

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.armed:
            raise ScriptLimit(self.message)

    def arm(self, seconds: float, message: str) -> None:
        self.armed, self.message = True, message
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)

    def disarm(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0, 0)


def _line(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _failure(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, ScriptLimit):
        return {"error": "limit", "message": str(exc)}
    if isinstance(exc, RecursionError):
        return {"error": "limit", "message": "zu tief verschachtelt (Rekursion)"}
    if isinstance(exc, NotData):
        return {"error": "refused", "message": f"Ergebnis ist kein Datenwert: {exc}"}
    message = str(exc.args[0]) if len(exc.args) == 1 else str(exc)
    return {"error": "raised", "type": type(exc).__name__, "message": message,
            "name": getattr(exc, "name", None) if isinstance(exc, NameError) else None,
            "line": _line(exc)}


def _which(answer: dict[str, Any], exc: NotData) -> str:
    """Name the script's variable that is no data."""
    for key, item in (answer.get("data") or {}).items():
        try:
            frame({"v": item})
        except NotData as inner:
            return f"{key}: {inner}"
    return str(exc)


def handle(request: dict[str, Any], alarm: _Alarm) -> dict[str, Any]:
    mode, source = request["mode"], request["source"]
    external, given = request.get("external") or {}, request["data"]
    scope: dict[str, Any] = dict(external)
    scope.update(given)
    alarm.arm(float(request["seconds"]), str(request["late"]))
    try:
        value = run(source, mode, scope)
        if mode == "eval":
            return {"value": value}
        hidden = HIDDEN | set(external)
        data = {key: item for key, item in scope.items()
                if key not in hidden and not key.startswith("_") and not callable(item)}
        return {"data": data, "removed": [key for key in given if key not in data]}
    finally:
        alarm.disarm()


def main(argv: list[str]) -> int:
    limit_process(int(argv[0]))
    alarm = _Alarm()
    reserve: bytearray | None = bytearray(_RESERVE)  # room to answer in once a script used up the rest
    source, sink = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the wire
    sink.write(frame({"ready": True}))
    sink.flush()
    while True:
        try:
            request = read_frame(source)
        except (NotData, ValueError):
            return 2
        if request is None:
            return 0
        try:
            answer = handle(request, alarm)
        except MemoryError as exc:
            alarm.disarm()
            exc.__traceback__ = None  # lets the script's data go
            del exc
            reserve = None
            answer = {"error": "memory", "message": "Speichergrenze überschritten"}
        except BaseException as exc:  # noqa: BLE001 - whatever the model's code raised goes back as data
            alarm.disarm()
            answer = _failure(exc)
        try:
            out = frame(answer)
        except NotData as exc:
            out = frame(_failure(NotData(_which(answer, exc))))
        except MemoryError:
            out = frame({"error": "limit", "message": "Ergebnis zu groß"})
        sink.write(out)
        sink.flush()
        if reserve is None or _cpu_used() > resource.getrlimit(resource.RLIMIT_CPU)[1] - 30:
            return 0  # a worker that ran out of memory, or nearly of CPU time, is replaced


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
