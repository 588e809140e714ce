"""Scenario tests of the session model (``sitzung.bpmn``), without a database.

The clock is moved (``runtime.run_engine(workflow, now)``), never waited for. Every scenario
runs straight through and with a save/restore of the workflow state between every step.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.workflow import runtime

MODEL = Path(__file__).parent / "sitzung.bpmn"

CLOSING = datetime(2026, 11, 27, 23, 0, tzinfo=UTC)  # Tagesordnungsschluss
LADUNGSFRIST = datetime(2026, 11, 28, 23, 0, tzinfo=UTC)  # passed unsent from then on
START = datetime(2026, 12, 4, 14, 0, tzinfo=UTC)  # Sitzungsbeginn


@pytest.fixture(scope="module")
def spec_json() -> str:
    return runtime.parse_model(MODEL).spec_json


def _termine(closing: datetime = CLOSING, ladungsfrist: datetime = LADUNGSFRIST,
             start: datetime = START) -> dict[str, str]:
    return {"tagesordnungsschluss": closing.isoformat(), "ladungsfrist_verstrichen": ladungsfrist.isoformat(),
            "sitzungsbeginn": start.isoformat()}


class Play:
    """One session's workflow, saved and restored between steps when asked."""

    def __init__(self, spec_json: str, restore_between: bool, now: datetime) -> None:
        self.spec_json, self.restore_between = spec_json, restore_between
        self.workflow: Any = runtime.new_workflow(spec_json)
        for task in self.workflow.get_tasks(state=runtime.TaskState.READY):
            task.data.update(sitzung={"id": 1, "organization_id": 7}, termine=_termine())
        self.events: list[str] = []
        self.run(now)

    def _again(self) -> None:
        if self.restore_between:
            digest = hashlib.sha256(self.spec_json.encode()).hexdigest()
            self.workflow = runtime.restore(runtime.save(self.workflow), self.spec_json, digest)

    def run(self, now: datetime) -> None:
        self._again()
        before = runtime.finished_task_ids(self.workflow)
        runtime.run_engine(self.workflow, now)
        self._note(before)

    def _note(self, before: set[Any]) -> None:
        self.events += [t.task_spec.bpmn_id for t in runtime.newly_finished(self.workflow, before)
                        if runtime.task_properties(t).get("effect")]

    def ready(self) -> list[str]:
        return [t.task_spec.bpmn_id for t in runtime.ready_user_tasks(self.workflow)]

    def timers(self) -> list[tuple[str, datetime]]:
        return [(t.bpmn_id, t.due_at) for t in runtime.pending_timers(self.workflow)]

    def complete(self, bpmn_id: str, now: datetime, data: dict[str, Any] | None = None) -> None:
        self._again()
        [task] = [t for t in runtime.ready_user_tasks(self.workflow) if t.task_spec.bpmn_id == bpmn_id]
        props = runtime.task_properties(task)
        assert runtime.evaluate(self.workflow, task, props["candidateOrganization"]) == 7
        before = runtime.finished_task_ids(self.workflow)
        runtime.complete_user_task(self.workflow, str(task.id), data or {}, now)
        self._note(before)


both = pytest.mark.parametrize("restore_between", [False, True], ids=["straight", "save-restore"])


@both
def test_agenda_invitation_session_minutes(spec_json: str, restore_between: bool) -> None:
    play = Play(spec_json, restore_between, CLOSING - timedelta(days=10))
    assert play.ready() == [] and play.timers() == [("Tagesordnungsschluss", CLOSING)]
    play.run(CLOSING - timedelta(seconds=1))
    assert play.ready() == []  # not a second early
    play.run(CLOSING + timedelta(minutes=1))
    assert play.ready() == ["Einladung_versenden"]
    assert play.timers() == [("Ladungsfrist_verstrichen", LADUNGSFRIST)]
    play.complete("Einladung_versenden", CLOSING + timedelta(hours=10))
    assert play.timers() == [("Sitzungsbeginn", START)]  # the boundary timer left with its task
    play.run(START - timedelta(minutes=1))
    assert play.ready() == []
    play.run(START + timedelta(minutes=5))
    assert play.ready() == ["Niederschrift_vorlegen"] and play.timers() == []
    play.complete("Niederschrift_vorlegen", START + timedelta(days=3))
    assert play.ready() == ["Niederschrift_zeichnen_Schriftfuehrung"]
    play.complete("Niederschrift_zeichnen_Schriftfuehrung", START + timedelta(days=3),
                  {"entscheidung": "zeichnen"})
    assert play.ready() == ["Niederschrift_zeichnen_Vorsitz"] and not play.workflow.is_completed()
    play.complete("Niederschrift_zeichnen_Vorsitz", START + timedelta(days=4), {"entscheidung": "zeichnen"})
    assert play.workflow.is_completed()
    assert play.events == ["Tagesordnungsschluss", "Einladung_versenden", "Sitzungsbeginn",
                           "Niederschrift_vorlegen", "Niederschrift_zeichnen_Schriftfuehrung",
                           "Niederschrift_zeichnen_Vorsitz", "Niederschrift_freigegeben"]


SIGN = {"entscheidung": "zeichnen"}


def _to_signing(play: Play) -> None:
    play.run(CLOSING + timedelta(minutes=1))
    play.complete("Einladung_versenden", CLOSING + timedelta(hours=10))
    play.run(START + timedelta(minutes=5))
    play.complete("Niederschrift_vorlegen", START + timedelta(days=1))


@both
def test_the_chair_returns_the_minutes_once_then_both_sign(spec_json: str, restore_between: bool) -> None:
    play = Play(spec_json, restore_between, CLOSING - timedelta(days=10))
    _to_signing(play)
    play.complete("Niederschrift_zeichnen_Schriftfuehrung", START + timedelta(days=1), SIGN)
    play.complete("Niederschrift_zeichnen_Vorsitz", START + timedelta(days=2),
                  {"entscheidung": "zurueckgeben", "anmerkung": "TOP 2: Name berichtigen"})
    assert play.ready() == ["Niederschrift_vorlegen"]  # back to drafting, nothing released
    assert "Niederschrift_freigegeben" not in play.events
    play.complete("Niederschrift_vorlegen", START + timedelta(days=3))
    assert play.ready() == ["Niederschrift_zeichnen_Schriftfuehrung"]  # both sign again
    play.complete("Niederschrift_zeichnen_Schriftfuehrung", START + timedelta(days=3), SIGN)
    play.complete("Niederschrift_zeichnen_Vorsitz", START + timedelta(days=4), {"entscheidung": "zeichnen"})
    assert play.workflow.is_completed()
    released = [e for e in play.events if e == "Niederschrift_freigegeben"]
    assert released == ["Niederschrift_freigegeben"]


@both
def test_the_secretary_may_return_the_minutes_too(spec_json: str, restore_between: bool) -> None:
    play = Play(spec_json, restore_between, CLOSING - timedelta(days=10))
    _to_signing(play)
    play.complete("Niederschrift_zeichnen_Schriftfuehrung", START + timedelta(days=1),
                  {"entscheidung": "zurueckgeben", "anmerkung": "Anwesenheit prüfen"})
    assert play.ready() == ["Niederschrift_vorlegen"] and not play.workflow.is_completed()


@both
def test_a_missed_ladungsfrist_escalates_and_the_invitation_still_goes(spec_json: str,
                                                                      restore_between: bool) -> None:
    play = Play(spec_json, restore_between, CLOSING - timedelta(days=1))
    play.run(LADUNGSFRIST + timedelta(hours=1))  # nothing ran in between: both fire now
    assert play.events == ["Tagesordnungsschluss", "Ladungsfrist_verstrichen"]
    assert play.ready() == ["Einladung_versenden"]  # non-interrupting: still to do
    play.run(LADUNGSFRIST + timedelta(days=1))
    assert play.events.count("Ladungsfrist_verstrichen") == 1  # once
    play.complete("Einladung_versenden", LADUNGSFRIST + timedelta(days=1), {"reason": "Nachtrag"})
    assert play.timers() == [("Sitzungsbeginn", START)]


@both
def test_a_moved_session_moves_its_waiting_timers(spec_json: str, restore_between: bool) -> None:
    play = Play(spec_json, restore_between, CLOSING - timedelta(days=5))
    later = timedelta(weeks=3)
    moved = runtime.set_data_everywhere(play.workflow, "termine",
                                        _termine(CLOSING + later, LADUNGSFRIST + later, START + later))
    assert moved == 1
    play.run(CLOSING + timedelta(hours=1))
    assert play.ready() == [] and play.timers() == [("Tagesordnungsschluss", CLOSING + later)]
    play.run(CLOSING + later + timedelta(hours=1))
    play.complete("Einladung_versenden", CLOSING + later + timedelta(hours=2))
    # Moved again while waiting for the session itself (its parent already finished).
    runtime.set_data_everywhere(play.workflow, "termine",
                                _termine(CLOSING + later, LADUNGSFRIST + later, START + 2 * later))
    play.run(START + later + timedelta(hours=1))
    assert play.ready() == [] and play.timers() == [("Sitzungsbeginn", START + 2 * later)]


@both
def test_sending_early_closes_the_agenda(spec_json: str, restore_between: bool) -> None:
    play = Play(spec_json, restore_between, CLOSING - timedelta(days=5))
    assert runtime.fire_timer_now(play.workflow, "Tagesordnungsschluss")
    play.run(CLOSING - timedelta(days=5))
    assert play.ready() == ["Einladung_versenden"] and play.events == ["Tagesordnungsschluss"]


def test_every_timer_kind_is_a_pending_row(tmp_path: Path) -> None:
    """timeDate, timeDuration and timeCycle (intermediate and boundary) all surface with their moment."""
    bpmn = (MODEL.read_text()
            .replace("<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">termine['tagesordnungsschluss']"
                     "</bpmn:timeDate>",
                     "<bpmn:timeDuration xsi:type=\"bpmn:tFormalExpression\">\"P2D\"</bpmn:timeDuration>")
            .replace("<bpmn:timeDate xsi:type=\"bpmn:tFormalExpression\">termine['ladungsfrist_verstrichen']"
                     "</bpmn:timeDate>",
                     "<bpmn:timeCycle xsi:type=\"bpmn:tFormalExpression\">\"R3/PT12H\"</bpmn:timeCycle>"))
    path = tmp_path / "sitzung.bpmn"
    path.write_text(bpmn)
    (tmp_path / "forms").mkdir()
    for form in (MODEL.parent / "forms").glob("*.json"):
        (tmp_path / "forms" / form.name).write_text(form.read_text())
    spec_json = runtime.parse_model(path).spec_json
    t0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    play = Play(spec_json, True, t0)
    assert play.timers() == [("Tagesordnungsschluss", t0 + timedelta(days=2))]
    play.run(t0 + timedelta(days=2, seconds=1))
    t1 = t0 + timedelta(days=2, seconds=1)
    [(name, first)] = play.timers()
    assert name == "Ladungsfrist_verstrichen" and first == t1 + timedelta(hours=12)
    play.run(first + timedelta(seconds=1))
    assert play.events.count("Ladungsfrist_verstrichen") == 1
    assert play.timers() == [("Ladungsfrist_verstrichen", first + timedelta(hours=12))]  # the next round
