"""Benchmark: model code in the sandbox worker process versus in the engine's own process.

Side by side in one run, alternating, so both see the same machine load:

* **Per evaluation**: the same restricted code object evaluated in-process (as before
  issue 14: RestrictedPython code, ``sys.settrace`` deadline, ``eval`` in the engine's
  process) and through :class:`engine.workflow.sandbox.SandboxPool` (pack, pipe, worker,
  answer, unpack). Three kinds: a gateway condition on small data, the Beratungsfolge's
  script ``index = index + 1`` with its data, and a condition on large task data (200
  Beratungen). The floor beneath: a bare pipe round trip of the same bytes to an echoing
  child process.
* **Per completion**: the bare SpiffWorkflow round trip of ``bench_completion.py``
  (deserialize, complete "Tagesordnung", ``do_engine_steps``, serialize) with the in-process
  environment and with the sandbox environment, on the same states. The number of
  evaluations per completion is counted.
* **Start of a worker** (the first evaluation in a process).

Run:  .venv/bin/python benchmarks/bench_sandbox.py [--rounds 2000] [--completions 100]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment  # noqa: E402

from engine.settings import load_settings  # noqa: E402
from engine.workflow import restricted, wire  # noqa: E402
from engine.workflow.sandbox import RestrictedEnvironment, SandboxPool  # noqa: E402


class _Deadline:
    """The in-process time limit as it was: ``sys.settrace`` on the model's frames."""

    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds

    def __call__(self, frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != restricted.FILENAME:
            return None
        if time.monotonic() > self.until:
            raise restricted.ScriptLimit("Zeitlimit")
        return self


def _in_process(source: str, mode: str, scope: dict[str, Any]) -> Any:
    previous = sys.gettrace()
    sys.settrace(_Deadline(restricted.TIME_LIMIT))
    try:
        return restricted.run(source, mode, scope)
    finally:
        sys.settrace(previous)


class InProcessEnvironment(TaskDataEnvironment):
    """Model code in the engine's own process, as before issue 14 (for comparison only)."""

    def __init__(self) -> None:
        super().__init__({})
        self.calls = 0

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        self.calls += 1
        scope = dict(external_context or {})
        scope.update(context)
        return _in_process(expression, "eval", scope)

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        self.calls += 1
        scope = dict(external_context or {})
        scope.update(context)
        _in_process(script, "exec", scope)
        hidden = restricted.HIDDEN | set(external_context or {})
        result = {k: v for k, v in scope.items()
                  if k not in hidden and not k.startswith("_") and not callable(v)}
        context.clear()
        context.update(result)
        return True


class CountingSandbox(RestrictedEnvironment):
    def __init__(self, pool: SandboxPool) -> None:
        super().__init__(pool)
        self.calls = 0

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        self.calls += 1
        return super().evaluate(expression, context, external_context)

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        self.calls += 1
        return super().execute(script, context, external_context)


def _beratungen(n: int) -> list[dict[str, Any]]:
    return [{"organization_id": i, "role": "Vorberatung", "consultation_id": 1000 + i,
             "meeting_id": None, "name": f"Ausschuss {i}"} for i in range(n)]


CASES = [
    ("condition, small data", "eval", 'ergebnis == "vertagt"', {"ergebnis": "vertagt", "index": 1,
                                                                  "beratungen": _beratungen(2)}),
    ("script index = index + 1", "exec", "index = index + 1", {"index": 0, "beratungen": _beratungen(2),
                                                               "beratung": _beratungen(1)[0]}),
    ("condition, 200 Beratungen", "eval", "index < len(beratungen)", {"index": 3,
                                                                      "beratungen": _beratungen(200)}),
]


def _echo_child() -> subprocess.Popen[bytes]:
    code = "import os\nwhile True:\n    d = os.read(0, 1 << 20)\n    if not d: break\n    os.write(1, d)"
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def per_evaluation(pool: SandboxPool, rounds: int) -> None:
    print(f"Per evaluation (median of {rounds}, µs):")
    print(f"  {'':30}{'in-process':>12}{'sandbox':>10}{'bare pipe':>11}{'sandbox/in':>12}")
    echo = _echo_child()
    assert echo.stdin is not None and echo.stdout is not None
    fin, fout = echo.stdin.fileno(), echo.stdout.fileno()
    env = RestrictedEnvironment(pool)
    try:
        for label, mode, source, data in CASES:
            payload = wire.frame({"mode": mode, "source": source, "data": data, "external": {}})
            inline_t, sandbox_t, pipe_t = [], [], []
            for _ in range(rounds):
                t0 = time.perf_counter()
                _in_process(source, mode, dict(data))
                t1 = time.perf_counter()
                if mode == "eval":
                    env.evaluate(source, data)
                else:
                    env.execute(source, dict(data))
                t2 = time.perf_counter()
                os.write(fin, payload)
                got = 0
                while got < len(payload):
                    got += len(os.read(fout, 1 << 20))
                t3 = time.perf_counter()
                inline_t.append(t1 - t0)
                sandbox_t.append(t2 - t1)
                pipe_t.append(t3 - t2)
            a, b, c = (statistics.median(x) * 1e6 for x in (inline_t, sandbox_t, pipe_t))
            print(f"  {label:30}{a:>12.1f}{b:>10.1f}{c:>11.1f}{b / a:>11.0f}x   ({len(payload):,} bytes)")
    finally:
        echo.stdin.close()
        echo.wait()


def per_completion(count: int) -> None:
    import bench_completion as bc  # the same states as the completion benchmark

    from web import create_app

    with tempfile.TemporaryDirectory(prefix="ratsflow-bench-") as tmp:
        settings = load_settings(env={}, database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite'}",
                                 instance_path=Path(tmp) / "instance", scheduler_in_process=False,
                                 secret_key="bench")
        app = create_app(settings, upgrade=True)  # a fresh database: migrate it here
        try:
            jobs, _ = bc.prepare(app.extensions["ratsflow.db"], count + bc.WARMUP)
            states = [bc.full_state(job) for job in jobs]
        finally:
            app.extensions["ratsflow.db"].dispose()
    pool = SandboxPool()
    inline_env, sandbox_env = InProcessEnvironment(), CountingSandbox(pool)

    def restore(state: str, env: TaskDataEnvironment) -> Any:
        workflow = bc.SERIALIZER.deserialize_json(state)
        workflow.script_engine = PythonScriptEngine(environment=env)
        return workflow

    def round_trip(state: str, values: dict[str, Any], env: TaskDataEnvironment) -> float:
        t0 = time.perf_counter()
        workflow = restore(state, env)
        [task] = workflow.get_tasks(state=bc.TaskState.READY, manual=True)
        task.data.update(values)
        task.run()
        workflow.do_engine_steps()
        bc.SERIALIZER.serialize_json(workflow)
        return time.perf_counter() - t0

    # Past "Tagesordnung" (no model code runs there) to "Ergebnis erfassen": its completion
    # runs the gateway conditions and the scripts of the Beratungsfolge.
    at_result = []
    for state, job in zip(states, jobs, strict=True):
        workflow = restore(state, InProcessEnvironment())
        [task] = workflow.get_tasks(state=bc.TaskState.READY, manual=True)
        task.data.update(job["values"])
        task.run()
        workflow.do_engine_steps()
        [result_task] = workflow.get_tasks(state=bc.TaskState.READY, manual=True)
        assert result_task.task_spec.bpmn_id == "Ergebnis", result_task.task_spec.bpmn_id
        at_result.append(bc.SERIALIZER.serialize_json(workflow))
    values = {"ergebnis": "zur_kenntnis_genommen"}
    inline_t, sandbox_t = [], []
    for i, state in enumerate(at_result):
        a = round_trip(state, values, inline_env)
        b = round_trip(state, values, sandbox_env)
        if i >= bc.WARMUP:
            inline_t.append(a)
            sandbox_t.append(b)
    a, b = (statistics.median(x) * 1000 for x in (inline_t, sandbox_t))
    per = sandbox_env.calls / len(states)
    print(f"\nPer completion of 'Ergebnis erfassen' (bare SpiffWorkflow round trip, median of {count}, ms):")
    print(f"  in-process {a:.3f}   sandbox {b:.3f}   (+{b - a:.3f} ms, {b / a:.2f}x; "
          f"{per:.0f} evaluations per completion)")
    pool.close()


def worker_start(times: int) -> None:
    starts = []
    for _ in range(times):
        pool = SandboxPool(workers=1)
        t0 = time.perf_counter()
        RestrictedEnvironment(pool).evaluate("1", {})
        starts.append(time.perf_counter() - t0)
        pool.close()
    median = statistics.median(starts) * 1000
    print(f"\nStart of a worker (first evaluation in a process): median {median:.1f} ms over {times}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--completions", type=int, default=100)
    args = parser.parse_args()
    pool = SandboxPool()
    RestrictedEnvironment(pool).evaluate("0", {})  # the worker is up before timing
    per_evaluation(pool, args.rounds)
    pool.close()
    per_completion(args.completions)
    worker_start(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
