"""Standard BPMN timers: ``timeDate``, ``timeDuration`` and ``timeCycle`` as the BPMN
specification and every modeler write them, ISO 8601 literals without quotes
(``PT1H``, ``2030-03-01T09:00:00+01:00``, ``R3/PT10H``), checked when a model is deployed.

SpiffWorkflow evaluates a timer's text as an expression, so a literal as modelers write it
was refused at deploy (``2030-03-01…``: "leading zeros in decimal integer literals") or failed
on its first run (``PT1H``: an unknown name). :func:`normalize` tells a literal from an
expression: a literal is parsed here (a wrong one is refused with a German reason) and handed
to the engine as a quoted string; an instant without an offset is one in Europe/Berlin (the
engine would read it in the server's zone). Anything else stays an expression (today's
``termine['…']``), checked by the sandbox's rules like every other piece of code.
"""

from __future__ import annotations

import re
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.settings import TIMEZONE

DATE, DURATION, CYCLE = "timeDate", "timeDuration", "timeCycle"

#: What only an ISO 8601 literal begins with (an expression never does: no Python name
#: starts with a digit, and ``P…``/``R…`` followed by a digit or ``T``/``/`` is no name).
_DURATION = re.compile(r"^P(?=[\dT.,])", re.I)
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}(T|$)")
_CYCLE = re.compile(r"^R\d*/", re.I)

_EXAMPLES = {DATE: "2030-03-01T09:00:00+01:00", DURATION: "PT1H, P3D, P1W", CYCLE: "R3/PT10H"}
_WHAT = {DATE: "Zeitpunkt", DURATION: "Dauer", CYCLE: "Wiederholung"}


class TimerError(ValueError):
    """A timer literal that is no ISO 8601 value of its kind (German, for the deploy)."""


def is_duration(text: str) -> bool:
    """An ISO 8601 duration such as P3D or PT4H."""
    try:
        return bool(_DURATION.match(text.strip())) and bool(_duration(text.strip()))
    except TimerError:
        return False


def is_literal(text: str) -> bool:
    text = text.strip()
    return bool(_DURATION.match(text) or _INSTANT.match(text) or _CYCLE.match(text))


def _instant(text: str) -> str:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise TimerError(f"„{text}“ ist kein Zeitpunkt nach ISO 8601") from None
    if moment.tzinfo is None:  # as a council reads it: local time
        moment = moment.replace(tzinfo=TIMEZONE)
    return moment.isoformat()


def _duration(text: str) -> str:
    try:
        parsed = TimerEventDefinition.parse_iso_duration(text)
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises a bare Exception
        parsed = None
    if not parsed or text[:1] not in ("P", "p"):
        raise TimerError(f"„{text}“ ist keine Dauer nach ISO 8601")
    return text.upper()


def _part(text: str) -> str:
    return _duration(text) if text[:1] in ("P", "p") else _instant(text)


def _cycle(text: str) -> str:
    head, *parts = text.split("/")
    if not re.fullmatch(r"[Rr]\d*", head) or len(parts) not in (1, 2):
        raise TimerError(f"„{text}“ ist keine Wiederholung nach ISO 8601")
    count = head[1:]
    if count and int(count) == 0:
        raise TimerError(f"„{text}“: eine Wiederholung braucht mindestens einen Durchlauf")
    normalized = [_part(p) for p in parts]
    durations = [p for p in normalized if p.startswith("P")]
    if len(durations) != 1:
        raise TimerError(f"„{text}“: eine Wiederholung braucht genau eine Dauer (R3/PT10H, "
                         "R/2030-03-01T09:00:00+01:00/P1D)")
    value = "/".join([f"R{count}", *normalized])
    try:
        TimerEventDefinition.parse_iso_recurring_interval(value)
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises a bare Exception
        raise TimerError(f"„{text}“ ist keine Wiederholung nach ISO 8601") from None
    return value


def normalize(kind: str, text: str) -> str:
    """The expression the engine evaluates for a timer of ``kind`` written as ``text``: a
    literal checked and quoted, an expression as it is. :class:`TimerError` names what is
    wrong with a literal."""
    stripped = text.strip()
    if not is_literal(stripped):
        return text
    try:
        if kind == DURATION:
            value = _duration(stripped)
        elif kind == DATE:
            if _DURATION.match(stripped) or _CYCLE.match(stripped):
                raise TimerError(f"„{stripped}“ ist kein Zeitpunkt (timeDate); eine Dauer gehört "
                                 "in timeDuration, eine Wiederholung in timeCycle")
            value = _instant(stripped)
        elif kind == CYCLE:
            if not _CYCLE.match(stripped):
                raise TimerError(f"„{stripped}“ ist keine Wiederholung (timeCycle beginnt mit R, "
                                 "etwa R3/PT10H)")
            value = _cycle(stripped)
        else:
            return text
    except TimerError as exc:
        raise TimerError(f"{exc}; erwartet als {_WHAT[kind]} etwa {_EXAMPLES[kind]}") from None
    return repr(value)
