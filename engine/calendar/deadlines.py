"""Deadlines of a Sitzung: Ladungsfrist, Redaktionsschluss of the agenda, result steps.

Each Gremium's Geschäftsordnung sets its own rules (one ``DeadlineRule`` row per Gremium,
the defaults of ``Rules`` when there is none); public holidays are those of the Body's
Bundesland (``Body.state``, ``None``: only the nationwide holidays). All dates are days in
Europe/Berlin; a Sitzung's session day is the day its start falls on there.

Working days (Werktage here) are Monday to Friday except the public holidays of the
Bundesland (the ``holidays`` package, category "public": 24.12. and 31.12. are working
days, Mariä Himmelfahrt in Bavaria and the Augsburger Friedensfest are not holidays here).

Ladungsfrist of N days (``invitation_days``), ``invitation`` = the last day on which the
invitation may go out:

* Calendar days (``working_days`` False): the date difference between the dispatch day and
  the session day must be at least N days, or N − 1 days when ``count_session_day``:
  the counted days run from the dispatch day up to the day before the session, and the
  session day is one of them only when ``count_session_day`` is set.
  N = 6, session on Friday 20th → 14th; N = 9 counting the session day (Hilden) → 12th.
* Working days (``working_days`` True): the same span, but only working days count; the
  session day counts only if ``count_session_day`` is set *and* it is a working day itself.
  So ``invitation`` is the N-th working day before the session day (N − 1 when the session
  day counts). N = 3, session on Friday 20th, no holidays → Tuesday 17th.
* N = 0 (or N = 1 with a counted working session day): the session day itself; the
  invitation never goes out later than the session day.
* The secretariat dispatches on working days only: a deadline that falls on a weekend or a
  public holiday moves to the working day before it (earlier, never later). N = 6 calendar
  days, session on Friday 20th → the 14th is a Saturday → Friday 13th.

Agenda closing (``agenda_closing``): ``agenda_days_before`` days before the invitation
deadline (after the move above), counted in the unit of the Ladungsfrist (calendar days,
or working days stepped back from the invitation deadline), then moved back to a working
day the same way. 0 means the invitation day itself.

Result step (``result_due``): ``result_working_days`` working days after the session day
(the session day does not count; 0 means the session day itself, even if not a working day).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

import holidays
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from engine import audit
from engine.accounts import Actor, require_admin
from engine.council import Body, DeadlineRule, Meeting, Organization
from engine.db import hold, memo, remembered
from engine.errors import Invalid, NotFound
from engine.schemas import MAX_ID, Integer
from engine.settings import TIMEZONE

#: The 16 Länder by ISO 3166-2 subdivision code (without "DE-"), with their German names.
BUNDESLAENDER: dict[str, str] = {
    "BW": "Baden-Württemberg",
    "BY": "Bayern",
    "BE": "Berlin",
    "BB": "Brandenburg",
    "HB": "Bremen",
    "HH": "Hamburg",
    "HE": "Hessen",
    "MV": "Mecklenburg-Vorpommern",
    "NI": "Niedersachsen",
    "NW": "Nordrhein-Westfalen",
    "RP": "Rheinland-Pfalz",
    "SL": "Saarland",
    "SN": "Sachsen",
    "ST": "Sachsen-Anhalt",
    "SH": "Schleswig-Holstein",
    "TH": "Thüringen",
}



@dataclass(frozen=True)
class Rules:
    invitation_days: int = 7          # Ladungsfrist length
    working_days: bool = False        # False: calendar days; True: Werktage (Mon–Fri minus holidays)
    count_session_day: bool = False   # whether the session day counts into the period
    agenda_days_before: int = 3       # agenda closes this many days (unit of the Ladungsfrist) earlier
    result_working_days: int = 3      # a result step is due this many working days after the session

    @classmethod
    def of(cls, row: DeadlineRule | None) -> Rules:
        """The rules of a ``DeadlineRule`` row; the defaults when there is none."""
        if row is None:
            return cls()
        return cls(
            invitation_days=row.invitation_days,
            working_days=row.working_days,
            count_session_day=row.count_session_day,
            agenda_days_before=row.agenda_days_before,
            result_working_days=row.result_working_days,
        )


@dataclass(frozen=True)
class MeetingDeadlines:
    invitation: date      # last day the invitation may go out (Ladungsfrist)
    agenda_closing: date  # last day items can be put on the agenda


# ----------------------------------------------------------------------------- calendar

@functools.lru_cache(maxsize=512)
def _public_holidays(state: str | None, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("DE", subdiv=state, years=year).keys())


def is_working_day(day: date, state: str | None) -> bool:
    """Monday to Friday and not a public holiday in ``state`` (None: nationwide ones only)."""
    if isinstance(day, datetime):  # a datetime never equals a holiday's date: refuse it
        raise TypeError(f"is_working_day takes a date, not a datetime: {day!r}")
    return day.weekday() < 5 and day not in _public_holidays(state, day.year)


def add_working_days(day: date, n: int, state: str | None) -> date:
    """The n-th working day after ``day`` (before it for negative n; ``day`` itself for 0).

    ``day`` itself never counts, whether it is a working day or not.
    """
    step = timedelta(days=1 if n > 0 else -1)
    remaining = abs(n)
    while remaining:
        day += step
        if is_working_day(day, state):
            remaining -= 1
    return day


def _working_day_on_or_before(day: date, state: str | None) -> date:
    while not is_working_day(day, state):
        day -= timedelta(days=1)
    return day


def meeting_deadlines(session_day: date, rules: Rules, state: str | None) -> MeetingDeadlines:
    """Ladungsfrist and agenda closing of a session on ``session_day`` (see the module doc)."""
    n = rules.invitation_days
    if rules.working_days:
        counted = 1 if rules.count_session_day and is_working_day(session_day, state) else 0
        remaining = n - counted
        invitation = add_working_days(session_day, -remaining, state) if remaining > 0 else session_day
    else:
        span = n - 1 if rules.count_session_day else n
        invitation = session_day - timedelta(days=max(span, 0))
    invitation = _working_day_on_or_before(invitation, state)
    if rules.working_days:
        agenda = add_working_days(invitation, -rules.agenda_days_before, state)
    else:
        agenda = invitation - timedelta(days=rules.agenda_days_before)
    return MeetingDeadlines(invitation, _working_day_on_or_before(agenda, state))


def result_due(session_day: date, rules: Rules, state: str | None) -> date:
    """The day a result step of a session on ``session_day`` is due."""
    return add_working_days(session_day, rules.result_working_days, state)


# ----------------------------------------------------------------------------- database

def rules_for(session: Session, organization_id: int) -> Rules:
    """The rules of a Gremium (the defaults if it has none of its own)."""
    row = session.exec(
        select(DeadlineRule).where(DeadlineRule.organization_id == organization_id)).first()
    return Rules.of(row)


#: :func:`gremium_rules`' statement, built once.
_RULES_QUERY = (select(Organization, Body.state, DeadlineRule)
                .join(Body, col(Organization.body_id) == col(Body.id))
                .outerjoin(DeadlineRule, col(DeadlineRule.organization_id) == Organization.id)
                .where(Organization.id == bindparam("organization_id")))


def gremium_rules(session: Session, organization_id: int) -> tuple[Rules, str | None]:
    """A Gremium's rules and its Body's Bundesland (for holidays), in one query, held for
    the unit of work (:func:`engine.db.remembered`)."""
    def read() -> tuple[Rules, str | None]:
        row = session.exec(_RULES_QUERY, params={"organization_id": organization_id}).first()
        if row is None:
            return Rules.of(None), None
        hold(session, row[0])  # the Gremium itself: a task row shows its name
        return Rules.of(row[2]), row[1]
    return remembered(session, ("gremium_rules", organization_id), read)  # type: ignore[no-any-return]


def note_gremium_rules(session: Session, organization_id: int, rule: DeadlineRule | None,
                       state: str | None) -> None:
    """What :func:`gremium_rules` would read, read with something else (the task a completion
    loads, ``engine.process.procedures.load_task``): held for the unit of work the same way."""
    memo(session)[("gremium_rules", organization_id)] = (Rules.of(rule), state)


def deadlines_for_meeting(session: Session, meeting: Meeting) -> MeetingDeadlines:
    """The deadlines of a Sitzung by its Gremium's rules and its Body's Bundesland."""
    session_day = meeting.start.astimezone(TIMEZONE).date()
    return meeting_deadlines(session_day, *gremium_rules(session, meeting.organization_id))


_MESSAGES: dict[str, Any] = {
    "required": "Pflichtfeld: bitte ausfüllen.", "null": "Pflichtfeld: bitte ausfüllen.",
    "invalid": "Bitte eine ganze Zahl eingeben.", "too_large": "Die Zahl ist zu groß."}


class _WholeNumber(Integer):
    """An integer from a form string; refuses fractions (1.5) instead of cutting them off."""

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def _days(maximum: int) -> _WholeNumber:
    return _WholeNumber(required=True, error_messages=_MESSAGES, validate=validate.Range(
        min=0, max=maximum, error=f"Bitte eine Zahl von 0 bis {maximum} eingeben."))


class DeadlineRuleIn(Schema):
    """The form of a Gremium's deadline rules (all numbers required, checkboxes default off)."""

    class Meta:
        unknown = EXCLUDE

    invitation_days = _days(90)
    working_days = fields.Boolean(load_default=False, error_messages={
        "invalid": "Bitte Kalendertage oder Werktage wählen.",
        "null": "Bitte Kalendertage oder Werktage wählen."})
    count_session_day = fields.Boolean(load_default=False, error_messages={
        "invalid": "Ungültiger Wert.", "null": "Ungültiger Wert."})
    agenda_days_before = _days(60)
    result_working_days = _days(60)

    @pre_load
    def _blank_is_missing(self, data: Any, **_: Any) -> Any:
        """An empty HTML input is "not given"; strings are trimmed."""
        if not isinstance(data, dict):
            return data
        cleaned = {}
        for key, value in data.items():
            if isinstance(value, str):
                value = value.strip()
                if value == "":
                    continue
            cleaned[key] = value
        return cleaned


def _load_rules(data: dict[str, Any]) -> dict[str, Any]:
    try:
        return DeadlineRuleIn().load(data)  # type: ignore[no-any-return]
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        errors = {str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
                  for k, v in messages.items()}
        raise Invalid("Eingaben bitte prüfen.", errors) from None


def set_rules(session: Session, actor: Actor, organization_id: int, data: dict[str, Any]) -> DeadlineRule:
    """The administration sets a Gremium's deadline rules (creates the row on first use).

    ``data`` is the whole rule, not a patch: the three numbers are required (form strings or
    ints), the two booleans default to False when missing (an unticked checkbox).
    """
    require_admin(actor, "Nur die Administration kann die Fristen eines Gremiums ändern.")
    org = session.get(Organization, organization_id) if 0 < organization_id <= MAX_ID else None
    if org is None or org.organization_type != "Gremium":
        raise NotFound("Gremium nicht gefunden.")
    values = _load_rules(data)
    row = session.exec(
        select(DeadlineRule).where(DeadlineRule.organization_id == organization_id)).first()
    old = asdict(Rules.of(row))
    created = row is None
    if row is None:
        row = DeadlineRule(organization_id=organization_id)
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "deadline_rules.changed", details={
        "gremium": org.name, "organization_id": org.id, "created": created,
        "old": old, "new": asdict(Rules.of(row))})
    return row


def set_body_state(session: Session, actor: Actor, body_id: int, state: str | None) -> Body:
    """The administration sets a Körperschaft's Bundesland (None: nationwide holidays only)."""
    require_admin(actor, "Nur die Administration kann das Bundesland einer Körperschaft ändern.")
    body = session.get(Body, body_id) if 0 < body_id <= MAX_ID else None
    if body is None:
        raise NotFound("Körperschaft nicht gefunden.")
    if state is not None and (not isinstance(state, str) or state not in BUNDESLAENDER):
        raise Invalid("Eingaben bitte prüfen.", {"state": ["Bitte eines der Bundesländer wählen."]})
    old = body.state
    body.state = state
    session.add(body)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "body.state_changed", details={
        "body": body.name, "body_id": body.id, "old": old, "new": state})
    return body
