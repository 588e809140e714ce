"""The engine's clock for SpiffWorkflow's timers.

SpiffWorkflow 3.2 compares timer events with ``datetime.now(timezone.utc)`` inside
``SpiffWorkflow.bpmn.specs.event_definitions.timer``. The engine runs a workflow "at" a
moment of its own choosing (the scheduler's ``--now``, a test's moved clock, a request's
time), so that module's ``datetime`` is replaced by one whose ``now()`` reads the moment
set with :func:`at`; outside :func:`at` it is the real clock. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, tzinfo

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _timer

_NOW: ContextVar[datetime | None] = ContextVar("ratsflow_workflow_now", default=None)


class _EngineDatetime(datetime):
    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _EngineDatetime:
        fixed = _NOW.get()
        if fixed is None:
            return super().now(tz)
        moment = fixed.astimezone(tz) if tz is not None else fixed
        return cls.fromisoformat(moment.isoformat())


_timer.datetime = _EngineDatetime


@contextmanager
def at(now: datetime | None) -> Iterator[None]:
    """Run SpiffWorkflow's timers at ``now`` (timezone-aware); None: the real clock."""
    if now is not None and now.tzinfo is None:
        raise ValueError("the workflow clock needs a timezone-aware moment")
    token = _NOW.set(now)
    try:
        yield
    finally:
        _NOW.reset(token)
