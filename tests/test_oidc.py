"""OpenID Connect login against a real provider (panva's oidc-provider in node, tests/oidc).

The full redirect flow runs in Chromium against the live app; the flow without a browser drives
the provider's login form over HTTP and brings the code back to the app's test client. The
refusals replace only the token answer (after a real start: real state, nonce and PKCE verifier)
with ID tokens signed here — with the provider's own key, so that each changed claim alone is
what the app refuses, or with a key the provider does not publish. Every database test runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey
from sqlmodel import select
from werkzeug.serving import make_server

from engine.audit import AuditEvent
from engine.council import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_CLERK,
    ROLE_SECRETARIAT,
    Account,
    Grant,
    Organization,
)
from engine.identity import oidc as identity
from engine.identity.logins import LoginSession
from engine.settings import OidcProvider, SettingsError, load_settings

from .conftest import text_of
from .oidc_fixture import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OidcProviderProcess,
    app_port,
    oidc_provider,
)
from .test_browser import chromium

# The database does not matter here: SQLite only (tests/conftest.py, sqlite_only).
pytestmark = pytest.mark.sqlite_only

__all__ = ["app_port", "chromium", "oidc_provider"]  # fixtures used here


@pytest.fixture
def provider(oidc_provider: OidcProviderProcess) -> Iterator[OidcProviderProcess]:
    oidc_provider.reset_users()
    yield oidc_provider


@pytest.fixture
def oidc_app(settings, _schema, database, clock, provider):  # type: ignore[no-untyped-def]
    from web import create_app

    configured = dataclasses.replace(settings, base_url="http://localhost", oidc_providers=(OidcProvider(
        name="test", issuer=provider.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        label="Test-Anmeldedienst", scope="openid profile email groups"),))
    application = create_app(configured, upgrade=False)
    application.config.update(TESTING=True)
    application.extensions["ratsflow.clock"] = clock
    yield application
    application.extensions["ratsflow.db"].dispose()


@pytest.fixture
def client(oidc_app):  # type: ignore[no-untyped-def]
    return oidc_app.test_client()


def _grants(database, username: str) -> set[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == username)).one()
        rows = s.exec(select(Grant, Organization).outerjoin(
            Organization, Organization.id == Grant.organization_id).where(Grant.account_id == account.id)).all()
        return {(g.role, o.short_name or o.name if o else None) for g, o in rows}


def _live_sessions(database) -> list[LoginSession]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return list(s.exec(select(LoginSession).where(LoginSession.ended == None)))  # noqa: E711


def _start(client, next_: str = "") -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The app's redirect to the provider; the authorization request's parameters."""
    response = client.get("/anmelden/oidc/test" + (f"?next={next_}" if next_ else ""))
    assert response.status_code == 302, response.get_data(as_text=True)
    params = {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}
    params["url"] = response.headers["Location"]
    return params


def _provider_login(provider: OidcProviderProcess, authorize_url: str, login: str) -> str:
    """Log in at the provider's form over HTTP; the callback URL (path and query) it sends back to."""
    with requests.Session() as http:
        url = authorize_url
        for _ in range(10):
            response = http.get(url, allow_redirects=False, timeout=10)
            if response.status_code == 200 and 'name="login"' in response.text:
                action = re.search(r'action="([^"]+)"', response.text)
                assert action, response.text
                response = http.post(urljoin(url, action.group(1)), allow_redirects=False, timeout=10,
                                     data={"prompt": "login", "login": login, "password": "egal"})
            assert response.status_code in (302, 303), (response.status_code, response.text)
            location = response.headers["Location"]
            if "/anmelden/oidc/test/callback" in location:
                parts = urlsplit(location)
                return f"{parts.path}?{parts.query}"
            url = urljoin(url, location)
    raise AssertionError("the provider never sent the browser back")


def _log_in(client, provider: OidcProviderProcess, login: str, next_: str = ""):  # type: ignore[no-untyped-def]
    callback = _provider_login(provider, _start(client, next_)["url"], login)
    return client.get(callback)


# ----------------------------------------------------------------------------- the flow

def test_login_creates_the_account_with_grants_from_groups(client, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    provider.set_user("mara", name="Mara Keller", groups=["sekretariat:awsg", "revision", "sekretariat:XYZ",
                                                          "mitglied:AWSG"])
    start = _start(client, "/aufgaben/")
    assert start["code_challenge_method"] == "S256" and len(start["code_challenge"]) == 43
    assert start["state"] and start["nonce"] and start["client_id"] == CLIENT_ID
    assert "groups" in start["scope"].split()
    assert start["redirect_uri"] == "http://localhost/anmelden/oidc/test/callback"  # RATSFLOW_BASE_URL
    response = client.get(_provider_login(provider, start["url"], "mara"))
    assert response.status_code == 302 and response.headers["Location"] == "/aufgaben/"

    assert _grants(database, "mara") == {(ROLE_SECRETARIAT, "AWSG"), (ROLE_AUDITOR, None)}
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == "mara")).one()
        assert (account.display_name, account.email, account.password_hash) == (
            "Mara Keller", "mara@example.org", "")
        assert (account.identity_issuer, account.identity_subject) == (provider.issuer, "mara")
        created = s.exec(select(AuditEvent).where(AuditEvent.action == "account.created")).one()
        committee = s.exec(select(Organization).where(Organization.short_name == "AWSG")).one()
        assert created.details["new"] == ["Revision", f"Sekretariat: {committee.name}"]  # as the admin page
        assert created.details["ignored"] == ["sekretariat:XYZ", "mitglied:AWSG"]
        # An auditor's login is part of the history, with its method.
        login = s.exec(select(AuditEvent).where(AuditEvent.action == "login.succeeded")).one()
        assert login.actor == "mara" and login.details["method"] == "OpenID Connect (Test-Anmeldedienst)"
    [row] = _live_sessions(database)
    assert row.provider == "test" and row.id_token and row.method == "OpenID Connect (Test-Anmeldedienst)"
    page = client.get("/aufgaben/")
    assert page.status_code == 200 and "Mara Keller" in page.get_data(as_text=True)


def test_a_removed_group_loses_its_rights_at_the_next_login(client, oidc_app, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    provider.set_user("jan", groups=["admin", "sekretariat:VV", "sachbearbeitung:Wirtschaft und Raum"])
    assert _log_in(client, provider, "jan").status_code == 302
    assert _grants(database, "jan") == {(ROLE_ADMIN, None), (ROLE_SECRETARIAT, "VV"),
                                        (ROLE_CLERK, "Wirtschaft und Raum")}
    assert client.get("/verwaltung/gremien").status_code == 200

    provider.set_user("jan", groups=["sekretariat:VV"])
    fresh = oidc_app.test_client()
    assert _log_in(fresh, provider, "jan").status_code == 302
    assert _grants(database, "jan") == {(ROLE_SECRETARIAT, "VV")}
    assert fresh.get("/verwaltung/gremien").status_code == 403
    with database.unit_of_work() as s:
        change = s.exec(select(AuditEvent).where(AuditEvent.action == "account.grants_changed")).one()
        assembly = s.exec(select(Organization).where(Organization.short_name == "VV")).one().name
        assert change.details["old"] == ["Administration", "Sachbearbeitung: Wirtschaft und Raum",
                                         f"Sekretariat: {assembly}"]
        assert change.details["new"] == [f"Sekretariat: {assembly}"]
        assert s.exec(select(Account).where(Account.username.startswith("jan"))).all()[0].username == "jan"  # type: ignore[attr-defined]

    # The same groups again: nothing changes, nothing is audited.
    assert _log_in(oidc_app.test_client(), provider, "jan").status_code == 302
    with database.unit_of_work() as s:
        assert len(s.exec(select(AuditEvent).where(AuditEvent.action == "account.grants_changed")).all()) == 1


def test_a_local_user_name_is_not_taken_over(client, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    """``preferred_username`` "admin" at the provider is another person than the local admin."""
    provider.set_user("admin", groups=[])
    assert _log_in(client, provider, "admin").status_code == 302
    assert _grants(database, "admin") == {(ROLE_ADMIN, None)}  # the local one, untouched
    assert _grants(database, "admin-2") == set()
    assert client.get("/verwaltung/gremien").status_code == 403


def test_a_deactivated_account_is_refused(client, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    provider.set_user("ute", groups=["admin"])
    assert _log_in(client, provider, "ute").status_code == 302
    with database.unit_of_work() as s:
        account = s.exec(select(Account).where(Account.username == "ute")).one()
        account.active = False
        s.add(account)
    response = _log_in(client, provider, "ute")
    assert response.status_code == 401
    assert "Dieses Konto kann sich nicht anmelden" in text_of(response.get_data(as_text=True))
    with database.unit_of_work() as s:
        assert s.exec(select(AuditEvent).where(AuditEvent.action == "login.failed")).one().actor == "ute"


def test_login_page_offers_the_provider_and_a_safe_next(client, provider, demo) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/anmelden?next=/vorlagen")
    html = page.get_data(as_text=True)
    assert "Anmelden mit Test-Anmeldedienst" in text_of(html)
    assert 'href="/anmelden/oidc/test?next=/vorlagen"' in html
    # The logout form's answer may redirect to the provider (RP-initiated logout): CSP allows it.
    assert f"form-action 'self' {provider.issuer}" in page.headers["Content-Security-Policy"]
    provider.set_user("eva", groups=[])
    response = _log_in(client, provider, "eva", next_="//evil.example/")
    assert response.headers["Location"] == "/meine-sitzungen"  # no grant, no tasks: her own sessions
    assert client.get("/anmelden/oidc/unbekannt").status_code == 404


# ----------------------------------------------------------------------------- refusals

def _claims(provider: OidcProviderProcess, start: dict[str, str], **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": provider.issuer, "sub": "sub-forged", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
              "nonce": start["nonce"], "preferred_username": "forged", "name": "Forged", "groups": ["admin"]}
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _answer_with(oidc_app, monkeypatch, token: dict[str, Any]) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The token endpoint's answer replaced by ``token`` (the request it would have sent kept)."""
    sent: list[dict[str, Any]] = []
    client = oidc_app.extensions["ratsflow.oidc"].oauth.create_client("test")

    def fetch(**params: Any) -> dict[str, Any]:
        sent.append(params)
        return dict(token)

    monkeypatch.setattr(client, "fetch_access_token", fetch)
    return sent


def _callback(client, start: dict[str, str], **params: str):  # type: ignore[no-untyped-def]
    query = {"code": "forged-code", "state": start["state"], **params}
    return client.get("/anmelden/oidc/test/callback", query_string=query)


def _refused(response, status: int, message: str, database) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.get_data(as_text=True)
    assert message in text_of(response.get_data(as_text=True))
    assert _live_sessions(database) == []


def test_a_token_signed_with_the_providers_key_is_accepted(client, oidc_app, monkeypatch, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    """The harness of the refusals below: unchanged, such a token logs in (so each refusal is its change)."""
    start = _start(client)
    sent = _answer_with(oidc_app, monkeypatch, {"access_token": "a", "token_type": "Bearer",
                                                "id_token": provider.sign(_claims(provider, start))})
    assert _callback(client, start).status_code == 302
    assert sent[0]["code_verifier"] and sent[0]["code"] == "forged-code"  # PKCE verifier sent with the code
    assert _grants(database, "forged") == {(ROLE_ADMIN, None)}
    assert len(_live_sessions(database)) == 1


NOT_CONFIRMED = "Die Anmeldung über Test-Anmeldedienst konnte nicht bestätigt werden."


@pytest.mark.parametrize("case", ["foreign key", "tampered payload", "alg none", "wrong nonce", "no nonce",
                                  "wrong audience", "second audience", "wrong issuer", "expired",
                                  "issued in the future", "no subject", "not a jwt", "no id token"])
def test_a_bad_id_token_is_refused(case, client, oidc_app, monkeypatch, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    start = _start(client)
    now = int(time.time())
    sign = provider.sign
    id_token: str | None
    if case == "foreign key":  # same kid, a key the provider does not publish
        id_token = sign(_claims(provider, start), key=RSAKey.generate_key(2048, private=True))
    elif case == "tampered payload":  # another subject in the payload, the signature of the original
        header, _payload, signature = sign(_claims(provider, start)).split(".")
        forged = sign(_claims(provider, start, sub="sub-other")).split(".")[1]
        id_token = f"{header}.{forged}.{signature}"
    elif case == "alg none":
        import base64
        import json

        def b64(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        id_token = f"{b64({'alg': 'none', 'kid': str(provider.key.kid)})}.{b64(_claims(provider, start))}."
    elif case == "wrong nonce":
        id_token = sign(_claims(provider, start, nonce="another-nonce"))
    elif case == "no nonce":
        id_token = sign(_claims(provider, start, nonce=None))
    elif case == "wrong audience":  # azp naming us: authlib's defaults would let this through
        id_token = sign(_claims(provider, start, aud=OTHER_CLIENT_ID, azp=CLIENT_ID))
    elif case == "second audience":
        id_token = sign(_claims(provider, start, aud=[OTHER_CLIENT_ID]))
    elif case == "wrong issuer":
        id_token = sign(_claims(provider, start, iss="http://127.0.0.1:1"))
    elif case == "expired":
        id_token = sign(_claims(provider, start, iat=now - 7200, exp=now - 3600))
    elif case == "issued in the future":
        id_token = sign(_claims(provider, start, iat=now + 3600, exp=now + 7200))
    elif case == "no subject":
        id_token = sign(_claims(provider, start, sub=None))
    elif case == "not a jwt":
        id_token = "not.a.jwt"
    else:
        id_token = None
    token = {"access_token": "a", "token_type": "Bearer"}
    if id_token is not None:
        token["id_token"] = id_token
    _answer_with(oidc_app, monkeypatch, token)
    _refused(_callback(client, start), 401, NOT_CONFIRMED, database)
    with database.unit_of_work() as s:
        assert s.exec(select(Account).where(Account.username == "forged")).first() is None
    assert client.get("/aufgaben/").status_code == 302  # still not logged in


def test_wrong_or_replayed_state_is_refused(client, oidc_app, monkeypatch, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    start = _start(client)
    sent = _answer_with(oidc_app, monkeypatch, {"access_token": "a", "token_type": "Bearer",
                                                "id_token": provider.sign(_claims(provider, start))})
    message = "Die Anmeldung ist abgelaufen oder wurde nicht in diesem Browser begonnen."
    _refused(_callback(client, start, state="guessed-state"), 400, message, database)
    _refused(_callback(oidc_app.test_client(), start), 400, message, database)  # another browser
    assert sent == []  # the code was never exchanged
    assert _callback(client, start).status_code == 302  # the right state, once
    assert _callback(client, start).status_code == 400  # … and never again


def test_an_error_from_the_provider_is_shown_in_german(client, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    start = _start(client)
    response = client.get("/anmelden/oidc/test/callback", query_string={
        "error": "access_denied", "error_description": "End-User aborted interaction", "state": start["state"]})
    _refused(response, 400, "Der Anmeldedienst Test-Anmeldedienst hat die Anmeldung abgelehnt.", database)


def test_a_real_code_is_useless_in_another_browser(client, oidc_app, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    """A code already used, brought with another browser's state and PKCE verifier: the provider
    refuses to exchange it, the app answers in German (no 500)."""
    provider.set_user("ole", groups=[])
    callback = _provider_login(provider, _start(client)["url"], "ole")
    assert client.get(callback).status_code == 302
    other = oidc_app.test_client()
    start = _start(other)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    response = _callback(other, start, code=code)
    assert response.status_code == 401 and NOT_CONFIRMED in text_of(response.get_data(as_text=True))
    assert len(_live_sessions(database)) == 1  # ole's first login only


def test_a_failed_login_of_a_privileged_account_is_audited(client, oidc_app, monkeypatch, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    start = _start(client)
    _answer_with(oidc_app, monkeypatch, {"access_token": "a", "token_type": "Bearer",
                                         "id_token": provider.sign(_claims(provider, start))})
    assert _callback(client, start).status_code == 302  # "forged" is now an admin
    other = oidc_app.test_client()
    start = _start(other)
    now = int(time.time())
    _answer_with(oidc_app, monkeypatch, {"access_token": "a", "token_type": "Bearer", "id_token": provider.sign(
        _claims(provider, start, iat=now - 7200, exp=now - 3600))})
    assert _callback(other, start).status_code == 401
    with database.unit_of_work() as s:
        failed = s.exec(select(AuditEvent).where(AuditEvent.action == "login.failed")).one()
        assert failed.actor == "forged" and failed.details["provider"] == "test"
        assert "ID-Token abgelehnt" in failed.details["reason"]


def test_authlib_alone_would_accept_a_foreign_audience(provider) -> None:  # type: ignore[no-untyped-def]
    """Why web/oidc.py passes ``claims_options`` with ``aud``: authlib 1.9's defaults check only ``iss``
    (and ``azp``), so an ID token for another client passes when its ``azp`` names us."""
    from authlib.oidc.core import CodeIDToken
    from joserfc import jwt

    now = int(time.time())
    token = jwt.decode(provider.sign({"iss": provider.issuer, "sub": "x", "aud": OTHER_CLIENT_ID,
                                      "azp": CLIENT_ID, "iat": now, "exp": now + 60}), provider.key)
    default = CodeIDToken(token.claims, token.header, {"iss": {"values": [provider.issuer]}},
                          {"client_id": CLIENT_ID})
    default.validate()  # no error: this is the gap
    strict = CodeIDToken(token.claims, token.header, {"iss": {"values": [provider.issuer]},
                                                      "aud": {"essential": True, "values": [CLIENT_ID]}},
                         {"client_id": CLIENT_ID})
    with pytest.raises(Exception, match="aud"):
        strict.validate()


# ----------------------------------------------------------------------------- logout

def test_logout_ends_the_session_at_the_provider_too(client, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    provider.set_user("lea", groups=[])
    assert _log_in(client, provider, "lea").status_code == 302
    [row] = _live_sessions(database)
    with client.session_transaction() as sess:
        csrf = sess["csrf"]
    response = client.post("/abmelden", data={"csrf_token": csrf})
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(target.query).items()}
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{provider.issuer}/session/end"
    assert params == {"client_id": CLIENT_ID, "post_logout_redirect_uri": "http://localhost/",
                      "id_token_hint": row.id_token}
    assert _live_sessions(database) == []
    # The provider validates the hint (its signature, for this client) and the post-logout URI:
    # it answers with its confirmation step, and refuses a changed URI or a forged hint.
    with requests.get(response.headers["Location"], timeout=10) as answer:
        assert answer.status_code == 200 and f"{provider.issuer}/session/end/confirm" in answer.text
    with requests.get(response.headers["Location"].replace("localhost", "evil.example"), timeout=10) as answer:
        assert answer.status_code == 400 and "post_logout_redirect_uri not registered" in answer.text
    foreign = provider.sign({"iss": provider.issuer, "sub": "lea", "aud": CLIENT_ID, "iat": 1, "exp": 2},
                            key=RSAKey.generate_key(2048, private=True))
    with requests.get(f"{provider.issuer}/session/end", timeout=10, params={**params, "id_token_hint": foreign}) \
            as answer:
        assert answer.status_code == 400


def test_end_session_url_without_a_provider_or_endpoint(oidc_app, provider) -> None:  # type: ignore[no-untyped-def]
    oidc = oidc_app.extensions["ratsflow.oidc"]
    with oidc_app.test_request_context():
        assert oidc.end_session_url("unbekannt", "x", "http://localhost/") is None
        url = oidc.end_session_url("test", None, "http://localhost/")
        assert url is not None and "id_token_hint" not in url and f"client_id={CLIENT_ID}" in url


# ----------------------------------------------------------------------------- settings and mapping

def test_settings_read_several_providers() -> None:
    env = {"RATSFLOW_OIDC_PROVIDERS": "keycloak, Entra",
           "RATSFLOW_OIDC_KEYCLOAK_ISSUER": "https://sso.example.org/realms/rat/",
           "RATSFLOW_OIDC_KEYCLOAK_CLIENT_ID": "ratsflow", "RATSFLOW_OIDC_KEYCLOAK_CLIENT_SECRET": "s",
           "RATSFLOW_OIDC_KEYCLOAK_LABEL": "Dienstkonto",
           "RATSFLOW_OIDC_ENTRA_ISSUER": "https://login.microsoftonline.com/t/v2.0",
           "RATSFLOW_OIDC_ENTRA_CLIENT_ID": "c", "RATSFLOW_OIDC_ENTRA_CLIENT_SECRET": "s",
           "RATSFLOW_OIDC_ENTRA_ROLES_CLAIM": "roles", "RATSFLOW_OIDC_ENTRA_SCOPE": "openid profile"}
    keycloak, entra = load_settings(env=env).oidc_providers
    assert keycloak == OidcProvider("keycloak", "https://sso.example.org/realms/rat", "ratsflow", "s",
                                    "Dienstkonto", "groups", "openid profile email")
    assert keycloak.discovery_url == "https://sso.example.org/realms/rat/.well-known/openid-configuration"
    assert (entra.label, entra.roles_claim, entra.scope) == ("Entra", "roles", "openid profile")
    assert load_settings(env={}).oidc_providers == ()


@pytest.mark.parametrize("env, message", [
    ({"RATSFLOW_OIDC_KEYCLOAK_ISSUER": "https://sso.example.org"}, "RATSFLOW_OIDC_KEYCLOAK_CLIENT_ID is missing"),
    ({"RATSFLOW_OIDC_KEYCLOAK_CLIENT_ID": "c"}, "RATSFLOW_OIDC_KEYCLOAK_ISSUER is missing"),
    ({"RATSFLOW_OIDC_KEYCLOAK_ISSUER": "http://sso.example.org", "RATSFLOW_OIDC_KEYCLOAK_CLIENT_ID": "c"},
     "expected https://"),
    ({"RATSFLOW_OIDC_KEYCLOAK_ISSUER": "https://sso.example.org", "RATSFLOW_OIDC_KEYCLOAK_CLIENT_ID": "c",
      "RATSFLOW_OIDC_KEYCLOAK_SCOPE": "profile"}, "must contain openid"),
])
def test_settings_name_what_is_missing(env: dict[str, str], message: str) -> None:
    env = {"RATSFLOW_OIDC_PROVIDERS": "keycloak", "RATSFLOW_OIDC_KEYCLOAK_CLIENT_SECRET": "s", **env}
    with pytest.raises(SettingsError, match=message):
        load_settings(env=env)
    with pytest.raises(SettingsError, match="no provider name"):
        load_settings(env={"RATSFLOW_OIDC_PROVIDERS": "key cloak"})


def test_groups_from_nested_claims_and_full_paths() -> None:
    claims = {"groups": ["/admin", " revision ", 7], "realm_access": {"roles": ["sekretariat:VV"]}, "roles": "admin"}
    assert identity.claim_values(claims, "groups") == ("admin", "revision")
    assert identity.claim_values(claims, "realm_access.roles") == ("sekretariat:VV",)
    assert identity.claim_values(claims, "roles") == ("admin",)
    assert identity.claim_values(claims, "missing.path") == ()


# ----------------------------------------------------------------------------- in Chromium

@pytest.fixture
def live_app(oidc_app, app_port: int) -> Iterator[str]:  # type: ignore[no-untyped-def]
    url = f"http://127.0.0.1:{app_port}"
    settings = oidc_app.extensions["ratsflow.settings"]
    oidc_app.extensions["ratsflow.settings"] = dataclasses.replace(settings, base_url=url)
    server = make_server("127.0.0.1", app_port, oidc_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-oidc-server", daemon=True)
    thread.start()
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.mark.browser
def test_login_and_logout_in_chromium(chromium, live_app, provider, database, demo) -> None:  # type: ignore[no-untyped-def]
    provider.set_user("nina", name="Nina Roth", groups=["sekretariat:AWSG"])
    context = chromium.new_context(base_url=live_app, locale="de-DE")
    context.set_default_timeout(15_000)
    # Only loopback: the provider's pages @import a web font the test machine cannot (and need not) load.
    context.route(re.compile(r"^https?://(?!127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = context.new_page()
    try:
        page.goto("/aufgaben/")
        page.get_by_role("button", name="Anmelden mit Test-Anmeldedienst").click()
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        page.locator("input[name=login]").fill("nina")
        page.locator("input[name=password]").fill("egal")
        page.get_by_role("button", name="Sign-in").click()
        page.wait_for_url(f"{live_app}/aufgaben/")
        assert page.locator("#menu-konto summary").inner_text() == "Nina Roth"  # the account's menu
        assert _grants(database, "nina") == {(ROLE_SECRETARIAT, "AWSG")}

        page.locator("#menu-konto summary").click()
        page.get_by_role("button", name="Abmelden").click()
        page.wait_for_url(f"{provider.issuer}/session/end**")
        page.get_by_role("button", name="Yes, sign me out").click()
        page.wait_for_url(f"{live_app}/")
        assert _live_sessions(database) == []
        ended = [r for r in provider.requests_seen() if r.startswith("GET /session/end?")]
        assert ended and "id_token_hint=" in ended[-1] and f"client_id={CLIENT_ID}" in ended[-1]
        # The provider's session is gone too: the next login asks for the user again.
        page.goto("/anmelden")
        page.get_by_role("button", name="Anmelden mit Test-Anmeldedienst").click()
        page.wait_for_url(f"{provider.issuer}/interaction/**")
        assert page.locator("input[name=login]").is_visible()
    finally:
        context.close()
