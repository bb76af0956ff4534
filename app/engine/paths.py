"""What process analytics reads from a diagram and a workflow: the sequence flows of a diagram, the flows a workflow
has taken (parent → child transitions in its task tree), and durations in working days."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from lxml import etree
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from .calendar import CHINA_TZ, WorkingCalendar

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
# a task in one of these states was reached: the flow into it was taken
REACHED = TaskState.COMPLETED | TaskState.READY | TaskState.STARTED | TaskState.WAITING | TaskState.ERROR


def sequence_flows(xml: str | bytes) -> dict[tuple[str, str], str]:
    """{(sourceRef, targetRef): flow id} of every sequence flow in the diagram (the first flow of a pair)."""
    data = xml.encode() if isinstance(xml, str) else xml
    root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    flows: dict[tuple[str, str], str] = {}
    for el in root.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        source, target, flow_id = el.get("sourceRef"), el.get("targetRef"), el.get("id")
        if source and target and flow_id:
            flows.setdefault((source, target), flow_id)
    return flows


def taken_transitions(workflow: BpmnWorkflow) -> Counter[tuple[str, str]]:
    """How often the workflow went from one BPMN element to the next: for every reached task with a BPMN id, its
    nearest ancestor with a BPMN id (the engine's internal tasks, e.g. a boundary event split, are skipped).
    A cancelled task counts when something below it was reached (a step interrupted by a boundary timer)."""
    taken: Counter[tuple[str, str]] = Counter()
    for task in workflow.get_tasks():
        target = getattr(task.task_spec, "bpmn_id", None)
        if not target or not _reached(task):
            continue
        parent = task.parent
        while parent is not None and not getattr(parent.task_spec, "bpmn_id", None):
            parent = parent.parent
        if parent is None:
            continue
        source = parent.task_spec.bpmn_id
        if source != target:
            taken[(source, target)] += 1
    return taken


def _reached(task) -> bool:
    if task.state & REACHED:
        return True
    if task.state == TaskState.CANCELLED:
        return any(child.state & (REACHED | TaskState.CANCELLED) and _reached(child) for child in task.children)
    return False


def working_days_between(calendar: WorkingCalendar, start: datetime, end: datetime) -> float:
    """The time from start to end that falls on working days (Beijing time), in days of 24 hours: a task opened on
    Friday 10:00 and completed on Monday 10:00 took 1.0 working day; weekends and holidays do not count."""
    if end <= start:
        return 0.0
    start, end = start.astimezone(CHINA_TZ), end.astimezone(CHINA_TZ)
    total = timedelta()
    day = start.date()
    while day <= end.date():
        if calendar.is_working_day(day):
            begin = datetime.combine(day, datetime.min.time(), tzinfo=CHINA_TZ)
            finish = begin + timedelta(days=1)
            total += min(finish, end) - max(begin, start)
        day += timedelta(days=1)
    return round(total.total_seconds() / 86400, 4)
