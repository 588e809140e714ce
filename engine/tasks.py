"""The human-task index: a relational copy of every ready user task.

The inbox reads this table and never deserializes a workflow. Rows are written in the
same transaction as the workflow state they mirror.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, or_, text
from sqlmodel import Field, Session, SQLModel, select

from .accounts import Actor
from .types import utc_column

TASK_READY = "bereit"
TASK_DONE = "erledigt"
TASK_CANCELLED = "abgebrochen"

#: Delegation states (Camunda's semantics): the delegate works on it and hands it back.
DELEGATION_PENDING = "delegiert"
DELEGATION_RESOLVED = "zurückgegeben"

_OPEN = text("status = 'bereit'")


class HumanTask(SQLModel, table=True):
    __tablename__ = "human_task"
    __table_args__ = (
        # The inbox's keyset orders (see ``engine.inbox``); partial: open tasks only.
        Index("ix_human_task_open_org_due", "organization_id", "due", "id",
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_human_task_open_org_created", "organization_id", "created", "id",
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_human_task_open_assignee_due", "assignee", "due", "id",
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_human_task_done_by", "completed_by", "completed", "id"),
    )

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
    #: The holder (username); None: claimable by the candidate group.
    assignee: str | None = None
    #: Who delegated it and gets it back (Camunda's owner); None unless delegated.
    owner: str | None = None
    delegation: str | None = None  # DELEGATION_PENDING | DELEGATION_RESOLVED
    due: date | None = None  # from the Gremium's deadline rules
    follow_up: date | None = None  # Wiedervorlage, set by the holder
    #: Vorlage reference and Betreff, casefolded: the inbox's text filter (German-aware).
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class TaskComment(SQLModel, table=True):
    """A comment on a task, kept with the procedure's history (and audited)."""

    __tablename__ = "task_comment"

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="human_task.id", index=True)
    paper_id: int | None = Field(default=None, foreign_key="paper.id", index=True)
    author: str
    author_name: str
    text: str = Field(sa_column=Column(Text, nullable=False))
    created: datetime = Field(sa_column=utc_column(nullable=False))


class SavedFilter(SQLModel, table=True):
    """A user's named inbox filter: the query string of the inbox."""

    __tablename__ = "saved_filter"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    name: str
    query: str


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
