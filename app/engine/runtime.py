"""Start, inspect and advance workflows. Callers own persistence and authorization."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimeDateEventDefinition, TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .calendar import WorkingCalendar
from .sandbox import ScriptError
from .script_env import ActionRequest, NotificationRequest, make_script_engine


class TaskNotReady(Exception):
    """The task is not (or no longer) waiting for a person."""


class EngineError(Exception):
    """The process failed while running (e.g. a gateway condition raised); the workflow object is now unusable."""

    def __init__(self, element_id: str | None, reason: str):
        super().__init__(f"{element_id}: {reason}")
        self.element_id = element_id
        self.reason = reason


@dataclass(frozen=True)
class UserTaskView:
    """A ready user task as plain data: what the projection and the forms need."""

    task_id: str
    spec_name: str
    element_id: str
    title: str
    lane: str | None
    form_key: str
    candidate_roles: tuple[str, ...]
    department: str | None
    result_variable: str
    due_at: datetime | None
    data: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class PendingTimer:
    """An armed timer event waiting for its time (a boundary or intermediate timer)."""

    task_id: str
    element_id: str
    title: str
    due_at: datetime
    interrupting: bool
    attached_to: str | None


def start_workflow(spec: BpmnProcessSpec, subprocess_specs: dict, data: dict[str, Any],
                   calendar: WorkingCalendar | None = None) -> BpmnWorkflow:
    """Create an instance with initial data and run it up to its first wait state."""
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=make_script_engine(calendar))
    workflow.task_tree.data.update(data)
    _advance(workflow, None)
    return workflow


def ready_user_tasks(workflow: BpmnWorkflow) -> list[UserTaskView]:
    """The ready user tasks whose department resolved (the others are unassignable_tasks: nobody may hold them)."""
    views = []
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        department, problem = _department(task)
        if problem is None:
            views.append(_view(task, department))
    return views


def unassignable_tasks(workflow: BpmnWorkflow) -> list[tuple[str, str]]:
    """(element id, reason) of ready user tasks whose department expression failed or named no department."""
    out = []
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        _department_code, problem = _department(task)
        if problem is not None:
            out.append((task.task_spec.bpmn_id or task.task_spec.name, problem))
    return out


def _properties(spec: Any) -> dict[str, str]:
    return (getattr(spec, "extensions", None) or {}).get("properties", {})


def _department(task: Task) -> tuple[str | None, str | None]:
    """(department code, None) or (None, why not): diagram code, run in the sandbox. Fail closed: a task whose
    department cannot be said is held by nobody, never by every department."""
    expression = _properties(task.task_spec).get("department", "")
    if not expression.strip():
        return None, "用户任务没有办理部门表达式（department）"
    try:
        value = task.workflow.script_engine.evaluate(task, expression)
    except SpiffWorkflowException as exc:
        return None, f"办理部门表达式 {expression} 出错：{_reason(exc)}"
    if not isinstance(value, str) or not value.strip():
        return None, f"办理部门表达式 {expression} 没有给出部门（结果为 {value!r}）"[:300]
    return value.strip(), None


def _view(task: Task, department: str | None = None) -> UserTaskView:
    """The task as plain data from its definition; runs no diagram code (the department is passed in)."""
    spec = task.task_spec
    props = _properties(spec)
    roles = tuple(r.strip() for r in props.get("candidateRoles", "").split(",") if r.strip())
    return UserTaskView(
        task_id=str(task.id),
        spec_name=spec.name,
        element_id=spec.bpmn_id or spec.name,
        title=spec.bpmn_name or spec.name,
        lane=getattr(spec, "lane", None),
        form_key=props.get("formKey", ""),
        candidate_roles=roles,
        department=department,
        result_variable=props.get("resultVariable", spec.bpmn_id or spec.name),
        due_at=_due(task),
        data=task.data,
    )


@dataclass(frozen=True)
class StartStep:
    """A user task a process can open with, read from the definition alone (nothing runs)."""

    element_id: str
    form_key: str
    candidate_roles: tuple[str, ...]


def first_user_tasks(spec: BpmnProcessSpec) -> list[StartStep]:
    """The user tasks reachable from the start event without passing another user task: the start form when there
    is exactly one. Static, so that showing a start form (a GET) runs no diagram code."""
    found: dict[str, StartStep] = {}
    seen: set[str] = set()
    queue = [spec.start]
    while queue:
        current = queue.pop(0)
        if current.name in seen:
            continue
        seen.add(current.name)
        if current.manual:
            props = _properties(current)
            found[current.name] = StartStep(current.bpmn_id or current.name, props.get("formKey", ""),
                                            tuple(r.strip() for r in props.get("candidateRoles", "").split(",")
                                                  if r.strip()))
            continue
        queue.extend(current.outputs)
    return list(found.values())


def _due(task: Task) -> datetime | None:
    """The task's deadline: the earliest interrupting timer attached to it (or to the multi-instance activity
    holding it); without one, the latest non-interrupting timer (a deadline that only notifies)."""
    interrupting, notifying = [], []
    node = task
    for _ in range(3):  # task -> multi-instance parent -> boundary event split
        node = node.parent
        if node is None:
            break
        for sibling in node.children:
            timer = _timer_of(sibling)
            if timer is not None:
                (interrupting if timer.interrupting else notifying).append(timer.due_at)
    if interrupting:
        return min(interrupting)
    return max(notifying) if notifying else None


def _timer_of(task: Task) -> PendingTimer | None:
    definition = getattr(task.task_spec, "event_definition", None)
    if task.state != TaskState.WAITING or not isinstance(definition, TimerEventDefinition):
        return None
    value = task.internal_data.get("event_value")
    if not isinstance(value, str):
        return None
    spec = task.task_spec
    return PendingTimer(task_id=str(task.id), element_id=spec.bpmn_id or spec.name, title=spec.bpmn_name or "",
                        due_at=TimerEventDefinition.get_datetime(value),
                        interrupting=bool(getattr(spec, "cancel_activity", True)),
                        attached_to=getattr(getattr(task.parent, "task_spec", None), "name", None))


def pending_timers(workflow: BpmnWorkflow) -> list[PendingTimer]:
    return [t for t in (_timer_of(task) for task in workflow.get_tasks(state=TaskState.WAITING)) if t is not None]


def fire_due_timers(workflow: BpmnWorkflow) -> None:
    """Fire every timer whose time has come and run the engine on."""
    try:
        workflow.refresh_timers()
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        raise EngineError(_failed_element(exc, None), _reason(exc)) from exc
    check_assignments(workflow)


def recompute_timers(workflow: BpmnWorkflow) -> list[tuple[str, str, str]]:
    """Re-evaluate armed date timers (after a calendar change). Returns (element, old, new) for each that moved."""
    moved = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        old = task.internal_data.get("event_value")
        if not isinstance(definition, TimeDateEventDefinition) or not isinstance(old, str):
            continue
        try:
            new = workflow.script_engine.evaluate(task, definition.expression)
        except SpiffWorkflowException:
            continue  # the deadline stays as it was; the expression failed when it was armed already otherwise
        if isinstance(new, str) and new != old:
            task.internal_data["event_value"] = new
            moved.append((task.task_spec.bpmn_id or task.task_spec.name, old, new))
    return moved


def drain_requests(workflow: BpmnWorkflow) -> tuple[list[NotificationRequest], list[ActionRequest]]:
    """The notify() requests and the actions (start_process, record_grants, ...) scripts made since the last call."""
    return workflow.script_engine.drain()


def get_ready_task(workflow: BpmnWorkflow, task_id: str) -> UserTaskView:
    task = _find(workflow, task_id)
    if task is None or task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady(task_id)
    return _view(task)


def complete_user_task(workflow: BpmnWorkflow, task_id: str, result: dict[str, Any]) -> None:
    """Store the form result under the task's result variable, run it and the engine steps after it.

    SpiffWorkflow's task.run() does not check the state, so we do.
    """
    task = _find(workflow, task_id)
    if task is None or task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady(task_id)
    view = _view(task)
    task.data[view.result_variable] = result
    _advance(workflow, task)


def _advance(workflow: BpmnWorkflow, task: Task | None) -> None:
    try:
        if task is not None:
            task.run()
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        raise EngineError(_failed_element(exc, task), _reason(exc)) from exc
    except (TypeError, ValueError, KeyError, AttributeError, ScriptError) as exc:  # bad data in SpiffWorkflow
        raise EngineError(_failed_element(exc, task), f"{type(exc).__name__}: {_first_line(exc)}") from exc
    check_assignments(workflow)


def check_assignments(workflow: BpmnWorkflow) -> None:
    """Raise EngineError when a ready user task cannot say which department holds it (fail closed)."""
    problems = unassignable_tasks(workflow)
    if problems:
        element_id, reason = problems[0]
        raise EngineError(element_id, reason)


def _failed_element(exc: Exception, task: Task | None) -> str | None:
    failed = getattr(exc, "task", None) or task
    spec = getattr(failed, "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _reason(exc: Exception) -> str:
    """The first line of an engine error, with the sandbox's or the script's own reason when there is one."""
    text = _first_line(exc)
    inner = exc.__cause__ or exc.__context__  # SpiffWorkflow raises its own error while handling the real one
    if isinstance(inner, ScriptError):
        return f"{text}：{inner}"
    if inner is not None and str(inner) and str(inner) not in text:
        return f"{text}：{type(inner).__name__}: {_first_line(inner)}"
    return text


def _find(workflow: BpmnWorkflow, task_id: str) -> Task | None:
    try:
        return workflow.get_task_from_id(UUID(task_id))
    except (ValueError, KeyError, TypeError):
        return None
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises TaskNotFoundException here
        return None


def element_states(workflow: BpmnWorkflow) -> dict[str, list[str]]:
    """BPMN element ids that have completed and that are active, for marking the diagram."""
    completed: set[str] = set()
    active: set[str] = set()
    for task in workflow.get_tasks():
        bpmn_id = getattr(task.task_spec, "bpmn_id", None)
        if not bpmn_id:
            continue
        if task.state == TaskState.COMPLETED:
            completed.add(bpmn_id)
        elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED):
            active.add(bpmn_id)
    return {"completed": sorted(completed - active), "active": sorted(active)}


def end_event(workflow: BpmnWorkflow) -> tuple[str, str] | None:
    """(id, name) of the end event a finished workflow reached last (side branches such as a reminder end earlier)."""
    if not workflow.completed:
        return None
    ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED)
            if type(t.task_spec).__name__ == "EndEvent" and t.task_spec.bpmn_id]
    if not ends:
        return None
    spec = max(ends, key=lambda t: t.last_state_change).task_spec
    return spec.bpmn_id, spec.bpmn_name or spec.bpmn_id


def start_result(workflow: BpmnWorkflow) -> tuple[str, dict[str, Any]] | None:
    """(form key, result) of the first user task completed: the start form (e.g. the 申请表 or a violation report)."""
    done = [t for t in workflow.get_tasks(state=TaskState.COMPLETED, manual=True)]
    if not done:
        return None
    first = min(done, key=_completion_order)
    view = _view(first)  # no diagram code runs here (request pages are GETs)
    return view.form_key, dict(first.data.get(view.result_variable) or {})


def workflow_data(workflow: BpmnWorkflow) -> dict[str, Any]:
    """The data of the most recently completed task: the instance's current view of its variables."""
    tasks = workflow.get_tasks(state=TaskState.COMPLETED)
    if not tasks:
        return dict(workflow.task_tree.data)
    latest = max(tasks, key=_completion_order)
    return dict(latest.data)


def _completion_order(task: Task) -> tuple[float, int]:
    # tasks completed within one clock tick are ordered by their depth in the task tree (later steps are deeper)
    return task.last_state_change, task.depth
