"""The human-task index: a relational copy of every ready user task.

The inbox reads this table and never deserializes a workflow. Rows are written in the
same transaction as the workflow state they mirror.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, or_
from sqlmodel import Field, Session, SQLModel, select

from .accounts import Actor
from .types import utc_column

TASK_READY = "bereit"
TASK_DONE = "erledigt"
TASK_CANCELLED = "abgebrochen"


class HumanTask(SQLModel, table=True):
    __tablename__ = "human_task"

    id: int | None = Field(default=None, primary_key=True)
    process_instance_id: int = Field(foreign_key="process_instance.id", index=True)
    spiff_task_id: str  # UUID of the SpiffWorkflow task
    bpmn_id: str  # element id in the model, e.g. "Tagesordnung"
    title: str  # element name, e.g. "Auf die Tagesordnung setzen"
    form_key: str | None = None
    lane: str | None = None  # the role: "Sekretariat"
    organization_id: int | None = Field(default=None, foreign_key="organization.id", index=True)
    paper_id: int | None = Field(default=None, foreign_key="paper.id", index=True)
    consultation_id: int | None = Field(default=None, foreign_key="consultation.id")
    meeting_id: int | None = Field(default=None, foreign_key="meeting.id")
    status: str = Field(default=TASK_READY, index=True)
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created: datetime = Field(sa_column=utc_column(nullable=False))
    completed: datetime | None = Field(default=None, sa_column=utc_column())
    completed_by: str | None = None


def may_work_on(actor: Actor, task: HumanTask) -> bool:
    return task.lane is not None and actor.has_role(task.lane, task.organization_id)


def inbox(session: Session, actor: Actor) -> list[HumanTask]:
    """Ready tasks of the actor's groups, oldest first."""
    query = select(HumanTask).where(HumanTask.status == TASK_READY)
    if not actor.is_admin:
        conditions = []
        for role, org in actor.grants:
            if org is None:
                conditions.append(HumanTask.lane == role)
            else:
                conditions.append((HumanTask.lane == role) & (HumanTask.organization_id == org))
        if not conditions:
            return []
        query = query.where(or_(*conditions))
    return list(session.exec(query.order_by(HumanTask.created, HumanTask.id)))


def ready_tasks_of_paper(session: Session, paper_id: int) -> list[HumanTask]:
    return list(session.exec(
        select(HumanTask).where(HumanTask.paper_id == paper_id, HumanTask.status == TASK_READY)
        .order_by(HumanTask.id)
    ))
