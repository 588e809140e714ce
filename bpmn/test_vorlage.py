"""Scenario tests of the lifecycle of a Vorlage (bpmn/vorlage.bpmn), without a database.

The lifecycle calls the Beratungsfolge (bpmn/beratungsfolge.bpmn, unchanged) as a call
activity: both are parsed together, as the deploy does. Every scenario runs twice: straight
through, and with a save/restore of the workflow state between every step.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from engine.workflow import runtime

HERE = Path(__file__).parent
LEAD, MOBILITY, LAW, FINANCE = 10, 11, 12, 13
COMMITTEE, ASSEMBLY = 1, 2


@pytest.fixture(scope="module")
def spec_json() -> str:
    return runtime.parse_model(HERE / "vorlage.bpmn", together=[HERE / "beratungsfolge.bpmn"]).spec_json


def department(org: int) -> dict[str, Any]:
    return {"organization_id": org, "organization_name": f"Bereich {org}"}


def start_data(involved: tuple[int, ...] = (MOBILITY, LAW), finance: int | None = FINANCE) -> dict[str, Any]:
    return {
        "vorlage": {"id": 1, "reference": "2024/080", "name": "Radschnellweg"},
        "beratungen": [{"position": i, "consultation_id": 100 + i, "organization_id": org,
                        "organization_name": f"Gremium {org}", "role": "Entscheidung", "meeting_id": None}
                       for i, org in enumerate((COMMITTEE, ASSEMBLY), start=1)],
        "federfuehrung": department(LEAD),
        "beteiligte": [department(o) for o in involved],
        "finanzen": department(finance) if finance is not None else None,
    }


Step = tuple[str, int, dict[str, Any]]  # expected task, its candidate organization, form data


class Run:
    """A workflow played step by step; each step says which task, for whom."""

    def __init__(self, spec_json: str, data: dict[str, Any], restore_between: bool) -> None:
        self.spec_json, self.restore_between = spec_json, restore_between
        self.spec_hash = hashlib.sha256(spec_json.encode()).hexdigest()
        self.workflow = runtime.new_workflow(spec_json)
        for task in self.workflow.get_tasks(state=runtime.TaskState.READY):
            task.data.update(data)
        runtime.run_engine(self.workflow)

    def ready(self) -> list[tuple[str, int]]:
        return sorted((t.task_spec.bpmn_id, runtime.evaluate(
            self.workflow, t, runtime.task_properties(t)["candidateOrganization"]))
            for t in runtime.ready_user_tasks(self.workflow))

    def do(self, steps: list[Step]) -> None:
        for expected, organization, data in steps:
            if self.restore_between:
                self.workflow = runtime.restore(runtime.save(self.workflow), self.spec_json, self.spec_hash)
            matching = [t for t in runtime.ready_user_tasks(self.workflow) if t.task_spec.bpmn_id == expected
                        and runtime.evaluate(self.workflow, t, runtime.task_properties(t)[
                            "candidateOrganization"]) == organization]
            ready_now = self.ready()
            assert matching, f"{expected} for {organization} not ready; ready: {ready_now}"
            runtime.complete_user_task(self.workflow, str(matching[0].id), data)
        if self.restore_between:
            self.workflow = runtime.restore(runtime.save(self.workflow), self.spec_json, self.spec_hash)

    def data(self) -> dict[str, Any]:
        return dict(self.workflow.last_task.data)

    def ended_in(self) -> list[str]:
        return sorted(runtime.declared_at_end(self.workflow, "endState"))


def draft(impact: str = "keine") -> Step:
    return ("Entwurf", LEAD, {"finanzielle_auswirkungen": impact})


def sign(org: int, answer: str = "mitgezeichnet", note: str | None = None) -> Step:
    return ("Mitzeichnung", org, {"mitzeichnung": answer, **({"anmerkung": note} if note else {})})


def release(answer: str = "freigeben", reason: str | None = None) -> Step:
    return ("Freigabe", LEAD, {"freigabe": answer, **({"begruendung": reason} if reason else {})})


CONSULTATION: list[Step] = [
    ("Tagesordnung", COMMITTEE, {"meeting_id": 7}), ("Ergebnis", COMMITTEE, {"ergebnis": "beschlossen"}),
    ("Tagesordnung", ASSEMBLY, {"meeting_id": 8}), ("Ergebnis", ASSEMBLY, {"ergebnis": "beschlossen"})]
AFTER: list[Step] = [("Ausfertigung", LEAD, {"faellig_am": "2030-06-30"}),
                     ("Kontrolle", LEAD, {"erledigungsvermerk": "Umgesetzt."})]

both = pytest.mark.parametrize("restore_between", [False, True], ids=["straight", "save-restore"])


@both
def test_all_sign_then_release_consult_carry_out(spec_json: str, restore_between: bool) -> None:
    run = Run(spec_json, start_data(), restore_between)
    run.do([draft()])
    co_signers = run.ready()
    assert co_signers == sorted([("Mitzeichnung", MOBILITY), ("Mitzeichnung", LAW)])
    run.do([sign(LAW), sign(MOBILITY, "mit_anmerkung", "Bitte Radwege zählen"), release()])
    first_body = run.ready()
    assert first_body == [("Tagesordnung", COMMITTEE)]
    run.do(CONSULTATION)
    assert run.ready() == [("Ausfertigung", LEAD)]
    run.do(AFTER)
    assert run.workflow.is_completed()
    assert run.ended_in() == ["done"]
    remarks = [(a["organization_id"], a["anmerkung"], a["runde"]) for a in run.data()["anmerkungen"]]
    assert remarks == [(MOBILITY, "Bitte Radwege zählen", 1)]


@both
def test_one_returns_twice_rounds_are_numbered(spec_json: str, restore_between: bool) -> None:
    run = Run(spec_json, start_data(), restore_between)
    run.do([draft(), sign(MOBILITY), sign(LAW, "zurueck", "Rechtsgrundlage fehlt")])
    assert run.ready() == [("Entwurf", LEAD)]
    assert run.data()["runde"] == 1
    run.do([draft(), sign(LAW, "zurueck", "noch immer nicht"), sign(MOBILITY)])
    assert run.ready() == [("Entwurf", LEAD)]
    run.do([draft(), sign(MOBILITY), sign(LAW)])
    assert run.ready() == [("Freigabe", LEAD)]
    data = run.data()
    assert data["runde"] == 3
    returned = [(a["organization_id"], a["runde"]) for a in data["rueckgaben"]]
    assert returned == []  # the last round returned nothing


@both
def test_finance_co_signs_with_financial_impact_once(spec_json: str, restore_between: bool) -> None:
    run = Run(spec_json, start_data(involved=(MOBILITY, FINANCE)), restore_between)
    run.do([draft("nicht_im_haushalt")])
    asked = run.ready()
    assert asked == sorted([("Mitzeichnung", MOBILITY), ("Mitzeichnung", FINANCE)])  # Finanzen once

    run = Run(spec_json, start_data(involved=(MOBILITY,)), restore_between)
    run.do([draft("im_haushalt")])
    assert sorted(run.ready()) == sorted([("Mitzeichnung", MOBILITY), ("Mitzeichnung", FINANCE)])
    run.do([sign(FINANCE), sign(MOBILITY)])
    assert run.ready() == [("Freigabe", LEAD)]


@both
def test_without_financial_impact_finance_is_not_asked(spec_json: str, restore_between: bool) -> None:
    run = Run(spec_json, start_data(involved=(MOBILITY,)), restore_between)
    run.do([draft("keine")])
    assert run.ready() == [("Mitzeichnung", MOBILITY)]


@both
def test_nobody_involved_goes_straight_to_the_freigabe(spec_json: str, restore_between: bool) -> None:
    run = Run(spec_json, start_data(involved=(), finance=None), restore_between)
    run.do([draft("im_haushalt")])
    assert run.ready() == [("Freigabe", LEAD)]


@both
def test_freigabe_returns_and_a_new_round_begins(spec_json: str, restore_between: bool) -> None:
    run = Run(spec_json, start_data(involved=(MOBILITY,)), restore_between)
    run.do([draft(), sign(MOBILITY), release("zurueck", "Zu lang")])
    assert run.ready() == [("Entwurf", LEAD)]
    run.do([draft()])
    assert run.ready() == [("Mitzeichnung", MOBILITY)]
    assert run.data()["runde"] == 2


@both
def test_rounds_are_bounded(spec_json: str, restore_between: bool) -> None:
    run = Run(spec_json, start_data(involved=(LAW,)), restore_between)
    for _ in range(4):
        run.do([draft(), sign(LAW, "zurueck", "nein")])
        assert run.ready() == [("Entwurf", LEAD)]
    run.do([draft(), sign(LAW, "zurueck", "nein")])
    assert run.workflow.is_completed()
    assert run.ended_in() == ["withdrawn"]
    assert run.data()["runde"] == run.data()["max_runden"] == 5


@both
def test_withdrawn_in_the_beratungsfolge_skips_ausfertigung(spec_json: str, restore_between: bool) -> None:
    run = Run(spec_json, start_data(involved=()), restore_between)
    run.do([draft(), release(), ("Tagesordnung", COMMITTEE, {"meeting_id": 7}),
            ("Ergebnis", COMMITTEE, {"ergebnis": "zurueckgezogen"})])
    assert run.workflow.is_completed()
    assert run.ended_in() == ["withdrawn"]


def test_the_beratungsfolge_runs_unchanged_inside(spec_json: str) -> None:
    """vertagt returns to the agenda step of the same Gremium inside the call activity."""
    run = Run(spec_json, start_data(involved=()), restore_between=True)
    run.do([draft(), release(), ("Tagesordnung", COMMITTEE, {"meeting_id": 7}),
            ("Ergebnis", COMMITTEE, {"ergebnis": "vertagt"})])
    assert run.ready() == [("Tagesordnung", COMMITTEE)]
    lanes = {t.task_spec.lane for t in runtime.ready_user_tasks(run.workflow)}
    assert lanes == {"Sekretariat"}


def test_lanes_name_the_roles(spec_json: str) -> None:
    run = Run(spec_json, start_data(involved=(MOBILITY,)), restore_between=False)
    seen: dict[str, str] = {}
    for step in [draft(), sign(MOBILITY), release()]:
        for task in runtime.ready_user_tasks(run.workflow):
            seen[task.task_spec.bpmn_id] = task.task_spec.lane
        run.do([step])
    assert seen == {"Entwurf": "Sachbearbeitung", "Mitzeichnung": "Sachbearbeitung", "Freigabe": "Freigabe"}


def test_the_scenario_file_passes(spec_json: str) -> None:
    from engine.workflow import scenarios

    outcomes = scenarios.run_file(spec_json, HERE / "vorlage.szenarien.json")
    failed = [(o.name, o.problem) for o in outcomes if not o.ok]
    assert failed == []
    assert len(outcomes) == 5


def test_the_diagram_keeps_the_called_steps_when_the_state_is_pruned(spec_json: str) -> None:
    """The stored state is pruned as it grows (issue 16), the finished call activity with it:
    its steps stay known by their process, for the auditor's diagram."""
    data = start_data(involved=(MOBILITY,))
    data["beratungen"] = data["beratungen"][:1]
    run = Run(spec_json, data, restore_between=True)
    run.do([draft("im_haushalt"), sign(MOBILITY, "zurueck", "x"), sign(FINANCE), draft("im_haushalt"),
            sign(MOBILITY), sign(FINANCE), release(), *CONSULTATION[:2], AFTER[0]])
    assert run.workflow.subprocesses == {}  # pruned with its call activity
    completed, current = runtime.elements_by_state(run.workflow)
    inside = {"Tagesordnung", "Ergebnis", "Beratungsfolge_abgeschlossen"}
    assert inside <= completed and {"Beratungsfolge", "Mitzeichnung", "Freigabe"} <= completed
    assert current == {"Kontrolle"}
