"""The web UI beyond the seed path: Vorlagen, Sitzungen, visibility, language, audit."""

from __future__ import annotations

import hashlib
import io
import re

from sqlmodel import select

from engine.council import Consultation, File, Meeting, Organization, Paper
from engine.tasks import TASK_READY, HumanTask

from .conftest import text_of


def _ids(database) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        orgs = {o.short_name or o.name: o.id for o in s.exec(select(Organization))}
        meetings = {m.reference: m.id for m in s.exec(select(Meeting))}
    return {**orgs, **meetings}


def _paper_form(ids: dict[str, int], **overrides: object) -> dict:  # type: ignore[type-arg]
    form = {
        "reference": "2024/070", "name": "Haushaltssatzung 2025", "paper_type": "Beschlussvorlage",
        "public": "true", "under_direction_of_id": ids["Wirtschaft und Raum"],
        "facts": "Der Entwurf der Haushaltssatzung liegt vor.", "proposal_heading": "Beschlussvorschlag",
        "proposal": "Die Verbandsversammlung beschließt die Haushaltssatzung.",
        "financial_impact": "siehe Anlage", "personnel_impact": "keine",
        # Sessions ahead (SI/2024/131 has been held): the committee's, then the assembly's after it.
        "consultations-0-organization_id": ids["AWSG"], "consultations-0-role": "Vorberatung",
        "consultations-0-meeting_id": ids["SI/2024/140"],
        "consultations-1-organization_id": ids["VV"], "consultations-1-role": "Entscheidung",
        "consultations-1-meeting_id": ids["SI/2024/141"],
        "consultations-2-organization_id": "", "consultations-2-role": "", "consultations-2-meeting_id": "",
    }
    form.update(overrides)  # type: ignore[arg-type]
    return form


def test_clerk_creates_a_vorlage_with_anlagen_and_starts_it(demo, database, browser):  # type: ignore[no-untyped-def]
    ids = _ids(database)
    clerk = browser().login("zierstedt")
    assert clerk.get("/vorlagen/neu").status_code == 200
    pdf = b"%PDF-1.4\n% Haushaltsplan\n" + b"0" * 5000
    response = clerk.post("/vorlagen/neu", {
        **_paper_form(ids), "start": "1",
        "anlagen": [(io.BytesIO(pdf), "Haushaltsplan 2025.pdf", "application/pdf")],
    }, content_type="multipart/form-data")
    assert response.status_code == 302, text_of(response.get_data(as_text=True))
    with database.unit_of_work() as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2024/070")).one()
        assert paper.status == "in Beratung" and paper.paper_type == "Beschlussvorlage"
        steps = s.exec(select(Consultation).where(Consultation.paper_id == paper.id)
                       .order_by(Consultation.position)).all()
        folge = [(c.position, c.organization_id, c.role) for c in steps]
        assert folge == [
            (1, ids["AWSG"], "Vorberatung"), (2, ids["VV"], "Entscheidung")]
        stored = s.exec(select(File).where(File.paper_id == paper.id)).one()
        assert (stored.file_name, stored.size) == ("Haushaltsplan 2025.pdf", len(pdf))
        assert stored.sha_512_checksum == hashlib.sha512(pdf).hexdigest()
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper.id,
                                              HumanTask.status == TASK_READY)).one()
        assert task.organization_id == ids["AWSG"]
    page = browser().get(f"/vorlagen/{paper.id}").get_data(as_text=True)
    assert "Haushaltsplan 2025 5 KB" in text_of(page)
    link = re.search(r'href="(/dateien/\d+)"', page).group(1)  # type: ignore[union-attr]
    download = browser().get(link)
    assert download.data == pdf
    assert 'filename="Haushaltsplan 2025.pdf"' in download.headers["Content-Disposition"] or \
        "Haushaltsplan%202025.pdf" in download.headers["Content-Disposition"]
    download.close()
    inbox = text_of(browser().login("hoffmann").get("/aufgaben/").get_data(as_text=True))
    assert "2024/070 – Haushaltssatzung 2025" in inbox


def test_wrong_vorlage_input_names_each_field_and_keeps_the_rest(demo, database, browser):  # type: ignore[no-untyped-def]
    ids = _ids(database)
    clerk = browser().login("zierstedt")
    form = _paper_form(ids, name="", reference="2024/063", **{
        "consultations-0-meeting_id": ids["SI/2024/128"],  # a VV session for the committee step
        "consultations-1-role": "Mitbestimmung",
    })
    response = clerk.post("/vorlagen/neu", form)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="name-error">Pflichtfeld', html)
    assert re.search(r'id="consultations.1.role-error">Bitte eine der angebotenen Rollen', html)
    assert "Der Entwurf der Haushaltssatzung liegt vor." in html  # what was typed stays
    fixed = clerk.post("/vorlagen/neu", _paper_form(ids, reference="2024/063", **{
        "consultations-0-meeting_id": ids["SI/2024/128"]}))
    assert fixed.status_code == 422
    html = fixed.get_data(as_text=True)
    assert "Die Vorlage 2024/063 gibt es schon." in html
    assert re.search(r'id="consultations.0.meeting_id-error">SI/2024/128 ist keine kommende Sitzung des Ausschusses',
                     html)
    with database.unit_of_work() as s:
        assert len(s.exec(select(Paper)).all()) == 1


def test_only_clerks_create_vorlagen(demo, browser):  # type: ignore[no-untyped-def]
    assert browser().login("hoffmann").get("/vorlagen/neu").status_code == 403
    assert browser().get("/vorlagen/neu").status_code == 302  # to the login


def test_secretary_creates_a_session_of_their_gremium(demo, database, browser):  # type: ignore[no-untyped-def]
    ids = _ids(database)
    secretary = browser().login("hoffmann")
    response = secretary.post("/sitzungen/neu", {
        "organization_id": ids["AWSG"], "name": "Sondersitzung", "reference": "SI/2024/150",
        "date": "29.01.2027", "start_time": "17:30", "end_time": "19:00", "location": "Raum 2.05"})
    assert response.status_code == 302, text_of(response.get_data(as_text=True))
    with database.unit_of_work() as s:
        meeting = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/150")).one()
        assert meeting.start.isoformat() == "2027-01-29T16:30:00+00:00"  # 17:30 in Berlin
    listing = text_of(secretary.get("/sitzungen").get_data(as_text=True))
    assert "29.01.2027, 17:30 Uhr SI/2024/150 Sondersitzung" in listing


def test_wrong_session_input_names_the_field(demo, database, browser):  # type: ignore[no-untyped-def]
    ids = _ids(database)
    secretary = browser().login("hoffmann")
    response = secretary.post("/sitzungen/neu", {
        "organization_id": ids["AWSG"], "name": "Sitzung", "date": "31.02.2027",
        "start_time": "25:00", "end_time": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="date-error">Datum bitte als TT.MM.JJJJ', html)
    assert re.search(r'id="start_time-error">Uhrzeit bitte als HH:MM', html)
    other = secretary.post("/sitzungen/neu", {
        "organization_id": ids["VV"], "name": "Sitzung", "date": "29.01.2027", "start_time": "10:00"})
    assert other.status_code == 403


def test_non_public_vorlage_is_hidden_from_anonymous_visitors(demo, database, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        paper = s.get(Paper, demo.paper_id)
        paper.public = False
        s.add(paper)
    assert browser().get(f"/vorlagen/{demo.paper_id}").status_code == 404
    assert "2024/063" not in browser().get("/").get_data(as_text=True)
    page = browser().login("schmitz").get(f"/vorlagen/{demo.paper_id}")
    assert page.status_code == 200 and "nichtöffentlich" in page.get_data(as_text=True)


def test_english_is_available_dates_stay_german(demo, browser):  # type: ignore[no-untyped-def]
    client = browser()
    page = text_of(client.get(f"/vorlagen/{demo.paper_id}?lang=en").get_data(as_text=True))
    assert "Order of consultation" in page and "Lead department Wirtschaft und Raum" in page
    assert re.search(r"\d\d\.\d\d\.20\d\d SI/2024/131", page)
    again = text_of(client.get(f"/vorlagen/{demo.paper_id}").get_data(as_text=True))
    assert "Order of consultation" in again  # remembered in a cookie


def test_auditor_sees_the_verified_history(demo, database, browser):  # type: ignore[no-untyped-def]
    from engine import audit

    page = text_of(browser().login("krueger").get("/revision/").get_data(as_text=True))
    assert "noch nicht geprüft" in page and "Ablauf gestartet" in page
    with database.unit_of_work() as s:
        done = audit.verify_incrementally(s)  # what the scheduler does every ten minutes
    page = text_of(browser().login("krueger").get("/revision/").get_data(as_text=True))
    assert f"in Ordnung bis Ereignis {done.to_seq}" in page
    assert browser().login("hoffmann").get("/revision/").status_code == 403


def test_login_with_a_wrong_password_is_refused(demo, browser):  # type: ignore[no-untyped-def]
    client = browser()
    token = client.csrf()
    response = client.client.post("/anmelden", data={"username": "hoffmann", "password": "falsch",
                                                     "csrf_token": token})
    assert response.status_code == 401
    assert "Benutzername oder Passwort falsch." in response.get_data(as_text=True)
    assert client.get("/aufgaben/").status_code == 302


def test_form_posts_without_csrf_token_are_refused(demo, browser):  # type: ignore[no-untyped-def]
    client = browser().login("hoffmann")
    assert client.client.post("/sitzungen/neu", data={"name": "x"}).status_code == 400


def test_healthz(app):  # type: ignore[no-untyped-def]
    response = app.test_client().get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_result_of_a_non_public_agenda_item_is_not_published(demo, database, actor, browser, draft):  # type: ignore[no-untyped-def]
    """The public learns that it was dealt with in non-public session, no more, until released."""
    from datetime import timedelta

    from engine.process import procedures
    from engine.workflow.models import ProcessInstance

    from .conftest import NOW

    paper_id = draft("2024/071", "Grundstücksangelegenheit Eschweiler")
    secretary, clerk = actor("hoffmann"), actor("zierstedt")
    with database.unit_of_work() as s:
        (step,) = s.exec(select(Consultation).where(Consultation.paper_id == paper_id)).all()
        step.role = "Entscheidung"
        s.add(step)

    def complete_open(data, now):  # type: ignore[no-untyped-def]
        with database.unit_of_work() as s:
            task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                                  HumanTask.status == TASK_READY)).one()
            version = s.get(ProcessInstance, task.process_instance_id).version
            procedures.complete_task(s, secretary, task.id, data, version, now=now)

    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, clerk, paper_id, now=NOW - timedelta(weeks=3))
        meeting = s.exec(select(Meeting.id).where(Meeting.reference == "SI/2024/131")).one()
    complete_open({"meeting_id": meeting, "top_nummer": "12", "oeffentlich": False}, NOW - timedelta(weeks=2))
    complete_open({"ergebnis": "beschlossen", "ja": 9, "nein": 2}, NOW)

    public = text_of(browser().get(f"/vorlagen/{paper_id}").get_data(as_text=True))
    assert "beschlossen" not in public and "Ja 9" not in public
    assert re.search(r"SI/2024/131 Ordentliche Sitzung [^|]*Gesundheit, TOP 12 "
                     r"in nichtöffentlicher Sitzung behandelt", public)
    assembly = text_of(browser().login("schmitz").get(f"/vorlagen/{paper_id}").get_data(as_text=True))
    assert "beschlossen (Ja 9, Nein 2, Enthaltungen 0)" in assembly
    assert "Ergebnis veröffentlichen" not in assembly  # not their Gremium

    committee = browser().login("hoffmann")
    page = committee.get(f"/vorlagen/{paper_id}").get_data(as_text=True)
    release = re.search(r'action="(/aufgaben/top/\d+/freigeben)"', page).group(1)  # type: ignore[union-attr]
    assert browser().login("schmitz").post(release, {}).status_code == 403
    assert committee.post(release, {}).status_code == 302
    public = text_of(browser().get(f"/vorlagen/{paper_id}").get_data(as_text=True))
    assert "TOP 12 beschlossen (Ja 9, Nein 2, Enthaltungen 0)" in public
    with database.unit_of_work() as s:
        from engine.audit import AuditEvent
        released = s.exec(select(AuditEvent).where(AuditEvent.action == "agenda_item.result_released")).one()
        assert released.actor == "hoffmann" and released.paper_id == paper_id


def test_a_draft_is_started_from_its_page(demo, database, browser):  # type: ignore[no-untyped-def]
    ids = _ids(database)
    clerk = browser().login("zierstedt")
    assert clerk.post("/vorlagen/neu", {**_paper_form(ids), "save": "1"}).status_code == 302
    with database.unit_of_work() as s:
        paper = s.exec(select(Paper).where(Paper.reference == "2024/070")).one()
        assert paper.status == "Entwurf"
    page = text_of(clerk.get(f"/vorlagen/{paper.id}").get_data(as_text=True))
    assert "Die Beratungsfolge ist noch nicht gestartet. Beteiligt (Mitzeichnung)" in page
    assert "Mitzeichnung und Freigabe beginnen Ohne Mitzeichnung: Beratungsfolge starten" in page
    assert clerk.post(f"/vorlagen/{paper.id}/starten", {}).status_code == 302
    assert clerk.post(f"/vorlagen/{paper.id}/starten", {}).status_code == 409
    with database.unit_of_work() as s:
        assert s.get(Paper, paper.id).status == "in Beratung"


def test_agenda_task_without_an_upcoming_session_says_what_to_do(demo, database, browser, actor, draft):  # type: ignore[no-untyped-def]
    from engine.process import procedures

    from .conftest import NOW

    paper_id = draft("2024/072", "Ohne Sitzung")
    clerk = actor("zierstedt")
    with database.unit_of_work() as s:
        for meeting in s.exec(select(Meeting)):
            meeting.cancelled = True
            s.add(meeting)
        procedures.start_beratungsfolge(s, clerk, paper_id, now=NOW)
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                              HumanTask.status == TASK_READY)).one()
        assert task.due is None and task.meeting_id is None
    page = browser().login("hoffmann").get(f"/aufgaben/{task.id}").get_data(as_text=True)
    assert "Für dieses Gremium ist keine kommende Sitzung angelegt." in text_of(page)
    assert 'href="/sitzungen/neu"' in page


def test_unknown_bearbeiter_and_wrong_lead_are_named_not_a_500(demo, database, browser):  # type: ignore[no-untyped-def]
    ids = _ids(database)
    clerk = browser().login("zierstedt")
    response = clerk.post("/vorlagen/neu", _paper_form(ids, clerk_id="999999",
                                                       under_direction_of_id=ids["AWSG"]))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert re.search(r'id="clerk_id-error">Unbekannte Person', html)
    assert re.search(r'id="under_direction_of_id-error">Bitte den federführenden Bereich', html)


def test_after_commit_callbacks_run_only_when_the_request_commits(demo, app):  # type: ignore[no-untyped-def]
    """What a request queues (an e-mail, later) leaves after its commit, never on a rollback."""
    from flask import Blueprint

    from engine.db import after_commit
    from engine.errors import Conflict
    from web.views import request_session

    sent: list[str] = []
    probe = Blueprint("probe", __name__)

    @probe.post("/probe/<outcome>")
    def queue(outcome: str):  # type: ignore[no-untyped-def]
        session = request_session()
        after_commit(session, lambda: sent.append(outcome))
        if outcome == "refused":
            raise Conflict("refused")
        return "ok"

    app.register_blueprint(probe)
    client = app.test_client()
    client.get("/anmelden")
    with client.session_transaction() as sess:
        token = sess["csrf"]
    assert client.post("/probe/refused", data={"csrf_token": token}).status_code == 409
    assert sent == []
    assert client.post("/probe/committed", data={"csrf_token": token}).status_code == 200
    assert sent == ["committed"]


def test_meetings_page_shows_each_sessions_deadlines(demo, browser):  # type: ignore[no-untyped-def]
    """SI/2024/128 on Friday 04.12.2026, default rules (7 calendar days, agenda 3 days before)."""
    page = text_of(browser().login("schmitz").get("/sitzungen").get_data(as_text=True))
    assert "Tagesordnungsschluss Ladungsfrist" in page
    assert re.search(r"04\.12\.2026, 15:00 Uhr SI/2024/128 .*? 24\.11\.2026 27\.11\.2026", page)


def test_create_app_migrates_only_when_asked(tmp_path):  # type: ignore[no-untyped-def]
    """Web workers never migrate at start-up by default; RATSFLOW_AUTO_MIGRATE=true (or
    ``upgrade=True``, what ``ratsflow serve`` passes) brings the schema up to date."""
    import sqlalchemy

    from engine.settings import load_settings
    from web import create_app

    def tables(app):  # type: ignore[no-untyped-def]
        return set(sqlalchemy.inspect(app.extensions["ratsflow.db"].engine).get_table_names())

    plain = load_settings({"RATSFLOW_INSTANCE_PATH": str(tmp_path / "plain")})
    assert plain.auto_migrate is False
    assert "alembic_version" not in tables(create_app(plain))
    auto = load_settings({"RATSFLOW_INSTANCE_PATH": str(tmp_path / "auto"), "RATSFLOW_AUTO_MIGRATE": "true"})
    assert "alembic_version" in tables(create_app(auto))
    assert "alembic_version" in tables(create_app(plain, upgrade=True))
