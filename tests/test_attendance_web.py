"""Attendance in the pages (issue 19): the Sekretariat's session page, the member's "Meine
Sitzungen", the result step refusing votes above those present – through the Flask client."""

from __future__ import annotations

import pytest
from sqlmodel import select

from engine.council import AgendaItem, Meeting, Person
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance

from .conftest import text_of
from .test_attendance import decision_on_agenda, reading_actor


@pytest.fixture
def actor(database):  # type: ignore[no-untyped-def]
    """Actors read without the write lock (see tests/test_attendance.py)."""
    return reading_actor(database)


def _ids(database) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        found = {m.reference: m.id for m in s.exec(select(Meeting))}
        found.update({p.family_name: p.id for p in s.exec(select(Person))})
    return found  # type: ignore[return-value]


def test_a_session_recorded_through_the_pages(database, demo, actor, draft, browser):  # type: ignore[no-untyped-def]
    task_id = decision_on_agenda(database, actor, draft, "2024/301", "6")
    ids = _ids(database)
    past, ahead = ids["SI/2024/131"], ids["SI/2024/140"]
    becker = browser().login("becker")
    page = text_of(becker.get("/meine-sitzungen").get_data(as_text=True))
    assert "Entschuldigen" in page
    response = becker.post(f"/meine-sitzungen/{ahead}/entschuldigung", {"note": "Urlaub"})
    assert response.status_code == 302
    assert "Sie haben sich am" in text_of(becker.get("/meine-sitzungen").get_data(as_text=True))

    hoffmann = browser().login("hoffmann")
    page = text_of(hoffmann.get(f"/sitzungen/{ahead}").get_data(as_text=True))
    assert "Becker, Martina" in page and "entschuldigt am" in page and "Urlaub" in page
    assert "ab dem Sitzungstag" in page

    with database.unit_of_work(write=False) as s:
        item = s.exec(select(AgendaItem.id).where(AgendaItem.meeting_id == past, AgendaItem.number == "6")).one()
    form = {"opened": "15:00", "closed": "17:00", f"status-{ids['Becker']}": "anwesend",
            f"status-{ids['Wagner']}": "anwesend", f"arrived-{ids['Wagner']}": "15:45",
            f"status-{ids['Yılmaz']}": "entschuldigt", f"arrived-{ids['Yılmaz']}": "15:10",
            f"called-{item}": "15:20", "guest-name-0": "Aachener Zeitung", "guest-role-0": "Presse"}
    refused = hoffmann.post(f"/sitzungen/{past}/anwesenheit", form)
    assert refused.status_code == 422
    assert "Yılmaz, Elif kann nicht zugleich entschuldigt sein" in text_of(refused.get_data(as_text=True))
    del form[f"arrived-{ids['Yılmaz']}"]
    assert hoffmann.post(f"/sitzungen/{past}/anwesenheit", form).status_code == 302
    page = text_of(hoffmann.get(f"/sitzungen/{past}").get_data(as_text=True))
    assert "Zu Beginn 1 von 3 stimmberechtigten Mitgliedern anwesend, nötig sind 2: nicht beschlussfähig" in page
    assert "15:20 Uhr: 1 von 3 stimmberechtigten Mitgliedern anwesend" in page

    # TOP 6 at 15:20: only Becker – the decision is refused with the figures …
    with database.unit_of_work(write=False) as s:
        version = s.get(ProcessInstance, s.get(HumanTask, task_id).process_instance_id).version
    response = hoffmann.post(f"/aufgaben/{task_id}", {"version": version, "ergebnis": "beschlossen", "ja": "1"})
    assert response.status_code == 422
    page = text_of(response.get_data(as_text=True))
    assert "waren 1 von 3 stimmberechtigten Mitgliedern anwesend" in page and "§ 49 Abs. 1 GO NRW" in page
    # … after the TOP's time is corrected to 16:00 (Wagner there), votes above two are refused.
    assert hoffmann.post(f"/sitzungen/{past}/anwesenheit", {**form, f"called-{item}": "16:00"}).status_code == 302
    page = text_of(hoffmann.get(f"/aufgaben/{task_id}").get_data(as_text=True))
    assert "TOP 6, 16:00 Uhr: 2 von 3 stimmberechtigten Mitgliedern anwesend (nötig 2)" in page
    response = hoffmann.post(f"/aufgaben/{task_id}", {"version": version, "ergebnis": "beschlossen",
                                                      "ja": "2", "nein": "1"})
    assert response.status_code == 422
    assert "zusammen (3) sind mehr als die 2 stimmberechtigten Anwesenden bei TOP 6" in text_of(
        response.get_data(as_text=True))
    # Befangenheit noted in the session, a roll call without the excluded member.
    assert hoffmann.post(f"/sitzungen/{past}/tops/{item}/befangenheit",
                         {"person_id": ids["Wagner"], "note": "Geschäftsführer eines Clusters"}).status_code == 302
    refused = hoffmann.post(f"/sitzungen/{past}/tops/{item}/namentlich",
                            {f"vote-{ids['Becker']}": "ja", f"vote-{ids['Wagner']}": "nein"})
    assert refused.status_code == 422
    assert "Wagner, Thomas ist bei TOP 6 befangen" in text_of(refused.get_data(as_text=True))
    # Without Wagner one of three remains: no quorum; the second call is recorded.
    assert hoffmann.post(f"/sitzungen/{past}/tops/{item}/erneute-einberufung",
                         {"repeat_call": "SI/2024/120 (beschlussunfähig)"}).status_code == 302
    assert hoffmann.post(f"/sitzungen/{past}/tops/{item}/namentlich",
                         {f"vote-{ids['Becker']}": "ja"}).status_code == 302
    response = hoffmann.post(f"/aufgaben/{task_id}", {"version": version, "ergebnis": "beschlossen",
                                                      "abstimmung": "namentlich"})
    assert response.status_code == 302, text_of(response.get_data(as_text=True))
    with database.unit_of_work(write=False) as s:
        row = s.get(AgendaItem, item)
        assert (row.votes_yes, row.votes_no, row.votes_abstain, row.vote_mode) == (1, 0, 0, "namentlich")
        assert s.exec(select(HumanTask).where(HumanTask.id == task_id)).one().status != TASK_READY
    page = text_of(hoffmann.get(f"/sitzungen/{past}").get_data(as_text=True))
    assert "Namentliche Abstimmung: Becker, Martina: Ja" in page
    assert "Wagner, Thomas (vom Sekretariat vermerkt: Geschäftsführer eines Clusters)" in page

    # Others: the member of another Gremium's Sekretariat may not; the member reads, cannot write.
    assert becker.post(f"/sitzungen/{past}/anwesenheit", form).status_code == 403
    page = text_of(becker.get(f"/sitzungen/{past}").get_data(as_text=True))
    assert "Anwesenheit" in page and "Anwesenheit speichern" not in page
    assert "Anwesenheit" not in text_of(browser().get(f"/sitzungen/{past}").get_data(as_text=True))


def test_the_member_declares_befangenheit_ahead_from_meine_sitzungen(database, demo, actor, draft, browser):  # type: ignore[no-untyped-def]
    ids = _ids(database)
    ahead = ids["SI/2024/140"]
    paper_id = draft("2024/302", "Zuschuss an einen Verein")
    from engine.process import procedures

    from .conftest import NOW
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=NOW)
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id, HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
        task_id = task.id
    with database.unit_of_work() as s:
        procedures.complete_task(s, actor("hoffmann"), task_id, {"meeting_id": ahead, "top_nummer": "3"}, version,
                                 now=NOW)
    with database.unit_of_work(write=False) as s:
        item = s.exec(select(AgendaItem.id).where(AgendaItem.meeting_id == ahead, AgendaItem.number == "3")).one()
    becker = browser().login("becker")
    page = text_of(becker.get("/meine-sitzungen").get_data(as_text=True))
    assert "Befangenheit erklären" in page and "Zuschuss an einen Verein" in page
    assert becker.post(f"/meine-sitzungen/tops/{item}/befangenheit", {}).status_code == 302
    page = text_of(becker.get("/meine-sitzungen").get_data(as_text=True))
    assert "Ihre Befangenheit ist vermerkt" in page and "befangen zurücknehmen" in page
    hoffmann = browser().login("hoffmann")
    page = text_of(hoffmann.get(f"/sitzungen/{ahead}").get_data(as_text=True))
    assert "Becker, Martina (selbst erklärt)" in page
    # Not someone else's Befangenheit, and not for a TOP of a Gremium one is not in.
    krueger = browser().login("krueger")
    refused = krueger.post(f"/meine-sitzungen/tops/{item}/befangenheit", {})
    assert refused.status_code == 403
    assert "Sie gehören diesem Gremium am Tag der Sitzung nicht an." in text_of(refused.get_data(as_text=True))


def test_the_sitzungsgeld_page_and_its_csv(database, demo, actor, browser):  # type: ignore[no-untyped-def]
    from engine import allowance, attendance

    ids = _ids(database)
    with database.unit_of_work(write=False) as s:
        meeting = s.get(Meeting, ids["SI/2024/131"])
    month = f"{meeting.start:%m.%Y}"
    with database.unit_of_work() as s:
        allowance.set_rate(s, actor("admin"), meeting.organization_id, {"amount": "25", "valid_from": "01.01.2024"})
        attendance.record(s, actor("hoffmann"), meeting.id, {
            "opened": "15:00", "closed": "16:30", f"status-{ids['Becker']}": "anwesend",
            f"status-{ids['Wagner']}": "anwesend", f"status-{ids['Yılmaz']}": "abwesend"}, now=meeting.start)
    hoffmann = browser().login("hoffmann")
    page = text_of(hoffmann.get(f"/sitzungsgeld?gremium={meeting.organization_id}&monat={month}").get_data(as_text=True))
    assert "Becker, Martina SI/2024/131" in page and "Summen je Person" in page and "25,00 €" in page
    response = hoffmann.post("/sitzungsgeld/export", {"gremium": meeting.organization_id, "monat": month})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="sitzungsgeld-AWSG-')
    lines = response.get_data().decode("utf-8").splitlines()
    assert lines[0].startswith("\ufeffMonat;Name;") and len(lines) == 3
    assert lines[1].endswith(";90;Mitglied;25,00")
    refused = hoffmann.get("/sitzungsgeld?monat=13.2026")
    assert refused.status_code == 422 and "Monat bitte als MM.JJJJ" in text_of(refused.get_data(as_text=True))
    admin = browser().login("admin")
    response = admin.post(f"/verwaltung/gremien/{meeting.organization_id}/sitzungsgeld",
                          {"amount": "zwanzig", "valid_from": "01.01.2027"})
    assert response.status_code == 422 and "Betrag in Euro" in text_of(response.get_data(as_text=True))
