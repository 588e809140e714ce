"""Mein Konto: name, roles in words, how I logged in; my password (local accounts); my live
sessions with "log out everywhere"."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from engine import audit
from engine.council import Account
from engine.identity import logins

from .conftest import PASSWORD, text_of

# The database does not matter here: SQLite only (tests/conftest.py, sqlite_only).
pytestmark = pytest.mark.sqlite_only

NEW = "ein-neues-passwort"


def _account(database, username: str) -> Account:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(Account).where(Account.username == username)).one()  # type: ignore[no-any-return]


def _events(database, action: str) -> list[audit.AuditEvent]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return list(s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == action)
                           .order_by(col(audit.AuditEvent.seq))))


def _live(database, username: str) -> list[logins.LoginSession]:  # type: ignore[no-untyped-def]
    account = _account(database, username)
    with database.unit_of_work() as s:
        assert account.id is not None
        return logins.live(s, account.id)


def test_the_account_page_shows_who_i_am_my_roles_and_my_sessions(demo, database, browser, clock):  # type: ignore[no-untyped-def]
    other = browser().login("hoffmann")
    clock.move(minutes=30)
    me = browser().login("hoffmann")
    page = me.get("/konto")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    words = text_of(html)
    assert "Mein Konto" in words and 'href="/konto"' in html  # the link in the navigation
    assert "hoffmann" in words and "Sekretariat: Ausschuss für (eu)regionale Wirtschaft" in words
    # NOW is 09:00 UTC, 10:00 in Aachen; this login is half an hour later.
    assert "seit 24.11.2026 10:30 über Passwort" in words
    assert "24.11.2026 10:00" in words and "24.11.2026 10:30 (diese Sitzung)" in words
    assert words.count("diese Sitzung") == 1
    assert "Passwort ändern" in words and "Auf allen Geräten abmelden" in words
    assert 'action="/abmelden/ueberall"' in html
    # A member without a role reads that, too.
    assert "keine" in text_of(browser().login("becker").get("/konto").get_data(as_text=True))
    # Logging out everywhere from the page ends both sessions.
    assert me.post("/abmelden/ueberall", {}).status_code == 302
    assert other.get("/konto").status_code == 302 and not _live(database, "hoffmann")


def test_the_account_page_needs_a_login(demo, browser):  # type: ignore[no-untyped-def]
    response = browser().get("/konto")
    assert response.status_code == 302 and "/anmelden" in response.headers["Location"]


def test_a_wrong_password_change_names_its_field_and_changes_nothing(demo, database, browser):  # type: ignore[no-untyped-def]
    me = browser().login("hoffmann")
    before = _account(database, "hoffmann").password_hash
    cases = [
        ({"current": "falsch", "new": NEW, "repeated": NEW}, "current", "bisherige Passwort stimmt nicht"),
        ({"current": PASSWORD, "new": "kurz", "repeated": "kurz"}, "new", "Mindestens 10 Zeichen"),
        ({"current": PASSWORD, "new": NEW, "repeated": NEW + "x"}, "repeated", "Wiederholung stimmt nicht"),
        ({"current": PASSWORD, "new": PASSWORD, "repeated": PASSWORD}, "new", "unterscheiden"),
    ]
    for data, field, message in cases:
        response = me.post("/konto/passwort", data)
        html = response.get_data(as_text=True)
        assert response.status_code == 422, field
        assert f'id="{field}" name="{field}"' in html and f'aria-describedby="{field}-error"' in html, field
        assert message in html, field
        assert PASSWORD not in html and NEW not in html  # nothing typed comes back
    assert _account(database, "hoffmann").password_hash == before
    assert not _events(database, "account.password_changed")


def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(demo, database, browser):  # type: ignore[no-untyped-def]
    other = browser().login("hoffmann")
    me = browser().login("hoffmann")
    response = me.post("/konto/passwort", {"current": PASSWORD, "new": NEW, "repeated": NEW})
    assert response.status_code == 302 and response.headers["Location"] == "/konto"
    assert "anderen Sitzungen (1) sind beendet" in text_of(me.get("/konto").get_data(as_text=True))
    assert me.get("/aufgaben/").status_code == 200
    assert other.get("/aufgaben/").status_code == 302  # ended on the server
    [live] = _live(database, "hoffmann")
    assert live.ended is None
    with database.unit_of_work() as s:
        ended = s.exec(select(logins.LoginSession).where(col(logins.LoginSession.ended).is_not(None))).all()
        assert [r.ended_reason for r in ended] == [logins.ENDED_PASSWORD]
    [event] = _events(database, "account.password_changed")
    assert event.actor == "hoffmann" and event.details["sessions"] == 1
    assert "hash" not in str(event.details) and NEW not in str(event.details)
    # The new password logs in, the old one no longer does.
    browser().login("hoffmann", NEW)
    client = browser()
    token = client.csrf()
    refused = client.client.post("/anmelden", data={"username": "hoffmann", "password": PASSWORD,
                                                    "csrf_token": token})
    assert refused.status_code == 401


def test_an_account_without_a_local_password_has_no_password_form(demo, database, browser):  # type: ignore[no-untyped-def]
    me = browser().login("becker")
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == "becker")).one()
        account.password_hash = ""
        account.identity_issuer, account.identity_subject = "https://id.example.org", "becker-1"
        s.add(account)
    page = text_of(me.get("/konto").get_data(as_text=True))
    assert "Passwort ändern" not in page and "OpenID-Anbieter" in page
    refused = me.post("/konto/passwort", {"current": "", "new": NEW, "repeated": NEW})
    assert refused.status_code == 422 and "kein eigenes Passwort" in refused.get_data(as_text=True)
