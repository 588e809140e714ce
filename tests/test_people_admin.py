"""An admin keeps Gremien, persons and memberships, reminder rules, the outbox and incidents
in the web app; every change audited, bad input named, nobody else allowed."""

from __future__ import annotations

import re

import pytest
from sqlmodel import col, select

from engine import audit, audit_history, outbox
from engine.calendar import reminders
from engine.calendar.reminders import Reminder
from engine.council import Membership, Organization, Person
from engine.outbox import OutboxMessage

from .conftest import NOW, text_of


def _events(database, action: str) -> list[audit.AuditEvent]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return list(s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == action)
                           .order_by(col(audit.AuditEvent.seq))))


def _gremium(database, name: str) -> Organization:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(Organization).where(Organization.name == name)).one()  # type: ignore[no-any-return]


def test_admin_sets_up_a_second_committee_with_its_members(demo, database, browser):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    with database.unit_of_work() as s:
        body_id = s.exec(select(Organization.body_id)).first()
    page = admin.get("/verwaltung/gremien/verzeichnis")
    assert page.status_code == 200 and "Neues Gremium" in text_of(page.get_data(as_text=True))

    # Bad input names its field and writes nothing.
    refused = admin.post("/verwaltung/gremien/verzeichnis", {"name": "Bau\x00ausschuss", "classification": "Ausschuss",
                                                            "body_id": body_id})
    assert refused.status_code == 422 and "Steuerzeichen" in refused.get_data(as_text=True)
    refused = admin.post("/verwaltung/gremien/verzeichnis", {"name": "Bauausschuss", "classification": "Zirkel",
                                                            "body_id": 2**40})
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "angebotenen Arten" in body and "Unbekannter Eintrag" in body

    created = admin.post("/verwaltung/gremien/verzeichnis", {"name": "Bauausschuss", "short_name": "BA",
                                                            "classification": "Ausschuss", "body_id": body_id})
    assert created.status_code == 302
    org = _gremium(database, "Bauausschuss")
    assert (org.short_name, org.classification, org.organization_type) == ("BA", "Ausschuss", "Gremium")
    again = admin.post("/verwaltung/gremien/verzeichnis", {"name": "Bauausschuss", "classification": "Ausschuss",
                                                          "body_id": body_id})
    assert again.status_code == 422 and "gibt es schon" in again.get_data(as_text=True)

    # A new person, then her membership; the e-mail address is checked.
    bad = admin.post("/verwaltung/personen", {"family_name": "Schulte", "given_name": "Ina", "email": "kein-at",
                                              "body_id": body_id})
    assert bad.status_code == 422 and "gültige E-Mail" in bad.get_data(as_text=True)
    assert admin.post("/verwaltung/personen", {"family_name": "Schulte", "given_name": "Ina",
                                               "form_of_address": "Frau", "email": "ina.schulte@example.org",
                                               "body_id": body_id}).status_code == 302
    with database.unit_of_work() as s:
        ina = s.exec(select(Person).where(Person.family_name == "Schulte")).one()
    wrong = admin.post(f"/verwaltung/gremien/{org.id}/mitglieder", {"person_id": ina.id, "role": "Mitglied",
                                                                     "start_date": "01.12.2026",
                                                                     "end_date": "01.11.2026"})
    assert wrong.status_code == 422 and "vor dem Beginn" in wrong.get_data(as_text=True)
    assert admin.post(f"/verwaltung/gremien/{org.id}/mitglieder", {
        "person_id": ina.id, "role": "Vorsitz", "voting_right": "true", "start_date": "01.11.2026"}).status_code == 302
    twice = admin.post(f"/verwaltung/gremien/{org.id}/mitglieder", {"person_id": ina.id, "role": "Vorsitz"})
    assert twice.status_code == 409 and "schon Vorsitz" in twice.get_data(as_text=True)
    page = text_of(admin.get(f"/verwaltung/gremien/{org.id}").get_data(as_text=True))
    assert "Schulte, Ina Vorsitz 01.11.2026" in page

    # Renamed: the change and its old value are in the history.
    assert admin.post(f"/verwaltung/gremien/{org.id}", {"name": "Bau- und Planungsausschuss", "short_name": "BPA",
                                                         "classification": "Ausschuss"}).status_code == 302
    [changed] = _events(database, "organization.changed")
    assert changed.details["changes"]["name"] == {"old": "Bauausschuss", "new": "Bau- und Planungsausschuss"}
    assert changed.actor == "admin"
    members_added = [e.details["person"] for e in _events(database, "membership.created")]
    assert members_added == ["Schulte, Ina"]
    organizations_added = [e.details["name"] for e in _events(database, "organization.created")]
    assert organizations_added == ["Bauausschuss"]

    # A Vorlage can now go to two different committees (the form offers the new one).
    clerk = browser().login("zierstedt")
    assert "Bau- und Planungsausschuss" in clerk.get("/vorlagen/neu").get_data(as_text=True)


def test_membership_changes_replan_the_members_reminders(demo, database, browser):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    assembly = _gremium(database, "Verbandsversammlung des Region Aachen Zweckverband")
    with database.unit_of_work() as s:
        wagner = s.exec(select(Person).where(Person.family_name == "Wagner")).one()
    assert admin.post(f"/verwaltung/gremien/{assembly.id}/mitglieder",
                      {"person_id": wagner.id, "role": "stellvertretendes Mitglied"}).status_code == 302
    with database.unit_of_work() as s:
        planned = s.exec(select(Reminder).where(Reminder.person_id == wagner.id,
                                                Reminder.kind == reminders.KIND_SESSION,
                                                Reminder.status == reminders.PENDING)).all()
        assembly_rows = [r for r in planned if r.meeting_id in {m for m in _meetings_of(s, assembly.id)}]
        assert len(assembly_rows) >= 2  # 7 days and 1 day before each session ahead
        membership = s.exec(select(Membership).where(Membership.person_id == wagner.id,
                                                     Membership.organization_id == assembly.id)).one()
    assert admin.post(f"/verwaltung/mitgliedschaften/{membership.id}/ende",
                      {"end_date": f"{NOW:%d.%m.%Y}"}).status_code == 302
    with database.unit_of_work() as s:
        left = s.exec(select(Reminder).where(Reminder.person_id == wagner.id,
                                             Reminder.status == reminders.PENDING)).all()
        assert not [r for r in left if r.meeting_id in set(_meetings_of(s, assembly.id))]
    [ended] = _events(database, "membership.ended")
    assert ended.details["changes"]["end_date"]["old"] is None


def _meetings_of(s, organization_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    from engine.council import Meeting

    return [m for m in s.exec(select(Meeting.id).where(Meeting.organization_id == organization_id))]


def test_reminder_rules_are_edited_per_gremium(demo, database, browser):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    assembly = _gremium(database, "Verbandsversammlung des Region Aachen Zweckverband")
    page = text_of(admin.get(f"/verwaltung/gremien/{assembly.id}").get_data(as_text=True))
    assert "Es gelten die Vorgaben für alle Gremien" in page
    bad = admin.post(f"/verwaltung/gremien/{assembly.id}/erinnerungen", {
        "audience": ["mitglieder"], "anchor": ["sitzung"], "days": ["viele"]})
    assert bad.status_code == 422 and "Zahl von Tagen" in bad.get_data(as_text=True)
    assert admin.post(f"/verwaltung/gremien/{assembly.id}/erinnerungen", {
        "audience": ["mitglieder", "mitglieder", "sekretariat"],
        "anchor": ["sitzung", "sitzung", "ladungsfrist"],
        "days": ["3", "0,5", "2"]}).status_code == 302
    with database.unit_of_work() as s:
        rules = reminders.rules_for(s, assembly.id)
        assert sorted(r.lead_minutes for r in rules if r.audience == "mitglieder") == [12 * 60, 3 * 24 * 60]
        leads = {r.lead_minutes for r in s.exec(select(Reminder).where(
            Reminder.kind == reminders.KIND_SESSION, Reminder.status == reminders.PENDING))
            if r.meeting_id in set(_meetings_of(s, assembly.id))}
        assert leads == {12 * 60, 3 * 24 * 60}
    [event] = _events(database, "reminder_rules.changed")
    # In words, never the codes of audience and anchor ("mitglieder: 7 Tage vor sitzung").
    assert "Mitglieder: 7 Tage vor der Sitzung" in event.details["old"]
    assert "Mitglieder: 3 Tage vor der Sitzung" in event.details["new"]
    described = audit_history.describe(event)
    assert "vorher: Mitglieder: 7 Tage vor der Sitzung" in described and "sitzung;" not in described


def test_failed_mail_is_shown_and_retried(demo, database, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        message = outbox.enqueue(s, to_address="martina.becker@example.org", subject="Einladung: VV",
                                 body_text="…", cause="test", domain="example.org", now=NOW)
        s.flush()
        message.status, message.attempts, message.last_error = outbox.FAILED, 8, "550 mailbox unavailable"
        s.add(message)
        message_id = message.id
    admin = browser().login("admin")
    page = text_of(admin.get("/verwaltung/postausgang").get_data(as_text=True))
    assert "martina.becker@example.org Einladung: VV 8 550 mailbox unavailable" in page
    assert admin.post(f"/verwaltung/postausgang/{message_id}/erneut", {}).status_code == 302
    with database.unit_of_work() as s:
        again = s.get(OutboxMessage, message_id)
        assert (again.status, again.attempts) == (outbox.PENDING, 0)
    assert admin.post(f"/verwaltung/postausgang/{message_id}/erneut", {}).status_code == 404  # not failed now
    assert [e.details["message_id"] for e in _events(database, "outbox.retried")] == [message_id]


@pytest.mark.parametrize("url", ["/verwaltung/gremien/verzeichnis", "/verwaltung/personen", "/verwaltung/postausgang"])
def test_only_an_admin_may(demo, browser, url: str) -> None:  # type: ignore[no-untyped-def]
    assert browser().get(url).status_code in (302, 401)
    assert browser().login("schmitz").get(url).status_code == 403
    assert browser().login("schmitz").post(url, {"name": "x"}).status_code in (403, 405)


@pytest.mark.parametrize("url", ["/verwaltung/gremien/2147483648", "/verwaltung/personen/99999999999",
                                 "/verwaltung/mitgliedschaften/2147483648/ende"])
def test_ids_beyond_the_database_range_are_not_found(demo, browser, url: str) -> None:  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    response = admin.post(url, {"end_date": "01.01.2027"}) if url.endswith("ende") else admin.get(url)
    assert response.status_code == 404
    assert re.search("nicht gefunden", response.get_data(as_text=True))
