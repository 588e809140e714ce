"""The process history as auditors read it: search by Vorlage, Gremium, Sitzung, person,
event type and period, in a stable order (newest first, by sequence number); each event in
German words; exports as CSV (German Excel: ``;``, UTF-8 with BOM, 08.11.2024 14:30) and
JSON Lines, streamed in keyset batches (a million rows in constant memory).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, union
from sqlmodel import Session, col, select

from engine.audit import AuditEvent
from engine.calendar.reminders import KIND_NAMES
from engine.council import RESULTS, AgendaItem, Consultation, Meeting, Organization, Paper
from engine.errors import Invalid
from engine.process.effects import EFFECT_NAMES
from engine.settings import TIMEZONE
from engine.types import ascii_int
from engine.workflow.models import ProcessInstance

#: What an event type is called in the auditor's view.
ACTIONS: dict[str, str] = {
    "paper.created": "Vorlage angelegt",
    "procedure.started": "Ablauf gestartet",
    "task.claimed": "Aufgabe übernommen",
    "task.unclaimed": "Aufgabe freigegeben",
    "task.assigned": "Aufgabe zugewiesen",
    "task.delegated": "Aufgabe delegiert",
    "task.resolved": "Delegation erledigt",
    "task.commented": "Kommentar",
    "task.follow_up": "Wiedervorlage gesetzt",
    "task.completed": "Aufgabe erledigt",
    "task.refused": "Versuch abgelehnt",
    "workflow.event": "Ereignis im Ablauf",
    "workflow.incident": "Störung im Ablauf",
    "workflow.resumed": "Ablauf fortgesetzt",
    "workflow.migrated": "Vorgang auf andere Modellversion umgestellt",
    "meeting.created": "Sitzung angelegt",
    "meeting.moved": "Sitzung verlegt",
    "meeting.cancelled": "Sitzung abgesagt",
    "meeting.invitation_sent": "Einladung versandt",
    "meeting.invitation_overdue": "Ladungsfrist versäumt",
    "agenda.changed": "Tagesordnung geändert",
    "agenda_item.result_released": "Ergebnis freigegeben",
    "model.deployed": "Prozessmodell bereitgestellt",
    "deadline_rules.changed": "Fristen geändert",
    "body.state_changed": "Bundesland geändert",
    "reminder_rules.changed": "Erinnerungsregeln geändert",
    "organization.created": "Gremium angelegt",
    "organization.changed": "Gremium geändert",
    "person.created": "Person angelegt",
    "person.changed": "Person geändert",
    "membership.created": "Mitgliedschaft eingetragen",
    "membership.ended": "Mitgliedschaft beendet",
    "outbox.retried": "E-Mail erneut gesendet",
    "audit.finding": "Befund der Prüfung",
    "audit.exported": "Historie exportiert",
    "reminders.sent": "Erinnerungen versandt",
    "reminders.unsubscribed": "Erinnerung abbestellt",
    "login.succeeded": "Anmeldung",
    "login.failed": "Anmeldung fehlgeschlagen",
    "login.ended_everywhere": "Überall abgemeldet",
    "account.created": "Konto angelegt",
    "account.changed": "Konto geändert",
    "account.disabled": "Konto deaktiviert",
    "account.enabled": "Konto aktiviert",
    "account.password_set": "Passwort neu gesetzt",
    "account.password_changed": "Eigenes Passwort geändert",
    "grant.added": "Rolle vergeben",
    "grant.removed": "Rolle entzogen",
    "account.grants_changed": "Rechte vom Anmeldedienst übernommen",
}

#: Form values by their field names, as the Beratungsfolge's and the session's forms ask them.
_FIELDS = {"meeting_id": "Sitzung", "top_nummer": "TOP", "oeffentlich": "öffentlich", "ergebnis": "Ergebnis",
           "beschlusstext": "Beschlusstext", "ja": "Ja", "nein": "Nein", "enthaltungen": "Enthaltungen",
           "reason": "Begründung", "anmerkung": "Anmerkung"}


def _value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "ja" if value else "nein"
    if key == "ergebnis":
        return RESULTS.get(str(value), str(value))
    return str(value)


def _when(iso: Any) -> str:
    """An instant of the details (ISO 8601) as a reader writes it: 04.12.2024 17:00."""
    try:
        return f"{datetime.fromisoformat(str(iso)).astimezone(TIMEZONE):%d.%m.%Y %H:%M}"
    except ValueError:
        return str(iso)


def _session_of(event: AuditEvent, d: dict[str, Any]) -> str:
    """The Sitzung an event is about, by its SI number (older events: by its number)."""
    if d.get("reference"):
        return str(d["reference"])
    meeting_id = event.meeting_id or d.get("meeting_id")
    return f"Sitzung Nr. {meeting_id}" if meeting_id else ""


def _describe_meeting(event: AuditEvent, d: dict[str, Any]) -> list[str]:
    """meeting.*: which Sitzung, of which Gremium, when (a move: before → after), why."""
    parts = [_session_of(event, d), str(d.get("gremium") or "")]
    if event.action == "meeting.moved":
        old, new = d.get("old") or {}, d.get("new") or {}
        parts.append(f"{_when(old.get('start'))} → {_when(new.get('start'))}")
        if old.get("location") != new.get("location"):
            parts.append(f"Ort: {old.get('location') or '–'} → {new.get('location') or '–'}")
    elif d.get("start"):
        parts.append(_when(d["start"]))
    if event.action == "meeting.created" and d.get("name"):
        parts.append(str(d["name"]))
    if event.action == "meeting.invitation_sent":
        parts.append(f"an {d.get('members', 0)} Mitglieder")
        if d.get("late"):
            parts.append("nach der Ladungsfrist")
    if d.get("reason"):
        parts.append(f"Grund: {d['reason']}")
    if d.get("members_told"):
        parts.append(f"{d['members_told']} Mitglieder benachrichtigt")
    return parts


def describe(event: AuditEvent) -> str:
    """The event's details in German words (never raw JSON)."""
    d = event.details or {}
    parts: list[str] = []
    if event.action.startswith("meeting."):
        parts = _describe_meeting(event, d)
    elif event.action == "task.completed":
        parts.append(f"„{d.get('title', d.get('task', ''))}“")
        if d.get("gremium"):
            parts.append(str(d["gremium"]))
        if d.get("sitzung"):
            parts.append(f"Sitzung {d['sitzung']}")
        values = d.get("values") or {}
        shown = [f"{_FIELDS.get(k, k)}: {_value(k, v)}" for k, v in values.items()
                 if k != "meeting_id" and v not in (None, "")]
        if shown:
            parts.append("; ".join(shown))
        if d.get("next"):
            parts.append("weiter: " + ", ".join(d["next"]))
        if d.get("finished"):
            parts.append("Ablauf abgeschlossen")
    elif event.action == "procedure.started":
        parts.append(f"Modell {d.get('model')} Version {d.get('model_version')}")
        if d.get("beratungsfolge"):
            parts.append("Beratungsfolge: " + ", ".join(d["beratungsfolge"]))
        if d.get("gremium"):
            parts.append(str(d["gremium"]))
    elif event.action == "workflow.migrated":
        parts.append(f"Modell {d.get('model')}: Version {d.get('from_version')} → {d.get('to_version')}")
        if d.get("keeps"):
            parts.append("unverändert: " + ", ".join(d["keeps"]))
        if d.get("changed"):
            parts.append("geändert: " + ", ".join(d["changed"]))
    elif event.action == "task.refused":
        parts.append(f"{d.get('status')} {d.get('why', '')}".strip())
        if d.get("task_title"):
            parts.append(f"„{d['task_title']}“")
    elif event.action == "reminders.unsubscribed":
        parts.append(f"{d.get('name')}: Sitzungserinnerung {d.get('lead')} vorher, keine E-Mail mehr")
        parts.append(str(d.get("via", "")))
    elif event.action == "reminders.sent":
        kind = str(d.get("kind"))
        parts.append(f"{d.get('count')} × {KIND_NAMES.get(kind, kind)}")
        parts.append(_session_of(event, d))
    elif event.action.startswith(("account.", "grant.")):
        if d.get("provider"):  # created or mapped at a login through an OpenID provider
            parts.append(f"OpenID Connect ({d['provider']})")
        else:
            parts.append(f"Konto {d.get('username')}")
        if d.get("grant"):
            parts.append(f"Rolle: {d['grant']}")
        if d.get("name"):
            parts.append(f"Name: {d['name']}")
        for key, change in (d.get("changes") or {}).items():
            old, new = (_value(key, v) if v not in (None, "") else "–" for v in (change.get("old"),
                                                                                  change.get("new")))
            parts.append(f"{_ACCOUNT_FIELDS.get(key, key)}: {old} → {new}")
        if "old" in d and "new" in d:
            parts.append(f"Rollen: {', '.join(d['old']) or 'keine'} → {', '.join(d['new']) or 'keine'}")
        if d.get("ignored"):
            parts.append("ohne Zuordnung: " + ", ".join(d["ignored"]))
        if d.get("sessions"):
            parts.append(f"beendete Anmeldungen: {d['sessions']}")
    elif event.action == "agenda.changed":
        parts.append(_session_of(event, d))
        parts.append(str(d.get("change", "")))
        parts.append("neu: " + ", ".join(d.get("after", [])))
    else:
        for key in ("title", "gremium", "name", "reason", "problem", "note", "text", "to", "user",
                    "incident", "event", "effect", "file", "version", "address"):
            if d.get(key) not in (None, "", []):
                value = EFFECT_NAMES.get(str(d[key]), d[key]) if key == "effect" else d[key]
                parts.append(f"{key if key not in _NAMES else _NAMES[key]}: {value}")
        for key, change in (d.get("changes") or {}).items():
            parts.append(f"{key}: {change.get('old')} → {change.get('new')}")
    if d.get("reason") and event.action in ("task.completed", "agenda.changed"):
        parts.append(f"Begründung: {d['reason']}")
    return " · ".join(p for p in parts if p)


_ACCOUNT_FIELDS = {"display_name": "Name", "email": "E-Mail", "person_id": "Person (Nr.)", "active": "aktiv"}

_NAMES = {"title": "Aufgabe", "gremium": "Gremium", "name": "Name", "reason": "Grund", "problem": "Befund",
          "note": "Hinweis", "text": "Text", "to": "an", "user": "an", "incident": "Störung",
          "event": "Element", "effect": "Wirkung", "file": "Datei", "version": "Version", "address": "von"}


# ----------------------------------------------------------------------------- search

@dataclass(frozen=True)
class Filters:
    paper_id: int | None = None
    organization_id: int | None = None
    meeting_id: int | None = None
    actor: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None


def _day(value: str | None, field: str, errors: dict[str, list[str]]) -> date | None:
    if not value:
        return None
    try:
        return datetime.strptime(value.strip(), "%d.%m.%Y").date()
    except ValueError:
        errors[field] = ["Datum bitte als TT.MM.JJJJ."]
        return None


def _id(value: str | None, field: str, errors: dict[str, list[str]]) -> int | None:
    if not value:
        return None
    number = ascii_int(value)
    if number is None or not 0 < number < 2**31:
        errors[field] = ["Unbekannter Eintrag."]
        return None
    return number


def parse_filters(session: Session, args: dict[str, str]) -> Filters:
    """The search form's and the export command's filters; a wrong one is named."""
    errors: dict[str, list[str]] = {}
    paper_id = None
    if args.get("vorlage"):
        ref = args["vorlage"].strip()
        paper_id = _id(ref, "vorlage", errors) if ref.isascii() and ref.isdigit() \
            else session.exec(select(Paper.id).where(Paper.reference == ref)).first()
        if paper_id is None and "vorlage" not in errors:
            errors["vorlage"] = [f"Keine Vorlage {ref}."]
    organization_id = _id(args.get("gremium"), "gremium", errors)
    meeting_id = None
    if args.get("sitzung"):
        ref = args["sitzung"].strip()
        meeting_id = _id(ref, "sitzung", errors) if ref.isascii() and ref.isdigit() else \
            session.exec(select(Meeting.id).where(Meeting.reference == ref)).first()
        if meeting_id is None and "sitzung" not in errors:
            errors["sitzung"] = [f"Keine Sitzung {ref}."]
    action = (args.get("ereignis") or "").strip() or None
    if action is not None and action not in ACTIONS:
        errors["ereignis"] = ["Bitte eine der angebotenen Ereignisarten wählen."]
    actor = (args.get("person") or "").strip() or None
    if actor is not None and (len(actor) > 100 or any(ord(c) < 32 for c in actor)):
        errors["person"] = ["Ungültiger Benutzername."]
    since, until = _day(args.get("von"), "von", errors), _day(args.get("bis"), "bis", errors)
    if since and until and until < since:
        errors["bis"] = ["Das Ende liegt vor dem Beginn."]
    if errors:
        raise Invalid("Filter bitte prüfen.", errors)
    return Filters(paper_id, organization_id, meeting_id, actor, action, since, until)


def sessions_of_paper(paper_id: int) -> Any:
    """The Sitzungen a Vorlage was or is on: its TOPs' (a postponed one's too) and its
    Beratungen's planned ones."""
    on_agenda = select(col(AgendaItem.meeting_id)) \
        .join(Consultation, col(Consultation.id) == AgendaItem.consultation_id) \
        .where(Consultation.paper_id == paper_id)
    planned = select(col(Consultation.meeting_id)).where(Consultation.paper_id == paper_id,
                                                         col(Consultation.meeting_id).is_not(None))
    return union(on_agenda, planned)


def of_paper(paper_id: int) -> Any:
    """A Vorlage's history: its own events, and every event about one of its Sitzungen that
    is not another Vorlage's (moved, cancelled, invited, its agenda, the session's steps)."""
    meetings = sessions_of_paper(paper_id).subquery("sitzungen")
    meeting_ids = select(meetings.c[0])
    instances = select(col(ProcessInstance.id)).where(col(ProcessInstance.meeting_id).in_(meeting_ids))
    return or_(col(AuditEvent.paper_id) == paper_id,
               and_(col(AuditEvent.paper_id).is_(None),
                    or_(col(AuditEvent.meeting_id).in_(meeting_ids),
                        col(AuditEvent.process_instance_id).in_(instances))))


def of_meeting(meeting_id: int) -> Any:
    """A Sitzung's events, exactly: those naming it, and those of its session process (events
    written before migration 0016 name it through their process only)."""
    instances = select(col(ProcessInstance.id)).where(ProcessInstance.meeting_id == meeting_id)
    return or_(col(AuditEvent.meeting_id) == meeting_id, col(AuditEvent.process_instance_id).in_(instances))


def paper_history(session: Session, paper_id: int) -> list[AuditEvent]:
    """A Vorlage's history in chain order (:func:`of_paper`): its timeline."""
    return list(session.exec(select(AuditEvent).where(of_paper(paper_id)).order_by(col(AuditEvent.seq))))


def _where(filters: Filters) -> list[Any]:
    where: list[Any] = []
    if filters.paper_id is not None:
        where.append(of_paper(filters.paper_id))
    if filters.organization_id is not None:
        papers = select(Consultation.paper_id).where(Consultation.organization_id == filters.organization_id)
        sessions = select(col(Meeting.id)).where(Meeting.organization_id == filters.organization_id)
        instances = select(ProcessInstance.id).where(col(ProcessInstance.meeting_id).in_(sessions))
        where.append(or_(col(AuditEvent.paper_id).in_(papers), col(AuditEvent.meeting_id).in_(sessions),
                         col(AuditEvent.process_instance_id).in_(instances)))
    if filters.meeting_id is not None:
        where.append(of_meeting(filters.meeting_id))
    if filters.actor is not None:
        where.append(AuditEvent.actor == filters.actor)
    if filters.action is not None:
        where.append(AuditEvent.action == filters.action)
    if filters.since is not None:
        where.append(col(AuditEvent.at) >= datetime.combine(filters.since, time(0), TIMEZONE))
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(0), TIMEZONE)
        where.append(col(AuditEvent.at) < end)
    return where


def _with_reference(query: Any) -> Any:
    return query.join(Paper, col(Paper.id) == AuditEvent.paper_id, isouter=True)


def _query(session: Session, filters: Filters) -> Any:
    return _with_reference(select(AuditEvent, Paper.reference)).where(*_where(filters))


def page_query(session: Session, filters: Filters, before: int | None, limit: int) -> Any:
    """The query of one page of :func:`search` (``limit + 1`` rows: one more tells a next page).

    With a period, the period's events are found first (by their time: the indexes on
    ``(action, at, seq)`` and ``(at, seq)`` hold the number too) and the newest of them taken
    after: asked for the newest first directly, the planner walks the sequence numbers
    backwards, counting on the period to lie near the end (at 1M events, a month in the
    middle cost 130–430 ms; this way 15–30 ms, docs/architecture.md "Audit chain")."""
    where = _where(filters)
    if before is not None:
        where.append(col(AuditEvent.seq) < before)
    if filters.since is None and filters.until is None:
        return _with_reference(select(AuditEvent, Paper.reference)).where(*where) \
            .order_by(col(AuditEvent.seq).desc()).limit(limit + 1)
    # OFFSET 0 keeps the planner from folding the period's hits into the ordered query (a
    # fence, like a MATERIALIZED CTE, whose tuple store cost a third more at 1M events).
    hits = select(col(AuditEvent.seq)).where(*where).offset(0).subquery("hits")
    newest = select(hits.c.seq).order_by(hits.c.seq.desc()).limit(limit + 1)
    return _with_reference(select(AuditEvent, Paper.reference)).where(col(AuditEvent.seq).in_(newest)) \
        .order_by(col(AuditEvent.seq).desc())


def search(session: Session, filters: Filters, before: int | None = None,
           limit: int = 50) -> tuple[list[tuple[AuditEvent, str | None]], int | None]:
    """One page, newest first; and the sequence number to continue before (None: last page)."""
    rows = list(session.exec(page_query(session, filters, before, limit)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return [(e, ref) for e, ref in rows], (rows[-1][0].seq if more and rows else None)


def stream(session: Session, filters: Filters, batch: int = 2000) -> Iterator[tuple[AuditEvent, str | None]]:
    """Every matching event in chain order, in keyset batches (each batch let go before the next)."""
    after = 0
    query = _query(session, filters)
    while True:
        rows = list(session.exec(query.where(col(AuditEvent.seq) > after)
                                 .order_by(col(AuditEvent.seq)).limit(batch)).all())
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1][0].seq
        session.expunge_all()


# ----------------------------------------------------------------------------- export

CSV_HEADER = ["Nr.", "Zeitpunkt", "Benutzer", "Name", "Ereignis", "Art", "Vorlage", "Vorgang", "Beschreibung",
              "Einzelheiten (JSON)", "Hash"]


def _at(event: AuditEvent) -> str:
    return f"{event.at.astimezone(TIMEZONE):%d.%m.%Y %H:%M}"


#: What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: str | int | None) -> str | int:
    """``value`` as a CSV cell a spreadsheet shows and never computes: text that starts with
    ``= + - @``, a tab or a carriage return gets a leading ``'`` (OWASP's advice; the value
    stays readable, the ``'`` says it was text). Numbers are the export's own (Nr., Vorgang)
    and stay numbers, a negative one too; text that looks like a number ("-2") is text a
    user typed and is prefixed like any other."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_lines(rows: Iterator[tuple[AuditEvent, str | None]]) -> Iterator[str]:
    """German Excel: UTF-8 with BOM, ``;``, dates as 08.11.2024 14:30 (Europe/Berlin); no
    cell a spreadsheet would compute (:func:`spreadsheet_cell`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    yield "\ufeff" + buffer.getvalue()
    for event, ref in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([spreadsheet_cell(cell) for cell in (
            event.seq, _at(event), event.actor, event.actor_name, ACTIONS.get(event.action, event.action),
            event.action, ref, event.process_instance_id, describe(event),
            json.dumps(event.details, ensure_ascii=False, sort_keys=True, default=str), event.hash)])
        yield buffer.getvalue()


def jsonl_lines(rows: Iterator[tuple[AuditEvent, str | None]]) -> Iterator[str]:
    for event, ref in rows:
        yield json.dumps({
            "seq": event.seq, "at": event.at.isoformat(), "actor": event.actor,
            "actor_name": event.actor_name,
            "action": event.action, "paper": ref, "paper_id": event.paper_id,
            "process_instance_id": event.process_instance_id, "description": describe(event),
            "details": event.details, "prev_hash": event.prev_hash, "hash": event.hash,
        }, ensure_ascii=False, sort_keys=True, default=str) + "\n"


def gremien(session: Session) -> list[Organization]:
    return list(session.exec(select(Organization).where(Organization.organization_type == "Gremium")
                             .order_by(col(Organization.name))))
