"""Scenario tests of the Beratungsfolge model, without a database.

Every scenario runs twice: straight through, and with a save/restore of the workflow
state between every step (as SpiffWorkflow's own BpmnWorkflowTestCase does).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.workflow import runtime

MODEL = Path(__file__).parent / "beratungsfolge.bpmn"


@pytest.fixture(scope="module")
def model() -> runtime.ParsedModel:
    return runtime.parse_model(MODEL)


@pytest.fixture(scope="module")
def spec_json(model: runtime.ParsedModel) -> str:
    return model.spec_json


def beratungen(*gremien: int) -> list[dict]:  # type: ignore[type-arg]
    return [{"position": i, "consultation_id": 100 + i, "organization_id": org,
             "organization_name": f"Gremium {org}", "role": "Kenntnisnahme", "meeting_id": None}
            for i, org in enumerate(gremien, start=1)]


def run(spec_json: str, folge: list[dict], steps: list[tuple[str, int, dict]],  # type: ignore[type-arg]
        restore_between: bool) -> object:
    """Play ``steps`` (expected task, expected Gremium, form data); return the workflow."""
    workflow = runtime.new_workflow(spec_json)
    for task in workflow.get_tasks(state=runtime.TaskState.READY):
        task.data.update(beratungen=folge, vorlage={"id": 1, "reference": "2024/063"})
    runtime.run_engine(workflow)
    for expected, gremium, data in steps:
        if restore_between:
            workflow = runtime.restore(runtime.save(workflow), spec_json, _hash(spec_json))
        ready = runtime.ready_user_tasks(workflow)
        ready_ids = [t.task_spec.bpmn_id for t in ready]
        assert ready_ids == [expected]
        task = ready[0]
        assert task.task_spec.lane == "Sekretariat"
        props = runtime.task_properties(task)
        assert runtime.evaluate(workflow, task, props["candidateOrganization"]) == gremium
        runtime.complete_user_task(workflow, str(task.id), data)
    if restore_between:
        workflow = runtime.restore(runtime.save(workflow), spec_json)
    return workflow


def _hash(spec_json: str) -> str:
    import hashlib

    return hashlib.sha256(spec_json.encode()).hexdigest()


def agenda(meeting: int = 1) -> dict:  # type: ignore[type-arg]
    return {"meeting_id": meeting}


def result(value: str) -> dict:  # type: ignore[type-arg]
    return {"ergebnis": value}


def urgent(decision: str = "beschlossen") -> dict:  # type: ignore[type-arg]
    return {"hauptverwaltungsbeamter": 90, "mitglied": 91, "begruendung": "Die Förderfrist endet vorher.",
            "entschieden_am": "2030-01-06", "entscheidung": decision}


def deciding(*gremien: int) -> list[dict]:  # type: ignore[type-arg]
    return [{**b, "role": "Entscheidung"} for b in beratungen(*gremien)]


SCENARIOS = {
    "seed: committee Kenntnisnahme, then assembly": (
        beratungen(1, 2),
        [("Tagesordnung", 1, agenda()), ("Ergebnis", 1, result("zur_kenntnis_genommen")),
         ("Tagesordnung", 2, agenda()), ("Ergebnis", 2, result("zur_kenntnis_genommen"))],
        "Beratungsfolge_abgeschlossen",
    ),
    "vertagt returns to the agenda of the same Gremium": (
        beratungen(1, 2),
        [("Tagesordnung", 1, agenda(1)), ("Ergebnis", 1, result("vertagt")),
         ("Tagesordnung", 1, agenda(3)), ("Ergebnis", 1, result("vertagt")),
         ("Tagesordnung", 1, agenda(5)), ("Ergebnis", 1, result("beschlossen")),
         ("Tagesordnung", 2, agenda()), ("Ergebnis", 2, result("geaendert_beschlossen"))],
        "Beratungsfolge_abgeschlossen",
    ),
    "zurückgezogen ends the procedure": (
        beratungen(1, 2, 3),
        [("Tagesordnung", 1, agenda()), ("Ergebnis", 1, result("zurueckgezogen"))],
        "Vorlage_zurueckgezogen",
    ),
    "abgelehnt and verwiesen move on to the next Beratung": (
        beratungen(1, 2, 3),
        [("Tagesordnung", 1, agenda()), ("Ergebnis", 1, result("verwiesen")),
         ("Tagesordnung", 2, agenda()), ("Ergebnis", 2, result("abgelehnt")),
         ("Tagesordnung", 3, agenda()), ("Ergebnis", 3, result("beschlossen"))],
        "Beratungsfolge_abgeschlossen",
    ),
    "Dringlichkeitsentscheidung, then Genehmigung in the next session": (
        beratungen(1) + deciding(1, 2)[1:],
        [("Tagesordnung", 1, agenda()), ("Ergebnis", 1, result("empfohlen")),
         ("Tagesordnung", 2, {**agenda(8), "weg": "dringlichkeitsentscheidung"}),
         ("Dringlichkeitsentscheidung", 2, urgent()),
         ("Genehmigung", 2, {"genehmigung": "genehmigt"})],
        "Beratungsfolge_abgeschlossen",
    ),
    "Dringlichkeitsentscheidung, Genehmigung refused, the Beratungsfolge goes on": (
        deciding(2, 3),
        [("Tagesordnung", 2, {**agenda(8), "weg": "dringlichkeitsentscheidung"}),
         ("Dringlichkeitsentscheidung", 2, urgent("geaendert_beschlossen")),
         ("Genehmigung", 2, {"genehmigung": "nicht_genehmigt", "anmerkung": "aufgehoben"}),
         ("Tagesordnung", 3, agenda()), ("Ergebnis", 3, result("beschlossen"))],
        "Beratungsfolge_abgeschlossen",
    ),
    "in the session after all: the default way": (
        deciding(2),
        [("Tagesordnung", 2, {**agenda(8), "weg": "sitzung"}), ("Ergebnis", 2, result("beschlossen"))],
        "Beratungsfolge_abgeschlossen",
    ),
    "a single Beratung": (
        beratungen(7),
        [("Tagesordnung", 7, agenda()), ("Ergebnis", 7, result("beschlossen"))],
        "Beratungsfolge_abgeschlossen",
    ),
}


@pytest.mark.parametrize("restore_between", [False, True], ids=["straight", "save-restore"])
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario(spec_json: str, name: str, restore_between: bool) -> None:
    folge, steps, end = SCENARIOS[name]
    workflow = run(spec_json, folge, steps, restore_between)
    assert workflow.is_completed()  # type: ignore[attr-defined]
    assert runtime.ready_user_tasks(workflow) == []
    ended = [t.task_spec.bpmn_id for t in workflow.get_tasks()  # type: ignore[attr-defined]
             if t.task_spec.bpmn_id in {"Beratungsfolge_abgeschlossen", "Vorlage_zurueckgezogen"}
             and t.state == runtime.TaskState.COMPLETED]
    assert ended == [end]


def test_waits_for_the_secretary_until_a_result_is_recorded(spec_json: str) -> None:
    workflow = run(spec_json, beratungen(1, 2), [("Tagesordnung", 1, agenda())], restore_between=True)
    assert not workflow.is_completed()  # type: ignore[attr-defined]
    ready_ids = [t.task_spec.bpmn_id for t in runtime.ready_user_tasks(workflow)]
    assert ready_ids == ["Ergebnis"]


@pytest.mark.parametrize("restore_between", [False, True], ids=["straight", "save-restore"])
def test_one_model_serves_a_long_beratungsfolge(spec_json: str, restore_between: bool) -> None:
    """Twelve bodies (a Kreistag's committees and the Kreistag), each in turn."""
    gremien = list(range(1, 13))
    steps = [s for g in gremien for s in
             [("Tagesordnung", g, agenda()), ("Ergebnis", g, result("zur_kenntnis_genommen"))]]
    workflow = run(spec_json, beratungen(*gremien), steps, restore_between)
    assert workflow.is_completed()  # type: ignore[attr-defined]


def test_state_is_stored_without_the_spec(spec_json: str) -> None:
    workflow = runtime.new_workflow(spec_json)
    for task in workflow.get_tasks(state=runtime.TaskState.READY):
        task.data.update(beratungen=beratungen(1), vorlage={})
    runtime.run_engine(workflow)
    state = runtime.save(workflow)
    assert '"spec"' not in state and "subprocess_specs" not in state
    assert f'"serializer_version": "{runtime.SERIALIZER_VERSION}"' in state


def test_restoring_with_shared_spec_objects_equals_the_full_restore(spec_json: str) -> None:
    workflow = run(spec_json, beratungen(1, 2), [("Tagesordnung", 1, agenda()),
                                                  ("Ergebnis", 1, result("vertagt"))], False)
    state = runtime.save(workflow)
    shared = runtime.restore(state, spec_json, _hash(spec_json))
    full = runtime.restore(state, spec_json)
    assert runtime.save(shared) == runtime.save(full) == state
    assert shared.spec is runtime.restore(state, spec_json, _hash(spec_json)).spec
