"""Dringlichkeitsentscheidung (GO NRW § 60 Abs. 1) on the Beratungsfolge, on both databases:
the agenda step chooses it, the Sekretariat records who decided and why, the session the
Beratung stands on approves it – or refuses, which is recorded and said in words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from engine import audit
from engine.audit_history import describe
from engine.council import (
    URGENT_REFUSED_MEANS,
    AgendaItem,
    Consultation,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
    UrgentDecision,
)
from engine.errors import Conflict, Invalid
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance

from .conftest import NOW, text_of


@pytest.fixture
def urgent(database, demo, actor):  # type: ignore[no-untyped-def]
    """A Beschlussvorlage deciding in the assembly, its Beratungsfolge started; the assembly's
    Verbandsvorsteher (Kaiser) and its members."""
    with database.unit_of_work() as s:
        seed = s.get(Paper, demo.paper_id)
        assembly = s.exec(select(Organization).where(Organization.short_name == "VV")).one()
        head = Person(body_id=seed.body_id, family_name="Kaiser", given_name="Ulrich")
        s.add(head)
        s.flush()
        s.add(Membership(person_id=head.id, organization_id=assembly.id, role="Verbandsvorsteher"))
        paper = Paper(body_id=seed.body_id, reference="2026/090", name="Förderantrag Radschnellweg",
                      paper_type="Beschlussvorlage", under_direction_of_id=seed.under_direction_of_id)
        s.add(paper)
        s.flush()
        s.add(Consultation(paper_id=paper.id, position=1, organization_id=assembly.id, role="Entscheidung"))
        s.flush()
        members = {p.family_name: p.id for p in s.exec(
            select(Person).join(Membership, col(Membership.person_id) == Person.id)
            .where(Membership.organization_id == assembly.id))}
        meeting_id = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/128")).one()
        paper_id = paper.id
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW)
    return {"paper_id": paper_id, "members": members, "meeting_id": meeting_id}


def _open(database, paper_id: int) -> tuple[HumanTask, int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        return task, s.get(ProcessInstance, task.process_instance_id).version  # type: ignore[union-attr]


def _do(database, actor, paper_id: int, data: dict[str, Any], at=NOW) -> HumanTask:  # type: ignore[no-untyped-def]
    task, version = _open(database, paper_id)
    with database.unit_of_work() as s:
        procedures.complete_task(s, actor("schmitz"), task.id, data, version, now=at)  # type: ignore[arg-type]
    return task


def _decide(database, actor, urgent, **changes: Any) -> HumanTask:  # type: ignore[no-untyped-def]
    members = urgent["members"]
    data = {"hauptverwaltungsbeamter": members["Kaiser"], "mitglied": members["Jansen"],
            "begruendung": "Die Förderfrist endet vor der nächsten Sitzung.",
            "entschieden_am": (NOW - timedelta(days=1)).date().isoformat(), "entscheidung": "beschlossen",
            "beschlusstext": "Der Förderantrag wird gestellt.", **changes}
    return _do(database, actor, urgent["paper_id"], data)


def _on_agenda_urgently(database, actor, urgent) -> None:  # type: ignore[no-untyped-def]
    task = _do(database, actor, urgent["paper_id"],
               {"meeting_id": urgent["meeting_id"], "weg": "dringlichkeitsentscheidung"})
    assert task.bpmn_id == "Tagesordnung"


def _session_begun(database, urgent):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.get(Meeting, urgent["meeting_id"]).start + timedelta(hours=3)  # type: ignore[union-attr]


def test_urgent_decision_then_approval_in_the_next_session(database, actor, urgent):  # type: ignore[no-untyped-def]
    _on_agenda_urgently(database, actor, urgent)
    task, _ = _open(database, urgent["paper_id"])
    assert (task.bpmn_id, task.title) == ("Dringlichkeitsentscheidung", "Dringlichkeitsentscheidung erfassen")
    _decide(database, actor, urgent)
    task, version = _open(database, urgent["paper_id"])
    assert task.bpmn_id == "Genehmigung" and task.meeting_id == urgent["meeting_id"]
    with database.unit_of_work() as s:  # the Genehmigung waits for the session
        with pytest.raises(Conflict):
            procedures.complete_task(s, actor("schmitz"), task.id, {"genehmigung": "genehmigt"}, version,
                                     now=NOW)
    _do(database, actor, urgent["paper_id"], {"genehmigung": "genehmigt"}, at=_session_begun(database, urgent))
    with database.unit_of_work() as s:
        decision = s.exec(select(UrgentDecision)).one()
        item = s.exec(select(AgendaItem).join(Consultation).where(
            Consultation.paper_id == urgent["paper_id"])).one()
        paper = s.get(Paper, urgent["paper_id"])
        events = [e for e in audit.events_for_paper(s, urgent["paper_id"]) if e.action == "task.completed"]
    assert (decision.head_name, decision.member_name) == ("Kaiser, Ulrich", "Jansen, Peter")
    assert decision.reason == "Die Förderfrist endet vor der nächsten Sitzung."
    assert (decision.result, decision.approval) == ("beschlossen", "genehmigt")
    assert (item.result, item.meeting_id) == ("genehmigt", urgent["meeting_id"])
    assert paper.status == "abgeschlossen"  # type: ignore[union-attr]
    decided = [e for e in events if e.details["task"] == "Dringlichkeitsentscheidung"]
    assert decided[0].details["hauptverwaltungsbeamter"] == "Kaiser, Ulrich"
    # The history in words: who decided, the way chosen at the agenda step – never an id or a code.
    words = describe(decided[0])
    assert "entschieden von Kaiser, Ulrich und Jansen, Peter" in words and "Entscheidung: beschlossen" in words
    agenda_step = describe([e for e in events if e.details["task"] == "Tagesordnung"][0])
    assert "Wie entschieden wird: Dringlichkeitsentscheidung, Genehmigung in der Sitzung" in agenda_step


def test_a_refused_approval_is_recorded_with_what_it_means(database, actor, urgent, app):  # type: ignore[no-untyped-def]
    _on_agenda_urgently(database, actor, urgent)
    _decide(database, actor, urgent)
    _do(database, actor, urgent["paper_id"], {"genehmigung": "nicht_genehmigt", "anmerkung": "Aufgehoben."},
        at=_session_begun(database, urgent))
    with database.unit_of_work() as s:
        decision = s.exec(select(UrgentDecision)).one()
        item = s.exec(select(AgendaItem).join(Consultation).where(
            Consultation.paper_id == urgent["paper_id"])).one()
        approvals = [e.details for e in audit.events_for_paper(s, urgent["paper_id"])
                     if e.action == "task.completed" and e.details["task"] == "Genehmigung"]
    assert (decision.approval, decision.approval_note) == ("nicht_genehmigt", "Aufgehoben.")
    assert item.result == "nicht_genehmigt"
    assert approvals[0]["bedeutung"] == URGENT_REFUSED_MEANS
    # OParl says it in words: the result, and who decided what, and what the refusal means.
    served = app.test_client().get(f"/oparl/v1.1/agendaitem/{item.id}").get_json()
    assert served["result"] == "Dringlichkeitsentscheidung nicht genehmigt"
    words = served["resolutionText"]
    assert "Kaiser, Ulrich und Jansen, Peter" in words and "Rechte anderer" in words and "Aufgehoben." in words


def test_head_and_member_must_be_two_people_and_nothing_is_written(database, actor, urgent):  # type: ignore[no-untyped-def]
    _on_agenda_urgently(database, actor, urgent)
    kaiser = urgent["members"]["Kaiser"]  # a member of the assembly, too
    with pytest.raises(Invalid) as refused:
        _decide(database, actor, urgent, mitglied=kaiser)
    assert "zwei verschiedene Personen" in refused.value.errors["mitglied"][0]
    with pytest.raises(Invalid) as future:
        _decide(database, actor, urgent, entschieden_am=(NOW + timedelta(days=2)).date().isoformat())
    assert "Zukunft" in future.value.errors["entschieden_am"][0]
    with database.unit_of_work() as s:
        written = s.exec(select(UrgentDecision)).all()
    task, _ = _open(database, urgent["paper_id"])
    assert written == [] and task.bpmn_id == "Dringlichkeitsentscheidung"


def test_the_member_must_belong_to_the_gremium(database, actor, urgent, demo):  # type: ignore[no-untyped-def]
    _on_agenda_urgently(database, actor, urgent)
    with database.unit_of_work() as s:  # Wagner sits in the committee only
        wagner = s.exec(select(Person.id).where(Person.family_name == "Wagner")).one()
    with pytest.raises(Invalid) as refused:
        _decide(database, actor, urgent, mitglied=wagner)
    assert list(refused.value.errors) == ["mitglied"]


def test_a_deciding_consultation_offers_the_way_others_do_not(database, actor, urgent, demo):  # type: ignore[no-untyped-def]
    task, _ = _open(database, urgent["paper_id"])
    with database.unit_of_work() as s:
        form, initial = procedures.task_form(s, task, NOW)
        seed_task = s.exec(select(HumanTask).where(HumanTask.paper_id == demo.paper_id,
                                                   HumanTask.status == TASK_READY)).first()
    assert initial["weg"] == "sitzung"
    ways = [c.value for f in form.fields if f.name == "weg" for c in f.choices]
    assert ways == ["sitzung", "dringlichkeitsentscheidung"]
    assert seed_task is not None  # the seed's Kenntnisnahme: its result step has no such field
    with database.unit_of_work() as s:
        seed_form, _ = procedures.task_form(s, seed_task, NOW)
    assert all(f.name != "weg" for f in seed_form.fields)


def test_the_forms_in_the_browser_and_the_public_page_in_words(database, actor, urgent, browser, clock):  # type: ignore[no-untyped-def]
    import re

    secretary = browser().login("schmitz")

    def submit(data: dict[str, Any]) -> str:
        task, version = _open(database, urgent["paper_id"])
        response = secretary.post(f"/aufgaben/{task.id}", {**data, "version": version})
        assert response.status_code == 302, text_of(response.get_data(as_text=True))
        assert "/anmelden" not in response.headers["Location"]
        return task.bpmn_id

    clock.now = NOW
    assert submit({"meeting_id": urgent["meeting_id"], "weg": "dringlichkeitsentscheidung"}) == "Tagesordnung"
    task, _ = _open(database, urgent["paper_id"])
    page = secretary.get(f"/aufgaben/{task.id}").get_data(as_text=True)
    assert "Kaiser, Ulrich" in page and "Begründung der Dringlichkeit" in page
    members = urgent["members"]
    refused = secretary.post(f"/aufgaben/{task.id}", {
        "hauptverwaltungsbeamter": members["Kaiser"], "mitglied": members["Kaiser"], "begruendung": "Eilt.",
        "entschieden_am": "2026-11-23", "entscheidung": "beschlossen",
        "version": int(re.search(r'name="version" value="(\d+)"', page).group(1))})  # type: ignore[union-attr]
    assert refused.status_code == 422 and "zwei verschiedene Personen" in text_of(refused.get_data(as_text=True))
    assert submit({"hauptverwaltungsbeamter": members["Kaiser"], "mitglied": members["Nowak"],
                   "begruendung": "Die Förderfrist endet vor der Sitzung.", "entschieden_am": "2026-11-23",
                   "entscheidung": "beschlossen"}) == "Dringlichkeitsentscheidung"
    clock.now = _session_begun(database, urgent)
    secretary = browser().login("schmitz")  # ten days on: a new login
    assert submit({"genehmigung": "nicht_genehmigt"}) == "Genehmigung"

    public = text_of(browser().get(f"/vorlagen/{urgent['paper_id']}").get_data(as_text=True))
    assert "Dringlichkeitsentscheidung" in public and "Kaiser, Ulrich" in public and "Nowak, Katarzyna" in public
    assert "Die Förderfrist endet vor der Sitzung." in public
    assert "Dringlichkeitsentscheidung nicht genehmigt" in public and "Rechte anderer" in public


def test_an_instance_of_the_version_before_keeps_running_and_can_move_over(database, actor, demo, urgent):  # type: ignore[no-untyped-def]
    """The model before issue 18 (no Dringlichkeitsentscheidung) deployed after the new one: a
    Vorlage started on it goes its old way even when the agenda step's form says
    "dringlichkeitsentscheidung"; moved onto the new version at its result step, it ends there."""
    from pathlib import Path

    from engine.workflow.models import ProcessModel

    old_file = Path(__file__).parent / "models" / "beratungsfolge-vor-issue18.bpmn"
    with database.unit_of_work() as s:
        new = procedures.current_model(s, procedures.BERATUNGSFOLGE)
        old, created = procedures.deploy(s, old_file, "admin", process="beratungsfolge",
                                         forms_dirs=[procedures.BPMN_DIR / "forms"])
        assert created and old.version == new.version + 1
        new_version, old_id = new.version, old.id
        seed = s.get(Paper, urgent["paper_id"])
        paper = Paper(body_id=seed.body_id, reference="2026/091", name="Alter Weg",  # type: ignore[union-attr]
                      under_direction_of_id=seed.under_direction_of_id)  # type: ignore[union-attr]
        s.add(paper)
        s.flush()
        assembly_id = s.exec(select(Organization.id).where(Organization.short_name == "VV")).one()
        s.add(Consultation(paper_id=paper.id, position=1, organization_id=assembly_id, role="Entscheidung"))
        paper_id = paper.id
    with database.unit_of_work() as s:
        instance = procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW)
        assert instance.model_id == old_id
        instance_id = instance.id
    _do(database, actor, paper_id, {"meeting_id": urgent["meeting_id"], "weg": "dringlichkeitsentscheidung"})
    task, version = _open(database, paper_id)
    assert task.bpmn_id == "Ergebnis"  # the old version has no other way
    admin = actor("admin")
    with database.unit_of_work() as s:
        plan = procedures.migration_preview(s, instance_id, new_version)  # type: ignore[arg-type]
        assert plan.safe, plan.problems
        procedures.migrate_instance(s, admin, instance_id, new_version, version, now=NOW)  # type: ignore[arg-type]
    _do(database, actor, paper_id, {"ergebnis": "beschlossen"}, at=_session_begun(database, urgent))
    with database.unit_of_work() as s:
        moved = s.get(ProcessInstance, instance_id)
        model = s.get(ProcessModel, moved.model_id)  # type: ignore[union-attr]
        assert (model.version, moved.status) == (new_version, "abgeschlossen")  # type: ignore[union-attr]


def test_an_instance_moved_over_at_its_agenda_step_takes_the_way_of_the_session(database, actor, demo, urgent):  # type: ignore[no-untyped-def]
    """Moved onto the new version while its agenda step is open: the step is predicted anew on
    the new model, so its pre-script sets the way (weg = "sitzung") before the form is sent,
    and the Beratung goes to its result step as before."""
    from pathlib import Path

    old_file = Path(__file__).parent / "models" / "beratungsfolge-vor-issue18.bpmn"
    with database.unit_of_work() as s:
        new = procedures.current_model(s, procedures.BERATUNGSFOLGE)
        old, _ = procedures.deploy(s, old_file, "admin", process="beratungsfolge",
                                   forms_dirs=[procedures.BPMN_DIR / "forms"])
        new_version = new.version
        seed = s.get(Paper, urgent["paper_id"])
        paper = Paper(body_id=seed.body_id, reference="2026/092", name="Umzug am Tagesordnungsschritt",  # type: ignore[union-attr]
                      under_direction_of_id=seed.under_direction_of_id)  # type: ignore[union-attr]
        s.add(paper)
        s.flush()
        committee_id = s.exec(select(Organization.id).where(Organization.short_name == "VV")).one()
        s.add(Consultation(paper_id=paper.id, position=1, organization_id=committee_id, role="Vorberatung"))
        paper_id = paper.id
    with database.unit_of_work() as s:
        instance_id = procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW).id
    task, version = _open(database, paper_id)
    assert task.bpmn_id == "Tagesordnung"
    admin = actor("admin")
    with database.unit_of_work() as s:
        assert procedures.migration_preview(s, instance_id, new_version).safe  # type: ignore[arg-type]
        procedures.migrate_instance(s, admin, instance_id, new_version, version, now=NOW)  # type: ignore[arg-type]
    _do(database, actor, paper_id, {"meeting_id": urgent["meeting_id"]})
    task, _ = _open(database, paper_id)
    assert task.bpmn_id == "Ergebnis"


def test_migration_0024_adds_the_two_tables(tmp_path, database_url):  # type: ignore[no-untyped-def]
    from datetime import date

    from sqlalchemy import text
    from sqlmodel import Session

    from engine.db import upgrade_schema
    from engine.standins import StandIn

    from .conftest import database_at

    with database_at(database_url, tmp_path, "0023") as engine:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO body (id, name, created, modified) VALUES (1, 'Rat', :at, :at)"),
                         {"at": NOW})
            conn.execute(text("INSERT INTO organization (id, body_id, name, organization_type, created, modified) "
                              "VALUES (1, 1, 'Rat', 'Gremium', :at, :at)"), {"at": NOW})
            conn.execute(text("INSERT INTO person (id, body_id, family_name, given_name, created, modified) "
                              "VALUES (1, 1, 'Becker', 'Martina', :at, :at), (2, 1, 'Kaiser', 'Ulrich', :at, :at)"),
                         {"at": NOW})
            conn.execute(text("INSERT INTO paper (id, body_id, reference, name, paper_type, public, status, facts, "
                              "proposal_heading, proposal, financial_impact, personnel_impact, created, modified) "
                              "VALUES (1, 1, '2026/1', 'Eilt', 'Beschlussvorlage', true, 'in Beratung', '', "
                              "'Beschlussvorschlag', '', '', '', :at, :at)"), {"at": NOW})
            conn.execute(text("INSERT INTO consultation (id, paper_id, position, organization_id, role, "
                              "authoritative, created, modified) VALUES (1, 1, 1, 1, 'Entscheidung', false, :at, :at)"),
                         {"at": NOW})
            conn.execute(text("INSERT INTO account (id, username, password_hash, display_name, active, created) "
                              "VALUES (1, 'a', '', 'A', true, :at), (2, 'b', '', 'B', true, :at)"), {"at": NOW})
        upgrade_schema(engine, "0024")
        with Session(engine) as s:
            s.add(UrgentDecision(consultation_id=1, paper_id=1, organization_id=1, head_id=2, head_name="Kaiser, Ulrich",
                                 member_id=1, member_name="Becker, Martina", reason="Frist", result="beschlossen",
                                 decided_on=date(2026, 11, 23), recorded_by="A", created=NOW))
            s.add(StandIn(absent_id=1, substitute_id=2, starts=date(2026, 11, 24), ends=date(2026, 11, 30),
                          created=NOW, created_by="a"))
            s.commit()
            stored = [(u.head_name, u.approval) for u in s.exec(select(UrgentDecision))]
            periods = [(p.absent_id, p.substitute_id, p.ended) for p in s.exec(select(StandIn))]
    assert stored == [("Kaiser, Ulrich", None)]
    assert periods == [(1, 2, None)]
