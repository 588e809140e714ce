"""An admin keeps the accounts: creates local ones, edits them, grants and removes roles,
deactivates (their sessions end at once) and sets passwords; every change audited with old and
new values, bad input named, nobody else allowed, and there is always one active admin."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlmodel import col, select

from engine import audit, audit_history
from engine.council import ROLE_ADMIN, ROLE_CLERK, ROLE_SECRETARIAT, Account, Grant, Organization, Person
from engine.errors import Conflict
from engine.identity import account_admin, logins

from .conftest import NOW, PASSWORD, text_of

NEW = "ein-neues-passwort"


def _account(database, username: str) -> Account:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(Account).where(Account.username == username)).one()  # type: ignore[no-any-return]


def _events(database, action: str) -> list[audit.AuditEvent]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return list(s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == action)
                           .order_by(col(audit.AuditEvent.seq))))


def _org(database, **where: str) -> Organization:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        query = select(Organization)
        for key, value in where.items():
            query = query.where(getattr(Organization, key) == value)
        return s.exec(query.order_by(col(Organization.id))).first()  # type: ignore[return-value]


def _grants(database, username: str) -> set[tuple[str, int | None]]:  # type: ignore[no-untyped-def]
    account = _account(database, username)
    with database.unit_of_work() as s:
        return {(g.role, g.organization_id) for g in s.exec(select(Grant).where(Grant.account_id == account.id))}


def _field_error(html: str, field: str) -> bool:
    return re.search(rf'id="{field}" name="[^"]+"[^>]*aria-invalid="true" aria-describedby="{field}-error"',
                     html) is not None


def test_the_list_shows_every_account_with_roles_in_words_and_last_login(demo, database, browser):  # type: ignore[no-untyped-def]
    browser().login("hoffmann")
    admin = browser().login("admin")
    page = admin.get("/verwaltung/konten")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    rows = {text_of(r).split(" ")[0]: text_of(r) for r in re.findall(r"<tr>.*?</tr>", html, re.S)[1:]}
    assert set(rows) == {"admin", "becker", "hoffmann", "krueger", "schmitz", "zierstedt"}
    assert rows["hoffmann"] == ("hoffmann Lea Hoffmann lea.hoffmann@example.org Hoffmann, Lea Sekretariat: Ausschuss "
                                "für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit aktiv lokal "
                                "24.11.2026 10:00")
    assert rows["zierstedt"].endswith("Sachbearbeitung: Wirtschaft und Raum aktiv lokal nie")
    assert rows["becker"].endswith("– aktiv lokal nie")
    assert "Revision" in rows["krueger"] and "Administration" in rows["admin"]
    assert 'href="/verwaltung/konten"' in admin.get("/verwaltung/gremien/verzeichnis").get_data(as_text=True)


def test_an_admin_creates_a_local_account_and_bad_input_names_its_field(demo, database, browser):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    with database.unit_of_work() as s:
        person = s.exec(select(Person).order_by(col(Person.id))).first()
        assert person is not None
    good = {"username": "neumann", "display_name": "Nina Neumann", "email": "nina@example.org",
            "person_id": str(person.id), "password": NEW, "repeated": NEW}
    for field, value, shown in [("username", "", "username"), ("username", "Hoffmann", "username"),
                                ("username", "mit leerzeichen", "username"), ("display_name", "", "display_name"),
                                ("email", "kein-at", "email"), ("person_id", str(2**40), "person_id"),
                                ("password", "kurz", "password"), ("repeated", NEW + "x", "repeated")]:
        data = {**good, field: value}
        if field == "password":
            data["repeated"] = value
        response = admin.post("/verwaltung/konten", data)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, field
        assert _field_error(html, shown), field
        assert NEW not in html
    response = admin.post("/verwaltung/konten", {**good, "person_id": "9999"})
    assert response.status_code == 422 and "Unbekannte Person" in response.get_data(as_text=True)
    assert not _events(database, "account.created")

    response = admin.post("/verwaltung/konten", good)
    assert response.status_code == 302
    account = _account(database, "neumann")
    assert (account.display_name, account.email, account.person_id, account.active) == (
        "Nina Neumann", "nina@example.org", person.id, True)
    assert account.password_hash.startswith("$argon2id$")
    [event] = _events(database, "account.created")
    assert event.actor == "admin" and event.details["username"] == "neumann"
    assert NEW not in str(event.details)
    assert "Konto neumann" in audit_history.describe(event)
    browser().login("neumann", NEW)


def test_an_admin_edits_an_account_audited_old_to_new(demo, database, browser):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    account = _account(database, "becker")
    url = f"/verwaltung/konten/{account.id}"
    page = admin.get(url)
    assert page.status_code == 200 and account.display_name in page.get_data(as_text=True)
    bad = admin.post(url, {"display_name": "", "email": "kein-at"})
    html = bad.get_data(as_text=True)
    assert bad.status_code == 422 and _field_error(html, "display_name") and _field_error(html, "email")
    assert admin.post(url, {"display_name": "Dr. Becker", "email": "becker@example.org",
                            "person_id": ""}).status_code == 302
    changed = _account(database, "becker")
    assert (changed.display_name, changed.email, changed.person_id) == ("Dr. Becker", "becker@example.org", None)
    [event] = _events(database, "account.changed")
    assert event.details["changes"]["display_name"] == {"old": account.display_name, "new": "Dr. Becker"}
    assert event.details["changes"]["person_id"] == {"old": account.person_id, "new": None}
    assert "Name: " in audit_history.describe(event) and "→ Dr. Becker" in audit_history.describe(event)
    assert admin.get("/verwaltung/konten/999999").status_code == 404


def test_grants_are_added_and_removed_with_their_rules(demo, database, browser):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    becker = _account(database, "becker")
    committee = _org(database, organization_type="Gremium")
    bereich = _org(database, organization_type="Verwaltungsbereich")
    url = f"/verwaltung/konten/{becker.id}/rollen"
    for data, field in [({"role": "Kaiser"}, "g-role"), ({"role": ""}, "g-role"),
                        ({"role": ROLE_SECRETARIAT}, "g-organization_id"),
                        ({"role": ROLE_SECRETARIAT, "organization_id": str(bereich.id)}, "g-organization_id"),
                        ({"role": ROLE_CLERK, "organization_id": str(committee.id)}, "g-organization_id"),
                        ({"role": ROLE_ADMIN, "organization_id": str(committee.id)}, "g-organization_id"),
                        ({"role": ROLE_CLERK, "organization_id": "999999"}, "g-organization_id")]:
        response = admin.post(url, data)
        assert response.status_code == 422, data
        assert _field_error(response.get_data(as_text=True), field), data
    assert _grants(database, "becker") == set()

    assert admin.post(url, {"role": ROLE_SECRETARIAT, "organization_id": str(committee.id)}).status_code == 302
    assert admin.post(url, {"role": ROLE_CLERK, "organization_id": str(bereich.id)}).status_code == 302
    assert admin.post(url, {"role": ROLE_CLERK, "organization_id": ""}).status_code == 302
    twice = admin.post(url, {"role": ROLE_CLERK, "organization_id": ""})
    assert twice.status_code == 422 and "schon" in twice.get_data(as_text=True)
    assert _grants(database, "becker") == {(ROLE_SECRETARIAT, committee.id), (ROLE_CLERK, bereich.id),
                                           (ROLE_CLERK, None)}
    added = _events(database, "grant.added")
    granted = [e.details["grant"] for e in added]
    assert granted == [f"Sekretariat: {committee.name}", f"Sachbearbeitung: {bereich.name}",
                       "Sachbearbeitung (alle Bereiche)"]
    assert added[0].details["old"] == [] and added[0].details["new"] == [f"Sekretariat: {committee.name}"]
    # The new role counts at becker's next request.
    member = browser().login("becker")
    assert "Neue Vorlage" in text_of(member.get("/konto").get_data(as_text=True))

    with database.unit_of_work() as s:
        grant = s.exec(select(Grant).where(Grant.account_id == becker.id, Grant.role == ROLE_SECRETARIAT)).one()
    other = _account(database, "hoffmann")
    assert admin.post(f"/verwaltung/konten/{other.id}/rollen/{grant.id}/entfernen", {}).status_code == 404
    assert admin.post(f"/verwaltung/konten/{becker.id}/rollen/{grant.id}/entfernen", {}).status_code == 302
    assert (ROLE_SECRETARIAT, committee.id) not in _grants(database, "becker")
    [removed] = _events(database, "grant.removed")
    assert removed.details["grant"] == f"Sekretariat: {committee.name}"
    assert f"Sekretariat: {committee.name}" in removed.details["old"]
    assert f"Sekretariat: {committee.name}" not in removed.details["new"]
    assert "Rolle entzogen" == audit_history.ACTIONS["grant.removed"]


def test_deactivation_ends_the_sessions_at_once_and_activation_lets_in_again(demo, database, browser):  # type: ignore[no-untyped-def]
    secretary = browser().login("hoffmann")
    assert secretary.get("/aufgaben/").status_code == 200
    admin = browser().login("admin")
    hoffmann = _account(database, "hoffmann")
    assert admin.post(f"/verwaltung/konten/{hoffmann.id}/deaktivieren", {}).status_code == 302
    assert secretary.get("/aufgaben/").status_code == 302  # the next request is a stranger's
    with database.unit_of_work() as s:
        rows = s.exec(select(logins.LoginSession).where(logins.LoginSession.account_id == hoffmann.id)).all()
        reasons = [r.ended_reason for r in rows]
        assert reasons == [logins.ENDED_DISABLED]
    client = browser()
    token = client.csrf()
    assert client.client.post("/anmelden", data={"username": "hoffmann", "password": PASSWORD,
                                                 "csrf_token": token}).status_code == 401
    assert "deaktiviert" in text_of(admin.get("/verwaltung/konten").get_data(as_text=True))
    [disabled] = _events(database, "account.disabled")
    assert disabled.details["changes"]["active"] == {"old": True, "new": False}
    assert disabled.details["sessions"] == 1

    assert admin.post(f"/verwaltung/konten/{hoffmann.id}/aktivieren", {}).status_code == 302
    [enabled] = _events(database, "account.enabled")
    assert enabled.details["changes"]["active"] == {"old": False, "new": True}
    browser().login("hoffmann")


def test_an_admin_sets_a_new_password_and_the_sessions_end(demo, database, browser):  # type: ignore[no-untyped-def]
    secretary = browser().login("hoffmann")
    admin = browser().login("admin")
    hoffmann = _account(database, "hoffmann")
    url = f"/verwaltung/konten/{hoffmann.id}/passwort"
    short = admin.post(url, {"password": "kurz", "repeated": "kurz"})
    assert short.status_code == 422 and _field_error(short.get_data(as_text=True), "p-password")
    mismatch = admin.post(url, {"password": NEW, "repeated": NEW + "x"})
    assert mismatch.status_code == 422 and _field_error(mismatch.get_data(as_text=True), "p-repeated")
    assert admin.post(url, {"password": NEW, "repeated": NEW}).status_code == 302
    assert secretary.get("/aufgaben/").status_code == 302
    browser().login("hoffmann", NEW)
    [event] = _events(database, "account.password_set")
    assert event.details == {"account_id": hoffmann.id, "username": "hoffmann", "sessions": 1}
    # The admin's own password from here keeps the admin's own session.
    me = _account(database, "admin")
    assert admin.post(f"/verwaltung/konten/{me.id}/passwort", {"password": NEW, "repeated": NEW}).status_code == 302
    assert admin.get("/verwaltung/konten").status_code == 200


def test_an_openid_account_says_its_grants_come_from_the_provider(demo, database, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        account = Account(username="oidc-user", password_hash="", display_name="Olga Idc",
                          identity_issuer="https://id.example.org", identity_subject="42")
        s.add(account)
        s.flush()
        account_id = account.id
    admin = browser().login("admin")
    page = text_of(admin.get(f"/verwaltung/konten/{account_id}").get_data(as_text=True))
    assert "OpenID-Anbieter" in page and "bei der nächsten Anmeldung ersetzt" in page
    assert "Neues Passwort setzen" not in page
    assert "OpenID Connect" in text_of(admin.get("/verwaltung/konten").get_data(as_text=True))
    refused = admin.post(f"/verwaltung/konten/{account_id}/passwort", {"password": NEW, "repeated": NEW})
    assert refused.status_code == 422


def test_there_is_always_one_active_admin(demo, database, browser, actor):  # type: ignore[no-untyped-def]
    admin = browser().login("admin")
    me = _account(database, "admin")
    with database.unit_of_work() as s:
        [grant] = s.exec(select(Grant).where(Grant.account_id == me.id, Grant.role == ROLE_ADMIN)).all()
    refused = admin.post(f"/verwaltung/konten/{me.id}/rollen/{grant.id}/entfernen", {})
    assert refused.status_code == 409 and "immer ein aktives Konto" in refused.get_data(as_text=True)
    refused = admin.post(f"/verwaltung/konten/{me.id}/deaktivieren", {})
    assert refused.status_code == 409 and "eigene Konto" in refused.get_data(as_text=True)
    assert _grants(database, "admin") == {(ROLE_ADMIN, None)} and _account(database, "admin").active
    assert not _events(database, "grant.removed") and not _events(database, "account.disabled")

    # A second admin: then the first may give up the role, and the second is the last one.
    becker = _account(database, "becker")
    assert admin.post(f"/verwaltung/konten/{becker.id}/rollen", {"role": ROLE_ADMIN}).status_code == 302
    assert admin.post(f"/verwaltung/konten/{me.id}/rollen/{grant.id}/entfernen", {}).status_code == 302
    assert admin.get("/verwaltung/konten").status_code == 403  # no admin any more
    second = actor("becker")
    with database.unit_of_work() as s:
        becker_grant = s.exec(select(Grant).where(Grant.account_id == becker.id)).one()
    with pytest.raises(Conflict), database.unit_of_work() as s:  # refused: the unit of work rolls back
        account_admin.remove_grant(s, second, becker_grant.id)
    # Deactivating the last active admin is refused too (asked by the same grants under another
    # account: one's own account is never deactivated anyway).
    someone_else = dataclasses.replace(second, account_id=-1)
    with pytest.raises(Conflict, match="immer ein aktives Konto"), database.unit_of_work() as s:
        account_admin.set_active(s, someone_else, becker.id, False, NOW)
    assert _account(database, "becker").active and (ROLE_ADMIN, None) in _grants(database, "becker")


ADMIN_ROUTES = [("GET", "/verwaltung/konten"), ("POST", "/verwaltung/konten"),
                ("GET", "/verwaltung/konten/{id}"), ("POST", "/verwaltung/konten/{id}"),
                ("POST", "/verwaltung/konten/{id}/rollen"),
                ("POST", "/verwaltung/konten/{id}/rollen/{grant}/entfernen"),
                ("POST", "/verwaltung/konten/{id}/deaktivieren"), ("POST", "/verwaltung/konten/{id}/aktivieren"),
                ("POST", "/verwaltung/konten/{id}/passwort")]


@pytest.mark.parametrize("username", ["hoffmann", "zierstedt", "krueger", "becker"])
def test_nobody_but_an_admin_reaches_the_account_pages(demo, database, browser, username):  # type: ignore[no-untyped-def]
    someone = browser().login(username)
    target = _account(database, "schmitz")
    with database.unit_of_work() as s:
        grant = s.exec(select(Grant).where(Grant.account_id == target.id)).first()
        assert grant is not None
    before = _grants(database, "schmitz")
    for method, path in ADMIN_ROUTES:
        url = path.format(id=target.id, grant=grant.id)
        data = {"username": "x", "display_name": "x", "password": NEW, "repeated": NEW, "role": ROLE_ADMIN}
        response = someone.get(url) if method == "GET" else someone.post(url, data)
        assert response.status_code == 403, (method, url)
    assert _grants(database, "schmitz") == before and _account(database, "schmitz").active
    with database.unit_of_work() as s:
        assert s.exec(select(Account).where(Account.username == "x")).first() is None
        assert not s.exec(select(audit.AuditEvent).where(
            col(audit.AuditEvent.action).startswith("account.") | col(audit.AuditEvent.action).startswith("grant.")
        )).all()
