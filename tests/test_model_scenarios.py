"""Model tests beside the model (issue 17, point 7): the project's own models carry scenario
files that ``ratsflow model test`` runs in memory; a deploy runs them and refuses a version
that no longer does what they say (nothing deployed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from engine.process import procedures
from engine.workflow import runtime, scenarios
from engine.workflow.models import ProcessModel
from engine.workflow.runtime import ModelError
from web.cli import main as cli

PROJECT = Path(__file__).resolve().parent.parent
BPMN = PROJECT / "bpmn"


@pytest.mark.parametrize("model", ["beratungsfolge.bpmn", "sitzung.bpmn"])
def test_the_project_s_models_carry_scenarios_that_pass(model: str) -> None:
    path = BPMN / model
    parsed = runtime.parse_model(path, requires=procedures.MODEL_REQUIREMENTS)
    outcomes = scenarios.run_file(parsed.spec_json, scenarios.file_for(path))
    failed = [(o.name, o.problem) for o in outcomes if not o.ok]
    assert len(outcomes) >= 3 and failed == []


def _copy(tmp_path: Path, change: tuple[str, str] | None = None, scenario: dict | None = None) -> Path:  # type: ignore[type-arg]
    shutil.copytree(BPMN / "forms", tmp_path / "forms")
    model = tmp_path / "beratungsfolge.bpmn"
    text = (BPMN / "beratungsfolge.bpmn").read_text(encoding="utf-8")
    if change:
        assert change[0] in text
        text = text.replace(change[0], change[1])
    model.write_text(text, encoding="utf-8")
    data = json.loads(scenarios.file_for(BPMN / "beratungsfolge.bpmn").read_text(encoding="utf-8"))
    if scenario is not None:
        data["szenarien"].append({"start": data["szenarien"][0]["start"], **scenario})
    scenarios.file_for(model).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return model


#: "vertagt" no longer goes back to the agenda step: the Beratung counts as done.
BROKEN = ('ergebnis == "vertagt"', 'ergebnis == "vertagt_"')


def test_a_version_that_breaks_its_scenarios_is_not_deployed(tmp_path: Path, database, demo) -> None:  # type: ignore[no-untyped-def]
    model = _copy(tmp_path, BROKEN)
    with pytest.raises(ModelError) as refused, database.unit_of_work() as s:
        procedures.deploy(s, model, "admin")
    message = str(refused.value)
    assert message.startswith("beratungsfolge.bpmn: Szenario „Vertagt, in der nächsten Sitzung beschlossen“ "
                              "(beratungsfolge.szenarien.json): "), message
    with database.unit_of_work() as s:
        versions = s.exec(select(ProcessModel.version).where(ProcessModel.process_id == "beratungsfolge")).all()
    assert list(versions) == [1]  # the bundled version only


def test_model_test_command_reports_each_scenario(tmp_path: Path) -> None:
    ok = CliRunner().invoke(cli, ["model", "test", str(BPMN / "beratungsfolge.bpmn")])
    assert ok.exit_code == 0, ok.output
    assert "beratungsfolge.bpmn: ✓ Vertagt, in der nächsten Sitzung beschlossen" in ok.output
    broken = CliRunner().invoke(cli, ["model", "test", str(_copy(tmp_path, BROKEN))])
    assert broken.exit_code == 1
    assert "beratungsfolge.bpmn: ✗ Vertagt, in der nächsten Sitzung beschlossen: " in broken.output
    assert "beratungsfolge.bpmn: ✓ Zurückgezogen endet die Beratungsfolge" in broken.output


@pytest.mark.parametrize("scenario, says", [
    ({"name": "Falscher Schritt", "schritte": [{"erledigen": "Gibt_es_nicht"}], "wartet": []},
     "Schritt 1: „Gibt_es_nicht“ ist nicht bereit (bereit: Tagesordnung)"),
    ({"name": "Falsches Ende", "schritte": [], "ende": "Beratungsfolge_abgeschlossen"},
     "kein Ende erreicht, es wartet auf: Tagesordnung"),
    ({"name": "Ohne Ende", "schritte": [{"uhr": "morgen"}], "ende": "X"}, "„morgen“ ist kein Zeitpunkt"),
])
def test_a_scenario_that_goes_otherwise_says_where(tmp_path: Path, scenario, says: str) -> None:  # type: ignore[no-untyped-def]
    model = _copy(tmp_path, scenario=scenario)
    parsed = runtime.parse_model(model, requires=procedures.MODEL_REQUIREMENTS)
    outcomes = {o.name: o for o in scenarios.run_file(parsed.spec_json, scenarios.file_for(model))}
    assert says in (outcomes[scenario["name"]].problem or "")


@pytest.mark.parametrize("content, says", [
    ("{", "kein gültiges JSON"),
    ('{"szenarien": []}', "mit 1 bis 50 Szenarien"),
    ('{"szenarien": [{"name": "x", "ende": "a", "wartet": []}]}', "genau eines von \"ende\" und \"wartet\""),
    ('{"szenarien": [{"name": "x", "schritte": [{"erledigen": "a", "uhr": "b"}], "ende": "a"}]}',
     "jeder Schritt ist"),
])
def test_a_broken_scenario_file_is_named(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "x.szenarien.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(scenarios.ScenarioError) as refused:
        scenarios.load(path)
    assert str(refused.value).startswith("x.szenarien.json") and says in str(refused.value)
