"""Model code runs in a sandbox worker process: every way out found in the hardening review
(issue 14) ends in a German ScriptLimit within seconds, and the engine's process stays small."""

from __future__ import annotations

import resource
import threading
import time
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from engine.settings import SettingsError, load_settings
from engine.workflow import restricted
from engine.workflow.restricted import ScriptLimit
from engine.workflow.sandbox import GRACE, RestrictedEnvironment, SandboxPool

SECONDS = 1.0
#: Longest any case may take: the limit, the kill's grace, and a worker's start.
BOUND = SECONDS + GRACE + 2.0


@pytest.fixture(scope="module")
def sandbox() -> Any:
    pool = SandboxPool(workers=2, memory_mb=256, seconds=SECONDS)
    yield pool
    pool.close()


def _run(env: RestrictedEnvironment, code: str) -> Any:
    try:
        compile(code, "<test>", "eval")
    except SyntaxError:
        context: dict[str, Any] = {}
        env.execute(code, context)
        return context
    return env.evaluate(code, {})


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("code, reason", [
    pytest.param("while True: pass", "Zeitlimit", id="one-line-loop"),
    pytest.param("while 1: pass", "Zeitlimit", id="one-line-loop-1"),
    pytest.param("try:\n    while True: pass\nexcept:\n    pass\nwhile True: pass", "Zeitlimit", id="caught-limit"),
    pytest.param("while True:\n    try:\n        while True: pass\n    except:\n        pass", "Zeitlimit",
                 id="caught-forever"),
    pytest.param("pow(10, 10**8)", "Ergebnis zu groß", id="pow-10-10e8"),
    pytest.param("pow(2, 10**10)", "Ergebnis zu groß", id="pow-2-10e10"),
    pytest.param("sum([[0]*10**6]*1000, [])", "Ergebnis zu groß", id="sum-of-lists"),
    pytest.param("f'{1:>999999999}'", "Ergebnis zu groß", id="fstring-width"),
    pytest.param("f'{1:{10**9}}'", "Ergebnis zu groß", id="fstring-nested-width"),
    pytest.param("f'{1.5:.999999999f}'", "Ergebnis zu groß", id="fstring-precision"),
    pytest.param("'%999999999d' % 1", "Ergebnis zu groß", id="percent-width"),
    pytest.param("'%.*f' % (999999999, 1.0)", "Ergebnis zu groß", id="percent-star"),
    pytest.param("str.rjust('', 2*10**9)", "Ergebnis zu groß", id="method-on-type"),
    pytest.param("str.center('x', 10**9)", "Ergebnis zu groß", id="center-on-type"),
    pytest.param("''.join(['a'*10**6]*2000)", "Ergebnis zu groß", id="join"),
    pytest.param("str.join('', ['a'*10**6]*2000)", "Ergebnis zu groß", id="join-on-type"),
    pytest.param("('a'*10**6).replace('a', 'bb')", "Ergebnis zu groß", id="replace"),
    pytest.param("x = 'a'*10**6\nwhile True:\n    x = x + x", "Ergebnis zu groß", id="doubling"),
    pytest.param("x = 2**999000\ny = x * x", "Ergebnis zu groß", id="int-product"),
])
def test_a_hostile_script_ends_in_a_limit_within_seconds(sandbox: SandboxPool, code: str, reason: str) -> None:
    env = RestrictedEnvironment(sandbox)
    before = _peak_rss_mb()
    started = time.monotonic()
    with pytest.raises(ScriptLimit) as caught:
        _run(env, code)
    assert time.monotonic() - started < BOUND
    assert reason in str(caught.value)
    assert _peak_rss_mb() - before < 100  # the engine's own process never built it
    # The pool goes on: the next evaluation answers.
    assert env.evaluate("1 + 1", {}) == 2


def test_a_script_that_eats_memory_ends_at_the_workers_limit() -> None:
    """The worker's address space is the limit, not the engine's; a generous time limit so a
    loaded machine reaches the memory limit first."""
    pool = SandboxPool(workers=1, memory_mb=96, seconds=30)
    try:
        env = RestrictedEnvironment(pool)
        before = _peak_rss_mb()
        with pytest.raises(ScriptLimit, match="Speichergrenze überschritten"):
            env.execute("x = []\nwhile True:\n    x.append([0] * 10**6)", {})
        assert _peak_rss_mb() - before < 50
        assert pool.stopped == 1  # a worker that ran out of memory is replaced
        assert env.evaluate("len([0] * 10**6)", {}) == 10**6
    finally:
        pool.close()


def test_a_worker_that_does_not_stop_itself_is_killed_and_replaced() -> None:
    pool = SandboxPool(workers=1, seconds=0.3)
    pool.alarm_delay = 60  # the worker's own stop would come far too late
    try:
        env = RestrictedEnvironment(pool)
        started = time.monotonic()
        with pytest.raises(ScriptLimit, match="Zeitlimit überschritten: läuft länger als 0.3 s"):
            env.evaluate("max(x * y for x in range(10**6) for y in range(10**6))", {})
        assert 0.3 + GRACE <= time.monotonic() - started < 0.3 + GRACE + 2.0
        assert pool.stopped == 1
        assert env.evaluate("2 * 21", {}) == 42
        assert pool.started == 2
    finally:
        pool.close()


def test_many_scripts_in_one_step_share_one_time_budget(sandbox: SandboxPool) -> None:
    """A model that loops through scripts, each under the limit, cannot hold a unit of work
    (and SQLite's write lock) for longer than the budget."""
    env = RestrictedEnvironment(sandbox, budget=0.6)
    assert env.evaluate("1", {}) == 1
    started = time.monotonic()
    with pytest.raises(ScriptLimit, match="laufen zusammen länger als 0.6 s"):
        env.execute("while True: pass", {})
    with pytest.raises(ScriptLimit, match="laufen zusammen länger als 0.6 s"):
        env.evaluate("1", {})  # nothing left: refused without a round trip
    assert time.monotonic() - started < 0.6 + GRACE + 1.0


def test_the_worker_sees_no_secrets_and_cannot_write_files(sandbox: SandboxPool,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATSFLOW_SECRET_KEY", "geheim")
    pool = SandboxPool(workers=1)
    try:
        assert RestrictedEnvironment(pool).evaluate("0 + 1", {}) == 1  # not plain: a worker runs it
        worker = pool._idle[0]
        environ = Path(f"/proc/{worker.process.pid}/environ").read_bytes()
        assert b"geheim" not in environ and b"DATABASE_URL" not in environ
        limits = Path(f"/proc/{worker.process.pid}/limits").read_text()
        assert "Max file size             0" in limits
        assert f"Max address space         {256 * 1024 * 1024}" in limits
    finally:
        pool.close()


def test_other_users_are_not_held_up_by_a_runaway(sandbox: SandboxPool) -> None:
    env = RestrictedEnvironment(sandbox)
    env.evaluate("0 + 0", {})  # a worker is warm
    errors: list[BaseException] = []
    running = threading.Event()

    def runaway() -> None:
        running.set()
        try:
            env.evaluate("max(x * y for x in range(10**6) for y in range(10**6))", {})
        except ScriptLimit as exc:
            errors.append(exc)

    thread = threading.Thread(target=runaway)
    thread.start()
    running.wait(BOUND)
    started = time.monotonic()
    assert env.evaluate("index + 1", {"index": 1}) == 2
    assert time.monotonic() - started < SECONDS / 2
    thread.join(BOUND)
    assert len(errors) == 1


def test_data_goes_there_and_back_as_a_save_would_keep_it(sandbox: SandboxPool) -> None:
    """Types JSON lacks come back as themselves; a tuple and a number as key come back as
    SpiffWorkflow's serializer keeps them at the next save (a list, text)."""
    env = RestrictedEnvironment(sandbox)
    context: dict[str, Any] = {
        "sitzung": datetime(2024, 11, 8, 17, 0, tzinfo=timezone(timedelta(hours=1))),
        "tag": date(2024, 11, 8), "betrag": Decimal("12.50"), "frist": timedelta(days=14),
        "menge": {1, 2}, "beratungen": [{"organization_id": 4, "role": "Vorberatung"}], "nichts": None,
        "unberuehrt": object(),  # not named by the script: neither sent nor touched
    }
    untouched = context["unberuehrt"]
    env.execute("summe = betrag * 2\nnaechster = sitzung + frist\npaar = (1, 'a')\n"
                "nach_nummer = {4: 'AWSG'}\nmenge.add(3)\ndel nichts", context)
    assert context["summe"] == Decimal("25.00")
    assert context["naechster"] == datetime(2024, 11, 22, 17, 0, tzinfo=timezone(timedelta(hours=1)))
    assert context["naechster"].astimezone(UTC).hour == 16
    assert context["menge"] == {1, 2, 3} and "nichts" not in context
    assert context["paar"] == [1, "a"] and context["nach_nummer"] == {"4": "AWSG"}
    assert context["unberuehrt"] is untouched
    assert env.evaluate("sitzung.date() == tag and 'P14D'", context) == "P14D"


def test_what_is_no_data_is_refused_in_german(sandbox: SandboxPool) -> None:
    env = RestrictedEnvironment(sandbox)
    with pytest.raises(ValueError, match="kein Datenwert"):
        env.evaluate("(i for i in [1])", {})
    with pytest.raises(ValueError, match="x: zu tief verschachtelt"):
        # deeper than json.dumps goes (about 1,000), quick to build even on a busy machine (10**6
        # levels took the 1-s limit under load)
        env.execute("x = [0]\nfor i in range(10**4):\n    x = [x]", {})
    with pytest.raises(ValueError, match="lassen sich nicht übergeben"):
        env.evaluate("etwas", {"etwas": object()})
    with pytest.raises(ValueError, match="import ist in Modellen nicht erlaubt"):
        env.execute("import os", {})


def test_plain_lookups_and_comparisons_run_here_everything_else_in_a_worker() -> None:
    """Most expressions in a model only look up and compare task data: no round trip for
    them (a worker costs ~0.1 ms a call); a call, an attribute, arithmetic, a slice, or a
    value that is not plain data goes to the sandbox."""
    pool = SandboxPool(workers=1)
    try:
        env = RestrictedEnvironment(pool)
        data: dict[str, Any] = {"beratung": {"organization_id": 4, "role": "Entscheidung"},
                                "ergebnis": "vertagt", "beratungen": [1, 2], "index": 1,
                                "sitzung": datetime(2024, 11, 8, 17, 0, tzinfo=UTC)}
        assert env.evaluate("beratung['organization_id']", data) == 4
        assert env.evaluate("ergebnis == 'vertagt' and not beratung['role'] in ('Kenntnisnahme',)", data)
        assert env.evaluate("beratungen[index]", data) == 2
        assert env.evaluate("sitzung", data) == data["sitzung"]
        assert pool.started == 0
        for code in ("len(beratungen)", "ergebnis.upper()", "index + 1", "beratungen[0:1]",
                     "[b for b in beratungen]", "__builtins__"):
            assert restricted.plain_expression(code) is None, code
        assert env.evaluate("index + 1", data) == 2
        assert pool.started == 1
        with pytest.raises(ValueError, match="lassen sich nicht übergeben"):
            env.evaluate("etwas == 1", {"etwas": object()})  # plain code, but no plain data
    finally:
        pool.close()


def test_errors_of_the_models_code_come_back_as_themselves(sandbox: SandboxPool) -> None:
    env = RestrictedEnvironment(sandbox)
    with pytest.raises(IndexError, match="list index out of range"):
        env.evaluate("beratungen[5]", {"beratungen": []})
    with pytest.raises(NameError) as caught:
        env.evaluate("ergebnis == 'vertagt'", {})
    assert caught.value.name == "ergebnis"
    with pytest.raises(KeyError):
        env.evaluate("termine['fehlt']", {"termine": {}})


def test_ordinary_size_stays_allowed(sandbox: SandboxPool) -> None:
    env = RestrictedEnvironment(sandbox)
    assert env.evaluate("len('x' * 10**6) + len(''.join(['ab'] * 1000)) + len(f'{3:>10}')", {}) == 1_002_010
    assert env.evaluate("sum([[1], [2]], []) + [pow(2, 10), pow(3, 4, 5)]", {}) == [1, 2, 1024, 1]
    assert env.evaluate("'%5.2f' % 3.14159 + str.upper('a') + 'ab'.replace('a', 'xy')", {}) == " 3.14Axyb"
    assert env.evaluate("f'{datum:%d.%m.%Y}'", {"datum": date(2024, 11, 8)}) == "08.11.2024"


def test_the_pool_settings_are_checked_at_start_up() -> None:
    settings = load_settings({"RATSFLOW_SCRIPT_WORKERS": "3", "RATSFLOW_SCRIPT_MEMORY_MB": "128"})
    assert (settings.script_workers, settings.script_memory_mb) == (3, 128)
    with pytest.raises(SettingsError, match="RATSFLOW_SCRIPT_MEMORY_MB=16: expected at least 64"):
        load_settings({"RATSFLOW_SCRIPT_MEMORY_MB": "16"})
    with pytest.raises(SettingsError, match="RATSFLOW_SCRIPT_WORKERS=0"):
        load_settings({"RATSFLOW_SCRIPT_WORKERS": "0"})
