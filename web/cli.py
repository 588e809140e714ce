"""The ``ratsflow`` command: serve, scheduler, db upgrade|app-role, demo, deploy, audit checkpoint|verify."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO

import click
from sqlalchemy import text
from sqlmodel import Session, select

from engine import audit, audit_history, search
from engine.accounts import Actor, load_actor
from engine.council import ROLE_ADMIN, Account
from engine.db import Database
from engine.demo import load_demo
from engine.errors import Conflict, EngineError, Forbidden, Invalid, NotFound
from engine.files import FileStore
from engine.identity import tokens
from engine.oparl.fetch import MAX_PAGES, MAX_SECONDS
from engine.process import procedures
from engine.schemas import MAX_ID
from engine.settings import (
    DEFAULT_BASE_URL,
    TIMEZONE,
    Settings,
    SettingsError,
    base_url_warning,
    load_settings,
    served_base_url,
)
from engine.types import utcnow
from engine.workflow import runtime, sandbox, scenarios
from engine.workflow.models import ProcessInstance
from engine.workflow.runtime import ModelError

DEMO_PASSWORD_ENV = "RATSFLOW_DEMO_PASSWORD"


def _database() -> Database:
    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    sandbox.configure(workers=settings.script_workers, memory_mb=settings.script_memory_mb)
    return Database(settings)


@click.group()
def main() -> None:
    """ratsflow – Sitzungsdienst: Beratungsfolgen als BPMN-Prozesse."""


@main.group()
def db() -> None:
    """Datenbank verwalten."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Schema auf den neuesten Stand bringen (Alembic)."""
    with _database() as database:
        database.upgrade()
        click.echo(f"Schema aktuell: {database.settings.database_url.split('@')[-1]}")


def _demo(database: Database) -> None:
    password = os.environ.get(DEMO_PASSWORD_ENV, "ratsflow-demo")
    with database.unit_of_work() as s:
        # The Anlagen go where uploads go, so the pages link them like uploaded ones.
        result = load_demo(s, password, files=FileStore(database.settings.files_path))
    search.catch_up(database, FileStore(database.settings.files_path))  # the public search finds them now
    if not result.created:
        click.echo("Demodaten sind schon geladen (Vorlage 2024/063).")
        return
    click.echo("Demodaten geladen: Vorlage 2024/063 mit Beratungsfolge gestartet.")
    if result.committee_meeting and result.assembly_meeting:
        click.echo(f"  SI/2024/131 am {result.committee_meeting.start:%d.%m.%Y}, "
                   f"SI/2024/128 am {result.assembly_meeting.start:%d.%m.%Y}")
    if result.week:
        click.echo(f"  dazu {len(result.week)} weitere Vorlagen ({result.week[0]} bis {result.week[-1]}) "
                   "in verschiedenen Schritten: die Woche der Sekretariate")
    click.echo(f"Konten (Passwort aus {DEMO_PASSWORD_ENV}, sonst 'ratsflow-demo'):")
    for username, what in result.accounts:
        click.echo(f"  {username:<10} {what}")


@main.command()
@click.option("--oparl-sample", "oparl_sample", is_flag=True,
              help="Dazu echte Vorlagen, Sitzungen und Gremien der Stadt Karlsruhe (OParl-Beispiel) "
                   "über den OParl-Import laden.")
@click.option("--oparl-path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Ordner des OParl-Beispiels (papers.json, meetings.json, organizations.json); "
                   "Vorgabe: ../shared/oparl/karlsruhe-sample neben dem Projekt, oder RATSFLOW_OPARL_SAMPLE.")
def demo(oparl_sample: bool, oparl_path: Path | None) -> None:
    """Demodaten laden (Vorlage 2024/063 mit Gremien, Sitzungen, Konten)."""
    with _database() as database:
        database.upgrade()
        _demo(database)
        if oparl_sample:
            _oparl_sample(database, oparl_path)


@contextmanager
def _progress_bar(wanted: bool) -> Iterator[Callable[[int, int, str], None] | None]:
    """The import's progress as a bar on stderr (only in a terminal): the callback the importer
    reports to (objects announced, objects written, a note), or None."""
    if not wanted or not sys.stderr.isatty():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=0, unit=" Objekte", file=sys.stderr, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}] {postfix}")

    def report(announced: int, written: int, note: str) -> None:
        if announced:
            bar.total += announced
            bar.refresh()
        if written:
            bar.update(written)
            bar.set_postfix_str(note)

    try:
        yield report
    finally:
        bar.close()


def _oparl_sample(database: Database, path: Path | None) -> None:
    """The sample is served by a small OParl server on loopback and read by the same importer
    as ``import-oparl`` (the objects keep their real Karlsruhe URLs as origin)."""
    from engine.oparl.fetch import Fetcher
    from engine.oparl.importer import Importer
    from engine.oparl.sample import KARLSRUHE, OparlStore, SampleServer, load_sample
    from engine.settings import PROJECT_ROOT

    folder = path or Path(os.environ.get("RATSFLOW_OPARL_SAMPLE", PROJECT_ROOT.parent / "shared" / "oparl"
                                         / "karlsruhe-sample"))
    if not (folder / "papers.json").is_file():
        raise click.ClickException(f"Kein OParl-Beispiel in {folder} (papers.json fehlt).")
    # The sample server listens on loopback: a private address, allowed for this one source.
    with SampleServer(OparlStore(load_sample(folder))) as server, \
            Fetcher(rewrite=server.rewrite, allow_private=True) as fetcher:
        with _progress_bar(True) as progress:
            summary = Importer(database, fetcher, progress=progress).run(KARLSRUHE + "/system")
    for line in summary.lines():
        click.echo(line)


@main.command("import-oparl")
@click.argument("url")
@click.option("--with-files", is_flag=True, help="Die Dokumente herunterladen (geprüft gegen Größe und "
                                                 "Prüfsumme, wo angegeben).")
@click.option("--limit", default=4, show_default=True, type=click.IntRange(1, 16),
              help="Höchstens so viele Abrufe gleichzeitig.")
@click.option("--timeout", default=30.0, show_default=True, type=float, help="Sekunden je Abruf.")
@click.option("--progress/--no-progress", default=True, help="Fortschrittsbalken (nur im Terminal).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="HOST[:PORT]",
              help="Auch von diesem Host abrufen (z. B. ein Dateiserver, den die Quelle nennt); "
                   "mehrfach möglich. Sonst nur Schema, Host und Port der URL.")
@click.option("--allow-private", is_flag=True,
              help="Auch nicht öffentliche Adressen (localhost, 10.x, 192.168.x, …) abrufen.")
@click.option("--max-seconds", default=MAX_SECONDS, show_default=True, type=click.FloatRange(min=1),
              help="Höchstdauer des ganzen Laufs in Sekunden; danach setzt der nächste Lauf fort.")
@click.option("--max-pages", default=MAX_PAGES, show_default=True, type=click.IntRange(min=1),
              help="Höchstens so viele Seiten je Liste und Lauf.")
def import_oparl_command(url: str, with_files: bool, limit: int, timeout: float, progress: bool,
                         allow_hosts: tuple[str, ...], allow_private: bool, max_seconds: float,
                         max_pages: int) -> None:
    """Vorlagen, Sitzungen, Gremien und Personen aus einem OParl-1.0/1.1-Endpunkt übernehmen
    (URL eines System- oder Body-Objekts). Ein zweiter Lauf holt nur Geändertes. Abgerufen wird
    nur von der Quelle selbst (Schema, Host, Port) und den mit --allow-host genannten Hosts."""
    from engine.oparl.fetch import Fetcher, FetchError
    from engine.oparl.importer import Importer

    try:
        fetcher = Fetcher(limit=limit, timeout=timeout, allow_hosts=allow_hosts, allow_private=allow_private)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allow-host") from None
    with _database() as database, fetcher:
        database.upgrade()
        try:
            with _progress_bar(progress) as report:
                summary = Importer(database, fetcher, files=FileStore(database.settings.files_path),
                                   with_files=with_files, progress=report, max_seconds=max_seconds,
                                   max_pages=max_pages,
                                   max_file_bytes=database.settings.max_upload_bytes).run(url)
        except FetchError as exc:
            raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)
    if summary.failed_pages:
        sys.exit(1)


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Nur prüfen, nichts bereitstellen (ohne Datenbank).")
@click.option("--process", "process", default=None, metavar="ID",
              help="Welcher ausführbare Prozess, wenn eine Datei mehrere hat.")
def deploy(files: tuple[Path, ...], check: bool, process: str | None) -> None:
    """BPMN-Modelle bereitstellen: geprüft werden XML, Erreichbarkeit, Gateways, Skripte und
    Ausdrücke (Python), Zeitereignisse, Formulare und Zuständigkeiten; jeder Befund mit Datei,
    Zeile und Element."""
    if check:
        _check_models(files, process)
        return
    failed = False
    with _database() as database:
        database.upgrade()
        for path in files:
            try:
                with database.unit_of_work() as s:
                    model, new = procedures.deploy(s, path, os.environ.get("USER", "admin"),
                                                   together=list(files), process=process)
                    label = f"{model.process_id} Version {model.version}"
            except ModelError as exc:
                _say_findings(exc)
                failed = True
                continue
            click.echo(f"{path.name}: {label} {'bereitgestellt' if new else 'unverändert'}")
    if failed:
        sys.exit(1)


@main.group("model")
def model_group() -> None:
    """Prozessmodelle prüfen."""


@model_group.command("test")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def model_test(files: tuple[Path, ...]) -> None:
    """Die Szenarien neben jedem Modell (NAME.szenarien.json) im Speicher ablaufen lassen."""
    failed = False
    for path in files:
        scenario_file = scenarios.file_for(path)
        try:
            parsed = runtime.parse_model(path, requires=procedures.MODEL_REQUIREMENTS, together=list(files))
            if not scenario_file.is_file():
                raise ModelError(path.name, f"keine Szenarien ({scenario_file.name} fehlt)")
            outcomes = scenarios.run_file(parsed.spec_json, scenario_file)
        except (ModelError, scenarios.ScenarioError) as exc:
            _say_findings(exc)
            failed = True
            continue
        for outcome in outcomes:
            if outcome.ok:
                click.echo(f"{path.name}: ✓ {outcome.name}")
            else:
                click.echo(f"{path.name}: ✗ {outcome.name}: {outcome.problem}")
                failed = True
    if failed:
        sys.exit(1)


@model_group.command("migrate")
@click.argument("instances", nargs=-1, required=True, type=int)
@click.option("--to-version", "version", required=True, type=int,
              help="Die Modellversion, auf die umgestellt wird.")
@click.option("--preview", is_flag=True, help="Nur zeigen, was die Umstellung täte.")
@click.option("--as", "username", default="admin", show_default=True, help="Das Administrationskonto.")
def model_migrate(instances: tuple[int, ...], version: int, preview: bool, username: str) -> None:
    """Laufende Vorgänge auf eine andere Version ihres Modells umstellen (je Vorgang eine
    Transaktion; wo es nicht sicher geht, mit Grund abgelehnt)."""
    failed = False
    with _database() as database:
        for instance_id in instances:
            try:
                with database.unit_of_work() as s:
                    plan = procedures.migration_preview(s, instance_id, version)
                    click.echo(f"Vorgang {instance_id}: bleibt: {', '.join(plan.keeps) or '–'}; "
                               f"geändert: {', '.join(plan.changed) or '–'}; "
                               f"entfällt: {', '.join(plan.removed) or '–'}")
                    if preview:
                        for problem in plan.problems:
                            click.echo(f"  nicht möglich: {problem}")
                        failed = failed or not plan.safe
                        continue
                    account = s.exec(select(Account).where(Account.username == username)).first()
                    actor = load_actor(s, account.id) if account is not None and account.id else None
                    if actor is None:
                        raise click.ClickException(f"Kein aktives Konto {username}.")
                    instance = s.get(ProcessInstance, instance_id)
                    assert instance is not None
                    procedures.migrate_instance(s, actor, instance_id, version, instance.version)
                click.echo(f"Vorgang {instance_id}: auf Version {version} umgestellt")
            except (Conflict, Forbidden, NotFound) as exc:
                click.echo(f"Fehler: Vorgang {instance_id}: {exc.message}", err=True)
                failed = True
    if failed:
        sys.exit(1)


def _say_findings(exc: Exception) -> None:
    """Every finding of a refused model on its own line (file, line, element, reason)."""
    for line in str(exc).splitlines():
        click.echo(f"Fehler: {line}", err=True)


def _check_models(files: tuple[Path, ...], process: str | None) -> None:
    """``ratsflow deploy --check``: every finding of every file, nothing deployed."""
    failed = False
    for path in files:
        try:
            parsed = runtime.parse_model(path, requires=procedures.MODEL_REQUIREMENTS, together=list(files),
                                         process=process)
            procedures.check_scenarios(path, parsed.spec_json)  # what the deploy would run too
        except ModelError as exc:
            _say_findings(exc)
            failed = True
            continue
        click.echo(f"{path.name}: in Ordnung – Prozess {parsed.process_id} (geprüft, nicht bereitgestellt)")
    if failed:
        sys.exit(1)


@main.group("audit")
def audit_group() -> None:
    """Prozesshistorie prüfen."""


@audit_group.command("checkpoint")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Prüfpunkt auch in diese Datei schreiben (außerhalb der Datenbank aufbewahren).")
def audit_checkpoint(out: Path | None) -> None:
    """Den Kopf der Kette ausgeben: Sequenznummer, Hash, Zeit (als JSON)."""
    with _database() as database:
        with database.unit_of_work() as s:  # what was appended until now, hashed in first
            audit.seal(s)
        with database.unit_of_work(write=False) as s:
            mark = audit.checkpoint(s)
    click.echo(mark.to_json())
    if out is not None:
        out.write_text(mark.to_json() + "\n", encoding="utf-8")


@audit_group.command("verify")
@click.option("--since", "since", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Prüfpunkt-Datei (mehrfach möglich): die Kette muss jeden fortsetzen.")
def audit_verify(since: tuple[Path, ...]) -> None:
    """Die ganze Hash-Kette neu berechnen (gestreamt) und gegen Prüfpunkte halten.

    Exit-Code 0 nur, wenn alles stimmt; sonst 1 mit dem ersten Befund.
    """
    try:
        marks = [audit.Checkpoint.from_json(path.read_text(encoding="utf-8"), where=path.name)
                 for path in since]
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    started = time.perf_counter()
    with _database() as database:
        with database.unit_of_work() as s:  # what was appended until now, hashed in first
            audit.seal(s)
        with database.unit_of_work(write=False) as s:
            report = audit.verify(s, checkpoints=marks)
    took = time.perf_counter() - started
    if report.ok:
        held = f", {len(marks)} Prüfpunkt(e) fortgesetzt" if marks else ""
        tail = (f" {report.unsealed} später angehängte Ereignisse noch nicht versiegelt (nicht geprüft)."
                if report.unsealed else "")
        click.echo(f"Kette in Ordnung: {report.events} Ereignisse bis {report.last_seq}{held} "
                   f"({took:.1f} s).{tail}")
    else:
        click.echo(f"Kette beschädigt: {report.problem}", err=True)
        sys.exit(1)


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True,
              help="csv: Excel (Semikolon, UTF-8 mit BOM); jsonl: eine JSON-Zeile je Ereignis.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path),
              help="Datei (sonst Standardausgabe).")
@click.option("--vorlage", help="Aktenzeichen der Vorlage, z. B. 2024/063.")
@click.option("--gremium", help="Id des Gremiums.")
@click.option("--sitzung", help="Sitzung, z. B. SI/2024/131.")
@click.option("--person", help="Benutzername.")
@click.option("--ereignis", help="Ereignisart, z. B. task.completed.")
@click.option("--von", help="ab Tag (TT.MM.JJJJ).")
@click.option("--bis", help="bis Tag (TT.MM.JJJJ).")
def audit_export(fmt: str, out: Path | None, **filters: str | None) -> None:
    """Die Prozesshistorie exportieren (gestreamt, ein Ereignis je Zeile); der Export wird
    selbst protokolliert."""
    args = {k: v for k, v in filters.items() if v}
    with _database() as database:
        with database.unit_of_work(write=False) as s:
            try:
                parsed = audit_history.parse_filters(s, args)
            except Invalid as exc:
                raise click.ClickException(" ".join(f"--{k}: {' '.join(v)}" for k, v in exc.errors.items())) \
                    from None
        with database.unit_of_work() as s:
            audit.record(s, "cli", "Kommandozeile", "audit.exported", details={
                "format": fmt, "filters": args, "out": str(out) if out else "-"})
        count = 0
        with database.unit_of_work(write=False) as s:
            rows = audit_history.stream(s, parsed)
            lines = audit_history.csv_lines(rows) if fmt == "csv" else audit_history.jsonl_lines(rows)
            target: IO[str] = sys.stdout
            if out is not None:
                target = out.open("w", encoding="utf-8", newline="")
            try:
                for line in lines:
                    target.write(line)
                    count += 1
            finally:
                if out:
                    target.close()
    click.echo(f"{count - (1 if fmt == 'csv' else 0)} Ereignisse exportiert.", err=True)


@main.group("token")
def token_group() -> None:
    """Persönliche API-Tokens (Bearer) anlegen, auflisten, widerrufen."""


#: The command line acts as the administration (audited as "cli").
_CLI_ACTOR = Actor(0, "cli", "Kommandozeile", frozenset({(ROLE_ADMIN, None)}))


def _account_id(s: Session, username: str) -> int:
    account = s.exec(select(Account).where(Account.username == username)).first()
    if account is None or account.id is None:
        raise click.ClickException(f"Kein Konto {username!r}.")
    return account.id


@token_group.command("create")
@click.argument("username")
@click.option("--scope", "scopes", multiple=True, required=True, type=click.Choice(list(tokens.SCOPES)),
              help="Bereich (mehrfach möglich).")
@click.option("--name", default="Kommandozeile", show_default=True, help="Wofür der Token ist.")
@click.option("--expires", default="90d", show_default=True,
              help="Gültigkeit in Tagen, z. B. 90d; 0: unbegrenzt.")
def token_create(username: str, scopes: tuple[str, ...], name: str, expires: str) -> None:
    """Einen Token für USERNAME anlegen; er wird nur dieses eine Mal ausgegeben (als letztes Wort)."""
    now = utcnow()
    with _database() as database, database.unit_of_work() as s:
        try:
            created = tokens.create(s, _CLI_ACTOR, _account_id(s, username), name, scopes,
                                    tokens.parse_expiry(expires, now), now=now)
        except EngineError as exc:
            raise click.ClickException(" ".join([exc.message, *[" ".join(v) for v in exc.errors.values()]])) \
                from None
    expiry = created.token.expires
    until = f"bis {expiry.astimezone(TIMEZONE):%d.%m.%Y}" if expiry else "unbegrenzt"
    click.echo(f"Token {created.token.id} für {username} ({' '.join(created.token.scope_list)}; {until}), "
               f"nur jetzt sichtbar: {created.plain}")


@token_group.command("list")
@click.argument("username")
def token_list(username: str) -> None:
    """Die Tokens von USERNAME (Id, Präfix, Name, Bereiche, Ablauf, letzte Nutzung, Status)."""
    now = utcnow()
    with _database() as database, database.unit_of_work(write=False) as s:
        rows = tokens.list_for(s, _account_id(s, username))
    for t in rows:
        status = "widerrufen" if t.revoked else ("abgelaufen" if not tokens.is_valid(t, now) else "gültig")
        expires = f"{t.expires.astimezone(TIMEZONE):%d.%m.%Y}" if t.expires else "unbegrenzt"
        used = f"{t.last_used.astimezone(TIMEZONE):%d.%m.%Y %H:%M}" if t.last_used else "nie"
        click.echo(f"{t.id}\t{t.prefix}…\t{t.name}\t{t.scopes}\tbis {expires}\tzuletzt {used}\t{status}")
    if not rows:
        click.echo(f"{username} hat keine Tokens.")


@token_group.command("revoke")
@click.argument("token_id", type=click.IntRange(1, MAX_ID))
def token_revoke(token_id: int) -> None:
    """Den Token TOKEN_ID widerrufen (gilt sofort nicht mehr)."""
    with _database() as database, database.unit_of_work() as s:
        try:
            token = tokens.revoke(s, _CLI_ACTOR, token_id)
        except EngineError as exc:
            raise click.ClickException(exc.message) from None
    click.echo(f"Token {token.id} ({token.prefix}…, {token.name}) widerrufen.")


@db.command("app-role")
@click.argument("role")
@click.option("--apply", is_flag=True, help="Gleich ausführen (sonst nur das SQL ausgeben).")
def db_app_role(role: str, apply: bool) -> None:
    """PostgreSQL: die Rechte einer Rolle für die App – alles außer UPDATE/DELETE/TRUNCATE der
    Prozesshistorie (die Rolle muss existieren)."""
    statements = audit.app_role_grants(role)
    if not apply:
        click.echo(";\n".join(statements) + ";")
        return
    with _database() as database:
        if database.engine.dialect.name != "postgresql":
            raise click.ClickException("Nur für PostgreSQL: SQLite kennt keine Rollen.")
        with database.engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    click.echo(f"Rechte für {role} gesetzt.")


def _moment(value: str | None) -> datetime:
    """``--now``: an ISO date-time; without an offset it is Europe/Berlin (said in --help)."""
    if value is None:
        return utcnow()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} ist kein ISO-Zeitpunkt (z. B. 2026-12-01T09:00+01:00)",
                                 param_hint="--now") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=TIMEZONE)


@main.group("search")
def search_group() -> None:
    """Volltextsuche der öffentlichen Vorlagen und ihrer Anlagen."""


@search_group.command("update")
@click.option("--seconds", type=click.FloatRange(1, 86_400), default=600.0, show_default=True,
              help="Höchstens so lange arbeiten (was bleibt, holt der nächste Lauf nach).")
def search_update(seconds: float) -> None:
    """Text ungelesener Anlagen lesen und fehlende oder veraltete Vorlagen indexieren
    (was der Scheduler-Job „search“ laufend tut)."""
    with _database() as database:
        files = FileStore(database.settings.files_path)
        click.echo(search.catch_up(database, files, seconds=seconds).summary())


@search_group.command("rebuild")
def search_rebuild() -> None:
    """Den Index aller veröffentlichten Vorlagen neu aufbauen."""
    with _database() as database:
        click.echo(f"{search.rebuild(database)} Vorlagen indexiert.")


@main.command()
@click.option("--once", is_flag=True,
              help="Einmal alles Fällige auslösen, die E-Mails zustellen und beenden (für cron und Tests).")
@click.option("--now", "now_value", metavar="ISO-ZEITPUNKT",
              help="Mit --once: als ob es dieser Zeitpunkt wäre (ohne Offset: Europe/Berlin).")
def scheduler(once: bool, now_value: str | None) -> None:
    """Erinnerungen, Zeitgeber und E-Mail-Versand (APScheduler; genau ein aktiver Prozess)."""
    from notifications.scheduler import run_scheduler
    from notifications.sweep import run_once

    if now_value is not None and not once:
        raise click.UsageError("--now gilt nur zusammen mit --once.")
    moment = _moment(now_value)
    configure_logging()
    if not os.environ.get("RATSFLOW_BASE_URL", "").strip():
        click.secho(f"Warnung: RATSFLOW_BASE_URL ist nicht gesetzt: Links in E-Mails und Kalendern führen "
                    f"auf {DEFAULT_BASE_URL}.", err=True, fg="yellow")
    with _database() as database:
        if once:
            # Needs no leader lock: every row it fires or sends is claimed first, so it may
            # run beside a leading scheduler (an operator's catch-up) without doubling anything.
            click.echo(run_once(database, moment).summary())
            click.echo(search.catch_up(database, FileStore(database.settings.files_path)).summary())
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        run_scheduler(database, stop, on_lead=lambda: click.echo("Scheduler aktiv.", err=True))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--demo", "with_demo", is_flag=True, help="Demodaten laden, falls noch nicht da.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Mit gunicorn in N Web-Prozessen (web/gunicorn_conf.py); ab 2 nur mit PostgreSQL "
                   "und gemeinsamen Zählern (RATSFLOW_RATELIMIT_STORAGE=redis://…). Der Scheduler "
                   "läuft dann als eigener Prozess daneben. Ohne: ein Prozess (eingebauter Server).")
def serve(host: str, port: int, with_demo: bool, workers: int | None) -> None:
    """Web-App starten (mit Scheduler im selben Prozess, wenn RATSFLOW_SCHEDULER=true)."""
    configure_logging()
    _base_url_for(host, port)
    if workers is not None:
        _serve_gunicorn(host, port, with_demo, workers)
        return
    from notifications.scheduler import start_scheduler
    from web import create_app

    settings = load_settings()
    app = create_app(settings, upgrade=True)  # the embedded default: one process, it migrates
    database = app.extensions["ratsflow.db"]
    with database.unit_of_work() as s:
        procedures.deploy_bundled(s)
    if with_demo:
        _demo(database)
    scheduler = start_scheduler(database) if settings.scheduler_in_process else None
    click.echo(f"ratsflow läuft auf http://{host}:{port}/")
    try:
        app.run(host=host, port=port, use_reloader=False, threaded=True)
    finally:
        if scheduler is not None:
            scheduler.stop()


#: Libraries whose INFO lines are chatter in an operator's console (every task state of
#: SpiffWorkflow, every job run of APScheduler): shown from ``RATSFLOW_LOG_LEVEL=DEBUG`` on.
CHATTY = ("spiff", "apscheduler")


def configure_logging() -> None:
    """One line per sweep at INFO (``RATSFLOW_LOG_LEVEL``, default INFO); the engine's and
    the scheduler library's chatter only at DEBUG."""
    name = os.environ.get("RATSFLOW_LOG_LEVEL", "INFO").strip().upper() or "INFO"
    level = logging.getLevelName(name)
    if not isinstance(level, int):
        raise click.ClickException(f"RATSFLOW_LOG_LEVEL={name!r}: DEBUG, INFO, WARNING oder ERROR erwartet.")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in CHATTY:
        logging.getLogger(chatty).setLevel(logging.DEBUG if level <= logging.DEBUG else logging.WARNING)


def _base_url_for(host: str, port: int) -> None:
    """Links in mails and calendars lead where this server answers: without
    ``RATSFLOW_BASE_URL``, the address served (set in the environment, so the web workers and
    the scheduler process started from here take it too); with one that cannot reach this
    server, a warning at start-up."""
    given = os.environ.get("RATSFLOW_BASE_URL", "").strip()
    if not given:
        os.environ["RATSFLOW_BASE_URL"] = served_base_url(host, port)
        click.echo(f"Links in E-Mails und Kalendern: {os.environ['RATSFLOW_BASE_URL']} "
                   "(RATSFLOW_BASE_URL setzt eine andere Adresse, etwa die eines Proxys)", err=True)
        return
    warning = base_url_warning(given, host, port)
    if warning:
        click.secho(f"Warnung: {warning}", err=True, fg="yellow")


def check_serving(settings: Settings, workers: int) -> None:
    """Refuse what several web workers cannot share: a SQLite file (one writer at a time, on
    one machine) and login counters kept in each process's memory (the lock-out would only
    hold after ``workers`` times the allowed failures). A shared store must answer."""
    if workers < 2:
        return
    if settings.is_sqlite:
        raise click.ClickException(
            f"--workers {workers}: mehrere Web-Prozesse nur mit PostgreSQL (DATABASE_URL=postgresql://…). "
            "Mit SQLite: ratsflow serve ohne --workers oder mit --workers 1.")
    storage = settings.ratelimit_storage
    if storage.startswith("memory://"):
        raise click.ClickException(
            f"--workers {workers}: die Fehlversuche der Anmeldung müssen alle Web-Prozesse gemeinsam "
            "zählen, sonst greift die Sperre erst nach dem Vielfachen. Bitte "
            "RATSFLOW_RATELIMIT_STORAGE=redis://host:6379 setzen.")
    from limits.storage import storage_from_string

    try:
        reachable = storage_from_string(storage).check()
    except Exception as exc:  # an unknown scheme, a missing driver: limits says which
        raise click.ClickException(f"RATSFLOW_RATELIMIT_STORAGE={storage!r} ist nicht nutzbar: {exc}") \
            from None
    if not reachable:
        raise click.ClickException(f"RATSFLOW_RATELIMIT_STORAGE={storage!r} ist nicht erreichbar.")


def _serve_gunicorn(host: str, port: int, with_demo: bool, workers: int) -> None:
    """gunicorn as this process (its arbiter), ``workers`` web processes forked from it, and
    ``ratsflow scheduler`` as a child process while ``RATSFLOW_SCHEDULER`` is true."""
    import subprocess

    from gunicorn.app.base import BaseApplication

    from web import _instance_secret

    try:
        settings = load_settings()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None
    check_serving(settings, workers)
    # Once, here: the workers neither migrate nor deploy, and share the instance's signing
    # key (made here, so two workers never make two).
    sandbox.configure(workers=settings.script_workers, memory_mb=settings.script_memory_mb)
    with Database(settings) as database:
        database.upgrade()
        with database.unit_of_work() as s:
            procedures.deploy_bundled(s)
        if with_demo:
            _demo(database)
    if settings.secret_key is None:
        settings.instance_path.mkdir(parents=True, exist_ok=True)
        _instance_secret(settings.instance_path)

    class Server(BaseApplication):
        def load_config(self) -> None:
            from web import gunicorn_conf

            for key, value in vars(gunicorn_conf).items():
                if key in self.cfg.settings and key != "wsgi_app":
                    self.cfg.set(key, value)
            self.cfg.set("bind", [f"{host}:{port}"])
            self.cfg.set("workers", workers)

        def load(self) -> object:
            from web import create_app

            return create_app(upgrade=False)

    scheduler = None
    if settings.scheduler_in_process:
        # Several web processes and the scheduler's sealer beside them: writers append their
        # audit event with one statement and nothing after the commit (unless set otherwise).
        os.environ.setdefault("RATSFLOW_AUDIT_SEAL", "scheduler")
        scheduler = subprocess.Popen([sys.executable, "-m", "web.cli", "scheduler"])
    click.echo(f"ratsflow läuft auf http://{host}:{port}/ mit {workers} Web-Prozess(en) (gunicorn)"
               + (f", Scheduler als Prozess {scheduler.pid}" if scheduler else ""))
    try:
        Server().run()
    finally:
        if scheduler is not None:
            scheduler.terminate()
            scheduler.wait(30)


if __name__ == "__main__":
    main()
