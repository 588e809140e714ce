"""The verbs of a Sitzung and its process (``bpmn/sitzung.bpmn``): plan it, move it, cancel
it, send its invitation.

Every Sitzung runs its own instance of the session model. Each verb runs in the caller's unit
of work and takes everything that hangs on the session with it in that same transaction: the
instance's timers (moved or dropped), the planned reminders (``engine.calendar.reminders``), the due
dates of the tasks that wait for it, the members' notices, the audit event with who and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

from sqlmodel import Session, col, select

from engine import audit
from engine.accounts import Actor
from engine.calendar import deadlines, meetings, reminders
from engine.council import MEETING_CANCELLED, ROLE_SECRETARIAT, Consultation, Meeting, Organization
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.process import procedures, rules
from engine.schemas import MeetingIn, MoveIn, OptionalReasonIn, ReasonIn, load
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.types import utcnow
from engine.workflow import runtime
from engine.workflow.models import INSTANCE_RUNNING, ProcessInstance

# ----------------------------------------------------------------------------- the process

def _instant(day: Any, at: time = time(0)) -> str:
    return datetime.combine(day, at, TIMEZONE).isoformat()


def termine(session: Session, meeting: Meeting) -> dict[str, str]:
    """The moments the session process waits for: the agenda closes at the end of its last
    day, the Ladungsfrist has passed at the end of the last day the invitation may go out,
    the session begins."""
    marks = deadlines.deadlines_for_meeting(session, meeting)
    return {
        "tagesordnungsschluss": _instant(marks.agenda_closing + timedelta(days=1)),
        "ladungsfrist_verstrichen": _instant(marks.invitation + timedelta(days=1)),
        "sitzungsbeginn": meeting.start.astimezone(TIMEZONE).isoformat(),
    }


def start_process(session: Session, meeting: Meeting, now: datetime) -> ProcessInstance:
    """Start the session process of a Sitzung (one instance per Meeting)."""
    assert meeting.id is not None
    if process_of(session, meeting.id, running=False) is not None:
        raise Conflict("Diese Sitzung hat ihren Ablauf schon.")
    org = session.get(Organization, meeting.organization_id)
    assert org is not None
    model = procedures.current_model(session, procedures.SITZUNG)
    workflow = runtime.new_workflow(model.spec_json, model.spec_hash)
    data = {
        "sitzung": {"id": meeting.id, "organization_id": org.id, "organization_name": org.name,
                    "reference": meeting.reference, "name": meeting.name},
        "termine": termine(session, meeting),
    }
    for task in workflow.get_tasks(state=runtime.TaskState.READY):
        task.data.update(data)
    assert model.id is not None
    instance = ProcessInstance(model_id=model.id, meeting_id=meeting.id, state=runtime.save(workflow),
                               serializer_version=runtime.SERIALIZER_VERSION, started=now, updated=now)
    session.add(instance)
    session.flush()
    assert instance.id is not None
    audit.record(session, "system", "Ablauf", "procedure.started", process_instance_id=instance.id, at=now,
                 details={"model": model.process_id, "model_version": model.version,
                          "meeting_id": meeting.id, "gremium": org.name, "termine": data["termine"]})
    procedures.advance(session, instance.id, now)
    return instance


def process_of(session: Session, meeting_id: int, running: bool = True) -> ProcessInstance | None:
    query = select(ProcessInstance).where(ProcessInstance.meeting_id == meeting_id)
    if running:
        query = query.where(ProcessInstance.status == INSTANCE_RUNNING)
    return session.exec(query.order_by(col(ProcessInstance.id).desc())).first()


def _reschedule(session: Session, meeting: Meeting, now: datetime) -> int:
    """A moved session's process waits for its new moments."""
    assert meeting.id is not None
    instance = process_of(session, meeting.id)
    if instance is None:
        return 0
    moved = 0
    new = termine(session, meeting)

    def change(workflow: Any) -> None:
        nonlocal moved
        moved = runtime.set_data_everywhere(workflow, "termine", new, now)

    assert instance.id is not None
    procedures.advance(session, instance.id, now, change)
    return moved


def create_meeting(session: Session, actor: Actor, data: dict[str, Any],
                   now: datetime | None = None) -> Meeting:
    """The Sekretariat of a Gremium plans one of its Sitzungen; its process starts."""
    now = now or utcnow()
    values = load(MeetingIn(), data)
    org = session.get(Organization, values["organization_id"])
    if org is None or org.organization_type != "Gremium":
        raise Invalid("Eingaben bitte prüfen.", {"organization_id": ["Bitte ein Gremium wählen."]})
    if not actor.has_role(ROLE_SECRETARIAT, org.id):
        raise Forbidden(f"Sie betreuen das Gremium {org.name} nicht.")
    assert org.id is not None
    start = datetime.combine(values["date"], values["start_time"], TIMEZONE)
    if start <= now:
        raise Invalid("Eingaben bitte prüfen.", {"date": ["Die Sitzung läge in der Vergangenheit."]})
    end = datetime.combine(values["date"], values["end_time"], TIMEZONE) if values["end_time"] else None
    meeting = Meeting(organization_id=org.id, reference=values["reference"], name=values["name"],
                      start=start, end=end, location=values["location"])
    session.add(meeting)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "meeting.created", at=now,
                 meeting_id=meeting.id, details={
        "meeting_id": meeting.id, "reference": meeting.reference, "gremium": org.name, "name": meeting.name,
        "start": start.isoformat()})
    reminders.plan_meeting(session, meeting, now)
    start_process(session, meeting, now)
    return meeting


def send_invitation(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
                    now: datetime | None = None) -> Meeting:
    """The secretary sends the invitation: the session process's "Einladung versenden" is
    completed (every member gets it with the agenda). Sent before the agenda closed, the
    invitation closes it (the Tagesordnungsschluss counts as reached, audited)."""
    now = now or utcnow()
    values = load(OptionalReasonIn(), data)
    meeting, _org = _ahead(session, actor, meeting_id, now, "Die Sitzung ist abgesagt.")
    if meeting.invited is not None:
        raise Conflict(f"Die Einladung wurde schon am "
                       f"{meeting.invited.astimezone(TIMEZONE):%d.%m.%Y} versandt.")
    instance = process_of(session, meeting_id, running=False)
    if instance is None:  # a Sitzung without a process (imported): sent as it is
        meetings.dispatch_invitation(session, actor.username, actor.display_name, meeting,
                                     values["reason"], now)
        return meeting
    if instance.status != INSTANCE_RUNNING:
        raise Conflict(f"Der Ablauf dieser Sitzung ist {instance.status}"
                       f"{': ' + instance.incident if instance.incident else ''}; "
                       "bitte die Administration verständigen.")
    assert instance.id is not None
    # The elements the model declares for these roles (checked at deploy), whatever their ids.
    closing = procedures.element_of(session, instance, rules.ROLE_AGENDA_CLOSING)
    invitation = procedures.element_of(session, instance, rules.ROLE_INVITATION)
    if closing is not None:
        instance, _ = procedures.advance(
            session, instance.id, now, lambda wf: runtime.fire_timer_now(wf, closing))
    task = session.exec(select(HumanTask).where(
        HumanTask.process_instance_id == instance.id, HumanTask.bpmn_id == invitation,
        HumanTask.status == TASK_READY)).first() if invitation is not None else None
    if task is None or task.id is None:
        raise Conflict("Der Ablauf dieser Sitzung wartet nicht auf die Einladung.")
    procedures.complete_task(session, actor, task.id, {"reason": values["reason"] or ""},
                             instance.version, now)
    session.refresh(meeting)
    return meeting


# ----------------------------------------------------------------------------- move, cancel

def _ahead(session: Session, actor: Actor, meeting_id: int, now: datetime,
           cancelled: str) -> tuple[Meeting, Organization]:
    """The actor's Gremium's Sitzung, not cancelled (``cancelled`` says why it matters) and
    not begun: the three verbs below work only on such a session.

    The Sitzung's row is locked for the unit of work (PostgreSQL: ``FOR NO KEY UPDATE``, which
    still lets others insert agenda items that refer to it; SQLite: the writer holds the
    database), and read afresh: two secretaries moving one Sitzung at once take turns, the
    second starting from the first one's result. Without the lock both read the same
    ``sequence``, both wrote sequence + 1, and the second move's notices, keyed by it, were
    taken for the first's and never sent (a lost update, ``tests/test_under_load.py``)."""
    meeting = session.get(Meeting, meeting_id, with_for_update={"key_share": True}, populate_existing=True)
    if meeting is None:
        raise NotFound("Diese Sitzung gibt es nicht.")
    org = session.get(Organization, meeting.organization_id)
    assert org is not None
    if not actor.has_role(ROLE_SECRETARIAT, org.id):
        raise Forbidden(f"Sie betreuen das Gremium {org.name} nicht.")
    if meeting.cancelled:
        raise Conflict(cancelled)
    if meeting.start <= now:
        start = meeting.start.astimezone(TIMEZONE)
        raise Conflict(f"Die Sitzung hat schon begonnen ({start:%d.%m.%Y}, {start:%H:%M} Uhr).")
    return meeting, org


@dataclass(frozen=True)
class _Followed:
    plan: reminders.Plan
    members_told: int
    tasks_due_again: int


def _follow(session: Session, meeting: Meeting, kind: str, reason: str, now: datetime) -> _Followed:
    """After a move or cancellation: a new sequence, the reminders planned again, the members
    told, the waiting tasks due anew."""
    meeting.sequence += 1
    session.add(meeting)
    session.flush()
    plan = reminders.plan_meeting(session, meeting, now)
    told = reminders.notify_members(session, meeting, kind, now, note=reason)
    return _Followed(plan, told, _redue_tasks(session, meeting, now))


def move(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
         now: datetime | None = None) -> Meeting:
    """New date, time or place, with a reason: reminders, due dates and members follow."""
    now = now or utcnow()
    meeting, org = _ahead(session, actor, meeting_id, now,  # who may not learns it before the input's faults
                          "Die Sitzung ist abgesagt und kann nicht verlegt werden.")
    values = load(MoveIn(), data)
    start = datetime.combine(values["date"], values["start_time"], TIMEZONE)
    if start <= now:
        raise Invalid("Eingaben bitte prüfen.", {"date": ["Die neue Zeit liegt in der Vergangenheit."]})
    end = datetime.combine(values["date"], values["end_time"], TIMEZONE) if values["end_time"] else None
    old = {"start": meeting.start.isoformat(), "location": meeting.location}
    meeting.start, meeting.end = start, end
    meeting.invitation_overdue = False  # the Ladungsfrist moved with it; its timer flags anew
    if values["location"] is not None:
        meeting.location = values["location"]
    followed = _follow(session, meeting, reminders.KIND_MOVED, values["reason"], now)
    timers_moved = _reschedule(session, meeting, now)
    plan = followed.plan
    audit.record(session, actor.username, actor.display_name, "meeting.moved", at=now,
                 meeting_id=meeting.id, details={
        "meeting_id": meeting.id, "reference": meeting.reference, "gremium": org.name,
        "reason": values["reason"],
        "old": old, "new": {"start": start.isoformat(), "location": meeting.location},
        "reminders": {"planned": plan.planned, "moved": plan.moved, "cancelled": plan.cancelled},
        "members_told": followed.members_told, "tasks_due_again": followed.tasks_due_again,
        "timers_moved": timers_moved})
    return meeting


def cancel(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
           now: datetime | None = None) -> Meeting:
    """Cancel with a reason: its reminders are cancelled, members told, waiting tasks
    turn to the Gremium's next session."""
    now = now or utcnow()
    meeting, org = _ahead(session, actor, meeting_id, now, "Die Sitzung ist schon abgesagt.")
    values = load(ReasonIn(), data)
    meeting.cancelled = True
    meeting.meeting_state = MEETING_CANCELLED
    followed = _follow(session, meeting, reminders.KIND_CANCELLED, values["reason"], now)
    instance = process_of(session, meeting_id, running=False)
    session_tasks = procedures.cancel_instance(session, instance.id, now) \
        if instance is not None and instance.id is not None else 0
    audit.record(session, actor.username, actor.display_name, "meeting.cancelled", at=now,
                 meeting_id=meeting.id, details={
        "meeting_id": meeting.id, "reference": meeting.reference, "gremium": org.name,
        "reason": values["reason"],
        "start": meeting.start.isoformat(), "reminders_cancelled": followed.plan.cancelled,
        "members_told": followed.members_told, "tasks_due_again": followed.tasks_due_again,
        "session_tasks_cancelled": session_tasks})
    return meeting


def _redue_tasks(session: Session, meeting: Meeting, now: datetime) -> int:
    """Ready tasks that wait for this session get their due date (and session) anew."""
    count = 0
    for task in session.exec(select(HumanTask).where(HumanTask.meeting_id == meeting.id,
                                                     HumanTask.status == TASK_READY)):
        rule = task.context.get("due_rule")
        if rule not in rules.DUE_RULES:
            continue
        consultation = session.get(Consultation, task.consultation_id) if task.consultation_id else None
        subject = rules.Subject(task.organization_id, consultation, meeting if consultation is None else None)
        due = rules.DUE_RULES[rule](session, subject, now)
        task.due, at_once = rules.due_at_the_earliest(rule, due.due, now)
        context = {k: v for k, v in task.context.items() if k != "sofort"}
        task.context = {**context, "sofort": at_once} if at_once else context
        task.meeting_id = due.meeting.id if due.meeting else None
        session.add(task)
        count += 1
    session.flush()
    return count


