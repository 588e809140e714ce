"""Verwaltung: the administration sets each Gremium's deadline rules and the Bundesland.

The committee's demo Sitzungen are cancelled and one is added on Thursday 03.11.2095, so
the "next Sitzung" does not depend on the day the tests run. Calendar around it:
Mon 31.10.2095 (Reformationstag in the northern and eastern Länder, not in NW or BE),
Tue 01.11.2095 (Allerheiligen in NW, not in BE), Fri 28.10., Thu 27.10., Mon 24.10.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from sqlmodel import select

from engine.audit import AuditEvent
from engine.council import Body, DeadlineRule, Meeting, Organization
from engine.settings import TIMEZONE

from .conftest import text_of

COMMITTEE = "Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit"
ASSEMBLY = "Verbandsversammlung des Region Aachen Zweckverband"


def _setup(database) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """The committee's id and the body's id; its next Sitzung is on 03.11.2095, no Bundesland set."""
    with database.unit_of_work() as s:
        committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one()
        body = s.get(Body, committee.body_id)
        assert body is not None
        body.state = None
        s.add(body)
        for meeting in s.exec(select(Meeting).where(Meeting.organization_id == committee.id)):
            meeting.cancelled = True
            s.add(meeting)
        s.add(Meeting(organization_id=committee.id, reference="SI/2095/1", name="Sitzung",
                      start=datetime(2095, 11, 3, 17, 0, tzinfo=TIMEZONE)))
        s.add(Meeting(organization_id=committee.id, reference="SI/2095/2", name="Sitzung",
                      start=datetime(2095, 12, 1, 17, 0, tzinfo=TIMEZONE)))
        s.add(Meeting(organization_id=committee.id, reference="SI/2095/0", name="abgesagt",
                      start=datetime(2095, 10, 6, 17, 0, tzinfo=TIMEZONE), cancelled=True))
        return committee.id, committee.body_id  # type: ignore[return-value]


def _row(html: str, name: str) -> str:
    """The visible text of the table row of one Gremium."""
    for row in re.findall(r"<tr>.*?</tr>", html, flags=re.S):
        if name in text_of(row):
            return text_of(row)
    raise AssertionError(f"no row for {name}")


def _rules(database) -> list[DeadlineRule]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return list(s.exec(select(DeadlineRule)))


def test_admin_sees_the_gremien_with_their_deadlines(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    committee, _body = _setup(database)
    admin = browser().login("admin")
    response = admin.get("/verwaltung/gremien")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="/verwaltung/gremien/verzeichnis"' in html and "Verwaltung" in text_of(html)  # the nav link
    assert _row(html, COMMITTEE) == (
        f"{COMMITTEE} 7 Kalendertage, ohne Sitzungstag 3 Kalendertage vor der Ladungsfrist "
        "3 Werktage nach der Sitzung 03.11.2095 27.10.2095 24.10.2095")
    assert _row(html, ASSEMBLY).startswith(f"{ASSEMBLY} 7 Kalendertage, ohne Sitzungstag")
    assert f'href="/verwaltung/gremien/{committee}/fristen"' in html
    assert "Wirtschaft und Raum" not in text_of(html)  # a Verwaltungsbereich, no Gremium
    assert "Region Aachen Zweckverband" in text_of(html) and "Nordrhein-Westfalen" in html
    form = admin.get(f"/verwaltung/gremien/{committee}/fristen")
    assert form.status_code == 200
    page = form.get_data(as_text=True)
    assert 'name="csrf_token"' in page and 'id="invitation_days" name="invitation_days" value="7"' in page
    assert "Ladung spätestens 27.10.2095, Redaktionsschluss 24.10.2095" in text_of(page)


def test_admin_changes_the_rules_and_the_bundesland(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    committee, body = _setup(database)
    admin = browser().login("admin")
    response = admin.post(f"/verwaltung/koerperschaften/{body}/land", {"state": "NW"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/verwaltung/gremien")
    response = admin.post(f"/verwaltung/gremien/{committee}/fristen", {
        "invitation_days": "3", "working_days": "true", "agenda_days_before": "1",
        "result_working_days": "2"})
    assert response.status_code == 302, text_of(response.get_data(as_text=True))
    page = admin.get("/verwaltung/gremien").get_data(as_text=True)
    assert "Die Fristen wurden gespeichert." in text_of(page)
    # 3 Werktage before Thu 03.11.2095 in NW: Wed 02., (Tue 01.11. Allerheiligen) Mon 31.10., Fri 28.10.
    assert _row(page, COMMITTEE) == (
        f"{COMMITTEE} 3 Werktage, ohne Sitzungstag 1 Werktag vor der Ladungsfrist "
        "2 Werktage nach der Sitzung 03.11.2095 28.10.2095 27.10.2095")
    assert re.search(r'<option value="NW"\s+selected>Nordrhein-Westfalen', page)
    # In Berlin 01.11. is a working day: Wed 02., Tue 01., Mon 31.10.; agenda Fri 28.10.
    assert admin.post(f"/verwaltung/koerperschaften/{body}/land", {"state": "BE"}).status_code == 302
    page = admin.get("/verwaltung/gremien").get_data(as_text=True)
    assert _row(page, COMMITTEE).endswith("03.11.2095 31.10.2095 28.10.2095")
    # Hilden's rule, counting the session day: 9 days up to Thu 03.11. → Wed 26.10.; agenda 0 → the same day.
    response = admin.post(f"/verwaltung/gremien/{committee}/fristen", {
        "invitation_days": "9", "working_days": "false", "count_session_day": "true",
        "agenda_days_before": "0", "result_working_days": "3"})
    assert response.status_code == 302
    page = admin.get("/verwaltung/gremien").get_data(as_text=True)
    assert _row(page, COMMITTEE) == (
        f"{COMMITTEE} 9 Kalendertage, mit Sitzungstag am Tag der Ladungsfrist "
        "3 Werktage nach der Sitzung 03.11.2095 26.10.2095 26.10.2095")
    form = admin.get(f"/verwaltung/gremien/{committee}/fristen").get_data(as_text=True)
    assert 'id="agenda_days_before" name="agenda_days_before" value="0"' in form  # 0 is shown, not blank
    assert re.search(r'id="count_session_day" name="count_session_day" value="true"\s+checked', form)
    with database.unit_of_work() as s:
        rule = s.exec(select(DeadlineRule)).one()
        assert (rule.organization_id, rule.invitation_days, rule.working_days, rule.count_session_day,
                rule.agenda_days_before, rule.result_working_days) == (committee, 9, False, True, 0, 3)
        assert s.get(Body, body).state == "BE"  # type: ignore[union-attr]
        actions = [e.action for e in s.exec(select(AuditEvent).where(
            AuditEvent.actor == "admin").order_by(AuditEvent.seq)) if not e.action.startswith("login.")]
    assert actions == ["body.state_changed", "deadline_rules.changed", "body.state_changed",
                       "deadline_rules.changed"]


def test_only_the_administration_gets_in(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    committee, body = _setup(database)
    anonymous = browser()
    response = anonymous.get("/verwaltung/gremien")
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]
    for username in ("hoffmann", "zierstedt", "krueger"):
        user = browser().login(username)
        assert "Verwaltung" not in text_of(user.get("/aufgaben/").get_data(as_text=True))
        assert user.get("/verwaltung/gremien").status_code == 403
        assert user.get(f"/verwaltung/gremien/{committee}/fristen").status_code == 403
        assert user.post(f"/verwaltung/gremien/{committee}/fristen", {
            "invitation_days": "1", "agenda_days_before": "0", "result_working_days": "0"}).status_code == 403
        assert user.post(f"/verwaltung/koerperschaften/{body}/land", {"state": "BY"}).status_code == 403
    assert _rules(database) == []
    with database.unit_of_work() as s:
        assert s.get(Body, body).state is None  # type: ignore[union-attr]


def test_unknown_gremium_or_body_is_not_found(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    with database.unit_of_work() as s:
        department = s.exec(select(Organization.id).where(
            Organization.organization_type == "Verwaltungsbereich")).one()
    for org_id in (department, 999_999, 10**12, 10**30):
        assert admin.get(f"/verwaltung/gremien/{org_id}/fristen").status_code == 404
        assert admin.post(f"/verwaltung/gremien/{org_id}/fristen", {
            "invitation_days": "1", "agenda_days_before": "0", "result_working_days": "0"}).status_code == 404
    for body_id in (999_999, 10**30):
        assert admin.post(f"/verwaltung/koerperschaften/{body_id}/land", {"state": "NW"}).status_code == 404
    assert _rules(database) == []


GOOD = {"invitation_days": "9", "working_days": "false", "count_session_day": "true",
        "agenda_days_before": "2", "result_working_days": "5"}


@pytest.mark.parametrize(("field", "value", "message"), [
    pytest.param("invitation_days", "abc", "Bitte eine ganze Zahl eingeben.", id="letters"),
    pytest.param("invitation_days", "", "Pflichtfeld: bitte ausfüllen.", id="empty"),
    pytest.param("invitation_days", str(10**12), "Bitte eine Zahl von 0 bis 90 eingeben.", id="10**12"),
    pytest.param("agenda_days_before", "-1", "Bitte eine Zahl von 0 bis 60 eingeben.", id="negative"),
    pytest.param("result_working_days", "2.5", "Bitte eine ganze Zahl eingeben.", id="fraction"),
])
def test_bad_input_names_the_field_and_changes_nothing(demo, database, browser, field, value,  # type: ignore[no-untyped-def]
                                                       message) -> None:
    committee, _body = _setup(database)
    admin = browser().login("admin")
    assert admin.post(f"/verwaltung/gremien/{committee}/fristen", GOOD).status_code == 302
    response = admin.post(f"/verwaltung/gremien/{committee}/fristen", {**GOOD, field: value})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<small class="error" id="{field}-error">{message}</small>' in html
    assert re.search(rf'id="{field}" name="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-error"',
                     html, flags=re.S)
    assert html.count('aria-invalid="true"') == 1
    for other in ("invitation_days", "agenda_days_before", "result_working_days"):
        if other != field:  # what was typed stays
            assert f'id="{other}" name="{other}" value="{GOOD[other]}"' in html
    rules = _rules(database)
    stored = [(r.invitation_days, r.working_days, r.count_session_day, r.agenda_days_before,
               r.result_working_days) for r in rules]
    assert stored == [(9, False, True, 2, 5)]
    with database.unit_of_work() as s:
        changes = s.exec(select(AuditEvent).where(AuditEvent.action == "deadline_rules.changed")).all()
        assert len(changes) == 1


@pytest.mark.parametrize("state", ["XX", "nw"])
def test_bad_bundesland_is_named_and_changes_nothing(demo, database, browser, state) -> None:  # type: ignore[no-untyped-def]
    _committee, body = _setup(database)
    admin = browser().login("admin")
    response = admin.post(f"/verwaltung/koerperschaften/{body}/land", {"state": state})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="state-{body}-error">Bitte eines der Bundesländer wählen.' in html
    assert re.search(rf'id="state-{body}" name="state"\s+aria-invalid="true"', html)

    assert _row(html, COMMITTEE).endswith("03.11.2095 27.10.2095 24.10.2095")  # the page still works
    with database.unit_of_work() as s:
        assert s.get(Body, body).state is None  # type: ignore[union-attr]
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "body.state_changed")).all() == []


@pytest.mark.parametrize(("url", "field", "value"), [
    ("fristen", "invitation_days", "7\x00"), ("fristen", "working_days", "\x00"), ("land", "state", "N\x00W")])
def test_control_characters_are_named_and_change_nothing(demo, database, browser, url, field,  # type: ignore[no-untyped-def]
                                                         value) -> None:
    """A NUL is refused before any view (``web.inputs``): the error page names the field."""
    committee, body = _setup(database)
    admin = browser().login("admin")
    target = f"/verwaltung/gremien/{committee}/fristen" if url == "fristen" \
        else f"/verwaltung/koerperschaften/{body}/land"
    response = admin.post(target, {**GOOD, field: value} if url == "fristen" else {field: value})
    assert response.status_code == 422
    assert f"Das Feld „{field}“ enthält ein unzulässiges Steuerzeichen." in response.get_data(as_text=True)
    assert _rules(database) == []
