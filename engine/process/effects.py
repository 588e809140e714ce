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
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from engine import attendance, minutes, search
from engine.calendar import meetings, reminders
from engine.council import (
    MEETING_HELD,
    PAPER_DONE,
    PAPER_DRAFT,
    PAPER_IN_CONSULTATION,
    RESULTS,
    URGENT_REFUSED_MEANS,
    AgendaItem,
    Consultation,
    Meeting,
    Paper,
    UrgentDecision,
)
from engine.errors import Conflict, Invalid
from engine.oparl import server as oparl_server
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


def _record_urgent_decision(ctx: EffectContext) -> dict[str, Any]:
    """Beratungsfolge: the Dringlichkeitsentscheidung (GO NRW § 60 Abs. 1) – the
    Hauptverwaltungsbeamte and one member of the Gremium, two people, decided in its place."""
    consultation, paper = ctx.consultation, ctx.paper
    if consultation is None or paper is None:
        return {}
    values = ctx.values
    # Both validated against exactly these choices (the body's heads, the Gremium's members).
    head, member = ctx.behind[values["hauptverwaltungsbeamter"]], ctx.behind[values["mitglied"]]
    errors: dict[str, list[str]] = {}
    if head.id == member.id:
        errors["mitglied"] = [f"{member.name} ist schon als Bürgermeister/-in bzw. Verbandsvorsteher/-in "
                              "genannt: es entscheiden zwei verschiedene Personen."]
    decided_on = date.fromisoformat(values["entschieden_am"])
    if decided_on > ctx.now.astimezone(TIMEZONE).date():
        errors["entschieden_am"] = ["Eine Dringlichkeitsentscheidung wird erfasst, nachdem sie getroffen "
                                    "wurde: das Datum liegt in der Zukunft."]
    if not values["begruendung"].strip():
        errors["begruendung"] = ["Bitte die Dringlichkeit begründen."]
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    row = {"consultation_id": consultation.id, "paper_id": paper.id,
           "organization_id": consultation.organization_id, "head_id": head.id, "head_name": head.name,
           "member_id": member.id, "member_name": member.name, "reason": values["begruendung"].strip(),
           "result": values["entscheidung"], "resolution_text": values.get("beschlusstext"),
           "decided_on": decided_on, "recorded_by": ctx.display_name, "approval": None,
           "approval_note": None, "approved_at": None, "created": ctx.now}
    ctx.write(lambda writes: writes.insert(table_of(UrgentDecision), [row]))
    return {"dringlichkeitsentscheidung": RESULTS[values["entscheidung"]],
            "entschieden_am": decided_on.isoformat(),
            "hauptverwaltungsbeamter": head.name, "mitglied": member.name,
            "begruendung": values["begruendung"].strip()}


def _record_approval(ctx: EffectContext) -> dict[str, Any]:
    """Beratungsfolge: the Gremium's Genehmigung of the Dringlichkeitsentscheidung in its
    session, on the Beratung's open TOP; a refusal is recorded with what it means."""
    if ctx.consultation is None:
        return {}
    approval, note = ctx.values["genehmigung"], ctx.values.get("anmerkung")
    decision = ctx.session.exec(select(UrgentDecision).where(
        UrgentDecision.consultation_id == ctx.consultation_id,
        col(UrgentDecision.approval).is_(None))).first()
    if decision is None:
        raise Conflict("Zu dieser Beratung ist keine offene Dringlichkeitsentscheidung erfasst.")
    # The TOP says in words what was approved (the public page, OParl's resolutionText).
    words = [f"{RESULTS[approval]}: Dringlichkeitsentscheidung vom {decision.decided_on:%d.%m.%Y} "
             f"({decision.head_name} und {decision.member_name}, § 60 Abs. 1 GO NRW): "
             f"{RESULTS[decision.result]}."]
    if decision.resolution_text:
        words.append(decision.resolution_text)
    if approval == "nicht_genehmigt":
        words.append(URGENT_REFUSED_MEANS)
    if note:
        words.append(note)

    def fill(writes: Writes) -> None:
        writes.update(table_of(UrgentDecision), {"consultation_id": ctx.consultation_id, "approval": None}, {
            "approval": approval, "approval_note": note, "approved_at": ctx.now},
            expect=1,
            refusal=Conflict("Zu dieser Beratung ist keine offene Dringlichkeitsentscheidung erfasst."))
        writes.update(table_of(AgendaItem), {"consultation_id": ctx.consultation_id, "result": None}, {
            "result": approval, "resolution_text": "\n\n".join(words), "modified": ctx.now},
            expect=1, refusal=Conflict("Die Beratung steht nicht auf genau einer offenen Tagesordnung."))
    ctx.write(fill)
    return {"genehmigung": RESULTS[approval],
            **({"bedeutung": URGENT_REFUSED_MEANS} if approval == "nicht_genehmigt" else {})}


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


#: An answer that sends a step back → the field that must then say why (Mitzeichnung, Freigabe).
_RETURNS = {"mitzeichnung": "anmerkung", "freigabe": "begruendung"}
_NEEDS_TEXT = {"zurueck": N_("Bitte begründen, warum die Vorlage an die Federführung zurückgeht."),
               "mit_anmerkung": N_("Bitte die Anmerkung eingeben.")}


def _return_needs_reason(ctx: EffectContext) -> dict[str, Any]:
    """Mitzeichnung and Freigabe: a return (and a remark) needs its text."""
    for answer, reason in _RETURNS.items():
        needs = _NEEDS_TEXT.get(ctx.values.get(answer) or "")
        if needs is not None and not (ctx.values.get(reason) or "").strip():
            raise Invalid("Eingaben bitte prüfen.", {reason: [needs]})
    return {}


def release_paper(session: Session, paper: Paper, now: datetime, taken: str | None = None) -> None:
    """A draft Vorlage is released: from now on the public sees it (if it is public), its
    Anlagen are in the search index and OParl lists it again (the tombstones of a draft go).
    Of two concurrent releases exactly one moves it on; the other gets a Conflict (``taken``:
    its message)."""
    papers = table_of(Paper)
    claimed = session.exec(update(papers).where(
        papers.c.id == paper.id, papers.c.status == PAPER_DRAFT).values(
        status=PAPER_IN_CONSULTATION, released=func.coalesce(papers.c.released, now), modified=now))
    if claimed.rowcount != 1:
        raise Conflict(taken or f"Die Vorlage {paper.reference} ist nicht mehr im Entwurf.")
    session.refresh(paper, ["status", "released", "modified"])
    assert paper.id is not None
    if paper.public:
        oparl_server.restore(session, oparl_server.paper_parts(session, paper.id))
    search.index_paper(session, paper.id)


def _release_paper(ctx: EffectContext) -> dict[str, Any]:
    """Lebenslauf: the Freigabe is given; the Vorlage leaves the Entwurf."""
    if ctx.paper is None:
        return {}
    release_paper(ctx.session, ctx.paper, ctx.now)
    return {"status": PAPER_IN_CONSULTATION}


def _end_consultation(ctx: EffectContext) -> dict[str, Any]:
    """Lebenslauf: the Beratungsfolge has ended; Ausfertigung and Kontrolle follow."""
    paper = ctx.paper
    if paper is None or paper.status != PAPER_IN_CONSULTATION:
        return {}
    paper.status, paper.modified = PAPER_DONE, ctx.now
    ctx.session.add(paper)
    return {"status": PAPER_DONE}


EFFECTS: dict[str, Effect] = {
    "putOnAgenda": _put_on_agenda,
    "recordResult": _record_result,
    "recordUrgentDecision": _record_urgent_decision,
    "recordApproval": _record_approval,
    "closeAgenda": _close_agenda,
    "sendInvitation": _send_invitation,
    "flagLateInvitation": _flag_late_invitation,
    "meetingHeld": _meeting_held,
    "releaseMinutes": _release_minutes,
    "returnNeedsReason": _return_needs_reason,
    "releasePaper": _release_paper,
    "endConsultation": _end_consultation,
    "submitMinutes": _submit_minutes,
    "signMinutesAsSecretary": _sign_minutes(as_chair=False),
    "signMinutesAsChair": _sign_minutes(as_chair=True),
}

#: What an effect does, in the words of the history (never its code).
EFFECT_NAMES = {"putOnAgenda": N_("auf die Tagesordnung gesetzt"), "recordResult": N_("Ergebnis erfasst"),
                "recordUrgentDecision": N_("Dringlichkeitsentscheidung erfasst"),
                "recordApproval": N_("Genehmigung der Dringlichkeitsentscheidung erfasst"),
                "closeAgenda": N_("Tagesordnung geschlossen"), "sendInvitation": N_("Einladung versandt"),
                "flagLateInvitation": N_("Ladungsfrist als versäumt markiert"),
                "meetingHeld": N_("Sitzung begonnen"), "releaseMinutes": N_("Niederschrift freigegeben"),
                "returnNeedsReason": N_("Rückgabe begründet"), "releasePaper": N_("Vorlage freigegeben"),
                "endConsultation": N_("Beratungsfolge beendet"),
                "submitMinutes": N_("Niederschrift zur Zeichnung vorgelegt"),
                "signMinutesAsSecretary": N_(
                    "Niederschrift von der Schriftführung gezeichnet oder zurückgegeben"),
                "signMinutesAsChair": N_("Niederschrift vom Vorsitz gezeichnet oder zurückgegeben")}

#: An effect that reads a form field's run-time choice → (field, its ``x-options``): deploy
#: refuses a task declaring the effect whose form lacks that field.
NEEDS_CHOICE: dict[str, tuple[str, str]] = {"putOnAgenda": ("meeting_id", "sitzungen_des_gremiums"),
                                            "recordUrgentDecision": ("mitglied", "mitglieder_des_gremiums")}

#: Property name → the names a model may use (checked at deploy).
DECLARABLE: dict[str, set[str]] = {**rules.DECLARABLE, rules.EFFECT_PROPERTY: set(EFFECTS)}
