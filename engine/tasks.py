"""The human-task index: a relational copy of every ready user task.

The inbox reads this table and never deserializes a workflow. Rows are written in the
same transaction as the workflow state they mirror.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text, update
from sqlmodel import Field, Session, SQLModel, col, select

from engine import audit, minutes, standins
from engine.accounts import Actor, load_actor
from engine.council import Account, Meeting
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.types import table_of, utc_column, utcnow
from engine.workflow.models import ProcessInstance

TASK_READY = "bereit"
TASK_DONE = "erledigt"
TASK_CANCELLED = "abgebrochen"

#: Delegation states (Camunda's semantics): the delegate works on it and hands it back.
DELEGATION_PENDING = "delegiert"
DELEGATION_RESOLVED = "zurückgegeben"

_OPEN = text("status = 'bereit'")
_DONE = text("status = 'erledigt'")


class HumanTask(SQLModel, table=True):
    __tablename__ = "human_task"
    __table_args__ = (
        # The inbox's keyset orders (see ``engine.inbox``); partial: open tasks only.
        Index("ix_human_task_open_due", "due", "id", postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_human_task_open_org_due", "organization_id", "due", "id",
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_human_task_open_org_created", "organization_id", "created", "id",
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        # "Neueste zuerst" across Gremien and lanes (an actor with several, the Vorsitz's own
        # tasks): read in order, filtered, stopped after a page, as ix_human_task_open_due does.
        Index("ix_human_task_open_created", "created", "id", postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_human_task_open_assignee_due", "assignee", "due", "id",
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        # The Sitzung filter: its tasks in due order, not the Gremium's searched for them.
        Index("ix_human_task_open_meeting_due", "meeting_id", "due", "id",
              postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_human_task_done_by", "completed_by", "completed", "id"),
        # The text filter (q=) on PostgreSQL: trigrams (pg_trgm) find a '%…%' substring of the
        # open and of the completed tasks without reading each; SQLite has no such index. The
        # open tasks' index holds the Gremium too (btree_gin), so a secretary's search reads
        # only the matches in her Gremien.
        Index("ix_human_task_open_search", "organization_id", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}, postgresql_where=_OPEN,
              info={"only_on": "postgresql"}).ddl_if(dialect="postgresql"),
        Index("ix_human_task_done_search", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"}, postgresql_where=_DONE,
              info={"only_on": "postgresql"}).ddl_if(dialect="postgresql"),
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
    """Whether the actor belongs to the task's candidate group (or is an admin)."""
    return task.lane is not None and actor.has_role(task.lane, task.organization_id)


def may_work_on_in(session: Session, actor: Actor, task: HumanTask) -> bool:
    """:func:`may_work_on`, or the Vorsitz's own task (lane ``Vorsitz``) for the chair of the
    Gremium on the session day, from the memberships (one query, only for that lane)."""
    if may_work_on(actor, task):
        return True
    if task.lane != minutes.CHAIR_LANE:
        return False
    meeting_id = task.meeting_id or session.exec(select(ProcessInstance.meeting_id).where(
        ProcessInstance.id == task.process_instance_id)).first()
    meeting = session.get(Meeting, meeting_id) if meeting_id else None
    return minutes.is_chair(session, actor, task.organization_id, meeting)


class _InGroup(Protocol):
    lane: str | None
    organization_id: int | None


def candidate_group(task: _InGroup) -> str | None:
    """The candidate group as a name: the lane's role and the Gremium, e.g. ``Sekretariat:3``."""
    if task.lane is None:
        return None
    return task.lane if task.organization_id is None else f"{task.lane}:{task.organization_id}"


def search_text(reference: str, name: str) -> str:
    """What the inbox's text filter matches: casefolded (German-aware: ß = ss, Ä = ä)."""
    return f"{reference} {name}".casefold()


def ready_tasks_of_paper(session: Session, paper_id: int) -> list[HumanTask]:
    return list(session.exec(
        select(HumanTask).where(HumanTask.paper_id == paper_id, HumanTask.status == TASK_READY)
        .order_by(col(HumanTask.id))
    ))


# ----------------------------------------------------------------------------- holders

def _display_name(session: Session, username: str) -> str:
    name = session.exec(select(Account.display_name).where(Account.username == username)).first()
    return f"{name} ({username})" if name else username


def held_by_other(session: Session, actor: Actor, task: HumanTask) -> Conflict | None:
    """The refusal when someone else holds the task (or it waits for a delegate's hand-back)."""
    if task.assignee is None or task.assignee == actor.username:
        return None
    holder = _display_name(session, task.assignee)
    if task.delegation == DELEGATION_PENDING and task.owner == actor.username:
        return Conflict(f"Die Aufgabe ist an {holder} delegiert; sie kommt zu Ihnen zurück, "
                        "sobald sie dort erledigt ist.")
    return Conflict(f"Die Aufgabe wird von {holder} bearbeitet.")


def load_for(session: Session, actor: Actor, task_id: int, *, ready: bool = True,
             now: datetime | None = None) -> HumanTask:
    """A task the actor may see; 404 if unknown, 403 for another group, 409 if not open."""
    task = session.get(HumanTask, task_id)
    if task is None:
        raise NotFound("Aufgabe nicht gefunden.")
    if not may_work_on_in(session, actor, task) and _acting_for(session, actor, task, now) is None:
        raise Forbidden("Diese Aufgabe gehört nicht zu Ihren Gremien.")
    if ready and task.status != TASK_READY:
        raise Conflict(f"Die Aufgabe ist bereits {task.status}.")
    return task


def _acting_for(session: Session, actor: Actor, task: HumanTask, now: datetime | None) -> Any:
    """The absent person the actor stands in for whose rights reach the task (or None)."""
    return standins.acting_for(session, actor.account_id, task.lane, task.organization_id, task.assignee, now,
                               actor.username)


def _record_holder(session: Session, actor: Actor, task: HumanTask, action: str, old: str | None,
                   now: datetime, **extra: Any) -> None:
    audit.record(session, actor.username, actor.display_name, action, paper_id=task.paper_id,
                 process_instance_id=task.process_instance_id, at=now, details={
                     "task_id": task.id, "task": task.bpmn_id, "title": task.title,
                     "holder": {"old": old, "new": task.assignee}, **extra})


def _set_holder(session: Session, task: HumanTask, expected: str | None, **values: Any) -> bool:
    """Change the holder only if it is still ``expected``: of two concurrent claims one wins."""
    table = table_of(HumanTask)
    holder = table.c.assignee
    done = session.exec(
        update(table).where(table.c.id == task.id, table.c.status == TASK_READY,
                            holder.is_(None) if expected is None else holder == expected)
        .values(**values))
    session.refresh(task)
    return done.rowcount == 1


def claim(session: Session, actor: Actor, task_id: int, now: datetime | None = None) -> HumanTask:
    """Take a task of one's group; nobody else can complete or claim it while held."""
    now = now or utcnow()
    task = load_for(session, actor, task_id, now=now)
    if task.assignee == actor.username:
        return task
    refusal = held_by_other(session, actor, task)
    if refusal is not None:
        raise refusal
    if not _set_holder(session, task, None, assignee=actor.username):
        raise held_by_other(session, actor, task) or Conflict("Die Aufgabe ist nicht mehr offen.")
    _record_holder(session, actor, task, "task.claimed", None, now)
    return task


def unclaim(session: Session, actor: Actor, task_id: int, now: datetime | None = None) -> HumanTask:
    """Give a held task back to the group (the holder, or an admin)."""
    now = now or utcnow()
    task = load_for(session, actor, task_id, now=now)
    old = task.assignee
    if old is None:
        return task
    if old != actor.username and not actor.is_admin:
        raise held_by_other(session, actor, task) or Conflict("Die Aufgabe ist nicht mehr offen.")
    if not _set_holder(session, task, old, assignee=None, owner=None, delegation=None):
        raise Conflict("Die Aufgabe wurde inzwischen geändert; bitte neu laden.")
    _record_holder(session, actor, task, "task.unclaimed", old, now)
    return task


def _colleague(session: Session, task: HumanTask, username: Any) -> Actor:
    """The account a task is handed to: active and in the task's candidate group."""
    if not isinstance(username, str) or not username.strip() or "\x00" in username:
        raise Invalid("Eingaben bitte prüfen.", {"user": ["Bitte ein Konto angeben."]})
    account_id = session.exec(select(Account.id).where(Account.username == username.strip())).first()
    colleague = load_actor(session, account_id) if account_id is not None else None
    if colleague is None:
        raise Invalid("Eingaben bitte prüfen.", {"user": [f"Unbekanntes Konto: {username.strip()}."]})
    if not may_work_on(colleague, task):
        raise Invalid("Eingaben bitte prüfen.", {
            "user": [f"{colleague.display_name} gehört nicht zur Gruppe dieser Aufgabe."]})
    return colleague


def _may_hand_on(actor: Actor, task: HumanTask) -> bool:
    """The holder hands a task on; an unheld one anyone of the group; an admin always."""
    return actor.is_admin or task.assignee in (None, actor.username)


def assign(session: Session, actor: Actor, task_id: int, username: Any,
           now: datetime | None = None) -> HumanTask:
    """Give the task to a colleague of the same group (they become its holder)."""
    now = now or utcnow()
    task = load_for(session, actor, task_id, now=now)
    colleague = _colleague(session, task, username)
    old = task.assignee
    if not _may_hand_on(actor, task):
        raise held_by_other(session, actor, task) or Conflict("Die Aufgabe ist nicht mehr offen.")
    if old == colleague.username and task.delegation is None:
        return task
    if not _set_holder(session, task, old, assignee=colleague.username, owner=None, delegation=None):
        raise Conflict("Die Aufgabe wurde inzwischen geändert; bitte neu laden.")
    _record_holder(session, actor, task, "task.assigned", old, now)
    return task


def delegate(session: Session, actor: Actor, task_id: int, username: Any,
             now: datetime | None = None) -> HumanTask:
    """Hand the task to a colleague who works on it and hands it back (the owner confirms)."""
    now = now or utcnow()
    task = load_for(session, actor, task_id, now=now)
    colleague = _colleague(session, task, username)
    if colleague.username == actor.username:
        raise Invalid("Eingaben bitte prüfen.", {"user": ["Bitte eine andere Person wählen."]})
    if task.assignee != actor.username:
        raise held_by_other(session, actor, task) or Conflict(
            "Nur wer die Aufgabe übernommen hat, kann sie delegieren.")
    old = task.assignee
    if not _set_holder(session, task, old, assignee=colleague.username, owner=actor.username,
                       delegation=DELEGATION_PENDING):
        raise Conflict("Die Aufgabe wurde inzwischen geändert; bitte neu laden.")
    _record_holder(session, actor, task, "task.delegated", old, now, owner=actor.username)
    return task


def resolve(session: Session, actor: Actor, task_id: int, now: datetime | None = None) -> HumanTask:
    """The delegate hands the task back to its owner, marked as resolved."""
    now = now or utcnow()
    task = load_for(session, actor, task_id, now=now)
    if task.delegation != DELEGATION_PENDING or task.assignee != actor.username:
        raise Conflict("Die Aufgabe ist nicht an Sie delegiert.")
    old = task.assignee
    if not _set_holder(session, task, old, assignee=task.owner, delegation=DELEGATION_RESOLVED):
        raise Conflict("Die Aufgabe wurde inzwischen geändert; bitte neu laden.")
    _record_holder(session, actor, task, "task.resolved", old, now, owner=task.owner)
    return task


def set_follow_up(session: Session, actor: Actor, task_id: int, day: date | None,
                  now: datetime | None = None) -> HumanTask:
    """The holder sets (or clears) a follow-up date (Wiedervorlage)."""
    now = now or utcnow()
    task = load_for(session, actor, task_id, now=now)
    if task.assignee != actor.username:
        raise held_by_other(session, actor, task) or Conflict(
            "Eine Wiedervorlage setzt, wer die Aufgabe übernommen hat.")
    old = task.follow_up
    task.follow_up = day
    session.add(task)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "task.follow_up",
                 paper_id=task.paper_id, process_instance_id=task.process_instance_id, at=now,
                 details={"task_id": task.id, "title": task.title,
                          "follow_up": {"old": old.isoformat() if old else None,
                                        "new": day.isoformat() if day else None}})
    return task


MAX_COMMENT = 5000


def add_comment(session: Session, actor: Actor, task_id: int, text_value: Any,
                now: datetime | None = None) -> TaskComment:
    """A comment on a task (open or done), kept and audited with the procedure."""
    now = now or utcnow()
    task = load_for(session, actor, task_id, ready=False, now=now)
    body = text_value.strip() if isinstance(text_value, str) else ""
    if not body:
        raise Invalid("Eingaben bitte prüfen.", {"text": ["Pflichtfeld: bitte ausfüllen."]})
    if len(body) > MAX_COMMENT:
        raise Invalid("Eingaben bitte prüfen.", {"text": [f"Höchstens {MAX_COMMENT} Zeichen."]})
    if "\x00" in body:
        raise Invalid("Eingaben bitte prüfen.", {"text": ["Unzulässiges Zeichen (NUL)."]})
    assert task.id is not None
    comment = TaskComment(task_id=task.id, paper_id=task.paper_id, author=actor.username,
                          author_name=actor.display_name, text=body, created=now)
    session.add(comment)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "task.commented",
                 paper_id=task.paper_id, process_instance_id=task.process_instance_id, at=now,
                 details={"task_id": task.id, "title": task.title, "comment_id": comment.id,
                          "text": body})
    return comment


def comments_of(session: Session, task_id: int) -> list[TaskComment]:
    return list(session.exec(select(TaskComment).where(TaskComment.task_id == task_id)
                             .order_by(col(TaskComment.created), col(TaskComment.id))))
