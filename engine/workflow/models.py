"""Deployed model versions and running instances."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from engine.types import utc_column

INSTANCE_RUNNING = "läuft"
INSTANCE_COMPLETED = "abgeschlossen"
INSTANCE_CANCELLED = "abgebrochen"
#: A script or expression failed (or ran past its limits): the instance waits for an admin.
INSTANCE_INCIDENT = "Störung"

TIMER_WAITING = "wartend"
TIMER_FIRED = "ausgelöst"
TIMER_DROPPED = "entfallen"  # its task was left (interrupted, moved, cancelled)


class ProcessModel(SQLModel, table=True):
    """One deployed version of a BPMN process; its parsed spec is stored once, by hash."""

    __tablename__ = "process_model"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    process_id: str = Field(index=True)  # the BPMN process id, e.g. "beratungsfolge"
    name: str
    version: int
    spec_hash: str = Field(unique=True)  # sha256 of spec_json
    spec_json: str = Field(sa_column=Column(Text, nullable=False))
    bpmn_xml: str = Field(sa_column=Column(Text, nullable=False))
    file_name: str
    forms: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    deployed_at: datetime = Field(sa_column=utc_column(nullable=False))
    deployed_by: str


class ProcessInstance(SQLModel, table=True):
    """A running (or finished) workflow; ``version`` guards against stale writes."""

    __tablename__ = "process_instance"

    id: int | None = Field(default=None, primary_key=True)
    model_id: int = Field(foreign_key="process_model.id", index=True)
    paper_id: int | None = Field(default=None, foreign_key="paper.id", index=True)
    #: The Sitzung a session process runs for (``bpmn/sitzung.bpmn``).
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id", index=True)
    state: str = Field(sa_column=Column(Text, nullable=False))  # serializer JSON without spec
    serializer_version: str
    version: int = 1
    status: str = Field(default=INSTANCE_RUNNING, index=True)
    started: datetime = Field(sa_column=utc_column(nullable=False))
    updated: datetime = Field(sa_column=utc_column(nullable=False))
    completed: datetime | None = Field(default=None, sa_column=utc_column())
    #: What failed when the instance stopped with an incident (element and reason).
    incident: str | None = Field(default=None, sa_column=Column(Text))


class WorkflowTimer(SQLModel, table=True):
    """A timer event an instance waits for (intermediate or boundary; timeDate,
    timeDuration, timeCycle), written in the same transaction as the step that set it.

    The scheduler claims the waiting rows that are due and wakes their instances; the row,
    not APScheduler's job store, is the source of truth. A cycle's next round is a new row.
    """

    __tablename__ = "workflow_timer"
    __table_args__ = (
        UniqueConstraint("process_instance_id", "spiff_task_id", "due_at"),
        Index("ix_workflow_timer_waiting_due", "due_at", sqlite_where=text("status = 'wartend'"),
              postgresql_where=text("status = 'wartend'")),
    )

    id: int | None = Field(default=None, primary_key=True)
    process_instance_id: int = Field(foreign_key="process_instance.id", index=True)
    spiff_task_id: str
    bpmn_id: str
    name: str
    kind: str  # timeDate, timeDuration, timeCycle
    due_at: datetime = Field(sa_column=utc_column(nullable=False))
    status: str = TIMER_WAITING
    fired_at: datetime | None = Field(default=None, sa_column=utc_column())
