"""Moving running cases to a new version of their model (issue 17, point 6): a preview per
case, the move in one unit of work with its open task and the history, refused with the
reason where unsafe (nothing changed); on both databases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from engine import audit_history
from engine.council import Meeting
from engine.errors import Conflict, Forbidden
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask
from engine.workflow import runtime
from engine.workflow.models import ProcessInstance, ProcessModel
from web.cli import main as cli

from .conftest import NOW

BPMN = Path(__file__).resolve().parent.parent / "bpmn"


def _version(database, tmp_path: Path, old: str, new: str, folder: str) -> int:  # type: ignore[no-untyped-def]
    """Deploy a changed Beratungsfolge; its version number."""
    where = tmp_path / folder
    shutil.copytree(BPMN / "forms", where / "forms")
    text = (BPMN / "beratungsfolge.bpmn").read_text(encoding="utf-8")
    assert old in text
    (where / "beratungsfolge.bpmn").write_text(text.replace(old, new), encoding="utf-8")
    with database.unit_of_work() as s:
        model, new_version = procedures.deploy(s, where / "beratungsfolge.bpmn", "admin")
        assert new_version
        return model.version


def _running(database, actor, draft) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    paper_id = draft("2024/300", "Umstellung")
    with database.unit_of_work() as s:
        instance = procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW)
        return instance.id, paper_id  # type: ignore[return-value]


RENAMED = ('name="Auf die Tagesordnung setzen"', 'name="Auf eine Tagesordnung setzen"')


def test_a_running_case_moves_to_the_new_version_with_its_open_task(  # type: ignore[no-untyped-def]
        database, demo, actor, draft, tmp_path: Path):
    instance_id, paper_id = _running(database, actor, draft)
    version = _version(database, tmp_path, *RENAMED, folder="v2")
    with database.unit_of_work() as s:
        plan = procedures.migration_preview(s, instance_id, version)
        assert plan.safe and plan.changed == ["Auf die Tagesordnung setzen"] and plan.removed == []
        before = s.get(ProcessInstance, instance_id)
        old_model, expected = before.model_id, before.version
    with database.unit_of_work() as s:
        procedures.migrate_instance(s, actor("admin"), instance_id, version, expected, now=NOW)
    with database.unit_of_work() as s:
        instance = s.get(ProcessInstance, instance_id)
        model = s.get(ProcessModel, instance.model_id)
        assert (model.version, instance.version) == (version, expected + 1) and instance.model_id != old_model
        [task] = s.exec(select(HumanTask).where(HumanTask.process_instance_id == instance_id,
                                                HumanTask.status == TASK_READY)).all()
        assert task.title == "Auf eine Tagesordnung setzen"
        events = audit_history.paper_history(s, paper_id)
        names = audit_history.names_for(s, events)
        history = [(e.action, audit_history.describe(e, names=names)) for e in events]
        # The model by its name, not its process id ("beratungsfolge").
        assert ("workflow.migrated", "Modell „Beratungsfolge“: Version 1 → 2 · geändert: Auf die Tagesordnung setzen") \
            in history
    # It goes on on the new version: the agenda step completes, the result step follows.
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/140")).one()
    with database.unit_of_work() as s:
        done = procedures.complete_task(s, actor("hoffmann"), task.id, {"meeting_id": meeting}, expected + 1,
                                        now=NOW)
        next_titles = [t.title for t in done.next_tasks]
        assert next_titles == ["Ergebnis erfassen"]


def test_an_unsafe_move_is_refused_with_the_reason_and_changes_nothing(  # type: ignore[no-untyped-def]
        database, demo, actor, draft, tmp_path: Path):
    instance_id, _ = _running(database, actor, draft)
    version = _version(database, tmp_path, *RENAMED, folder="v2")
    with database.unit_of_work() as s:
        expected = s.get(ProcessInstance, instance_id).version
    with database.unit_of_work() as s, pytest.raises(Forbidden):
        procedures.migrate_instance(s, actor("hoffmann"), instance_id, version, expected, now=NOW)
    with database.unit_of_work() as s, pytest.raises(Conflict) as same:
        procedures.migrate_instance(s, actor("admin"), instance_id, 1, expected, now=NOW)
    assert "der Vorgang läuft schon auf Version 1" in same.value.message
    with database.unit_of_work() as s:
        assert s.get(ProcessInstance, instance_id).version == expected
        # Onto another process's model: SpiffWorkflow would align what it can; refused here.
        instance = s.get(ProcessInstance, instance_id)
        workflow = runtime.restore(instance.state, s.get(ProcessModel, instance.model_id).spec_json)
        sitzung = procedures.current_model(s, "sitzung")
        plan, _ = runtime.plan_migration(workflow, sitzung.spec_json, sitzung.spec_hash)
        assert plan.problems == ["die andere Version gehört zum Prozess „sitzung“, der Vorgang zu „beratungsfolge“"]


def test_model_migrate_command_previews_and_moves(database, demo, actor, draft, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                  settings, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("RATSFLOW_INSTANCE_PATH", str(settings.instance_path))
    instance_id, _ = _running(database, actor, draft)
    version = _version(database, tmp_path, *RENAMED, folder="v2")
    preview = CliRunner().invoke(cli, ["model", "migrate", "--preview", "--to-version", str(version), str(instance_id)])
    assert preview.exit_code == 0, preview.output
    assert f"Vorgang {instance_id}: bleibt: –; geändert: Auf die Tagesordnung setzen; entfällt: –" in preview.output
    with database.unit_of_work() as s:
        assert s.get(ProcessModel, s.get(ProcessInstance, instance_id).model_id).version == 1
    moved = CliRunner().invoke(cli, ["model", "migrate", "--to-version", str(version), str(instance_id)])
    assert moved.exit_code == 0, moved.output
    assert f"Vorgang {instance_id}: auf Version {version} umgestellt" in moved.output
    again = CliRunner().invoke(cli, ["model", "migrate", "--to-version", str(version), str(instance_id)])
    assert again.exit_code == 1 and f"läuft schon auf Version {version}" in again.output
