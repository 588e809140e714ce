"""Model tests beside the model (issue 17, point 7): scenario files that run a model in
memory – start data, completions with their data, clock moves – and say which way it must
go and where it must end. ``ratsflow model test FILE…`` runs them; a deploy runs them before
it accepts a version, so a changed model that no longer does what its scenarios say is
refused.

The file lies beside the model: ``beratungsfolge.bpmn`` → ``beratungsfolge.szenarien.json``::

    {"szenarien": [{
        "name": "Kenntnisnahme in einem Gremium",
        "jetzt": "2026-11-02T09:00:00+01:00",            (optional; the clock at the start)
        "start": {"beratungen": [...], "vorlage": {...}},  (the start data)
        "schritte": [
            {"erledigen": "Tagesordnung", "daten": {"meeting_id": 7}},
            {"uhr": "2026-11-20T16:00:00+01:00"},             (the clock moves; timers fire)
            {"erledigen": "Ergebnis", "daten": {"ergebnis": "zur_kenntnis_genommen"}}],
        "weg": ["Tagesordnung", "Ergebnis"],   (element ids done, in this order, others between)
        "ende": "Beratungsfolge_abgeschlossen"  (or "wartet": ["Ergebnis"]: still waiting there)
    }]}

Only the engine runs (scripts in the sandbox, gateways, timers); what a step's effect writes
into the database (a TOP, a result) is not part of a model test.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from SpiffWorkflow.util.task import TaskState

from engine.settings import TIMEZONE
from engine.workflow import runtime

SUFFIX = ".szenarien.json"
#: The clock of a scenario that names none.
DEFAULT_NOW = datetime(2030, 1, 7, 9, 0, tzinfo=TIMEZONE)
#: Bounds, so that a scenario file cannot make a deploy run for long.
MAX_SCENARIOS, MAX_STEPS, MAX_FILE_BYTES = 50, 200, 1024 * 1024


class ScenarioError(ValueError):
    """A scenario file that cannot be read (German)."""


@dataclass
class Outcome:
    name: str
    problem: str | None = None
    path: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.problem is None


def file_for(model: Path) -> Path:
    return model.with_name(model.name.removesuffix(".bpmn") + SUFFIX)


def _moment(value: Any, where: str) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise ScenarioError(f"{where}: „{value}“ ist kein Zeitpunkt (2026-11-20T16:00:00+01:00)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=TIMEZONE)


def load(path: Path) -> list[dict[str, Any]]:
    """The scenarios of a file, checked for their shape."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ScenarioError(f"{path.name}: zu groß (höchstens 1 MB)")
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path.name}: nicht lesbar ({exc.strerror})") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path.name}: kein gültiges JSON ({exc})") from None
    items = data.get("szenarien") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items or len(items) > MAX_SCENARIOS:
        raise ScenarioError(f"{path.name}: erwartet {{\"szenarien\": [ … ]}} mit 1 bis {MAX_SCENARIOS} "
                            "Szenarien")
    for number, item in enumerate(items, start=1):
        where = f"{path.name}, Szenario {number}"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ScenarioError(f"{where}: ohne Namen")
        steps = item.get("schritte", [])
        if not isinstance(steps, list) or len(steps) > MAX_STEPS or not all(
                isinstance(s, dict) and (("erledigen" in s) != ("uhr" in s)) for s in steps):
            raise ScenarioError(f"{where} („{item['name']}“): jeder Schritt ist {{\"erledigen\": ID, "
                                f"\"daten\": {{…}}}} oder {{\"uhr\": Zeitpunkt}} (höchstens {MAX_STEPS})")
        if ("ende" in item) == ("wartet" in item):
            raise ScenarioError(f"{where} („{item['name']}“): genau eines von \"ende\" und \"wartet\" "
                                "angeben")
        if not isinstance(item.get("start", {}), dict) or not isinstance(item.get("weg", []), list):
            raise ScenarioError(f"{where} („{item['name']}“): \"start\" ist ein Objekt, \"weg\" eine Liste")
    return items


def _done(workflow: Any) -> list[str]:
    return [t.task_spec.bpmn_id for t in workflow.get_tasks(state=TaskState.COMPLETED) if t.task_spec.bpmn_id]


def _ready(workflow: Any) -> list[str]:
    return [t.task_spec.bpmn_id for t in runtime.ready_user_tasks(workflow)]


def run(spec_json: str, scenario: dict[str, Any]) -> Outcome:
    """One scenario in memory; its outcome names the first thing that went otherwise."""
    outcome = Outcome(scenario["name"])
    now = _moment(scenario["jetzt"], "jetzt") if "jetzt" in scenario else DEFAULT_NOW
    workflow = runtime.new_workflow(spec_json)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(scenario.get("start", {}))
    try:
        runtime.run_engine(workflow, now)
        for number, step in enumerate(scenario.get("schritte", []), start=1):
            if "uhr" in step:
                now = _moment(step["uhr"], f"Schritt {number}")
                runtime.run_engine(workflow, now)
                continue
            ready = [t for t in runtime.ready_user_tasks(workflow)
                     if t.task_spec.bpmn_id == step["erledigen"]]
            if not ready:
                outcome.problem = (f"Schritt {number}: „{step['erledigen']}“ ist nicht bereit (bereit: "
                                   f"{', '.join(_ready(workflow)) or 'nichts'})")
                break
            data = step.get("daten", {})
            runtime.complete_user_task(workflow, str(ready[0].id), data if isinstance(data, dict) else {},
                                       now)
    except (runtime.TaskFailed, ScenarioError) as exc:
        outcome.problem = str(exc)
    outcome.path = _done(workflow)
    if outcome.problem is None:
        outcome.problem = _expected(workflow, scenario, outcome.path)
    return outcome


def _expected(workflow: Any, scenario: dict[str, Any], path: list[str]) -> str | None:
    position = 0
    for wanted in scenario.get("weg", []):
        try:
            position = path.index(wanted, position) + 1
        except ValueError:
            return (f"der Weg führt nicht (in dieser Reihenfolge) über „{wanted}“ "
                    f"(gegangen: {' → '.join(path)})")
    if "ende" in scenario:
        if not workflow.is_completed():
            return f"kein Ende erreicht, es wartet auf: {', '.join(_ready(workflow)) or 'ein Ereignis'}"
        if scenario["ende"] not in path:
            return f"endet nicht in „{scenario['ende']}“ (gegangen: {' → '.join(path)})"
        return None
    waiting = sorted(_ready(workflow))
    if waiting != sorted(scenario["wartet"]):
        return f"wartet auf {', '.join(waiting) or 'nichts'} statt auf {', '.join(scenario['wartet'])}"
    return None


def run_file(spec_json: str, path: Path) -> list[Outcome]:
    return [run(spec_json, scenario) for scenario in load(path)]
