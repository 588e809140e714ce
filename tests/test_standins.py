"""Vertretung (stand-ins), on both databases: who may name whom for when, the tasks offered to
the stand-in during the period (inbox, API, completion), the history that says for whom, and
a period ended that stops at once."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlmodel import select

from engine import audit, inbox, standins
from engine.audit_history import describe
from engine.db import count_statements
from engine.errors import Forbidden, Invalid
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask, claim
from engine.workflow.models import ProcessInstance

from .conftest import NOW, text_of
from .test_statement_budget import BUDGET, SEAL

TODAY = NOW.date()


def _name(database, actor, absent: str, substitute: str, start: date = TODAY,  # type: ignore[no-untyped-def]
          end: date = TODAY + timedelta(days=7), by: str | None = None) -> int:
    with database.unit_of_work() as s:
        who = actor(by or absent)
        return standins.name_stand_in(s, who, actor(absent).account_id, substitute, start.isoformat(),  # type: ignore[return-value]
                                      end.isoformat(), NOW).id


def _result_task(database) -> tuple[HumanTask, int]:  # type: ignore[no-untyped-def]
    """The seed's open result step, the committee's (hoffmann's Gremium)."""
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.title == "Ergebnis erfassen",
                                              HumanTask.status == TASK_READY)).one()
        return task, s.get(ProcessInstance, task.process_instance_id).version  # type: ignore[union-attr]


def _inbox_ids(database, actor, username: str, view: str = "gremium", at=NOW) -> list[int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        page = inbox.list_tasks(s, actor(username), inbox.InboxQuery.load({"view": view}), at.date())
        return [row.task.id for row in page.rows]


def test_the_rules_refuse_in_german_and_write_nothing(database, demo, actor):  # type: ignore[no-untyped-def]
    def refused(**kw: Any) -> dict[str, list[str]]:
        with pytest.raises(Invalid) as exc:
            _name(database, actor, **kw)
        return exc.value.errors

    assert refused(absent="hoffmann", substitute="hoffmann")["vertretung"] == ["Niemand kann sich selbst vertreten."]
    assert refused(absent="hoffmann", substitute="niemand")["vertretung"] == ["Kein aktives Konto „niemand“."]
    assert refused(absent="hoffmann", substitute="schmitz", start=TODAY,
                   end=TODAY - timedelta(days=1))["bis"] == ["Das Ende liegt vor dem Beginn."]
    assert refused(absent="hoffmann", substitute="schmitz", start=TODAY - timedelta(days=9),
                   end=TODAY - timedelta(days=2))["bis"] == ["Der Zeitraum ist schon vorbei."]
    with pytest.raises(Forbidden):
        _name(database, actor, "hoffmann", "schmitz", by="schmitz")
    for day in ("4.13.2026", "morgen", ""):
        with pytest.raises(Invalid) as bad, database.unit_of_work() as s:
            standins.name_stand_in(s, actor("hoffmann"), actor("hoffmann").account_id, "schmitz", day,
                                   TODAY.isoformat(), NOW)
        assert bad.value.errors["von"] == ["Bitte ein Datum angeben (TT.MM.JJJJ)."]
    with database.unit_of_work() as s:
        rows = s.exec(select(standins.StandIn)).all()
    assert rows == []


def test_a_period_is_read_as_the_page_shows_a_day_too(database, demo, actor):  # type: ignore[no-untyped-def]
    """04.12.2026 as the page writes days, 2026-12-04 as a date field sends them."""
    hoffmann = actor("hoffmann")
    with database.unit_of_work() as s:
        row = standins.name_stand_in(s, hoffmann, hoffmann.account_id, "schmitz", f"{TODAY:%d.%m.%Y}",
                                     (TODAY + timedelta(days=3)).isoformat(), NOW)
        assert (row.starts, row.ends) == (TODAY, TODAY + timedelta(days=3))


def test_no_chains_either_way(database, demo, actor):  # type: ignore[no-untyped-def]
    _name(database, actor, "hoffmann", "schmitz")
    # schmitz stands in for hoffmann: schmitz cannot be away with a stand-in of her own meanwhile …
    with pytest.raises(Invalid) as own:
        _name(database, actor, "schmitz", "zierstedt", start=TODAY + timedelta(days=3))
    assert "selbst jemanden" in own.value.errors["vertretung"][0]
    # … and hoffmann, away, cannot be named anyone's stand-in for that time.
    with pytest.raises(Invalid) as absent:
        _name(database, actor, "zierstedt", "hoffmann", start=TODAY + timedelta(days=5))
    assert "selbst abwesend" in absent.value.errors["vertretung"][0]
    # After the period both are free again.
    later = _name(database, actor, "schmitz", "zierstedt", start=TODAY + timedelta(days=8),
                  end=TODAY + timedelta(days=9))
    assert later > 0


def test_an_admin_names_a_stand_in_for_someone_and_it_is_audited(database, demo, actor):  # type: ignore[no-untyped-def]
    _name(database, actor, "hoffmann", "schmitz", by="admin")
    with database.unit_of_work() as s:
        events = [e for e in s.exec(select(audit.AuditEvent)) if e.action == "standin.named"]
        described = describe(events[0])
    assert events[0].actor == "admin" and events[0].details["absent"] == "hoffmann"
    assert "vertritt" in described and f"{TODAY:%d.%m.%Y}" in described


def test_during_the_period_the_stand_in_is_offered_and_completes_the_task(database, demo, actor):  # type: ignore[no-untyped-def]
    task, version = _result_task(database)
    assert task.id not in _inbox_ids(database, actor, "schmitz")  # the assembly's secretary: not hers
    stand_in = _name(database, actor, "hoffmann", "schmitz", start=TODAY + timedelta(days=1))
    assert task.id not in _inbox_ids(database, actor, "schmitz")  # not yet: it begins tomorrow
    tomorrow = NOW + timedelta(days=1)
    assert task.id in _inbox_ids(database, actor, "schmitz", at=tomorrow)
    assert task.id in _inbox_ids(database, actor, "schmitz", view="group", at=tomorrow)
    with database.unit_of_work() as s:
        procedures.complete_task(s, actor("schmitz"), task.id, {"ergebnis": "zur_kenntnis_genommen"}, version,
                                 now=tomorrow)
        event = [e for e in audit.events_for_paper(s, demo.paper_id) if e.action == "task.completed"][-1]
        done = s.get(HumanTask, task.id)
    assert event.actor == "schmitz"
    assert event.details["in_vertretung_fuer"] == {"username": "hoffmann", "name": "Lea Hoffmann"}
    assert describe(event).startswith("erledigt von Jonas Schmitz in Vertretung für Lea Hoffmann")
    assert done.completed_by == "schmitz"  # type: ignore[union-attr]
    assert stand_in > 0


def test_a_task_the_absent_person_holds_goes_to_the_stand_in_not_to_colleagues(database, demo, actor, colleague):  # type: ignore[no-untyped-def]
    task, version = _result_task(database)
    with database.unit_of_work() as s:
        claim(s, actor("hoffmann"), task.id, NOW)
    _name(database, actor, "hoffmann", "schmitz")
    assert task.id in _inbox_ids(database, actor, "schmitz", view="mine")
    with database.unit_of_work() as s:  # weber, hoffmann's colleague, is not her stand-in
        with pytest.raises(Exception, match="bearbeitet"):
            procedures.complete_task(s, actor(colleague), task.id, {"ergebnis": "zur_kenntnis_genommen"},
                                     version, now=NOW)
    with database.unit_of_work() as s:
        procedures.complete_task(s, actor("schmitz"), task.id, {"ergebnis": "zur_kenntnis_genommen"}, version,
                                 now=NOW)


def test_an_ended_period_stops_at_once(database, demo, actor):  # type: ignore[no-untyped-def]
    task, version = _result_task(database)
    stand_in = _name(database, actor, "hoffmann", "schmitz")
    assert task.id in _inbox_ids(database, actor, "schmitz")
    with database.unit_of_work() as s:
        standins.end_stand_in(s, actor("hoffmann"), stand_in, NOW)
    assert task.id not in _inbox_ids(database, actor, "schmitz")
    with database.unit_of_work() as s:
        with pytest.raises(Forbidden):
            procedures.complete_task(s, actor("schmitz"), task.id, {"ergebnis": "zur_kenntnis_genommen"},
                                     version, now=NOW)
        ended = [e for e in s.exec(select(audit.AuditEvent)) if e.action == "standin.ended"]
    assert len(ended) == 1


def test_the_stand_in_is_not_lent_the_administration(database, demo, actor, others):  # type: ignore[no-untyped-def]
    """An admin away lends no admin rights: krause (another Gremium) gets no task of the seed."""
    task, _ = _result_task(database)
    _name(database, actor, "admin", "krause")
    assert task.id not in _inbox_ids(database, actor, "krause")


def test_mein_konto_and_the_api(database, demo, actor, browser, clock, app):  # type: ignore[no-untyped-def]
    clock.now = NOW
    hoffmann = browser().login("hoffmann")
    page = text_of(hoffmann.get("/konto").get_data(as_text=True))
    assert "Vertretung" in page and "Keine Vertretung eingetragen." in page
    bad = hoffmann.post("/konto/vertretung", {"vertretung": "hoffmann", "von": TODAY.isoformat(),
                                              "bis": TODAY.isoformat()})
    assert bad.status_code == 422 and "Niemand kann sich selbst vertreten." in text_of(bad.get_data(as_text=True))
    good = hoffmann.post("/konto/vertretung", {"vertretung": "schmitz", "von": TODAY.isoformat(),
                                               "bis": (TODAY + timedelta(days=3)).isoformat()})
    assert good.status_code == 302
    assert "Jonas Schmitz" in text_of(hoffmann.get("/konto").get_data(as_text=True))

    task, version = _result_task(database)
    schmitz = browser().login("schmitz")
    shown = text_of(schmitz.get(f"/aufgaben/{task.id}").get_data(as_text=True))
    assert "Sie handeln hier in Vertretung für Lea Hoffmann." in shown
    listed = [t["id"] for t in schmitz.get("/api/v1/tasks?view=gremium").get_json()["tasks"]]
    assert task.id in listed
    backend = 0 if database.settings.is_sqlite else 1
    engine = app.extensions["ratsflow.db"].engine
    with count_statements(engine) as seen:
        done = schmitz.client.post(f"/api/v1/tasks/{task.id}/complete",
                                   json={"data": {"ergebnis": "zur_kenntnis_genommen"}, "expected_version": version})
    assert done.status_code == 200, done.get_data(as_text=True)
    # A completion in Vertretung costs one statement more than the budget's (the stand-in lookup).
    sealing = SEAL[backend] if app.extensions["ratsflow.settings"].audit_seal == "commit" else 0
    statements = list(seen)
    assert len(statements) <= BUDGET["Ergebnis erfassen"][backend] + sealing + 1, statements


def test_the_stand_in_takes_the_task_and_completes_it_in_vertretung(database, demo, actor):  # type: ignore[no-untyped-def]
    task, version = _result_task(database)
    _name(database, actor, "hoffmann", "schmitz")
    with database.unit_of_work() as s:
        taken = claim(s, actor("schmitz"), task.id, NOW)
        assert taken.assignee == "schmitz"
    assert task.id in _inbox_ids(database, actor, "schmitz", view="mine")
    with database.unit_of_work() as s:
        procedures.complete_task(s, actor("schmitz"), task.id, {"ergebnis": "zur_kenntnis_genommen"}, version,
                                 now=NOW)
        event = [e for e in audit.events_for_paper(s, demo.paper_id) if e.action == "task.completed"][-1]
    assert event.details["in_vertretung_fuer"]["username"] == "hoffmann"
