"""What a model's tasks and events do to the council's records, by name.

A task or event of a model names its effect in its ``spiffworkflow:properties``
(``effect``). A user task's effect runs when the secretary completes it, before the
workflow moves on, and may refuse the completion (``Invalid``/``Conflict``: nothing is
written). An event's or script task's effect runs once it has happened (a timer fired),
in the same unit of work. Deploy refuses a name that is not here (:data:`DECLARABLE`).

Each effect returns what the audit event records about it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session

from engine import attendance, minutes
from engine.calendar import meetings, reminders
from engine.council import MEETING_HELD, RESULTS, AgendaItem, Consultation, Meeting, Paper
from engine.errors import Conflict, Invalid
from engine.process import rules
from engine.settings import TIMEZONE
from engine.types import table_of
from engine.words import N_
from engine.writes import Writes


@dataclass
class EffectContext:
    """Everything an effect may touch: who, when, what the task is about, what was entered."""

    session: Session
    username: str
    display_name: str
    now: datetime
    consultation: Consultation | None = None
    paper: Paper | None = None
    meeting: Meeting | None = None
    values: dict[str, Any] = field(default_factory=dict)
    #: The objects behind a form's run-time choices (e.g. the offered Sitzungen), by value.
    behind: dict[Any, Any] = field(default_factory=dict)
    process_instance_id: int | None = None
    #: Where the effect's writes go when the unit of work sends its writes together (a task
    #: completion); None: at once.
    writes: Writes | None = None

    @property
    def consultation_id(self) -> int | None:
        return self.consultation.id if self.consultation is not None else None

    def write(self, fill: Callable[[Writes], None]) -> None:
        """Queue writes where the unit of work sends them together, or send them now."""
        if self.writes is not None:
            fill(self.writes)
        else:
            now = Writes()
            fill(now)
            now.send(self.session)


Effect = Callable[[EffectContext], dict[str, Any]]


def _put_on_agenda(ctx: EffectContext) -> dict[str, Any]:
    """Beratungsfolge: the Vorlage goes on the chosen session's agenda as a TOP."""
    consultation, paper = ctx.consultation, ctx.paper
    if consultation is None or paper is None:
        return {}
    meeting = ctx.behind[ctx.values["meeting_id"]]  # validated against exactly these choices
    if meeting.agenda_closed is not None and meeting.agenda_closed <= ctx.now \
            and not (ctx.values.get("reason") or "").strip():
        # As on the Sitzung's page (engine.calendar.agenda): once closed, a change needs a reason.
        closed = meeting.agenda_closed.astimezone(TIMEZONE)
        raise Invalid("Die Tagesordnung ist geschlossen.", {"reason": [
            f"Die Tagesordnung der Sitzung {meeting.reference or meetings.meeting_label(meeting)} wurde am "
            f"{closed:%d.%m.%Y} geschlossen: bitte begründen, warum die Vorlage noch darauf kommt."]})
    given = ctx.values.get("top_nummer")
    if given and given in meetings.agenda_numbers(ctx.session, meeting.id):
        session_name = meeting.reference or meetings.meeting_label(meeting)
        raise Invalid("Eingaben bitte prüfen.", {"top_nummer": [
            f"TOP {given} ist in der Sitzung {session_name} schon vergeben."]})
    number = given or meetings.next_top_number(ctx.session, meeting.id)
    item = AgendaItem(meeting_id=meeting.id, consultation_id=consultation.id, number=number, name=paper.name,
                      public=paper.public and bool(ctx.values.get("oeffentlich", True)),
                      created=ctx.now, modified=ctx.now)
    items, consultations = table_of(AgendaItem), table_of(Consultation)

    def fill(writes: Writes) -> None:
        writes.insert(items, [{c.name: getattr(item, c.name) for c in items.c if c.name != "id"}])
        writes.update(consultations, {"id": consultation.id}, {"meeting_id": meeting.id, "modified": ctx.now})
    ctx.write(fill)
    set_committed_value(consultation, "meeting_id", meeting.id)
    set_committed_value(consultation, "modified", ctx.now)
    meetings.put_on_agenda_now(ctx.session, consultation.id, meeting.id, number)
    reminders.withdraw_for(ctx.session, meeting, ctx.now)  # a message rendered ahead lacks this TOP
    return {"sitzung": meetings.meeting_label(meeting), "top": number}


def _record_result(ctx: EffectContext) -> dict[str, Any]:
    """Beratungsfolge: the Beratung's result on its open agenda item."""
    if ctx.consultation is None:
        return {}
    values = ctx.values
    # The votes against who was there (one query, only for a decision or a way of voting; the
    # counts "einstimmig", "mehrheitlich" and "namentlich" stand for are filled into ``values``).
    checked = attendance.check_result(ctx.session, ctx.consultation.meeting_id, ctx.consultation_id, values)

    def fill(writes: Writes) -> None:
        writes.update(table_of(AgendaItem), {"consultation_id": ctx.consultation_id, "result": None}, {
            "result": values["ergebnis"], "resolution_text": values.get("beschlusstext"),
            "votes_yes": values.get("ja"), "votes_no": values.get("nein"),
            "votes_abstain": values.get("enthaltungen"), "vote_mode": values.get("abstimmung"),
            "modified": ctx.now,
        }, expect=1, refusal=Conflict("Die Beratung steht nicht auf genau einer offenen Tagesordnung."))
    ctx.write(fill)
    if values["ergebnis"] == "vertagt" and ctx.consultation.meeting_id is not None:
        held_in = ctx.session.get(Meeting, ctx.consultation.meeting_id)
        if held_in is not None:  # the next step's session window starts after it
            rules.postponed_now(ctx.session, ctx.consultation.id, held_in)
    return {"ergebnis": RESULTS[values["ergebnis"]], **checked}


def _close_agenda(ctx: EffectContext) -> dict[str, Any]:
    """Sitzung: the agenda closes (Tagesordnungsschluss); later changes need a reason."""
    meeting = ctx.meeting
    if meeting is None or meeting.agenda_closed is not None:
        return {}
    meeting.agenda_closed = ctx.now
    ctx.session.add(meeting)
    ctx.session.flush()
    return {"meeting_id": meeting.id, "agenda_closed": ctx.now.isoformat()}


def _send_invitation(ctx: EffectContext) -> dict[str, Any]:
    """Sitzung: every member gets the invitation with the agenda (after the Ladungsfrist only
    with a reason)."""
    meeting = ctx.meeting
    if meeting is None:
        return {}
    sent = meetings.dispatch_invitation(ctx.session, ctx.username, ctx.display_name, meeting,
                                        ctx.values.get("reason"), ctx.now)
    return {"meeting_id": meeting.id, "members": sent.members, "late": sent.late}


def _flag_late_invitation(ctx: EffectContext) -> dict[str, Any]:
    """Sitzung: the Ladungsfrist passed with the invitation unsent: flag it, tell the Sekretariat."""
    if ctx.meeting is None:
        return {}
    told = meetings.flag_invitation_missed(ctx.session, ctx.meeting, ctx.now)
    return {"meeting_id": ctx.meeting.id, "secretariat_told": told}


def _meeting_held(ctx: EffectContext) -> dict[str, Any]:
    """Sitzung: its start has come; it is durchgeführt (OParl meetingState)."""
    meeting = ctx.meeting
    if meeting is None:
        return {}
    old = meeting.meeting_state
    meeting.meeting_state = MEETING_HELD
    ctx.session.add(meeting)
    ctx.session.flush()
    return {"meeting_id": meeting.id, "old": old, "new": MEETING_HELD}


def _release_minutes(ctx: EffectContext) -> dict[str, Any]:
    """Sitzung: the Niederschrift is released (the signed version rendered and frozen)."""
    meeting = ctx.meeting
    if meeting is None:
        return {}
    done = minutes.release(ctx.session, meeting, ctx.now)
    return {"meeting_id": meeting.id, "minutes_released": ctx.now.isoformat(), **done}  # in the event


def _submit_minutes(ctx: EffectContext) -> dict[str, Any]:
    """Sitzung: the Sekretariat hands the drafted Niederschrift over for signing."""
    if ctx.meeting is None:
        return {}
    return {"meeting_id": ctx.meeting.id, **minutes.submit(ctx.session, ctx.meeting, ctx.username, ctx.now)}


def _sign_minutes(as_chair: bool) -> Effect:
    def sign(ctx: EffectContext) -> dict[str, Any]:
        """Sitzung: Schriftführung or Vorsitz signs the Niederschrift, or returns it with a remark."""
        if ctx.meeting is None:
            return {}
        return {"meeting_id": ctx.meeting.id,
                **minutes.sign(ctx.session, ctx.meeting, as_chair, ctx.display_name, ctx.values, ctx.now)}
    return sign


EFFECTS: dict[str, Effect] = {
    "putOnAgenda": _put_on_agenda,
    "recordResult": _record_result,
    "closeAgenda": _close_agenda,
    "sendInvitation": _send_invitation,
    "flagLateInvitation": _flag_late_invitation,
    "meetingHeld": _meeting_held,
    "releaseMinutes": _release_minutes,
    "submitMinutes": _submit_minutes,
    "signMinutesAsSecretary": _sign_minutes(as_chair=False),
    "signMinutesAsChair": _sign_minutes(as_chair=True),
}

#: What an effect does, in the words of the history (never its code).
EFFECT_NAMES = {"putOnAgenda": N_("auf die Tagesordnung gesetzt"), "recordResult": N_("Ergebnis erfasst"),
                "closeAgenda": N_("Tagesordnung geschlossen"), "sendInvitation": N_("Einladung versandt"),
                "flagLateInvitation": N_("Ladungsfrist als versäumt markiert"),
                "meetingHeld": N_("Sitzung begonnen"), "releaseMinutes": N_("Niederschrift freigegeben"),
                "submitMinutes": N_("Niederschrift zur Zeichnung vorgelegt"),
                "signMinutesAsSecretary": N_(
                    "Niederschrift von der Schriftführung gezeichnet oder zurückgegeben"),
                "signMinutesAsChair": N_("Niederschrift vom Vorsitz gezeichnet oder zurückgegeben")}

#: An effect that reads a form field's run-time choice → (field, its ``x-options``): deploy
#: refuses a task declaring the effect whose form lacks that field.
NEEDS_CHOICE: dict[str, tuple[str, str]] = {"putOnAgenda": ("meeting_id", "sitzungen_des_gremiums")}

#: Property name → the names a model may use (checked at deploy).
DECLARABLE: dict[str, set[str]] = {**rules.DECLARABLE, rules.EFFECT_PROPERTY: set(EFFECTS)}
