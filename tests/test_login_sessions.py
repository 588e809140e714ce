"""Local login: argon2id (scrypt upgraded), the same cost for unknown names, lock-out after
repeated failures, sessions that die on the server at logout and time-out, no fixation."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
import threading
import time
import uuid
from datetime import timedelta
from typing import Literal

import pytest
from argon2 import PasswordHasher
from sqlmodel import col, select

from engine import accounts, audit
from engine.council import Account
from engine.identity import logins

from .conftest import PASSWORD, text_of

# The database does not matter here: SQLite only (tests/conftest.py, sqlite_only).
pytestmark = pytest.mark.sqlite_only

def _account(database, username: str) -> Account:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return s.exec(select(Account).where(Account.username == username)).one()


def _sid(client) -> str:  # type: ignore[no-untyped-def]
    with client.session_transaction() as sess:
        return sess.get("sid", "")  # type: ignore[no-any-return]


def test_passwords_are_argon2id_and_scrypt_hashes_are_upgraded_at_the_next_login(demo, database, browser):  # type: ignore[no-untyped-def]
    assert _account(database, "hoffmann").password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    # An account from before: its scrypt hash (n=2^14, r=8, p=1) still lets it in ...
    salt = b"0123456789abcdef"
    digest = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    old = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == "weber")).first()
        if account is None:
            account = accounts.create_account(s, "weber", PASSWORD, "Sabine Weber")
        account.password_hash = old
        s.add(account)
    assert not accounts.verify_password(old, "falsch")
    browser().login("weber")
    # ... and is argon2id from then on.
    upgraded = _account(database, "weber").password_hash
    assert upgraded.startswith("$argon2id$") and accounts.verify_password(upgraded, PASSWORD)
    browser().login("weber")


def test_an_unknown_user_name_costs_one_hash_verification_like_a_wrong_password(demo, browser, monkeypatch):  # type: ignore[no-untyped-def]
    calls: list[str] = []
    real = accounts._HASHER

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            calls.append(str(hash))
            return real.verify(hash, password)

    monkeypatch.setattr(accounts, "_HASHER", Counting(time_cost=real.time_cost, memory_cost=real.memory_cost,
                                                      parallelism=real.parallelism, type=real.type))
    client = browser()
    token = client.csrf()
    for username in ("hoffmann", "niemand", ""):
        calls.clear()
        response = client.client.post("/anmelden", data={"username": username, "password": "falsch",
                                                         "csrf_token": token})
        assert response.status_code == 401, username
        assert len(calls) == 1 and calls[0].startswith("$argon2id$"), username


def test_the_eleventh_failed_login_in_a_row_is_refused_without_checking_the_password(demo, database, browser, monkeypatch):  # type: ignore[no-untyped-def]
    client = browser()
    token = client.csrf()

    def attempt(password: str, username: str = "admin"):  # type: ignore[no-untyped-def]
        return client.client.post("/anmelden", data={"username": username, "password": password,
                                                     "csrf_token": token})

    for _ in range(10):
        assert attempt("falsch").status_code == 401
    checked: list[str] = []
    monkeypatch.setattr(accounts, "verify_password", lambda h, p: checked.append(p) or False)
    refused = attempt(PASSWORD)  # the right password, and still refused: it is not even looked at
    assert refused.status_code == 429 and checked == []
    page = refused.get_data(as_text=True)
    assert "Zu viele fehlgeschlagene Anmeldungen. Bitte in 15 Minuten erneut versuchen." in page
    assert int(refused.headers["Retry-After"]) > 0
    # The user name counts, not the address's spelling of it; other users still log in.
    assert attempt(PASSWORD, "ADMIN ").status_code == 429
    monkeypatch.undo()
    browser().login("hoffmann")
    # The admin's failures and the refused attempts are in the history.
    with database.unit_of_work() as s:
        failed = [e.details for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action == "login.failed", audit.AuditEvent.actor == "admin")
            .order_by(col(audit.AuditEvent.seq)))]
    assert len(failed) == 11 and failed[-1]["why"] == "gesperrt"


def test_a_logged_out_session_is_dead_on_the_server_even_if_its_cookie_is_replayed(demo, browser):  # type: ignore[no-untyped-def]
    client = browser().login("hoffmann")
    cookie = client.client.get_cookie("ratsflow")
    assert cookie is not None
    assert client.get("/aufgaben/").status_code == 200
    assert client.post("/abmelden", {}).status_code == 302
    thief = browser()
    thief.client.set_cookie("ratsflow", cookie.value)  # the copy taken before logout
    assert thief.get("/aufgaben/").status_code == 302  # to the login page
    assert thief.get("/api/v1/tasks").status_code == 401


def test_login_starts_a_new_session_so_a_planted_one_gives_nothing(demo, browser):  # type: ignore[no-untyped-def]
    client = browser()
    client.csrf()
    planted = client.client.get_cookie("ratsflow")
    assert planted is not None and _sid(client.client) == ""
    client.login("hoffmann")
    assert client.client.get_cookie("ratsflow").value != planted.value  # type: ignore[union-attr]
    attacker = browser()
    attacker.client.set_cookie("ratsflow", planted.value)
    assert attacker.get("/aufgaben/").status_code == 302


def test_sessions_end_after_the_idle_and_the_absolute_time_out(demo, browser, clock):  # type: ignore[no-untyped-def]
    client = browser().login("hoffmann")
    clock.move(minutes=59)
    assert client.get("/aufgaben/").status_code == 200  # seen: the idle time starts again
    clock.move(minutes=59)
    assert client.get("/aufgaben/").status_code == 200
    clock.move(minutes=61)
    assert client.get("/aufgaben/").status_code == 302  # idle for more than an hour
    busy, since = browser().login("hoffmann"), clock.now
    for _ in range(30):  # busy all day: a request every half hour
        clock.move(minutes=30)
        status = busy.get("/aufgaben/").status_code
        if status != 200:
            break
    assert status == 302 and clock.now - since == timedelta(hours=12)  # ends after 12 hours nonetheless


def test_log_out_everywhere_ends_every_session_of_the_account(demo, database, browser):  # type: ignore[no-untyped-def]
    laptop, phone = browser().login("hoffmann"), browser().login("hoffmann")
    colleague = browser().login("schmitz")
    assert laptop.post("/abmelden/ueberall", {}).status_code == 302
    assert laptop.get("/aufgaben/").status_code == 302
    assert phone.get("/aufgaben/").status_code == 302
    assert colleague.get("/aufgaben/").status_code == 200
    account = _account(database, "hoffmann")
    with database.unit_of_work() as s:
        rows = s.exec(select(logins.LoginSession).where(logins.LoginSession.account_id == account.id)
                      .order_by(col(logins.LoginSession.id))).all()
        assert [r.ended_reason for r in rows] == [logins.ENDED_EVERYWHERE] * 2
        # Only a hash of the key is kept: the table gives nobody a login.
        assert all(len(r.key_hash) == 64 and r.key_hash != _sid(laptop.client) for r in rows)


def test_a_disabled_account_loses_its_session_at_the_next_request(demo, database, browser):  # type: ignore[no-untyped-def]
    client = browser().login("hoffmann")
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == "hoffmann")).one()
        account.active = False
        s.add(account)
    assert client.get("/aufgaben/").status_code == 302


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cookies_are_secure_and_host_bound_when_served_over_https(settings, _schema, database, clock, demo):  # type: ignore[no-untyped-def]
    from web import create_app

    app = create_app(dataclasses.replace(settings, base_url="https://rat.example.org"), upgrade=False)
    app.extensions["ratsflow.clock"] = clock
    try:
        client = app.test_client()
        response = client.get("/anmelden", base_url="https://rat.example.org")
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("__Host-ratsflow=") and "Secure" in cookie and "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie and "Domain" not in cookie
        response.close()
    finally:
        app.extensions["ratsflow.db"].dispose()


def test_next_after_login_never_leaves_the_site(demo, browser):  # type: ignore[no-untyped-def]
    for target, expected in [("/vorlagen/1", "/vorlagen/1"), ("/\t/evil.example", "/aufgaben/"),
                             ("//evil.example", "/aufgaben/"), ("/\\evil.example", "/aufgaben/"),
                             ("https://evil.example/", "/aufgaben/"), ("/%0a/x", "/aufgaben/"),
                             ("/\n/evil.example", "/aufgaben/"), ("\\\\evil.example", "/aufgaben/"),
                             ("javascript:alert(1)", "/aufgaben/")]:
        client = browser()
        token = client.csrf()
        response = client.client.post("/anmelden", query_string={"next": target}, data={
            "username": "hoffmann", "password": PASSWORD, "csrf_token": token})
        assert response.status_code == 302, target
        assert response.headers["Location"] == expected, target


# ----------------------------------------------------------------------------- lock-out under load

REDIS_URL = os.environ.get("RATSFLOW_TEST_REDIS", "redis://127.0.0.1:6379/0")
LOCKED = "Zu viele fehlgeschlagene Anmeldungen. Bitte in 15 Minuten erneut versuchen."


@pytest.fixture(params=["memory", "redis"])
def limited(request, settings, _schema, database, clock, demo):  # type: ignore[no-untyped-def]
    """An app whose failed logins are counted in memory or in the Redis on loopback, an account
    and an address of this test alone (so the shared Redis holds nothing another run counts)."""
    from web import create_app

    unique = uuid.uuid4().hex[:12]
    username, address = f"sperre-{unique}", f"10.{int(unique[:2], 16)}.{int(unique[2:4], 16)}.{int(unique[4:6], 16)}"
    with database.unit_of_work() as s:
        accounts.create_account(s, username, PASSWORD, "Sperre Test")
    storage = "memory://" if request.param == "memory" else REDIS_URL
    app = create_app(dataclasses.replace(settings, ratelimit_storage=storage), upgrade=False)
    app.config.update(TESTING=True)
    app.extensions["ratsflow.clock"] = clock
    yield app, username, address
    app.extensions["ratsflow.db"].dispose()
    if request.param == "redis":
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for pattern in (f"*{username}*", f"*{address}*"):
            for key in client.scan_iter(pattern):
                client.delete(key)
        client.close()


def _form(app, address: str):  # type: ignore[no-untyped-def]
    """A client from ``address`` with the login form's CSRF token."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    client.get("/anmelden")
    with client.session_transaction() as sess:
        return client, sess["csrf"]


def test_fifty_logins_at_once_check_at_most_ten_passwords(limited, monkeypatch):  # type: ignore[no-untyped-def]
    """40 wrong passwords at once, then (while the first checks still run) the right one ten
    times: every attempt is counted before its password is looked at, so ten are checked, the
    rest answer 429 unchecked, and the right password does not get in."""
    app, username, address = limited
    real = accounts.verify_password
    checked: list[str] = []
    lock, ten_started = threading.Lock(), threading.Event()

    def slow_check(hash: str, password: str) -> bool:
        """The real check, taking 0.3 s longer: attempts in flight overlap as on a busy server."""
        with lock:
            checked.append(password)
            if len(checked) >= 10:
                ten_started.set()
        time.sleep(0.3)
        return real(hash, password)

    monkeypatch.setattr(accounts, "verify_password", slow_check)
    forms = [_form(app, address) for _ in range(50)]
    barrier = threading.Barrier(40)
    answers: list[tuple[str, int, str]] = []

    def attempt(index: int) -> None:
        client, token = forms[index]
        password = PASSWORD if index >= 40 else f"falsch-{index}"
        if index >= 40:
            ten_started.wait(10)
        else:
            barrier.wait()
        response = client.post("/anmelden", data={"username": username, "password": password,
                                                  "csrf_token": token})
        with lock:
            answers.append((password, response.status_code, text_of(response.get_data(as_text=True))))

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(status for _p, status, _t in answers)
    assert len(checked) == 10 and PASSWORD not in checked, checked
    assert statuses == [401] * 10 + [429] * 40
    assert all(LOCKED in page for _p, status, page in answers if status == 429)
    assert all(status == 429 for password, status, _t in answers if password == PASSWORD)


def test_a_successful_login_gives_its_counted_attempt_back(limited, monkeypatch):  # type: ignore[no-untyped-def]
    """One failure allowed per name (so ten per address): twelve logins in a row succeed, as
    each success is taken off both counts; then one failure, and the next attempt is refused."""
    app, username, address = limited
    from web import create_app  # the limits are fixed at create_app: one with a limit of 1

    strict = create_app(dataclasses.replace(app.extensions["ratsflow.settings"], login_failures=1), upgrade=False)
    strict.extensions["ratsflow.clock"] = app.extensions["ratsflow.clock"]
    try:
        def attempt(password: str):  # type: ignore[no-untyped-def]
            client, token = _form(strict, address)
            return client.post("/anmelden", data={"username": username, "password": password,
                                                  "csrf_token": token})

        statuses = [attempt(PASSWORD).status_code for _ in range(12)]
        assert statuses == [302] * 12
        assert attempt("falsch").status_code == 401
        refused = attempt(PASSWORD)
        assert refused.status_code == 429
        assert "Zu viele fehlgeschlagene Anmeldungen. Bitte in 15 Minuten erneut versuchen." in \
            text_of(refused.get_data(as_text=True))
    finally:
        strict.extensions["ratsflow.db"].dispose()
