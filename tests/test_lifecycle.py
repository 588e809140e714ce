"""The lifecycle of a Vorlage (bpmn/vorlage.bpmn, issue 18) on the database: Entwurf,
Mitzeichnung, Freigabe, the Beratungsfolge as a call activity, Ausfertigung, Kontrolle.

Every step is its own unit of work, so the workflow is saved and restored between steps.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from engine import visibility
from engine.accounts import create_account
from engine.audit import AuditEvent
from engine.calendar import deadlines
from engine.council import (
    PAPER_DONE,
    PAPER_DRAFT,
    PAPER_IN_CONSULTATION,
    ROLE_CLERK,
    ROLE_RELEASE,
    AgendaItem,
    Meeting,
    Organization,
    Paper,
)
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.identity import tokens
from engine.process import procedures
from engine.settings import TIMEZONE
from engine.tasks import TASK_DONE, TASK_READY, HumanTask
from engine.workflow.models import INSTANCE_COMPLETED, ProcessInstance

from .conftest import NOW, PASSWORD


@pytest.fixture
def departments(database, demo, others):  # type: ignore[no-untyped-def]
    """Finanzen with its clerk (jansen), the head of the lead department (brandt, Freigabe),
    and Mobilität und Digitalisierung (lenz) from ``others``: ids by name."""
    with database.unit_of_work() as s:
        seed = s.get(Paper, demo.paper_id)
        finance = Organization(body_id=seed.body_id, name="Finanzen", organization_type="Verwaltungsbereich")
        s.add(finance)
        s.flush()
        create_account(s, "jansen", PASSWORD, "Petra Jansen", [(ROLE_CLERK, finance.id)])
        create_account(s, "brandt", PASSWORD, "Markus Brandt", [(ROLE_RELEASE, seed.under_direction_of_id)])
        mobility = s.exec(select(Organization.id).where(Organization.name == "Mobilität und Digitalisierung")).one()
        return {"lead": seed.under_direction_of_id, "finance": finance.id, "mobility": mobility}


def ready(database, paper_id: int) -> list[tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        rows = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id, HumanTask.status == TASK_READY))
        return sorted((r.bpmn_id, r.organization_id) for r in rows)


def task_of(database, paper_id: int, bpmn_id: str, org: int | None = None) -> tuple[HumanTask, int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        query = select(HumanTask).where(HumanTask.paper_id == paper_id, HumanTask.status == TASK_READY,
                                        HumanTask.bpmn_id == bpmn_id)
        if org is not None:
            query = query.where(HumanTask.organization_id == org)
        row = s.exec(query).one()
        return row, s.get(ProcessInstance, row.process_instance_id).version


def do(database, actor, paper_id: int, username: str, bpmn_id: str, data: dict[str, Any],  # type: ignore[no-untyped-def]
       at: datetime, org: int | None = None) -> procedures.Completion:
    row, version = task_of(database, paper_id, bpmn_id, org)
    with database.unit_of_work() as s:
        return procedures.complete_task(s, actor(username), row.id, data, version, now=at)


def writes(database) -> tuple:  # type: ignore[no-untyped-def,type-arg]
    with database.unit_of_work() as s:
        versions = [(i.id, i.version, i.state) for i in s.exec(select(ProcessInstance).order_by(ProcessInstance.id))]
        tasks = [(t.id, t.status) for t in s.exec(select(HumanTask).order_by(HumanTask.id))]
        events = s.exec(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.action != "task.refused")).one()
    return versions, tasks, events


def started(database, actor, draft, departments, reference: str = "2024/200") -> int:  # type: ignore[no-untyped-def]
    paper_id = draft(reference, "Radschnellweg")
    with database.unit_of_work() as s:
        procedures.start_lifecycle(s, actor("zierstedt"), paper_id, [departments["mobility"]], now=NOW)
    return paper_id


def test_the_whole_lifecycle_with_one_return(database, actor, draft, departments):  # type: ignore[no-untyped-def]
    paper_id = started(database, actor, draft, departments)
    assert ready(database, paper_id) == [("Entwurf", departments["lead"])]
    with database.unit_of_work() as s:
        paper = s.get(Paper, paper_id)
        assert paper.status == PAPER_DRAFT and paper.released is None
        assert not visibility.can_see_paper(s, None, paper, NOW.date())

    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "im_haushalt"}, NOW)
    asked = ready(database, paper_id)
    assert asked == sorted([("Mitzeichnung", departments["mobility"]), ("Mitzeichnung", departments["finance"])])
    row, _ = task_of(database, paper_id, "Mitzeichnung", departments["finance"])
    with database.unit_of_work() as s:
        expected_due = deadlines.add_working_days(NOW.astimezone(TIMEZONE).date(), 5,
                                                  deadlines.gremium_rules(s, departments["finance"])[1])
    assert row.due == expected_due and row.lane == ROLE_CLERK

    # Finanzen signs; Mobilität returns it, with a reason; the clerk revises.
    at = NOW + timedelta(hours=1)
    done = do(database, actor, paper_id, "jansen", "Mitzeichnung", {"mitzeichnung": "mit_anmerkung",
              "anmerkung": "Deckung aus 2025"}, at, departments["finance"])
    assert done.next_tasks == []  # Mobilität still to answer
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "zurueck", "anmerkung": "Radwege fehlen"},
       at, departments["mobility"])
    assert ready(database, paper_id) == [("Entwurf", departments["lead"])]
    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "im_haushalt",
                                                           "ueberarbeitung": "Radwege ergänzt"}, at)
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, at,
       departments["mobility"])
    do(database, actor, paper_id, "jansen", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, at,
       departments["finance"])
    assert ready(database, paper_id) == [("Freigabe", departments["lead"])]
    with database.unit_of_work() as s:
        assert s.get(Paper, paper_id).released is None  # still internal

    do(database, actor, paper_id, "brandt", "Freigabe", {"freigabe": "freigeben"}, at)
    with database.unit_of_work() as s:
        paper = s.get(Paper, paper_id)
        assert paper.status == PAPER_IN_CONSULTATION and paper.released is not None
        assert visibility.can_see_paper(s, None, paper, NOW.date())
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
        committee = later.organization_id
    assert ready(database, paper_id) == [("Tagesordnung", committee)]

    # The Beratungsfolge, inside the lifecycle, by the committee's Sekretariat.
    do(database, actor, paper_id, "hoffmann", "Tagesordnung", {"meeting_id": later.id}, at)
    do(database, actor, paper_id, "hoffmann", "Ergebnis", {"ergebnis": "zur_kenntnis_genommen"},
       later.start + timedelta(hours=2))
    with database.unit_of_work() as s:
        assert s.get(Paper, paper_id).status == PAPER_DONE
    assert ready(database, paper_id) == [("Ausfertigung", departments["lead"])]

    after = later.start + timedelta(days=1)
    chosen = (after + timedelta(days=30)).astimezone(TIMEZONE).date()
    do(database, actor, paper_id, "zierstedt", "Ausfertigung", {"faellig_am": chosen.isoformat()}, after)
    row, _ = task_of(database, paper_id, "Kontrolle")
    assert row.due == chosen

    before = writes(database)
    with pytest.raises(Invalid) as refused:
        do(database, actor, paper_id, "zierstedt", "Kontrolle", {"erledigungsvermerk": "  "}, after)
    assert "erledigungsvermerk" in refused.value.errors
    assert writes(database) == before
    last = do(database, actor, paper_id, "zierstedt", "Kontrolle", {"erledigungsvermerk": "Vertrag geschlossen."},
              after)
    assert last.finished
    with database.unit_of_work() as s:
        instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper_id)).one()
        assert instance.status == INSTANCE_COMPLETED
        assert s.get(Paper, paper_id).status == PAPER_DONE
        steps = list(s.exec(select(HumanTask.bpmn_id).where(HumanTask.paper_id == paper_id,
                                                            HumanTask.status == TASK_DONE)
                            .order_by(col(HumanTask.id))))
        history = list(s.exec(select(AuditEvent.action).where(AuditEvent.paper_id == paper_id)
                              .order_by(col(AuditEvent.seq))))
    assert steps == ["Entwurf", "Mitzeichnung", "Mitzeichnung", "Entwurf", "Mitzeichnung", "Mitzeichnung",
                     "Freigabe", "Tagesordnung", "Ergebnis", "Ausfertigung", "Kontrolle"]
    assert history.count("task.completed") == len(steps)
    assert history.count("workflow.event") == 2  # freigegeben, Beratungsfolge beendet


def test_refusals_are_german_and_write_nothing(database, actor, draft, departments):  # type: ignore[no-untyped-def]
    paper_id = started(database, actor, draft, departments)
    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "keine"}, NOW)
    before = writes(database)
    with pytest.raises(Invalid) as no_reason:
        do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "zurueck"}, NOW)
    assert no_reason.value.errors == {
        "anmerkung": ["Bitte begründen, warum die Vorlage an die Federführung zurückgeht."]}
    with pytest.raises(Forbidden):  # Finanzen is not asked, and not Mobilität
        do(database, actor, paper_id, "jansen", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW)
    assert writes(database) == before

    row, version = task_of(database, paper_id, "Mitzeichnung")
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW)
    with database.unit_of_work() as s, pytest.raises(Conflict) as twice:  # a co-signer signs once
        procedures.complete_task(s, actor("lenz"), row.id, {"mitzeichnung": "mitgezeichnet"}, version + 1, now=NOW)
    assert "bereits erledigt" in str(twice.value)

    with pytest.raises(Forbidden):  # the clerk does not release
        do(database, actor, paper_id, "zierstedt", "Freigabe", {"freigabe": "freigeben"}, NOW)
    with pytest.raises(Invalid) as no_reason:
        do(database, actor, paper_id, "brandt", "Freigabe", {"freigabe": "zurueck"}, NOW)
    assert list(no_reason.value.errors) == ["begruendung"]


def test_a_vorlage_runs_one_procedure(database, actor, draft, departments):  # type: ignore[no-untyped-def]
    paper_id = started(database, actor, draft, departments)
    with database.unit_of_work() as s, pytest.raises(Conflict) as again:
        procedures.start_lifecycle(s, actor("zierstedt"), paper_id, [], now=NOW)
    assert "läuft bereits ein Verfahren" in str(again.value)
    with database.unit_of_work() as s, pytest.raises(Conflict):  # nor the Beratungsfolge beside it
        procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW)

    # A Vorlage already in its Beratungsfolge alone (installations before issue 18) keeps it.
    other = draft("2024/201", "Alt")
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), other, now=NOW)
    with database.unit_of_work() as s, pytest.raises(Conflict):
        procedures.start_lifecycle(s, actor("zierstedt"), other, [], now=NOW)
    steps = [bpmn_id for bpmn_id, _ in ready(database, other)]
    assert steps == ["Tagesordnung"]


@pytest.mark.parametrize(("involved", "message"), [
    (["x"], "Bitte nur Bereiche der Verwaltung wählen."),
    ([999_999], "Bitte nur Bereiche der Verwaltung wählen."),
    (["lead"], "Der federführende Bereich zeichnet nicht mit."),
])
def test_beteiligt_must_be_other_departments(database, actor, draft, departments, involved, message):  # type: ignore[no-untyped-def]
    paper_id = draft("2024/202", "Beteiligt")
    given = [departments.get(i, i) if isinstance(i, str) else i for i in involved]
    before = writes(database)
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        procedures.start_lifecycle(s, actor("zierstedt"), paper_id, given, now=NOW)
    assert refused.value.errors == {"beteiligt": [message]}
    assert writes(database) == before


def test_only_the_lead_clerk_starts_it(database, actor, draft, departments):  # type: ignore[no-untyped-def]
    paper_id = draft("2024/203", "Fremd")
    with database.unit_of_work() as s, pytest.raises(NotFound):  # another department's draft: unseen
        procedures.start_lifecycle(s, actor("lenz"), paper_id, [], now=NOW)
    with database.unit_of_work() as s, pytest.raises(Forbidden):  # the head releases, never starts
        procedures.start_lifecycle(s, actor("brandt"), paper_id, [], now=NOW)


def test_due_at_the_chosen_day_even_if_it_lies_in_the_past(database, actor, draft, departments):  # type: ignore[no-untyped-def]
    """A day already past when chosen makes the Kontrolle due at once (and overdue soon)."""
    paper_id = started(database, actor, draft, departments, "2024/204")
    with database.unit_of_work() as s:
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "keine"}, NOW)
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW)
    do(database, actor, paper_id, "brandt", "Freigabe", {"freigabe": "freigeben"}, NOW)
    do(database, actor, paper_id, "hoffmann", "Tagesordnung", {"meeting_id": later.id}, NOW)
    after = later.start + timedelta(hours=3)
    do(database, actor, paper_id, "hoffmann", "Ergebnis", {"ergebnis": "zur_kenntnis_genommen"}, after)
    do(database, actor, paper_id, "zierstedt", "Ausfertigung", {"faellig_am": date(2020, 1, 2).isoformat()}, after)
    row, _ = task_of(database, paper_id, "Kontrolle")
    assert row.due == after.astimezone(TIMEZONE).date()
    assert row.context.get("sofort") == "Die Frist (02.01.2020) war schon vorbei."


def test_who_sees_the_internal_draft(database, actor, draft, departments):  # type: ignore[no-untyped-def]
    """The lead department and its head at once, a co-signing department once asked, the
    public only after the Freigabe."""
    paper_id = started(database, actor, draft, departments, "2024/205")

    people = {name: actor(name) for name in ("zierstedt", "brandt", "lenz", "jansen", "krause")}

    def seen_by() -> list[str]:
        with database.unit_of_work() as s:
            paper = s.get(Paper, paper_id)
            return [name for name, who in people.items() if visibility.can_see_paper(s, who, paper, NOW.date())]

    assert seen_by() == ["zierstedt", "brandt"]
    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "keine"}, NOW)
    assert seen_by() == ["zierstedt", "brandt", "lenz"]
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW)
    with database.unit_of_work() as s:
        assert not visibility.can_see_paper(s, None, s.get(Paper, paper_id), NOW.date())
    do(database, actor, paper_id, "brandt", "Freigabe", {"freigabe": "freigeben"}, NOW)
    assert seen_by() == list(people)


# ----------------------------------------------------------------------------- the REST API

def _call(app, method: str, url: str, bearer: str, body: Any = None):  # type: ignore[no-untyped-def]
    with app.test_client() as client:
        response = client.open(url, method=method, headers={"Authorization": f"Bearer {bearer}"},
                               json=body)
        try:
            return response.status_code, response.get_json(silent=True)
        finally:
            response.close()


def test_the_lifecycle_through_the_api(app, database, actor, draft, departments, clock):  # type: ignore[no-untyped-def]
    """Done when (issue 18): draft → two co-signers, one returns → revised → signed →
    released → Beratungsfolge → Ausfertigung → Kontrolle closed, each with its own token."""
    bearer = {}
    for name in ("zierstedt", "lenz", "jansen", "brandt", "hoffmann"):
        who = actor(name)
        with database.unit_of_work() as s:
            bearer[name] = tokens.create(s, who, who.account_id, "Test", list(tokens.SCOPES),
                                         NOW + timedelta(days=90), now=NOW).plain
    paper_id = draft("2024/210", "Über die API")

    status, body = _call(app, "POST", f"/api/v1/papers/{paper_id}/lifecycle", bearer["zierstedt"],
                         {"beteiligt": ["x"]})
    assert status == 422 and "beteiligt" in body["errors"]
    status, body = _call(app, "POST", f"/api/v1/papers/{paper_id}/lifecycle", bearer["lenz"],
                         {"beteiligt": []})
    assert status == 404  # another department's draft: not known to lenz
    status, started_instance = _call(app, "POST", f"/api/v1/papers/{paper_id}/lifecycle", bearer["zierstedt"],
                                     {"beteiligt": [departments["mobility"]]})
    assert status == 201, started_instance
    assert started_instance["process_id"] == "vorlage"
    open_steps = [t["step"] for t in started_instance["open_tasks"]]
    assert open_steps == ["Entwurf"]
    status, again = _call(app, "POST", f"/api/v1/papers/{paper_id}/lifecycle", bearer["zierstedt"], {})
    assert status == 409 and "läuft bereits" in again["error"]

    def open_step(who: str, step: str) -> dict[str, Any]:
        status, page = _call(app, "GET", "/api/v1/tasks?view=gremium", bearer[who])
        assert status == 200, page
        found = [t for t in page["tasks"] if t["paper"] and t["paper"]["id"] == paper_id and t["step"] == step]
        assert len(found) == 1, (who, step, [t["step"] for t in page["tasks"]])
        return found[0]  # type: ignore[no-any-return]

    def complete(who: str, step: str, data: dict[str, Any], expect: int = 200) -> dict[str, Any]:
        task = open_step(who, step)
        status, body = _call(app, "POST", f"/api/v1/tasks/{task['id']}/complete", bearer[who],
                             {"data": data, "expected_version": task["version"]})
        assert status == expect, body
        return body  # type: ignore[no-any-return]

    complete("zierstedt", "Entwurf", {"finanzielle_auswirkungen": "im_haushalt"})
    asked = open_step("jansen", "Mitzeichnung")
    assert asked["organization"]["name"] == "Finanzen" and asked["candidate_group"] == \
        f"Sachbearbeitung:{departments['finance']}"
    refused = complete("lenz", "Mitzeichnung", {"mitzeichnung": "zurueck"}, expect=422)
    assert refused["errors"] == {"anmerkung": ["Bitte begründen, warum die Vorlage an die Federführung "
                                               "zurückgeht."]}
    complete("lenz", "Mitzeichnung", {"mitzeichnung": "zurueck", "anmerkung": "Radwege fehlen"})
    complete("jansen", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"})
    complete("zierstedt", "Entwurf", {"finanzielle_auswirkungen": "im_haushalt", "ueberarbeitung": "ergänzt"})
    complete("lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"})
    done = complete("jansen", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"})
    next_steps = [t["step"] for t in done["next_tasks"]]
    assert next_steps == ["Freigabe"]
    status, hidden = _call(app, "GET", f"/api/v1/papers/{paper_id}", bearer["hoffmann"])
    assert status == 200  # the committee's Sekretariat sees it (its Beratungsfolge), the public not yet
    with app.test_client() as anonymous:
        assert anonymous.get(f"/vorlagen/{paper_id}").status_code == 404
    released = complete("brandt", "Freigabe", {"freigabe": "freigeben"})
    next_steps = [t["step"] for t in released["next_tasks"]]
    assert next_steps == ["Tagesordnung"]
    with app.test_client() as anonymous:
        assert anonymous.get(f"/vorlagen/{paper_id}").status_code == 200

    with database.unit_of_work() as s:
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
    complete("hoffmann", "Tagesordnung", {"meeting_id": later.id})
    clock.now = later.start + timedelta(hours=2)
    complete("hoffmann", "Ergebnis", {"ergebnis": "zur_kenntnis_genommen"})
    chosen = (clock.now + timedelta(days=30)).astimezone(TIMEZONE).date()
    complete("zierstedt", "Ausfertigung", {"faellig_am": chosen.isoformat()})
    control = open_step("zierstedt", "Kontrolle")
    assert control["due"] == chosen.isoformat()
    complete("zierstedt", "Kontrolle", {}, expect=422)
    last = complete("zierstedt", "Kontrolle", {"erledigungsvermerk": "Vertrag unterzeichnet."})
    assert last["finished"] is True
    status, instance = _call(app, "GET", f"/api/v1/process-instances/{started_instance['id']}",
                             bearer["zierstedt"])
    assert status == 200 and instance["status"] == INSTANCE_COMPLETED and instance["open_tasks"] == []


@pytest.mark.sqlite_only
@pytest.mark.parametrize(("given", "stored"), [("24.01.2027", "2027-01-24"), ("2027-01-24", "2027-01-24"),
                                               ("4.1.2027", "2027-01-04"), ("31.02.2027", None), ("morgen", None)])
def test_a_form_date_as_the_page_shows_it_or_iso(given: str, stored: str | None) -> None:
    """The Ausfertigung's day: typed as its placeholder says (TT.MM.JJJJ), or ISO from the API."""
    import json
    from pathlib import Path

    from engine.workflow.forms import FormError, parse_form

    definition = json.loads((Path(__file__).parents[1] / "bpmn/forms/ausfertigung.schema.json").read_text())
    form = parse_form("ausfertigung", definition)
    if stored is None:
        with pytest.raises(FormError) as refused:
            form.validate({"faellig_am": given})
        assert refused.value.errors == {"faellig_am": ["Datum bitte als TT.MM.JJJJ."]}
    else:
        assert form.validate({"faellig_am": given})["faellig_am"] == stored


# ----------------------------------------------------------------------------- the Beschlussauszug

def _to_ausfertigung(database, actor, draft, departments, reference: str,  # type: ignore[no-untyped-def]
                     top: dict[str, str] | None = None) -> tuple[int, Meeting]:
    paper_id = started(database, actor, draft, departments, reference)
    with database.unit_of_work() as s:
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
        s.expunge(later)
    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "keine"}, NOW)
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW)
    do(database, actor, paper_id, "brandt", "Freigabe", {"freigabe": "freigeben"}, NOW)
    do(database, actor, paper_id, "hoffmann", "Tagesordnung", {"meeting_id": later.id, **(top or {})}, NOW)
    return paper_id, later


@pytest.mark.sqlite_only
def test_the_beschlussauszug_is_a_pdf_of_the_final_result(database, actor, draft, departments, browser):  # type: ignore[no-untyped-def]
    from io import BytesIO

    from pypdf import PdfReader

    paper_id, later = _to_ausfertigung(database, actor, draft, departments, "2024/220", {"top_nummer": "7.2"})
    url = f"/vorlagen/{paper_id}/beschlussauszug.pdf"
    clerk = browser().login("zierstedt")
    assert clerk.get(url).status_code == 409  # no result yet
    do(database, actor, paper_id, "hoffmann", "Ergebnis", {"ergebnis": "zur_kenntnis_genommen", "beschlusstext":
       "Der Ausschuss nimmt den Bericht zum Radschnellweg zur Kenntnis."}, later.start + timedelta(hours=1))
    row, _ = task_of(database, paper_id, "Ausfertigung")
    page = clerk.get(f"/aufgaben/{row.id}").get_data(as_text=True)
    assert f'href="{url}"' in page and "Beschlussauszug (PDF)" in page

    answer = clerk.get(url)
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    text = " ".join(p.extract_text() for p in PdfReader(BytesIO(answer.get_data())).pages)
    text = " ".join(text.split())
    expected = ["Beschlussauszug", "2024/220", "Radschnellweg", later.reference, "7.2", "zur Kenntnis genommen",
                "Der Ausschuss nimmt den Bericht zum Radschnellweg zur Kenntnis.", later.name,
                f"{later.start.astimezone(TIMEZONE):%d.%m.%Y}"]
    missing = [e for e in expected if e not in text]
    assert missing == [], text
    assert browser().login("brandt").get(url).status_code == 200
    assert browser().login("lenz").get(url).status_code == 403  # co-signed, but not the lead department
    assert browser().get(url).status_code == 302  # to the login


# ----------------------------------------------------------------------------- Beschlusskontrolle

def test_the_implementation_list_and_a_report_on_the_agenda(database, actor, draft, departments):  # type: ignore[no-untyped-def]
    from engine import implementation

    papers = {}
    for reference in ("2024/230", "2024/231", "2024/232"):
        paper_id, later = _to_ausfertigung(database, actor, draft, departments, reference)
        after = later.start + timedelta(hours=1)
        do(database, actor, paper_id, "hoffmann", "Ergebnis", {"ergebnis": "zur_kenntnis_genommen"}, after)
        papers[reference] = paper_id
    day = after.astimezone(TIMEZONE).date()
    do(database, actor, papers["2024/230"], "zierstedt", "Ausfertigung",
       {"faellig_am": (day + timedelta(days=10)).isoformat()}, after)
    do(database, actor, papers["2024/231"], "zierstedt", "Ausfertigung",
       {"faellig_am": (day + timedelta(days=40)).isoformat()}, after)
    do(database, actor, papers["2024/232"], "zierstedt", "Ausfertigung",
       {"faellig_am": (day + timedelta(days=5)).isoformat()}, after)
    do(database, actor, papers["2024/232"], "zierstedt", "Kontrolle",
       {"erledigungsvermerk": "Vertrag unterzeichnet."}, after + timedelta(days=1))

    secretary, clerk = actor("hoffmann"), actor("zierstedt")
    with database.unit_of_work() as s:
        committee = later.organization_id
        rows = implementation.implementation_list(s, secretary, committee, day + timedelta(days=20))
        listed = [(r.reference, r.state, r.note) for r in rows]
        with pytest.raises(Forbidden):
            implementation.implementation_list(s, clerk, committee, day)
        coming = Meeting(organization_id=committee, reference="SI/2025/010", name=later.name,
                         start=after + timedelta(days=60))
        s.add(coming)
        s.flush()
        coming_id = coming.id
    assert listed == [("2024/230", implementation.OVERDUE, None), ("2024/231", implementation.OPEN, None),
                      ("2024/232", implementation.DONE, "Vertrag unterzeichnet.")]

    before = writes(database)
    with database.unit_of_work() as s, pytest.raises(NotFound):  # not on the committee's list
        implementation.put_report_on_agenda(s, secretary, coming_id, 999_999, {}, after)
    with database.unit_of_work() as s:
        item = implementation.put_report_on_agenda(s, secretary, coming_id, papers["2024/232"], {}, after)
        assert (item.name, item.number, item.consultation_id) == (
            "Bericht zur Umsetzung: 2024/232 Radschnellweg", "1", None)
        changes = list(s.exec(select(AuditEvent.action).where(AuditEvent.meeting_id == coming_id)))
    assert changes == ["agenda.changed"]
    assert writes(database)[0] == before[0]  # no process was touched


@pytest.mark.sqlite_only
def test_a_report_put_on_the_agenda_from_the_list_page(database, actor, draft, departments, browser, clock):  # type: ignore[no-untyped-def]
    paper_id, later = _to_ausfertigung(database, actor, draft, departments, "2024/240")
    after = later.start + timedelta(hours=1)
    do(database, actor, paper_id, "hoffmann", "Ergebnis", {"ergebnis": "zur_kenntnis_genommen"}, after)
    do(database, actor, paper_id, "zierstedt", "Ausfertigung", {"faellig_am": "2020-01-02"}, after)
    with database.unit_of_work() as s:
        coming = Meeting(organization_id=later.organization_id, reference="SI/2025/011", name=later.name,
                         start=after + timedelta(days=60))
        s.add(coming)
        s.flush()
        coming_id = coming.id
    clock.now = after + timedelta(days=1)
    secretary = browser().login("hoffmann")
    page = secretary.get("/beschlusskontrolle").get_data(as_text=True)
    assert "2024/240" in page and "überfällig" in page and "SI/2025/011" in page
    answer = secretary.post("/beschlusskontrolle/bericht", {"meeting_id": coming_id, "paper_id": paper_id})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(f"/sitzungen/{coming_id}")
    with database.unit_of_work() as s:
        names = list(s.exec(select(AgendaItem.name).where(AgendaItem.meeting_id == coming_id)))
    assert names == ["Bericht zur Umsetzung: 2024/240 Radschnellweg"]


@pytest.mark.sqlite_only
def test_clerks_and_heads_work_the_same_inbox_with_their_views(database, actor, draft, departments, browser):  # type: ignore[no-untyped-def]
    from .conftest import text_of

    paper_id = started(database, actor, draft, departments, "2024/250")
    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "im_haushalt"}, NOW)
    co_signer = browser().login("lenz")
    page = co_signer.get("/aufgaben/").get_data(as_text=True)
    assert "form=mitzeichnung" in page and "Freigaben" not in text_of(page)
    listed = text_of(co_signer.get("/aufgaben/?form=mitzeichnung").get_data(as_text=True))
    assert "2024/250" in listed and "Mitzeichnen" in listed
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW,
       departments["mobility"])
    do(database, actor, paper_id, "jansen", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW,
       departments["finance"])
    head = browser().login("brandt")
    landing = head.get("/aufgaben/")
    assert landing.status_code == 200
    page = landing.get_data(as_text=True)
    assert "form=freigabe" in page and "Mitzeichnungen meines Bereichs" not in text_of(page)
    listed = text_of(head.get("/aufgaben/?form=freigabe").get_data(as_text=True))
    assert "2024/250" in listed and "Vorlage freigeben" in listed


@pytest.mark.sqlite_only
def test_oparl_and_search_list_it_only_once_released(app, database, actor, draft, departments):  # type: ignore[no-untyped-def]
    """Point 5: nothing of the internal approval is public – OParl and the public search know
    the Vorlage only after its Freigabe (``published_clause``)."""
    paper_id = started(database, actor, draft, departments, "2024/260")
    with database.unit_of_work() as s:
        body_id = s.get(Paper, paper_id).body_id
        s.get(Paper, paper_id).public = True
    client = app.test_client()

    def listed() -> tuple[bool, int, bool]:
        ids = [int(o["id"].rsplit("/", 1)[1]) for o in client.get(
            f"/oparl/v1.1/body/{body_id}/paper?limit=100").get_json()["data"]]
        one = client.get(f"/oparl/v1.1/paper/{paper_id}").status_code
        found = "2024/260" in client.get("/?q=Radschnellweg").get_data(as_text=True)
        return paper_id in ids, one, found

    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "keine"}, NOW)
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW)
    before = listed()
    assert before[0] is False and before[1] in (404, 410) and before[2] is False
    do(database, actor, paper_id, "brandt", "Freigabe", {"freigabe": "freigeben"}, NOW)
    assert listed() == (True, 200, True)


@pytest.mark.sqlite_only
def test_remarks_are_shown_to_everyone_inside_never_to_the_public(database, actor, draft, departments, browser):  # type: ignore[no-untyped-def]
    from .conftest import text_of

    paper_id = started(database, actor, draft, departments, "2024/270")
    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "im_haushalt"}, NOW)
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "zurueck", "anmerkung": "Radwege fehlen"},
       NOW, departments["mobility"])
    do(database, actor, paper_id, "jansen", "Mitzeichnung", {"mitzeichnung": "mit_anmerkung",
                                                             "anmerkung": "Deckung aus 2025"}, NOW, departments["finance"])
    do(database, actor, paper_id, "zierstedt", "Entwurf", {"finanzielle_auswirkungen": "im_haushalt"}, NOW)
    do(database, actor, paper_id, "lenz", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW,
       departments["mobility"])
    do(database, actor, paper_id, "jansen", "Mitzeichnung", {"mitzeichnung": "mitgezeichnet"}, NOW,
       departments["finance"])
    do(database, actor, paper_id, "brandt", "Freigabe", {"freigabe": "freigeben"}, NOW)
    url = f"/vorlagen/{paper_id}"
    expected = ["Mobilität und Digitalisierung (Dominik Lenz): zurück an die Federführung: Radwege fehlen",
                "Finanzen (Petra Jansen): mitgezeichnet mit Anmerkung: Deckung aus 2025"]
    for who in ("zierstedt", "brandt", "lenz", "jansen"):
        page = text_of(browser().login(who).get(url).get_data(as_text=True))
        shown = [e for e in expected if e in page]
        assert shown == expected, who
    public = text_of(browser().get(url).get_data(as_text=True))
    assert "Radschnellweg" in public and "Radwege fehlen" not in public and "Deckung aus 2025" not in public


def test_an_overdue_beschlusskontrolle_reminds_the_lead_department(database, actor, draft, departments, smtp):  # type: ignore[no-untyped-def]
    """Nobody holds the Kontrolle: the clerks of the lead department hear of it the day after its
    due date (its lane, Sachbearbeitung, for its department), once; not the Sekretariat."""
    from notifications.delivery import SmtpTransport
    from notifications.sweep import run_once

    paper_id, later = _to_ausfertigung(database, actor, draft, departments, "2024/240")
    after = later.start + timedelta(hours=1)
    do(database, actor, paper_id, "hoffmann", "Ergebnis", {"ergebnis": "zur_kenntnis_genommen"}, after)
    due = (after + timedelta(days=3)).astimezone(TIMEZONE).date()
    do(database, actor, paper_id, "zierstedt", "Ausfertigung", {"faellig_am": due.isoformat()}, after)
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    run_once(database, after + timedelta(days=5), transport)
    overdue = [m for m in smtp.inbox.messages if m["Subject"].startswith("Überfällig")
               and "Beschluss umsetzen" in m["Subject"]]
    addresses = sorted(m["To"] for m in overdue)
    assert addresses == ["Björn Zierstedt <bjoern.zierstedt@example.org>"]
    text = overdue[0].get_body(("plain",)).get_content()
    assert f"war am {due:%d.%m.%Y} fällig" in text and "sie liegt bei der Sachbearbeitung" in text
    smtp.inbox.clear()
    run_once(database, after + timedelta(days=5, hours=1), transport)
    again = [m for m in smtp.inbox.messages if "Beschluss umsetzen" in m["Subject"]]
    assert again == []
