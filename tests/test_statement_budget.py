"""The statement budget of the hot path: each completion of the seed case (Vorlage 2024/063)
over ``POST /api/v1/tasks/<id>/complete`` may run at most so many SQL statements.

A later feature that adds a query to a completion fails here and must say so (raise the
budget in the same change, with the reason in its commit). On SQLite ``BEGIN IMMEDIATE`` is
counted as a statement; on PostgreSQL BEGIN/COMMIT are not (psycopg sends them past
SQLAlchemy's cursor events).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlmodel import select

from engine.council import Meeting
from engine.db import count_statements
from engine.tasks import TASK_READY, HumanTask

#: Statements per completion request: (SQLite, PostgreSQL). Reads: the login with its grants
#: together with the task, instance, model version, Beratung, Vorlage, Gremium (with its
#: deadline rules) and Sitzung (one statement); what the step's rules need (session window,
#: the Gremium's sessions, the next TOP, another Gremium's deadline rules); writes: all of
#: them together on PostgreSQL, the audit event among them, one each on SQLite. With
#: ``RATSFLOW_AUDIT_SEAL=scheduler`` that is all; with ``commit`` (the default) the writer
#: seals inside its own transaction just before its commit: SEAL more (the head with the
#: events behind it; the hashes with the new head, on SQLite the head apart).
BUDGET: dict[str, tuple[int, int]] = {
    "Ergebnis erfassen": (9, 4),
    # Issue 19, point 4: the one step "Niederschrift freigeben" (8, 5) became three, once per
    # Sitzung: submitting reads the newest version and writes it (+3, +2); signing likewise; the
    # chair's signature also finds the chair in the memberships (one query, only for that lane) and
    # releases: the Niederschrift is drafted from the sheet and its TOPs' texts and both PDFs are
    # rendered and stored (WeasyPrint: about 0.5 s per PDF of ten TOPs on this machine, no statements).
    "Niederschrift zur Zeichnung vorlegen": (11, 7),
    "Niederschrift zeichnen (Schriftführung)": (10, 6),
    "Niederschrift zeichnen (Vorsitz)": (17, 14),
    # Issue 16: the submitted session comes with the Beratung's session window (one statement, not
    # the window and then all of the Gremium's sessions ahead): (10, 4) → (9, 3).
    "Auf die Tagesordnung setzen": (9, 3),
}
SEAL = (3, 2)


def _task(database: Any, title: str, organization_id: int) -> HumanTask:
    with database.unit_of_work() as s:
        return s.exec(select(HumanTask).where(HumanTask.title == title, HumanTask.status == TASK_READY,
                                              HumanTask.organization_id == organization_id)).one()


def _complete(app: Any, client: Any, task: HumanTask, data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    version = client.get(f"/api/v1/tasks/{task.id}").get_json()["version"]
    engine = app.extensions["ratsflow.db"].engine
    with count_statements(engine) as seen:
        response = client.post(f"/api/v1/tasks/{task.id}/complete",
                               json={"data": data, "expected_version": version})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json(), list(seen)


@pytest.mark.parametrize("seal", ["scheduler", "commit"])
def test_each_seed_step_completes_within_its_statement_budget(seal, settings, demo, database, clock):  # type: ignore[no-untyped-def]
    from web import create_app

    app = create_app(replace(settings, audit_seal=seal), upgrade=False)
    app.config.update(TESTING=True)
    app.extensions["ratsflow.clock"] = clock
    try:
        _steps(app, seal, demo, database)
    finally:
        app.extensions["ratsflow.db"].dispose()


def _steps(app, seal, demo, database):  # type: ignore[no-untyped-def]
    from .conftest import Browser

    backend = 0 if database.settings.is_sqlite else 1
    extra = SEAL[backend] if seal == "commit" else 0
    committee = Browser(app.test_client()).login("hoffmann").client
    assembly = Browser(app.test_client()).login("schmitz").client
    committee_id = demo.committee_meeting.organization_id
    assembly_id = demo.assembly_meeting.organization_id
    counts: dict[str, int] = {}

    done, seen = _complete(app, committee, _task(database, "Ergebnis erfassen", committee_id),
                           {"ergebnis": "zur_kenntnis_genommen"})
    next_titles = [t["title"] for t in done["next_tasks"]]
    assert next_titles == ["Auf die Tagesordnung setzen"]
    counts["Ergebnis erfassen"] = len(seen)

    chair = Browser(app.test_client()).login("becker").client
    for title, client, data in (
            ("Niederschrift zur Zeichnung vorlegen", committee, {"anmerkung": "ohne Einwände"}),
            ("Niederschrift zeichnen (Schriftführung)", committee, {"entscheidung": "zeichnen"}),
            ("Niederschrift zeichnen (Vorsitz)", chair, {"entscheidung": "zeichnen"})):
        done, seen = _complete(app, client, _task(database, title, committee_id), data)
        counts[title] = len(seen)
    assert done["finished"] is True

    with database.unit_of_work() as s:
        meeting_id = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/128")).one()
    done, seen = _complete(app, assembly, _task(database, "Auf die Tagesordnung setzen", assembly_id),
                           {"meeting_id": meeting_id, "top_nummer": "7"})
    next_task = done["next_tasks"][0]
    assert (next_task["title"], next_task["agenda_item_number"], next_task["meeting"]["id"]) == (
        "Ergebnis erfassen", "7", meeting_id)
    counts["Auf die Tagesordnung setzen"] = len(seen)

    over = {step: (count, BUDGET[step][backend] + extra) for step, count in counts.items()
            if count > BUDGET[step][backend] + extra}
    assert not over, f"statements (counted, budget): {over}"
