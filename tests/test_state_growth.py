"""A Vorlage's stored workflow state does not grow with its history (issue 16): a Beratung
vertagt again and again keeps a state of bounded size, and still runs, ends and shows its
path in the auditors' diagram."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlmodel import select

from engine.council import Consultation, Meeting, Paper
from engine.process import procedures
from engine.tasks import TASK_READY, HumanTask
from engine.workflow import runtime
from engine.workflow.models import INSTANCE_COMPLETED, ProcessInstance

LOOPS = 30


def test_a_beratung_vertagt_thirty_times_keeps_a_small_state_and_its_history(demo, database, actor):  # type: ignore[no-untyped-def]
    clerk, secretary = actor("zierstedt"), actor("hoffmann")
    committee_id = demo.committee_meeting.organization_id
    first = demo.committee_meeting.start + timedelta(days=60)
    with database.unit_of_work() as s:
        for week in range(LOOPS + 2):
            s.add(Meeting(organization_id=committee_id, reference=f"LOOP/{week}", name=f"Sitzung {week}",
                          start=first + timedelta(weeks=week), end=first + timedelta(weeks=week, hours=2)))
        seed = s.get(Paper, demo.paper_id)
        paper = Paper(body_id=seed.body_id, reference="2026/999", name="Immer wieder vertagt",
                      paper_type=seed.paper_type, public=True, under_direction_of_id=seed.under_direction_of_id,
                      clerk_id=seed.clerk_id)
        s.add(paper)
        s.flush()
        s.add(Consultation(paper_id=paper.id, position=1, organization_id=committee_id, role="Entscheidung"))
        s.flush()
        procedures.start_beratungsfolge(s, clerk, paper.id, now=first - timedelta(days=30))
        paper_id = paper.id
        meetings = [m.id for m in s.exec(select(Meeting).where(Meeting.organization_id == committee_id,
                                                             Meeting.start >= first).order_by(Meeting.start))]

    def step(data: dict, now) -> None:  # type: ignore[no-untyped-def,type-arg]
        with database.unit_of_work() as s:
            task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,
                                                  HumanTask.status == TASK_READY)).one()
            version = s.get(ProcessInstance, task.process_instance_id).version
            procedures.complete_task(s, secretary, task.id, data, version, now=now)

    def state() -> tuple[int, ProcessInstance]:
        with database.unit_of_work() as s:
            instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper_id)).one()
            return len(json.loads(instance.state)["tasks"]), instance

    sizes = []
    for loop in range(LOOPS):
        start = first + timedelta(weeks=loop)
        step({"meeting_id": meetings[loop]}, start - timedelta(days=3))
        step({"ergebnis": "vertagt"}, start + timedelta(hours=3))
        sizes.append(state()[0])
    assert max(sizes) <= 60, sizes  # without pruning: 3 more tasks with every round (~100 at 30)
    later, earlier = sizes[LOOPS // 2:], sizes[:LOOPS // 2]
    assert max(later) <= max(earlier)  # pruned now and then: a saw tooth, not a slope

    # Still the same process: the postponements shape the next choice, and it ends.
    start = first + timedelta(weeks=LOOPS)
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id, HumanTask.status == TASK_READY)).one()
        assert task.context["postponed_in"] == (start - timedelta(weeks=1)).date().isoformat()
    step({"meeting_id": meetings[LOOPS]}, start - timedelta(days=3))
    step({"ergebnis": "beschlossen"}, start + timedelta(hours=3))
    with database.unit_of_work() as s:
        instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == paper_id)).one()
        assert instance.status == INSTANCE_COMPLETED
        assert s.get(Paper, paper_id).status == "abgeschlossen"
        diagram = procedures.diagram_state(s, instance.id)
    completed = set(diagram["completed"])
    assert {"Tagesordnung", "Ergebnis"} <= completed
    assert any(flow for flow in diagram["taken"])
    assert runtime.PRUNED in runtime.restore(instance.state, _spec(database, instance)).data


def _spec(database, instance):  # type: ignore[no-untyped-def]
    from engine.workflow.models import ProcessModel

    with database.unit_of_work() as s:
        return s.get(ProcessModel, instance.model_id).spec_json
