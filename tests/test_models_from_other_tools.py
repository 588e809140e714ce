"""Models as Camunda Modeler 5 and bpmn.io save them (tests/models/): what deploys here and
what is refused, by name and with what to use instead (issue 17). The table of the closing
note comes from this test's files."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from web.cli import main as cli

MODELS = Path(__file__).resolve().parent / "models"


def _check(name: str) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(cli, ["deploy", "--check", str(MODELS / name)])
    errors = [line.removeprefix("Fehler: ") for line in result.output.splitlines() if line.startswith("Fehler: ")]
    return result.exit_code, errors, result.output


def test_a_council_model_drawn_in_camunda_modeler_passes() -> None:
    code, errors, output = _check("camunda-ratsbeschluss.bpmn")
    assert (code, errors) == (0, [])
    assert "camunda-ratsbeschluss.bpmn: in Ordnung – Prozess Beschlusskontrolle" in output


def test_a_bpmn_io_model_with_parallel_ways_and_an_iso_timer_passes() -> None:
    code, errors, _ = _check("bpmnio-einfach.bpmn")
    assert (code, errors) == (0, [])


def test_camunda_s_invoice_process_is_refused_construct_by_construct() -> None:
    code, errors, _ = _check("camunda-rechnungseingang.bpmn")
    assert code == 1
    by_element: dict[str, list[str]] = {}
    for line in errors:
        where, reason = line.split("): ", 1)
        by_element.setdefault(where.split("Element ")[1].split(" (")[0], []).append(reason)
    assert sorted(by_element) == ["Flow_ja", "Flow_nein", "Gateway_Freigegeben", "StartEvent_1", "Task_Ablehnen",
                                  "Task_Archivieren", "Task_Buchen", "Task_Freigeben", "Task_Zuordnen"]
    said = " | ".join(errors)
    for expected in ("Startformulare (camunda:formKey am Startereignis) gibt es hier nicht",
                     "DMN-Entscheidungen (camunda:decisionRef) werden hier nicht ausgewertet",
                     "camunda:candidateGroups nennt 2 Gruppen",
                     "camunda:dueDate=„${dateTime().plusWeeks(1).toDate()}“ lässt sich hier nicht lesen",
                     "Listener (camunda:taskListener) laufen hier nicht",
                     "Java-Klasse (camunda:class) läuft hier nicht",
                     "externe Aufgaben (camunda:type=\"external\", topic „archiv“)",
                     "Skriptsprache „groovy“ läuft hier nicht",
                     "ein Skript aus einer externen Ressource (camunda:resource)",
                     "der Ausdruck „${approved}“ ist JUEL",
                     "jeder Ausgang hat eine Bedingung und keiner ist der Standardfluss"):
        assert expected in said, expected
    assert all("Stattdessen" in r or "bitte" in r.lower() or "hier sind Ausdrücke Python" in r
               or "Das Skript bitte" in r or "Startdaten kommen" in r or "genau ein Gremium" in r
               for r in errors), errors
