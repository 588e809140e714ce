"""A real OpenID provider for the tests: panva's oidc-provider (tests/oidc/provider.mjs) in node.

Started once per test module on a free loopback port (issuer ``http://127.0.0.1:<port>``) with
a signing key made here, so the tests can also sign ID tokens with the provider's own key (and
with one it does not publish). Users live in a JSON file that the provider reads at every
login: ``set_user`` changes someone's groups between two logins. Needs
``npm --prefix tests/oidc ci``; without node or its packages the tests are skipped (on CI, with
``CI`` set, they fail).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

HERE = Path(__file__).resolve().parent / "oidc"
PROVIDER = HERE / "provider.mjs"
CLIENT_ID = "ratsflow-test"
CLIENT_SECRET = "ratsflow-test-secret-0123456789"
OTHER_CLIENT_ID = "other-app"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


class OidcProviderProcess:
    """The node process, its users file and its private signing key."""

    def __init__(self, folder: Path, app_urls: list[str]) -> None:
        self.folder = folder
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "ratsflow-test-1", "alg": "RS256",
                                                         "use": "sig"}, private=True)
        self.users_file = folder / "users.json"
        self.log_file = folder / "provider.log"
        self.users: dict[str, dict[str, Any]] = {}
        self._write_users()
        clients = [
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
             "redirect_uris": [f"{url}/anmelden/oidc/test/callback" for url in app_urls],
             "post_logout_redirect_uris": [f"{url}/" for url in app_urls],
             "response_types": ["code"], "grant_types": ["authorization_code"],
             "token_endpoint_auth_method": "client_secret_basic"},
            {"client_id": OTHER_CLIENT_ID, "client_secret": "other-secret-0123456789abcdef",
             "redirect_uris": [f"{url}/other/callback" for url in app_urls],
             "response_types": ["code"], "grant_types": ["authorization_code"]},
        ]
        config = folder / "config.json"
        config.write_text(json.dumps({"port": self.port, "users_file": str(self.users_file),
                                      "jwks": {"keys": [self.key.as_dict(private=True)]},
                                      "clients": clients}))
        self._log = self.log_file.open("w")
        self.process = subprocess.Popen(["node", str(PROVIDER), str(config)], cwd=HERE,
                                        stdout=subprocess.DEVNULL, stderr=self._log)
        self._wait()

    def _wait(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"oidc-provider exited: {self.log_file.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.issuer}/.well-known/openid-configuration", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("oidc-provider did not answer its discovery URL") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()

    # -- users

    def _write_users(self) -> None:
        tmp = self.users_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.users))
        tmp.replace(self.users_file)  # the provider never reads half a file

    def set_user(self, login: str, *, groups: list[str], name: str | None = None,
                 email: str | None = None, **claims: Any) -> None:
        """Add or change a user (read by the provider at the next login); the login is the subject."""
        self.users[login] = {"preferred_username": login, "name": name or login.title(),
                             "email": email or f"{login}@example.org", "email_verified": True,
                             "groups": groups, **claims}
        self._write_users()

    def reset_users(self) -> None:
        self.users = {}
        self._write_users()

    def requests_seen(self) -> list[str]:
        """``METHOD /path?query`` of every request the provider got, in order."""
        self._log.flush()
        return [line for line in self.log_file.read_text().splitlines() if line[:4] in ("GET ", "POST")]

    # -- tokens of our own

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None, header: dict[str, Any] | None = None) -> str:
        """An ID token signed with the provider's key (or ``key``: one the provider does not publish)."""
        key = key or self.key
        return jwt.encode({"alg": "RS256", "kid": str(self.key.kid), **(header or {})}, claims, key)


@pytest.fixture(scope="module")
def app_port() -> int:
    """The port the live app server of this module will listen on (registered at the provider)."""
    return free_port()


@pytest.fixture(scope="module")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory, app_port: int) -> Iterator[OidcProviderProcess]:
    if shutil.which("node") is None:
        _missing("node is missing: the test OpenID provider runs on Node.js")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        _missing("oidc-provider is not installed: npm --prefix tests/oidc ci --no-audit --no-fund")
    provider = OidcProviderProcess(tmp_path_factory.mktemp("oidc"),
                                   ["http://localhost", f"http://127.0.0.1:{app_port}"])
    try:
        yield provider
    finally:
        provider.stop()
