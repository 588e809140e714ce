"""Login through OpenID Connect providers (authlib's Flask client), and RP-initiated logout.

Authorization code flow with PKCE (S256); ``state``, ``nonce`` and ``code_verifier`` are kept in
the Flask session by authlib between the two requests. On the way back every check that makes the
ID token trustworthy is enforced, partly by authlib and partly here (authlib's defaults leave some
out; see README, "Anmeldung über OpenID Connect"):

* ``state``: authlib finds no stored data for a foreign or replayed state (MismatchingStateError);
* the provider's discovery document must name the configured issuer (checked here, authlib does not);
* signature against the provider's JWKS, algorithms from discovery (never ``none``: removed here);
* ``iss`` and ``aud``: required and checked through ``claims_options`` (authlib by itself only
  checks ``iss``; ``aud`` would pass any value as long as ``azp`` names us);
* ``exp``/``iat`` (leeway one minute), ``nonce`` (authlib, with the nonce it stored);
* a token answer without an ID token is refused here (authlib would return it unvalidated).

The account and its grants come from :mod:`engine.identity.oidc`; the session from ``web.auth``.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from joserfc.errors import JoseError
from sqlmodel import Session

from engine import audit
from engine.accounts import load_actor, privileged_account
from engine.identity import oidc as identity
from engine.settings import OidcProvider, Settings

from .auth import log_in, safe_next
from .i18n import gettext as _
from .views import request_now, request_session

log = logging.getLogger(__name__)

bp = Blueprint("oidc", __name__)

#: Seconds of clock difference to the provider accepted for ``exp`` and ``iat``.
LEEWAY = 60
#: Network timeout (seconds) for discovery, JWKS and the token request.
TIMEOUT = 10


class ProviderMismatch(Exception):
    """The discovery document does not belong to the configured issuer."""


class OidcLogin:
    """The configured providers as authlib clients; ``app.extensions["ratsflow.oidc"]``."""

    def __init__(self, app: Flask, providers: tuple[OidcProvider, ...]) -> None:
        self.providers = {p.name: p for p in providers}
        self.oauth = OAuth(app)
        for p in providers:
            self.oauth.register(
                name=p.name, client_id=p.client_id, client_secret=p.client_secret,
                server_metadata_url=p.discovery_url,
                client_kwargs={"scope": p.scope, "code_challenge_method": "S256",
                               "default_timeout": TIMEOUT})

    def client(self, name: str) -> Any:
        """The authlib client of provider ``name`` (its discovery read and checked once)."""
        provider = self.providers[name]
        client = self.oauth.create_client(name)
        metadata = client.load_server_metadata()
        if metadata.get("issuer") != provider.issuer:
            client.server_metadata.clear()  # read again next time: the provider may be repaired
            raise ProviderMismatch(f"discovery of {name!r} names issuer {metadata.get('issuer')!r}, "
                                   f"configured is {provider.issuer!r}")
        algorithms = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata["id_token_signing_alg_values_supported"] = [a for a in algorithms if a != "none"]
        return client

    def end_session_url(self, provider: str, id_token: str | None,
                        post_logout_redirect_uri: str) -> str | None:
        """Where to send the browser at logout so the provider ends its session too (or None)."""
        if provider not in self.providers:
            return None
        try:
            endpoint = self.client(provider).server_metadata.get("end_session_endpoint")
        except (requests.RequestException, ValueError, ProviderMismatch) as exc:
            log.warning("Abmelden beim Anbieter %s nicht möglich: %s", provider, exc)
            return None
        if not isinstance(endpoint, str) or not endpoint:
            return None
        params = {"client_id": self.providers[provider].client_id,
                  "post_logout_redirect_uri": post_logout_redirect_uri}
        if id_token:
            params["id_token_hint"] = id_token
        return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


def _oidc() -> OidcLogin:
    extension: OidcLogin = current_app.extensions["ratsflow.oidc"]
    return extension


def _provider(name: str) -> OidcProvider:
    provider = _oidc().providers.get(name)
    if provider is None:
        abort(404)
    return provider


def _refused(message: str, status: int) -> ResponseReturnValue:
    return render_template("login.html", error=message), status


def _unverified_subject(token: Mapping[str, Any] | None) -> str | None:
    """The ``sub`` a refused ID token claims (only to audit a failed login of a privileged account)."""
    raw = (token or {}).get("id_token")
    if not isinstance(raw, str) or raw.count(".") != 2:
        return None
    try:
        payload = raw.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except ValueError:
        return None
    sub = claims.get("sub") if isinstance(claims, dict) else None
    return sub if isinstance(sub, str) else None


def _audit_failure(s: Session, provider: OidcProvider, subject: str | None, reason: str) -> None:
    """A refused login of an admin's or auditor's account is part of the history (as a local one)."""
    if not subject:
        return
    account = identity.find_account(s, provider.issuer, subject)
    if account is None or privileged_account(s, account.username) is None:
        return
    audit.record(s, account.username, account.display_name, "login.failed", at=request_now(),
                 details={"address": request.remote_addr or "", "provider": provider.name, "reason": reason})


@bp.get("/anmelden/oidc/<name>")
def start(name: str) -> ResponseReturnValue:
    provider = _provider(name)
    try:
        client = _oidc().client(name)
    except (requests.RequestException, ValueError, ProviderMismatch) as exc:
        log.warning("OpenID-Anbieter %s nicht erreichbar: %s", name, exc)
        return _refused(_("Der Anmeldedienst %(label)s ist nicht erreichbar. Bitte später noch einmal "
                          "versuchen.", label=provider.label), 502)
    session["oidc_next"] = request.args.get("next") or ""  # checked after the login (safe_next)
    # The public address (RATSFLOW_BASE_URL), as registered at the provider: behind a reverse
    # proxy the request's own host and scheme may be internal ones.
    settings: Settings = current_app.extensions["ratsflow.settings"]
    redirect_uri = settings.base_url + url_for("oidc.callback", name=name)
    return client.authorize_redirect(redirect_uri)  # type: ignore[no-any-return]


@bp.get("/anmelden/oidc/<name>/callback")
def callback(name: str) -> ResponseReturnValue:
    provider = _provider(name)
    oidc = _oidc()
    s = request_session()
    not_confirmed = _("Die Anmeldung über %(label)s konnte nicht bestätigt werden. Bitte erneut "
                      "anmelden.", label=provider.label)
    client: Any = None
    try:
        client = oidc.client(name)
        token = client.authorize_access_token(
            claims_options={"iss": {"essential": True, "values": [provider.issuer]},
                            "aud": {"essential": True, "values": [provider.client_id]}},
            leeway=LEEWAY)
    except MismatchingStateError:
        log.warning("OpenID-Anmeldung %s: state unbekannt oder abgelaufen", name)
        return _refused(_("Die Anmeldung ist abgelaufen oder wurde nicht in diesem Browser begonnen. "
                          "Bitte erneut anmelden."), 400)
    except OAuthError as exc:
        log.warning("OpenID-Anmeldung %s abgelehnt: %s %s", name, exc.error, exc.description)
        if request.args.get("error"):
            return _refused(_("Der Anmeldedienst %(label)s hat die Anmeldung abgelehnt.",
                              label=provider.label), 400)
        return _refused(not_confirmed, 401)
    except (JoseError, ValueError) as exc:  # signature, iss, aud, exp, nonce …; malformed tokens
        log.warning("OpenID-Anmeldung %s: ID-Token abgelehnt: %r", name, exc)
        _audit_failure(s, provider, _unverified_subject(client.token if client else None),
                       f"ID-Token abgelehnt ({type(exc).__name__})")
        return _refused(not_confirmed, 401)
    except (requests.RequestException, ProviderMismatch) as exc:
        log.warning("OpenID-Anmeldung %s: Anbieter nicht erreichbar: %s", name, exc)
        return _refused(_("Der Anmeldedienst %(label)s ist nicht erreichbar. Bitte später noch einmal "
                          "versuchen.", label=provider.label), 502)
    claims = token.get("userinfo")
    id_token = token.get("id_token")
    if not claims or not isinstance(id_token, str):  # authlib validates only an ID token it got
        log.warning("OpenID-Anmeldung %s: Antwort ohne ID-Token", name)
        return _refused(not_confirmed, 401)
    try:
        person = identity.identity_from_claims(provider.issuer, claims, provider.roles_claim)
        result = identity.sign_in(s, person, provider.name)
    except identity.IdentityRefused as exc:
        log.warning("OpenID-Anmeldung %s abgelehnt: %s", name, exc)
        _audit_failure(s, provider, claims.get("sub"), str(exc))
        return _refused(_("Dieses Konto kann sich nicht anmelden. Bitte wenden Sie sich an die "
                          "Administration."), 401)
    assert result.account.id is not None
    target = session.pop("oidc_next", None)
    # A new server-side session (the provider and its ID token kept for the logout); audited
    # for admins and auditors.
    log_in(result.account.id, f"OpenID Connect ({provider.label})", provider=provider.name,
           id_token=id_token)
    return redirect(safe_next(target, load_actor(s, result.account.id)))


def init_app(app: Flask) -> None:
    settings: Settings = app.extensions["ratsflow.settings"]
    extension = OidcLogin(app, settings.oidc_providers)
    app.extensions["ratsflow.oidc"] = extension
    # RP-initiated logout: the logout form's answer redirects to the provider (CSP form-action).
    app.config["RATSFLOW_FORM_ACTION_ORIGINS"] = sorted(
        {f"{urlsplit(p.issuer).scheme}://{urlsplit(p.issuer).netloc}" for p in settings.oidc_providers})
    app.jinja_env.globals.update(oidc_providers=lambda: list(extension.providers.values()))
    app.register_blueprint(bp)
