"""Every setting with its default, read from the environment and checked at start-up."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TIMEZONE = ZoneInfo("Europe/Berlin")


class SettingsError(ValueError):
    """A setting has a value that cannot work."""


@dataclass(frozen=True)
class OidcProvider:
    """One OpenID provider to log in with (``RATSFLOW_OIDC_<NAME>_*``)."""

    #: Lower case, as in the URL ``/anmelden/oidc/<name>`` and the redirect URI.
    name: str
    #: Discovery is read from ``<issuer>/.well-known/openid-configuration``.
    issuer: str
    client_id: str
    client_secret: str
    #: The login button's text.
    label: str
    #: The claim listing the user's groups or roles (a dotted path such as ``realm_access.roles``
    #: reaches into an object).
    roles_claim: str = "groups"
    scope: str = "openid profile email"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


AUDIT_SEAL_MODES = ("commit", "scheduler")


@dataclass(frozen=True)
class Settings:
    #: SQLAlchemy URL; the embedded default is SQLite in the instance folder.
    database_url: str
    #: Folder for the SQLite file, uploaded Anlagen and other local state.
    instance_path: Path
    #: Flask session signing key. Generated into the instance folder if not set.
    secret_key: str | None = None
    #: Run APScheduler inside the web process (the embedded default).
    scheduler_in_process: bool = True
    #: Who hashes appended audit events into the chain (``engine.audit.seal``): ``commit``,
    #: each unit of work right after its commit (a few statements more per writer, sealed
    #: within milliseconds); ``scheduler``, only the scheduler's sealer (writers: one INSERT,
    #: nothing after; sealed within about :data:`notifications.scheduler.SEAL_IDLE_SECONDS`).
    audit_seal: str = "commit"
    #: Let ``create_app()`` bring the schema up to date at start-up (one web process only;
    #: several workers: ``ratsflow db upgrade`` first). ``ratsflow serve`` always migrates.
    auto_migrate: bool = False
    #: Largest accepted upload (bytes).
    max_upload_bytes: int = 50 * 1024 * 1024
    #: Where e-mail goes: ``smtp://user:pass@host:587?starttls=true`` or ``smtps://…``;
    #: None delivers into ``<instance>/mail`` as .eml files (the embedded default).
    smtp_url: str | None = None
    #: The sender of every e-mail, and the domain of its Message-ID.
    mail_from: str = "Sitzungsdienst <sitzungsdienst@ratsflow.invalid>"
    #: How links in e-mails and calendar feeds begin. ``https://…``: cookies are ``Secure``.
    base_url: str = "http://127.0.0.1:5000"  # ``ratsflow serve``: the address it serves (cli)
    #: A second origin (``https://anlagen.example.org``) that serves the Anlagen of public
    #: Vorlagen, so a file never runs on the app's origin. None: the app's origin serves them.
    files_base_url: str | None = None
    #: The licence of the public data, as the OParl server names it (System and Body ``license``):
    #: the URL of its text. The council decides; the default is Creative Commons BY 4.0.
    oparl_license: str = "https://creativecommons.org/licenses/by/4.0/"
    #: OpenID providers offered on the login page (``RATSFLOW_OIDC_PROVIDERS=keycloak,entra``).
    oidc_providers: tuple[OidcProvider, ...] = ()
    #: A login session ends after this many minutes without a request …
    session_idle_minutes: int = 60
    #: … and after this many hours in any case.
    session_max_hours: int = 12
    #: Where flask-limiter counts login attempts: ``memory://`` (one process) or a shared
    #: store such as ``redis://host:6379`` when several web workers run (needs ``redis``).
    ratelimit_storage: str = "memory://"
    #: Failed logins of one user name (and of one address, ten times as many) before the
    #: login answers 429 without checking, for ``login_lockout_minutes``.
    login_failures: int = 10
    login_lockout_minutes: int = 15
    #: Worker processes that run the models' scripts and expressions (at most this many at
    #: once per engine process; more wait their turn) …
    script_workers: int = 2
    #: … and the address space each may use, in MiB (past it the step fails with an incident).
    script_memory_mb: int = 256
    #: Requests each gunicorn worker serves at once (``ratsflow serve --workers N``,
    #: ``web/gunicorn_conf.py``).
    web_threads: int = 4
    #: Seconds between two sweeps of the leading scheduler (whatever came due since the last:
    #: a moved Sitzung's notices, reminders, e-mail retries).
    sweep_seconds: int = 10

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def mail_path(self) -> Path:
        return self.instance_path / "mail"

    @property
    def mail_domain(self) -> str:
        return self.mail_from.rsplit("@", 1)[-1].strip("> ") or "ratsflow.invalid"

    @property
    def files_path(self) -> Path:
        return self.instance_path / "files"

    @property
    def mappe_path(self) -> Path:
        """Built Sitzungsmappen, by what is in them (``engine.mappe.Cache``)."""
        return self.instance_path / "sitzungsmappen"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def signing_key(self) -> str:
        """What signs sessions and links (``RATSFLOW_SECRET_KEY``, else a key kept in the
        instance folder, made by whichever process needs it first): the web processes and
        the scheduler, which signs the unsubscribe links of its reminders, share it."""
        return self.secret_key or instance_secret(self.instance_path)


def instance_secret(instance: Path) -> str:
    """A signing key kept in the instance folder (never in the repository); made once, readable
    by its owner only. Two processes starting at once make one key (exclusive create)."""
    path = instance / "secret_key"
    if not path.exists():
        instance.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # the other process made it
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name}={value!r}: expected true or false")


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a whole number") from None


_PROVIDER_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


def _oidc_providers(env: dict[str, str]) -> tuple[OidcProvider, ...]:
    """``RATSFLOW_OIDC_PROVIDERS`` and each named provider's ``RATSFLOW_OIDC_<NAME>_*``."""
    names = [n.strip().lower() for n in env.get("RATSFLOW_OIDC_PROVIDERS", "").split(",") if n.strip()]
    providers: list[OidcProvider] = []
    for name in names:
        if not _PROVIDER_NAME.match(name):
            raise SettingsError(f"RATSFLOW_OIDC_PROVIDERS: {name!r} is no provider name "
                                "(letters, digits, - and _, starting with a letter)")
        if name in (p.name for p in providers):
            raise SettingsError(f"RATSFLOW_OIDC_PROVIDERS: {name!r} is named twice")
        prefix = f"RATSFLOW_OIDC_{name.upper().replace('-', '_')}_"

        def value(key: str, prefix: str = prefix) -> str:
            return env.get(prefix + key, "").strip()

        for key in ("ISSUER", "CLIENT_ID", "CLIENT_SECRET"):
            if not value(key):
                raise SettingsError(f"{prefix}{key} is missing: provider {name!r} is listed in "
                                    "RATSFLOW_OIDC_PROVIDERS but has no "
                                    f"{key.lower().replace('_', ' ')}")
        issuer = value("ISSUER").rstrip("/")
        url = urlsplit(issuer)
        loopback = url.scheme == "http" and url.hostname in {"127.0.0.1", "localhost", "::1"}
        if not url.hostname or not (url.scheme == "https" or loopback) or url.query or url.fragment:
            raise SettingsError(f"{prefix}ISSUER={issuer!r}: expected https://… "
                                "(http:// only on the loopback address, for tests)")
        scope = value("SCOPE") or "openid profile email"
        if "openid" not in scope.split():
            raise SettingsError(f"{prefix}SCOPE={scope!r}: must contain openid")
        providers.append(OidcProvider(
            name=name, issuer=issuer, client_id=value("CLIENT_ID"), client_secret=value("CLIENT_SECRET"),
            label=value("LABEL") or name.capitalize(), roles_claim=value("ROLES_CLAIM") or "groups",
            scope=scope))
    return tuple(providers)


def _positive(env: dict[str, str], name: str, default: int) -> int:
    value = _int(env.get(name, str(default)), name)
    if value < 1:
        raise SettingsError(f"{name}={value}: expected at least 1")
    return value


def _files_base_url(env: dict[str, str], base_url: str) -> str | None:
    """``RATSFLOW_FILES_BASE_URL``: an origin only (scheme and host), not the app's own."""
    value = (env.get("RATSFLOW_FILES_BASE_URL") or "").strip().rstrip("/")
    if not value:
        return None
    url = urlsplit(value)
    if url.scheme not in {"http", "https"} or not url.hostname or url.path or url.query \
            or url.fragment or url.username or url.password:
        raise SettingsError(f"RATSFLOW_FILES_BASE_URL={value!r}: expected an origin such as "
                            "https://anlagen.example.org (no path)")
    if url.netloc.lower() == urlsplit(base_url).netloc.lower():
        raise SettingsError(f"RATSFLOW_FILES_BASE_URL={value!r}: must be another host than "
                            "RATSFLOW_BASE_URL (that is its point)")
    return f"{url.scheme}://{url.netloc.lower()}"


def _license_url(env: dict[str, str]) -> str:
    """``RATSFLOW_OPARL_LICENSE``: the URL of the licence's text (http or https)."""
    value = (env.get("RATSFLOW_OPARL_LICENSE") or "").strip() or Settings.oparl_license
    url = urlsplit(value)
    if url.scheme not in {"http", "https"} or not url.hostname:
        raise SettingsError(f"RATSFLOW_OPARL_LICENSE={value!r}: expected the URL of the licence, such as "
                            "https://creativecommons.org/licenses/by/4.0/")
    return value


DEFAULT_BASE_URL = "http://127.0.0.1:5000"

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_ANY = {"0.0.0.0", "::", ""}


def served_base_url(host: str, port: int) -> str:
    """The address links should begin with when ratsflow serves on ``host:port`` itself and
    ``RATSFLOW_BASE_URL`` is not set: that host and port (on every interface: this machine's
    name, which the others reach it by)."""
    if host in _ANY:
        import socket

        host = socket.getfqdn()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def base_url_warning(base_url: str, host: str, port: int) -> str | None:
    """Why links (mails, calendars, the login's return) from ``base_url`` may not reach a
    server on ``host:port``, in German; None when nothing speaks against them. A base URL on
    another host is a reverse proxy's address and is taken as given."""
    url = urlsplit(base_url)
    link_host = (url.hostname or "").lower()
    link_port = url.port or (443 if url.scheme == "https" else 80)
    direct = link_host in _LOOPBACK or link_host == host.lower().strip("[]")
    if direct and link_port != port:
        return (f"RATSFLOW_BASE_URL={base_url} passt nicht zur Adresse, unter der ratsflow läuft "
                f"({host}:{port}): Links in E-Mails und Kalendern führen auf Port {link_port}.")
    if link_host in _LOOPBACK and host not in _LOOPBACK:
        return (f"RATSFLOW_BASE_URL={base_url} zeigt auf diesen Rechner selbst: Links in E-Mails und "
                "Kalendern erreichen andere Rechner nicht. Bitte die öffentliche Adresse setzen.")
    return None


def load_settings(env: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Read the settings from the environment (``RATSFLOW_*`` and ``DATABASE_URL``)."""
    env = dict(os.environ if env is None else env)
    script_memory_mb = _positive(env, "RATSFLOW_SCRIPT_MEMORY_MB", 256)
    if script_memory_mb < 64:
        raise SettingsError(f"RATSFLOW_SCRIPT_MEMORY_MB={script_memory_mb}: expected at least 64 "
                            "(the worker's interpreter alone needs about 20)")
    instance = Path(env.get("RATSFLOW_INSTANCE_PATH", PROJECT_ROOT / "instance")).resolve()
    url = env.get("DATABASE_URL") or f"sqlite:///{instance / 'ratsflow.sqlite'}"
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        # psycopg 3 is the driver we ship; accept the common short form.
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if not (url.startswith("sqlite") or url.startswith("postgresql+psycopg://")):
        raise SettingsError(f"DATABASE_URL={url!r}: only sqlite:/// and postgresql:// are supported")
    values: dict[str, object] = {
        "database_url": url,
        "instance_path": instance,
        "secret_key": env.get("RATSFLOW_SECRET_KEY") or None,
        "scheduler_in_process": _bool(env.get("RATSFLOW_SCHEDULER", "true"), "RATSFLOW_SCHEDULER"),
        "auto_migrate": _bool(env.get("RATSFLOW_AUTO_MIGRATE", "false"), "RATSFLOW_AUTO_MIGRATE"),
        "audit_seal": env.get("RATSFLOW_AUDIT_SEAL") or "commit",
        "max_upload_bytes": _int(
            env.get("RATSFLOW_MAX_UPLOAD_BYTES", str(50 * 1024 * 1024)), "RATSFLOW_MAX_UPLOAD_BYTES"
        ),
        "smtp_url": env.get("RATSFLOW_SMTP_URL") or None,
        "mail_from": env.get("RATSFLOW_MAIL_FROM") or "Sitzungsdienst <sitzungsdienst@ratsflow.invalid>",
        "base_url": (env.get("RATSFLOW_BASE_URL") or DEFAULT_BASE_URL).rstrip("/"),
        "oparl_license": _license_url(env),
        "oidc_providers": _oidc_providers(env),
        "session_idle_minutes": _positive(env, "RATSFLOW_SESSION_IDLE_MINUTES", 60),
        "session_max_hours": _positive(env, "RATSFLOW_SESSION_MAX_HOURS", 12),
        "ratelimit_storage": env.get("RATSFLOW_RATELIMIT_STORAGE") or "memory://",
        "login_failures": _positive(env, "RATSFLOW_LOGIN_FAILURES", 10),
        "login_lockout_minutes": _positive(env, "RATSFLOW_LOGIN_LOCKOUT_MINUTES", 15),
        "script_workers": _positive(env, "RATSFLOW_SCRIPT_WORKERS", 2),
        "script_memory_mb": script_memory_mb,
        "web_threads": _positive(env, "RATSFLOW_WEB_THREADS", 4),
        "sweep_seconds": _positive(env, "RATSFLOW_SWEEP_SECONDS", 10),
    }
    values["files_base_url"] = _files_base_url(env, str(values["base_url"]))
    smtp = values["smtp_url"]
    if isinstance(smtp, str) and not smtp.startswith(("smtp://", "smtps://")):
        raise SettingsError(f"RATSFLOW_SMTP_URL={smtp!r}: expected smtp://… or smtps://…")
    values.update(overrides)
    if values["audit_seal"] not in AUDIT_SEAL_MODES:
        raise SettingsError(f"RATSFLOW_AUDIT_SEAL={values['audit_seal']!r}: erwartet commit oder scheduler")
    return Settings(**values)  # type: ignore[arg-type]
