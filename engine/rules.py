"""What a model's user tasks declare by name, and the Python that carries it out.

A user task names, in its ``spiffworkflow:properties``:

* ``dueDate``: how its due date (and the Sitzung it concerns) is found —
  ``agendaClosing`` (the agenda closing of the session it will go on: the planned one, or
  the Gremium's next session that fits the Beratungsfolge's order) or ``afterSession``
  (a number of working days after the session it was put on, from the Gremium's rules);
  ``invitationDeadline`` (the Ladungsfrist of the session process's own Sitzung);
* ``completableFrom``: what must hold before it can be completed — ``sessionStart``
  (a result is recorded only once its session has begun), ``agendaResultsRecorded``
  (every item on the session's agenda has its result);
* ``effect`` (any task or event): what it does to the council's records, a name of
  ``engine.effects.EFFECTS``.

Deploy refuses a name that is not in :data:`DECLARABLE` (``engine.workflow.runtime``), so a
new model needs no Python edit, and nothing here branches on a form's or a task's name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, col, select

from . import deadlines
from .council import AgendaItem, Body, Consultation, Meeting, Organization
from .settings import TIMEZONE

DUE_PROPERTY = "dueDate"
GUARD_PROPERTY = "completableFrom"
EFFECT_PROPERTY = "effect"


@dataclass(frozen=True)
class Subject:
    """What a task is about: its Gremium, its Beratung (Beratungsfolge), its Sitzung (the
    session process's own)."""

    organization_id: int | None
    consultation: Consultation | None = None
    meeting: Meeting | None = None


@dataclass(frozen=True)
class SessionWindow:
    """Which Sitzungen a Beratung may still go on, and why others are out."""

    after: datetime  # a session must begin later than this
    postponed_in: Meeting | None  # the session where it was last vertagt
    previous: Meeting | None  # the session of the previous Beratung
    previous_organization: str | None

    def refusal(self, meeting: Meeting) -> str | None:
        """Why ``meeting`` cannot be chosen (German, for the form), or None."""
        day = f"{meeting.start.astimezone(TIMEZONE):%d.%m.%Y}"
        if self.previous is not None and meeting.start <= self.previous.start:
            return (f"Die Sitzung am {day} liegt nicht nach der Sitzung der vorigen Beratung "
                    f"({self.previous_organization}, "
                    f"{self.previous.start.astimezone(TIMEZONE):%d.%m.%Y}).")
        if self.postponed_in is not None and meeting.start <= self.postponed_in.start:
            return (f"Die Beratung wurde in der Sitzung vom "
                    f"{self.postponed_in.start.astimezone(TIMEZONE):%d.%m.%Y} vertagt; "
                    "bitte eine spätere Sitzung wählen.")
        if meeting.start <= self.after:
            return f"Die Sitzung am {day} hat schon stattgefunden."
        return None


def session_window(session: Session, consultation: Consultation | None, now: datetime) -> SessionWindow:
    """Sessions from today on, after the last postponement and after the previous Beratung."""
    start_of_today = datetime.combine(now.astimezone(TIMEZONE).date(), time(0), TIMEZONE)
    after = start_of_today - timedelta(microseconds=1)
    if consultation is None:
        return SessionWindow(after, None, None, None)
    postponed = session.exec(
        select(Meeting).join(AgendaItem, col(AgendaItem.meeting_id) == Meeting.id)
        .where(AgendaItem.consultation_id == consultation.id, AgendaItem.result == "vertagt")
        .order_by(col(Meeting.start).desc())
    ).first()
    previous_meeting: Meeting | None = None
    previous_org: str | None = None
    if consultation.position > 1:
        found = session.exec(
            select(Consultation, Organization).join(Organization, col(Organization.id) ==
                                                    Consultation.organization_id)
            .where(Consultation.paper_id == consultation.paper_id,
                   Consultation.position == consultation.position - 1)
        ).first()
        if found is not None:
            previous, org = found
            previous_org = org.name
            previous_meeting = session.exec(
                select(Meeting).join(AgendaItem, col(AgendaItem.meeting_id) == Meeting.id)
                .where(AgendaItem.consultation_id == previous.id).order_by(col(Meeting.start).desc())
            ).first() or (session.get(Meeting, previous.meeting_id) if previous.meeting_id else None)
    for meeting in (postponed, previous_meeting):
        if meeting is not None and meeting.start > after:
            after = meeting.start
    return SessionWindow(after, postponed, previous_meeting, previous_org)


def next_fitting_meeting(session: Session, organization_id: int | None, consultation: Consultation | None,
                         window: SessionWindow) -> Meeting | None:
    """The planned session if it fits the window, else the Gremium's next one that does."""
    if consultation is not None and consultation.meeting_id is not None:
        planned = session.get(Meeting, consultation.meeting_id)
        if planned is not None and not planned.cancelled and window.refusal(planned) is None:
            return planned
    return session.exec(
        select(Meeting).where(Meeting.organization_id == organization_id,
                              Meeting.cancelled == False,  # noqa: E712
                              col(Meeting.start) > window.after)
        .order_by(col(Meeting.start))
    ).first()


def _state_of(session: Session, organization_id: int) -> str | None:
    return session.exec(
        select(Body.state).join(Organization, col(Organization.body_id) == Body.id)
        .where(Organization.id == organization_id)
    ).first()


@dataclass(frozen=True)
class Due:
    due: date | None
    meeting: Meeting | None


DueRule = Callable[[Session, Subject, datetime], Due]


def _agenda_closing(session: Session, subject: Subject, now: datetime) -> Due:
    consultation = subject.consultation
    meeting = subject.meeting or next_fitting_meeting(
        session, subject.organization_id, consultation, session_window(session, consultation, now))
    if meeting is None:
        return Due(None, None)
    return Due(deadlines.deadlines_for_meeting(session, meeting).agenda_closing, meeting)


def _meeting_of(session: Session, subject: Subject) -> Meeting | None:
    if subject.meeting is not None:
        return subject.meeting
    consultation = subject.consultation
    return session.get(Meeting, consultation.meeting_id) if consultation and consultation.meeting_id \
        else None


def _after_session(session: Session, subject: Subject, now: datetime) -> Due:
    meeting = _meeting_of(session, subject)
    if meeting is None:
        return Due(None, None)
    rules = deadlines.rules_for(session, meeting.organization_id)
    day = meeting.start.astimezone(TIMEZONE).date()
    return Due(deadlines.result_due(day, rules, _state_of(session, meeting.organization_id)), meeting)


def _invitation_deadline(session: Session, subject: Subject, now: datetime) -> Due:
    meeting = _meeting_of(session, subject)
    if meeting is None:
        return Due(None, None)
    return Due(deadlines.deadlines_for_meeting(session, meeting).invitation, meeting)


DUE_RULES: dict[str, DueRule] = {
    "agendaClosing": _agenda_closing,
    "afterSession": _after_session,
    "invitationDeadline": _invitation_deadline,
}

Guard = Callable[[Session, Meeting | None, datetime], str | None]


def _session_started(session: Session, meeting: Meeting | None, now: datetime) -> str | None:
    if meeting is None:
        return "Die Beratung steht auf keiner Tagesordnung."
    if meeting.start > now:
        start = meeting.start.astimezone(TIMEZONE)
        return (f"Das Ergebnis kann erst erfasst werden, wenn die Sitzung begonnen hat: "
                f"{start:%d.%m.%Y} um {start:%H:%M} Uhr.")
    return None


def _agenda_results_recorded(session: Session, meeting: Meeting | None, now: datetime) -> str | None:
    if meeting is None:
        return "Die Aufgabe gehört zu keiner Sitzung."
    if meeting.start > now:
        return _session_started(session, meeting, now)
    open_items = session.exec(select(AgendaItem.number, AgendaItem.name).where(
        AgendaItem.meeting_id == meeting.id, col(AgendaItem.result).is_(None))).all()
    if open_items:
        named = ", ".join(f"TOP {number}" if number else name for number, name in open_items[:5])
        more = f" und {len(open_items) - 5} weitere" if len(open_items) > 5 else ""
        return f"Es fehlen noch Ergebnisse der Tagesordnung: {named}{more}."
    return None


GUARDS: dict[str, Guard] = {
    "sessionStart": _session_started,
    "agendaResultsRecorded": _agenda_results_recorded,
}

#: Property name → the names a model may use (checked at deploy).
#: The effect names are added by ``engine.effects``, which carries them out.
DECLARABLE: dict[str, set[str]] = {DUE_PROPERTY: set(DUE_RULES), GUARD_PROPERTY: set(GUARDS)}
