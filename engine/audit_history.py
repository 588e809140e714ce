"""The process history as auditors read it: search by Vorlage, Gremium, Sitzung, person,
event type and period, in a stable order (newest first, by sequence number); each event in
words (German, or translated by the page: :class:`engine.words.Translate`), a Sitzung by its
SI number, a model and an element by their names, never a code; exports as CSV (German
Excel: ``;``, UTF-8 with BOM, 08.11.2024 14:30) and JSON Lines, streamed in keyset batches
(a million rows in constant memory).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, or_, union
from sqlmodel import Session, col, select

from engine.attendance import VOTE_MODES
from engine.audit import AuditEvent
from engine.calendar.reminders import KIND_NAMES
from engine.council import RESULTS, AgendaItem, Consultation, Meeting, Organization, Paper
from engine.errors import Invalid
from engine.process.effects import EFFECT_NAMES
from engine.settings import TIMEZONE
from engine.types import ascii_int
from engine.words import N_, Translate, german
from engine.workflow.models import ProcessInstance, ProcessModel

#: What an event type is called in the auditor's view.
ACTIONS: dict[str, str] = {
    "paper.created": N_("Vorlage angelegt"),
    "procedure.started": N_("Ablauf gestartet"),
    "task.claimed": N_("Aufgabe übernommen"),
    "task.unclaimed": N_("Aufgabe freigegeben"),
    "task.assigned": N_("Aufgabe zugewiesen"),
    "task.delegated": N_("Aufgabe delegiert"),
    "task.resolved": N_("Delegation erledigt"),
    "task.commented": N_("Kommentar"),
    "task.follow_up": N_("Wiedervorlage gesetzt"),
    "task.completed": N_("Aufgabe erledigt"),
    "standin.named": N_("Vertretung eingetragen"),
    "standin.ended": N_("Vertretung beendet"),
    "task.refused": N_("Versuch abgelehnt"),
    "workflow.event": N_("Ereignis im Ablauf"),
    "workflow.incident": N_("Störung im Ablauf"),
    "workflow.resumed": N_("Ablauf fortgesetzt"),
    "workflow.migrated": N_("Vorgang auf andere Modellversion umgestellt"),
    "meeting.created": N_("Sitzung angelegt"),
    "meeting.moved": N_("Sitzung verlegt"),
    "meeting.cancelled": N_("Sitzung abgesagt"),
    "meeting.invitation_sent": N_("Einladung versandt"),
    "meeting.invitation_overdue": N_("Ladungsfrist versäumt"),
    "agenda.changed": N_("Tagesordnung geändert"),
    "agenda.supplement_sent": N_("Nachtrag zur Tagesordnung versandt"),
    "agenda_item.result_released": N_("Ergebnis freigegeben"),
    "attendance.recorded": N_("Anwesenheit erfasst"),
    "attendance.apologised": N_("Entschuldigung"),
    "attendance.apology_withdrawn": N_("Entschuldigung zurückgenommen"),
    "bias.declared": N_("Befangenheit erklärt"),
    "bias.withdrawn": N_("Befangenheit zurückgenommen"),
    "roll_call.recorded": N_("Namentliche Abstimmung erfasst"),
    "agenda_item.repeat_call": N_("Erneute Einberufung vermerkt (§ 49 Abs. 2 GO NRW)"),
    "minutes.saved": N_("Niederschrift bearbeitet"),
    "minutes.corrected": N_("Niederschrift berichtigt (neue Version)"),
    "allowance.changed": N_("Sitzungsgeld festgesetzt"),
    "allowance.exported": N_("Sitzungsgeld exportiert"),
    "model.deployed": N_("Prozessmodell bereitgestellt"),
    "deadline_rules.changed": N_("Fristen geändert"),
    "body.state_changed": N_("Bundesland geändert"),
    "reminder_rules.changed": N_("Erinnerungsregeln geändert"),
    "organization.created": N_("Gremium angelegt"),
    "organization.changed": N_("Gremium geändert"),
    "person.created": N_("Person angelegt"),
    "person.changed": N_("Person geändert"),
    "membership.created": N_("Mitgliedschaft eingetragen"),
    "membership.ended": N_("Mitgliedschaft beendet"),
    "outbox.retried": N_("E-Mail erneut gesendet"),
    "audit.finding": N_("Befund der Prüfung"),
    "audit.exported": N_("Historie exportiert"),
    "reminders.sent": N_("Erinnerungen versandt"),
    "reminders.unsubscribed": N_("Erinnerung abbestellt"),
    "login.succeeded": N_("Anmeldung"),
    "login.failed": N_("Anmeldung fehlgeschlagen"),
    "login.ended_everywhere": N_("Überall abgemeldet"),
    "account.created": N_("Konto angelegt"),
    "account.changed": N_("Konto geändert"),
    "account.disabled": N_("Konto deaktiviert"),
    "account.enabled": N_("Konto aktiviert"),
    "account.password_set": N_("Passwort neu gesetzt"),
    "account.password_changed": N_("Eigenes Passwort geändert"),
    "grant.added": N_("Rolle vergeben"),
    "grant.removed": N_("Rolle entzogen"),
    "account.grants_changed": N_("Rechte vom Anmeldedienst übernommen"),
}

#: Values by their field names: the Beratungsfolge's and the session's forms, and what the
#: Verwaltung changes on a Gremium, a person, a membership, an account.
_FIELDS = {"meeting_id": N_("Sitzung"), "top_nummer": N_("TOP"), "oeffentlich": N_("öffentlich"),
           "ergebnis": N_("Ergebnis"), "beschlusstext": N_("Beschlusstext"), "ja": N_("Ja"),
           "nein": N_("Nein"),
           "enthaltungen": N_("Enthaltungen"), "reason": N_("Begründung"), "anmerkung": N_("Anmerkung"),
           "name": N_("Name"), "short_name": N_("Kurzname"), "classification": N_("Art"),
           "name_genitive": N_("Name im Genitiv"), "family_name": N_("Nachname"), "given_name": N_("Vorname"),
           "form_of_address": N_("Anrede"), "email": N_("E-Mail"), "end_date": N_("Ende"),
           "start_date": N_("Beginn"), "role": N_("Rolle"), "voting_right": N_("Stimmrecht"),
           "display_name": N_("Name"), "person_id": N_("Person (Nr.)"), "active": N_("aktiv"),
           "abstimmung": N_("Abstimmung"), "repeat_call": N_("erneut einberufen (§ 49 Abs. 2 GO NRW)"),
           "weg": N_("Wie entschieden wird"), "begruendung": N_("Begründung"),
           "entschieden_am": N_("Entschieden am"), "entscheidung": N_("Entscheidung"),
           "genehmigung": N_("Genehmigung")}
#: Form values a completion's event names otherwise (person ids: by name, from the effect).
_SHOWN_ELSEWHERE = {"meeting_id", "hauptverwaltungsbeamter", "mitglied"}
#: The ways a Beratung is decided (the agenda step's ``weg``).
_WAYS = {"sitzung": N_("in der Sitzung"),
         "dringlichkeitsentscheidung": N_("Dringlichkeitsentscheidung, Genehmigung in der Sitzung")}

#: The other details an event may carry, by what they are.
_NAMES = {"title": N_("Aufgabe"), "gremium": N_("Gremium"), "name": N_("Name"), "reason": N_("Grund"),
          "problem": N_("Befund"), "note": N_("Hinweis"), "text": N_("Text"), "to": N_("an"),
          "user": N_("an"),
          "incident": N_("Störung"), "effect": N_("Wirkung"), "file": N_("Datei"), "version": N_("Version"),
          "address": N_("von")}


@dataclass(frozen=True)
class Names:
    """What the descriptions of a page of events name in words: each Sitzung by its SI number
    (a Sitzung without one: its name and day), each Vorgang's model by its name. Read for the
    page's events at once (:func:`names_for`), never one query per event."""

    meetings: dict[int, str] = field(default_factory=dict)
    models: dict[int, str] = field(default_factory=dict)


def _meeting_of(event: AuditEvent) -> int | None:
    found = event.meeting_id or (event.details or {}).get("meeting_id")
    return found if isinstance(found, int) else None


def names_for(session: Session, events: Iterable[AuditEvent]) -> Names:
    """The Sitzungen and models the events name (two queries, by key)."""
    events = list(events)
    meeting_ids = sorted({m for m in map(_meeting_of, events) if m is not None})
    instance_ids = sorted({e.process_instance_id for e in events if e.process_instance_id is not None})
    meetings: dict[int, str] = {}
    if meeting_ids:
        for meeting_id, reference, name, start in session.exec(
                select(Meeting.id, Meeting.reference, Meeting.name, Meeting.start)
                .where(col(Meeting.id).in_(meeting_ids))):
            meetings[meeting_id or 0] = reference or f"{name}, {start.astimezone(TIMEZONE):%d.%m.%Y}"
    models: dict[int, str] = {}
    if instance_ids:
        models = {instance_id or 0: name for instance_id, name in session.exec(
            select(ProcessInstance.id, ProcessModel.name)
            .join(ProcessModel, col(ProcessModel.id) == ProcessInstance.model_id)
            .where(col(ProcessInstance.id).in_(instance_ids)))}
    return Names(meetings, models)


def _value(key: str, value: Any, _: Translate) -> str:
    if isinstance(value, bool):
        return _("ja") if value else _("nein")
    if key in ("ergebnis", "entscheidung", "genehmigung"):
        return _(RESULTS.get(str(value), str(value)))
    if key == "weg":
        return _(_WAYS.get(str(value), str(value)))
    if key == "entschieden_am" and isinstance(value, str):
        try:
            return f"{date.fromisoformat(value):%d.%m.%Y}"
        except ValueError:
            return value
    if key == "abstimmung":
        return _(VOTE_MODES.get(str(value), str(value)))
    if key in ("start_date", "end_date") and isinstance(value, str):
        try:
            return f"{date.fromisoformat(value):%d.%m.%Y}"
        except ValueError:
            return value
    return str(value)


def _iso_day(iso: Any) -> str:
    try:
        return f"{date.fromisoformat(str(iso)):%d.%m.%Y}"
    except ValueError:
        return str(iso)


def _when(iso: Any) -> str:
    """An instant of the details (ISO 8601) as a reader writes it: 04.12.2024 17:00."""
    try:
        return f"{datetime.fromisoformat(str(iso)).astimezone(TIMEZONE):%d.%m.%Y %H:%M}"
    except ValueError:
        return str(iso)


def _session_of(event: AuditEvent, d: dict[str, Any], names: Names, _: Translate) -> str:
    """The Sitzung an event is about, by its SI number."""
    if d.get("reference"):
        return str(d["reference"])
    meeting_id = _meeting_of(event)
    if meeting_id is None:
        return ""
    return names.meetings.get(meeting_id) or _("Sitzung Nr. %(number)s", number=meeting_id)


def _describe_meeting(event: AuditEvent, d: dict[str, Any], names: Names, _: Translate) -> list[str]:
    """meeting.*: which Sitzung, of which Gremium, when (a move: before → after), why."""
    parts = [_session_of(event, d, names, _), str(d.get("gremium") or "")]
    if event.action == "meeting.moved":
        old, new = d.get("old") or {}, d.get("new") or {}
        parts.append(f"{_when(old.get('start'))} → {_when(new.get('start'))}")
        if old.get("location") != new.get("location"):
            parts.append(_("Ort: %(old)s → %(new)s", old=old.get("location") or "–",
                           new=new.get("location") or "–"))
    elif d.get("start"):
        parts.append(_when(d["start"]))
    if event.action == "meeting.created" and d.get("name"):
        parts.append(str(d["name"]))
    if event.action == "meeting.invitation_sent":
        parts.append(_("an %(count)s Mitglieder", count=d.get("members", 0)))
        if d.get("late"):
            parts.append(_("nach der Ladungsfrist"))
    if d.get("reason"):
        parts.append(_("Grund: %(reason)s", reason=d["reason"]))
    if d.get("members_told"):
        parts.append(_("%(count)s Mitglieder benachrichtigt", count=d["members_told"]))
    return parts


def _describe_session_record(event: AuditEvent, d: dict[str, Any], names: Names, _: Translate) -> list[str]:
    """What happened in a Sitzung: attendance, apologies, Befangenheit, roll calls (issue 19)."""
    parts = [_session_of(event, d, names, _)]
    if d.get("top"):
        parts.append(str(d["top"]))
    action = event.action
    if action == "attendance.recorded":
        parts.append(str(d.get("gremium") or ""))
        parts.append("; ".join(f"{c.get('person')}: {c.get('old')} → {c.get('new')}"
                               for c in d.get("changes") or []))
        parts.append(_("zu Beginn %(present)s von %(seats)s stimmberechtigten Mitgliedern anwesend",
                       present=d.get("present"), seats=d.get("seats"))
                     + " (" + (_("beschlussfähig") if d.get("quorate") else _("nicht beschlussfähig")) + ")")
    elif action == "attendance.apologised":
        parts.append(_("%(person)s hat sich entschuldigt", person=d.get("person")))
    elif action == "attendance.apology_withdrawn":
        parts.append(_("%(person)s hat die Entschuldigung zurückgenommen", person=d.get("person")))
    elif action in ("bias.declared", "bias.withdrawn"):
        who = _("selbst erklärt") if d.get("by_member") else _("vom Sekretariat vermerkt")
        parts.append(_("%(person)s befangen (%(who)s)", person=d.get("person"), who=who)
                     if action == "bias.declared" else
                     _("%(person)s nicht mehr befangen", person=d.get("person")))
    elif action == "roll_call.recorded":
        parts.append(_("Ja %(yes)s, Nein %(no)s, Enthaltungen %(abstain)s", yes=d.get("ja"), no=d.get("nein"),
                       abstain=d.get("enthaltungen")))
        parts.append("; ".join(_vote_words(str(v), _) for v in d.get("votes") or []))
    elif action == "agenda_item.repeat_call":
        parts.extend(_changes(d.get("changes") or {}, _))
    elif action.startswith("minutes."):
        parts.append(_("Version %(n)s", n=d.get("version")))
    if d.get("note"):
        parts.append(_labelled(_NAMES["note"], d["note"], _))
    if d.get("reason"):
        parts.append(_("Grund: %(reason)s", reason=d["reason"]))
    return parts


def _vote_words(vote: str, _: Translate) -> str:
    """"Wagner, Thomas: Ja" with the vote in the page's language."""
    name, _sep, cast = vote.rpartition(": ")
    return f"{name}: {_(cast)}" if name else vote


def _describe_allowance(d: dict[str, Any], _: Translate) -> list[str]:
    parts = [str(d.get("gremium") or "")]
    if d.get("month"):
        parts.append(_("Monat %(month)s", month=d["month"]))
        parts.append(_("%(rows)s Sitzungsteilnahmen, zusammen %(total)s €", rows=d.get("rows"),
                       total=d.get("total")))
    else:
        parts.append(_("%(amount)s € je Sitzung ab %(day)s", amount=d.get("amount"), day=d.get("valid_from")))
        if d.get("old"):
            parts.append(_("vorher %(amount)s €", amount=d["old"]))
    return parts


def _labelled(label: str, value: Any, _: Translate) -> str:
    return _("%(label)s: %(value)s", label=_(label), value=value)


def _changes(changes: dict[str, Any], _: Translate) -> list[str]:
    shown = []
    for key, change in changes.items():
        old, new = (_value(key, v, _) if v not in (None, "") else "–"
                    for v in (change.get("old"), change.get("new")))
        shown.append(_labelled(_FIELDS.get(key, key), f"{old} → {new}", _))
    return shown


def describe(event: AuditEvent, _: Translate = german, names: Names | None = None) -> str:
    """The event's details in words (never raw JSON, never a code): German, or in the page's
    language with its ``gettext`` as ``_``; Sitzungen and models named by ``names``."""
    d = event.details or {}
    names = names or Names()
    parts: list[str] = []
    if event.action.startswith("meeting."):
        parts = _describe_meeting(event, d, names, _)
    elif event.action.startswith(("attendance.", "bias.", "roll_call.", "agenda_item.repeat", "minutes.")):
        parts = _describe_session_record(event, d, names, _)
    elif event.action.startswith("allowance."):
        parts = _describe_allowance(d, _)
    elif event.action == "task.completed":
        deputy = d.get("in_vertretung_fuer")
        if isinstance(deputy, dict):
            parts.append(_("erledigt von %(actor)s in Vertretung für %(absent)s", actor=event.actor_name,
                           absent=deputy.get("name") or deputy.get("username")))
        parts.append(f"„{d.get('title', d.get('task', ''))}“")
        if d.get("hauptverwaltungsbeamter") and d.get("mitglied"):
            parts.append(_("entschieden von %(head)s und %(member)s (§ 60 Abs. 1 GO NRW)",
                           head=d["hauptverwaltungsbeamter"], member=d["mitglied"]))
        if d.get("bedeutung"):
            parts.append(_(str(d["bedeutung"])))
        if d.get("gremium"):
            parts.append(str(d["gremium"]))
        if d.get("sitzung"):
            parts.append(_("Sitzung %(label)s", label=d["sitzung"]))
        values = d.get("values") or {}
        shown = [_labelled(_FIELDS.get(k, k), _value(k, v, _), _) for k, v in values.items()
                 if k not in _SHOWN_ELSEWHERE and v not in (None, "")]
        if shown:
            parts.append("; ".join(shown))
        if d.get("next"):
            parts.append(_("weiter: %(steps)s", steps=", ".join(d["next"])))
        if d.get("finished"):
            parts.append(_("Ablauf abgeschlossen"))
    elif event.action in ("standin.named", "standin.ended"):
        parts.append(_("%(substitute)s vertritt %(absent)s", substitute=d.get("substitute_name"),
                       absent=d.get("absent_name")))
        if d.get("from") and d.get("until"):
            parts.append(_("vom %(start)s bis %(end)s", start=_iso_day(d["from"]), end=_iso_day(d["until"])))
    elif event.action == "procedure.started":
        parts.append(_("Modell „%(name)s“, Version %(version)s",
                       name=names.models.get(event.process_instance_id or 0) or d.get("model"),
                       version=d.get("model_version")))
        if d.get("beratungsfolge"):
            parts.append(_("Beratungsfolge: %(steps)s", steps=", ".join(d["beratungsfolge"])))
        if d.get("gremium"):
            parts.append(str(d["gremium"]))
    elif event.action == "workflow.migrated":
        parts.append(_("Modell „%(name)s“: Version %(old)s → %(new)s",
                       name=names.models.get(event.process_instance_id or 0) or d.get("model"),
                       old=d.get("from_version"), new=d.get("to_version")))
        if d.get("keeps"):
            parts.append(_("unverändert: %(steps)s", steps=", ".join(d["keeps"])))
        if d.get("changed"):
            parts.append(_("geändert: %(steps)s", steps=", ".join(d["changed"])))
    elif event.action == "workflow.event":
        # The element by its name in the model (recorded with the event), never its id.
        parts.append(f"„{d.get('name') or d.get('event', '')}“")
        if d.get("effect"):
            effect = str(d["effect"])
            parts.append(_labelled(_NAMES["effect"], _(EFFECT_NAMES[effect]) if effect in EFFECT_NAMES
                                   else effect, _))
        parts.append(_session_of(event, d, names, _))
    elif event.action == "task.refused":
        parts.append(f"{d.get('status')} {d.get('why', '')}".strip())
        if d.get("task_title"):
            parts.append(f"„{d['task_title']}“")
    elif event.action == "reminders.unsubscribed":
        parts.append(_("%(name)s: Sitzungserinnerung %(lead)s vorher, keine E-Mail mehr",
                       name=d.get("name"), lead=d.get("lead")))
        parts.append(_("über den Link in der E-Mail"))
    elif event.action == "reminders.sent":
        kind = str(d.get("kind"))
        parts.append(f"{d.get('count')} × {_(KIND_NAMES[kind]) if kind in KIND_NAMES else kind}")
        parts.append(_session_of(event, d, names, _))
    elif event.action == "reminder_rules.changed":
        parts.append(str(d.get("gremium") or ""))
        parts.append(_("vorher: %(rules)s", rules="; ".join(d.get("old") or []) or "–"))
        parts.append(_("jetzt: %(rules)s", rules="; ".join(d.get("new") or []) or "–"))
    elif event.action.startswith(("account.", "grant.")):
        if d.get("provider"):  # created or mapped at a login through an OpenID provider
            parts.append(f"OpenID Connect ({d['provider']})")
        else:
            parts.append(_("Konto %(username)s", username=d.get("username")))
        if d.get("grant"):
            parts.append(_labelled(N_("Rolle"), d["grant"], _))
        if d.get("name"):
            parts.append(_labelled(N_("Name"), d["name"], _))
        parts.extend(_changes(d.get("changes") or {}, _))
        if "old" in d and "new" in d:
            parts.append(_("Rollen: %(old)s → %(new)s", old=", ".join(d["old"]) or _("keine"),
                           new=", ".join(d["new"]) or _("keine")))
        if d.get("ignored"):
            parts.append(_("ohne Zuordnung: %(groups)s", groups=", ".join(d["ignored"])))
        if d.get("sessions"):
            parts.append(_("beendete Anmeldungen: %(count)s", count=d["sessions"]))
    elif event.action == "agenda.supplement_sent":
        parts.append(_session_of(event, d, names, _))
        parts.append(_("Nachtrag %(n)s an %(members)s Mitglieder", n=d.get("nachtrag"),
                       members=d.get("members")))
        parts.append("; ".join(d.get("changes") or []))
    elif event.action == "agenda.changed":
        parts.append(_session_of(event, d, names, _))
        parts.append(str(d.get("change", "")))
        parts.append(_("neu: %(items)s", items=", ".join(d.get("after", []))))
    else:
        for key in ("title", "gremium", "name", "reason", "problem", "note", "text", "to", "user",
                    "incident", "effect", "file", "version", "address"):
            if d.get(key) not in (None, "", []):
                value = d[key]
                if key == "effect" and str(value) in EFFECT_NAMES:
                    value = _(EFFECT_NAMES[str(value)])
                parts.append(_labelled(_NAMES[key], value, _))
        parts.extend(_changes(d.get("changes") or {}, _))
    if d.get("reason") and event.action in ("task.completed", "agenda.changed"):
        parts.append(_("Begründung: %(reason)s", reason=d["reason"]))
    return " · ".join(p for p in parts if p)


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


def stream(session: Session, filters: Filters,
           batch: int = 2000) -> Iterator[tuple[AuditEvent, str | None, Names]]:
    """Every matching event in chain order, in keyset batches (each batch let go before the
    next), with the names its batch's descriptions use (:func:`names_for`, once per batch)."""
    after = 0
    query = _query(session, filters)
    while True:
        rows = list(session.exec(query.where(col(AuditEvent.seq) > after)
                                 .order_by(col(AuditEvent.seq)).limit(batch)).all())
        names = names_for(session, (event for event, _ref in rows))
        for event, ref in rows:
            yield event, ref, names
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


def csv_lines(rows: Iterator[tuple[AuditEvent, str | None, Names]]) -> Iterator[str]:
    """German Excel: UTF-8 with BOM, ``;``, dates as 08.11.2024 14:30 (Europe/Berlin); no
    cell a spreadsheet would compute (:func:`spreadsheet_cell`)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    yield "\ufeff" + buffer.getvalue()
    for event, ref, names in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([spreadsheet_cell(cell) for cell in (
            event.seq, _at(event), event.actor, event.actor_name, ACTIONS.get(event.action, event.action),
            event.action, ref, event.process_instance_id, describe(event, names=names),
            json.dumps(event.details, ensure_ascii=False, sort_keys=True, default=str), event.hash)])
        yield buffer.getvalue()


def jsonl_lines(rows: Iterator[tuple[AuditEvent, str | None, Names]]) -> Iterator[str]:
    for event, ref, names in rows:
        yield json.dumps({
            "seq": event.seq, "at": event.at.isoformat(), "actor": event.actor,
            "actor_name": event.actor_name,
            "action": event.action, "paper": ref, "paper_id": event.paper_id,
            "process_instance_id": event.process_instance_id, "description": describe(event, names=names),
            "details": event.details, "prev_hash": event.prev_hash, "hash": event.hash,
        }, ensure_ascii=False, sort_keys=True, default=str) + "\n"


def gremien(session: Session) -> list[Organization]:
    return list(session.exec(select(Organization).where(Organization.organization_type == "Gremium")
                             .order_by(col(Organization.name))))
