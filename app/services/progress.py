"""The one place that persists engine progress: saves the workflow, projects ready tasks, writes audit rows."""
from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import select

from ..engine import runtime
from ..engine.serializer import SERIALIZER_VERSION, dump_workflow
from ..extensions import db
from ..models import ProcessInstance, TaskRecord
from ..models.process import InstanceStatus
from ..models.task import TaskState
from ..models.types import utcnow
from . import audit


def persist(instance: ProcessInstance, workflow: BpmnWorkflow, *, actor_id: int | None, action: str,
            step: str = "", task_id: int | None = None, opinion: str | None = None,
            detail: dict[str, Any] | None = None) -> None:
    """Save the workflow on the instance and bring the task table in line with the engine. Callers commit."""
    views = runtime.ready_user_tasks(workflow)
    view_ids = {v.task_id for v in views}
    existing = {r.engine_task_id: r for r in db.session.scalars(
        select(TaskRecord).where(TaskRecord.instance_id == instance.id, TaskRecord.state == TaskState.ready))}
    # set the instance's columns only after the query above, so the commit writes it once (one lock_version step)
    instance.workflow_json = dump_workflow(workflow)
    instance.serializer_version = SERIALIZER_VERSION
    for engine_id, record in existing.items():
        if engine_id not in view_ids:
            record.state = TaskState.cancelled
            record.completed_at = utcnow()
    for view in views:
        if view.task_id not in existing:
            db.session.add(TaskRecord(
                instance_id=instance.id, engine_task_id=view.task_id, element_id=view.element_id,
                title=view.title, lane=view.lane, form_key=view.form_key,
                candidate_role=view.candidate_roles[0] if view.candidate_roles else "",
                candidate_roles=list(view.candidate_roles), department_code=view.department))
    ended = runtime.end_event(workflow)
    if ended is not None:
        instance.status = InstanceStatus.completed
        instance.outcome, instance.current_step = ended
        instance.completed_at = utcnow()
    else:
        instance.current_step = "、".join(dict.fromkeys(v.title for v in views))[:300]
    audit.record(action, user_id=actor_id, instance_id=instance.id, task_id=task_id, step=step, opinion=opinion,
                 detail=detail)
    if ended is not None:
        audit.record("end", instance_id=instance.id, step=ended[1], detail={"end_event": ended[0]})
