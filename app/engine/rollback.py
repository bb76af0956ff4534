"""Going back in a running workflow with SpiffWorkflow's own reset (退回, 收回) and ending it early (撤回).

`BpmnWorkflow.reset_from_task_id` drops every descendant of the target task and makes the target runnable again
under its own id; no task state is edited by hand here. SpiffWorkflow 3.2 leaves the dropped waiting events (e.g.
a boundary timer of a multi-instance review) in the workflow's event manager, where the next refresh_timers() trips
over their missing parent: they are taken out of it, which is all reset() adds to the library's call."""
from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from .runtime import TaskNotReady, _advance, _find, _view


@dataclass(frozen=True)
class Step:
    """A completed user step on the path to a task."""

    task_id: str
    element_id: str
    title: str
    result_variable: str


def _step(task: Task) -> Step:
    view = _view(task)  # from the definition: no diagram code runs
    return Step(view.task_id, view.element_id, view.title, view.result_variable)


def _task(workflow: BpmnWorkflow, task_id: str) -> Task:
    task = _find(workflow, task_id)
    if task is None:
        raise TaskNotReady(task_id)
    return task


def _is_user_step(task: Task) -> bool:
    return bool(task.task_spec.manual) and bool(getattr(task.task_spec, "bpmn_id", None))


def in_multi_instance(workflow: BpmnWorkflow, task_id: str) -> bool:
    """True for one child of a multi-instance step (e.g. one provider's review)."""
    task = _task(workflow, task_id)
    return task.parent is not None and isinstance(task.parent.task_spec, MultiInstanceTask)


def return_targets(workflow: BpmnWorkflow, task_id: str) -> list[Step]:
    """The completed user steps the ready task's path came through (its ancestors in the task tree), nearest first,
    the latest occurrence of each step only, without the task's own step. Steps of other branches (a parallel branch
    still running, the sibling children of a multi-instance step) are not ancestors and never appear."""
    task = _task(workflow, task_id)
    if task.state != TaskState.READY or not task.task_spec.manual:
        raise TaskNotReady(task_id)
    seen = {task.task_spec.bpmn_id}
    steps = []
    parent = task.parent
    while parent is not None:
        if _is_user_step(parent) and parent.state == TaskState.COMPLETED and parent.task_spec.bpmn_id not in seen:
            seen.add(parent.task_spec.bpmn_id)
            steps.append(_step(parent))
        parent = parent.parent
    return steps


def reset(workflow: BpmnWorkflow, task_id: str) -> list[str]:
    """Reset the workflow to the completed user step `task_id` (reset_from_task_id) and run the engine steps: the
    step is READY again with the data it started with plus what it submitted last time (a form comes back filled
    in). Returns the ids of the tasks dropped. Raises EngineError when the engine fails (nothing is saved then)."""
    task = _task(workflow, task_id)
    if task.state != TaskState.COMPLETED or not _is_user_step(task):
        raise TaskNotReady(task_id)
    step = _step(task)
    data = deepcopy(task.parent.data) if task.parent is not None else {}
    if step.result_variable in task.data:
        data[step.result_variable] = deepcopy(task.data[step.result_variable])
    dropped = workflow.reset_from_task_id(task.id, data=data)
    manager = workflow.event_manager
    for gone in dropped:
        manager.remove_task(gone)
    _advance(workflow, None)
    return [str(t.id) for t in dropped]


@dataclass(frozen=True)
class Follower:
    """A user task that descends from a completed one."""

    task_id: str
    title: str
    ready: bool


def followers(workflow: BpmnWorkflow, task_id: str) -> list[Follower]:
    """The user tasks below a completed task in the tree (what its completion led to), ready or completed."""
    task = _task(workflow, task_id)
    out = []
    for child in task:  # the task itself first, then its descendants depth first
        if child is task or not _is_user_step(child):
            continue
        if child.state in (TaskState.READY, TaskState.COMPLETED):
            out.append(Follower(str(child.id), child.task_spec.bpmn_name or child.task_spec.bpmn_id,
                                child.state == TaskState.READY))
    return out


def is_completed(workflow: BpmnWorkflow, task_id: str) -> bool:
    task = _find(workflow, task_id)
    return task is not None and task.state == TaskState.COMPLETED


def sending_step(workflow: BpmnWorkflow, task_id: str) -> str | None:
    """The id of the completed user step that led to this task (through gateways, scripts, multi-instance)."""
    task = _find(workflow, task_id)
    parent = task.parent if task is not None else None
    while parent is not None and not (_is_user_step(parent) and parent.state == TaskState.COMPLETED):
        parent = parent.parent
    return str(parent.id) if parent is not None else None


def cancel(workflow: BpmnWorkflow) -> None:
    """End the workflow where it stands (撤回): its open tasks and waiting events are cancelled by the engine."""
    workflow.cancel()


def result_of(workflow: BpmnWorkflow, task_id: str) -> dict[str, Any]:
    """What a completed user step submitted (its result variable)."""
    task = _task(workflow, task_id)
    value = task.data.get(_step(task).result_variable)
    return dict(value) if isinstance(value, dict) else {}
