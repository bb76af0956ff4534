"""Administrators' instance operations: suspend, resume, cancel, retry after an error, migrate between versions."""
from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import func, select

from ...engine import versions
from ...engine.parser import ParsedProcess
from ...engine.runtime import EngineError
from ...extensions import db
from ...models import ProcessDefinition, ProcessInstance, TaskRecord, TimerRecord
from ...models.org import Role
from ...models.process import INSTANCE_STATUS_LABELS, OPEN_STATUSES, InstanceStatus
from ...models.task import TaskState
from ...models.timer import TimerState
from ...models.types import utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..messaging import notify
from ..people.access import get_user
from ..security import audit
from . import definitions, instance_lock, progress, timers


def _admin(user_id: int):
    user = get_user(user_id)
    if not user.has_role(Role.admin):
        raise Forbidden("只有系统管理员可以管理流程实例")
    return user


def _instance(instance_id: int) -> ProcessInstance:
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound("流程实例不存在")
    return instance


def list_instances(user_id: int, status: str | None = None) -> list[dict[str, Any]]:
    _admin(user_id)
    query = select(ProcessInstance, ProcessDefinition).join(ProcessDefinition).order_by(ProcessInstance.id.desc())
    if status:
        query = query.where(ProcessInstance.status == status)
    return [{"id": i.id, "title": i.title, "status": i.status, "status_label": INSTANCE_STATUS_LABELS.get(i.status),
             "current_step": i.current_step, "process_key": d.process_key, "version": d.version,
             "process_name": d.name, "error_element": i.error_element, "error_message": i.error_message,
             "status_reason": i.status_reason,
             "updated_at": i.updated_at} for i, d in db.session.execute(query.limit(500))]


def suspend(instance_id: int, user_id: int, reason: str) -> None:
    user = _admin(user_id)
    if not reason.strip():
        raise ValidationFailed({"reason": "请填写暂停原因"})

    def work(instance: ProcessInstance) -> None:
        if instance.status != InstanceStatus.running:
            raise Conflict("只能暂停办理中的流程")
        instance.status, instance.status_reason = InstanceStatus.suspended, reason.strip()
        audit.record("suspend", user_id=user.id, instance_id=instance.id, opinion=reason.strip(), step="暂停流程")
        db.session.commit()

    instance_lock.run_locked(instance_id, work)
    timers.changed()


def resume(instance_id: int, user_id: int) -> None:
    user = _admin(user_id)

    def work(instance: ProcessInstance) -> None:
        if instance.status != InstanceStatus.suspended:
            raise Conflict("只能恢复已暂停的流程")
        instance.status, instance.status_reason = InstanceStatus.running, None
        audit.record("resume", user_id=user.id, instance_id=instance.id, step="恢复流程")
        db.session.commit()

    instance_lock.run_locked(instance_id, work)
    timers.changed()  # timers that fell due meanwhile fire at the next sync


def cancel(instance_id: int, user_id: int, reason: str) -> None:
    """Cancel an open instance with a reason: its tasks and timers are withdrawn, the applicant is told."""
    user = _admin(user_id)
    if not reason.strip():
        raise ValidationFailed({"reason": "请填写取消原因"})

    def work(instance: ProcessInstance) -> None:
        if instance.status not in OPEN_STATUSES:
            raise Conflict("流程已结束，不能取消")
        now = utcnow()
        for record in db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == instance.id,
                                                                  TaskRecord.state == TaskState.ready)):
            record.state, record.completed_at = TaskState.cancelled, now
        for timer in db.session.scalars(select(TimerRecord).where(TimerRecord.instance_id == instance.id,
                                                                  TimerRecord.state == TimerState.pending)):
            timer.state = TimerState.cancelled
        instance.status, instance.status_reason, instance.completed_at = (InstanceStatus.cancelled, reason.strip(),
                                                                          now)
        instance.current_step = "已取消"
        audit.record("cancel", user_id=user.id, instance_id=instance.id, opinion=reason.strip(), step="取消流程")
        notify.add([u for u in (instance.initiator,) if u], "end",
                   f"申请已被管理员取消：{reason.strip()}（#{instance.id} {instance.title}）", instance_id=instance.id)
        db.session.commit()

    instance_lock.run_locked(instance_id, work)
    notify.send_pending_emails()
    timers.changed()


def retry(instance_id: int, user_id: int) -> int:
    """Run the failed steps of an instance in the error state again (after a fix, e.g. a migration)."""
    user = _admin(user_id)

    def work(instance: ProcessInstance) -> int:
        if instance.status != InstanceStatus.error:
            raise Conflict("该流程没有出错，无需重试")
        workflow = progress.load(instance)
        try:
            count = versions.retry_failed(workflow)
        except EngineError as exc:
            db.session.rollback()
            instance = instance_lock.lock_instance(instance_id)
            instance.error_element, instance.error_message = exc.element_id, exc.reason[:2000]
            audit.record("retry_failed", user_id=user.id, instance_id=instance.id,
                         step=f"{exc.element_id}: {exc.reason}"[:200])
            db.session.commit()
            raise Conflict(f"重试仍然失败：{exc.element_id}：{exc.reason}") from exc
        instance.status, instance.error_element, instance.error_message = InstanceStatus.running, None, None
        progress.persist(instance, workflow, actor_id=user.id, action="retry", step="重试出错环节",
                         detail={"summary": f"重新执行 {count} 个出错环节"})
        db.session.commit()
        return count

    count = instance_lock.run_locked(instance_id, work)
    notify.send_pending_emails()
    timers.changed()
    return count


def migration_plan(from_definition_id: int, to_definition_id: int, user_id: int) -> dict[str, Any]:
    """Dry run: which open instances of a version can move to another, and why the others cannot."""
    _admin(user_id)
    source, target = _definition(from_definition_id), _definition(to_definition_id)
    if source.process_key != target.process_key:
        raise ValidationFailed({"to": "只能迁移到同一流程的其他版本"})
    parsed = definitions.parsed_definition(target.id)
    rows = []
    for instance in _open_instances(source.id):
        check = versions.check_migration(progress.load(instance), parsed)
        rows.append({"id": instance.id, "title": instance.title, "status": instance.status,
                     "status_label": INSTANCE_STATUS_LABELS.get(instance.status),
                     "current_step": instance.current_step, "can_migrate": check.can_migrate, "reason": check.reason})
    return {"from": {"id": source.id, "version": source.version}, "to": {"id": target.id, "version": target.version},
            "process_key": source.process_key, "instances": rows}


def migrate(from_definition_id: int, to_definition_id: int, user_id: int,
            instance_ids: list[int] | None = None) -> dict[str, list]:
    """Move the open instances that can move (or the listed ones) to the target version; each is audited."""
    user = _admin(user_id)
    plan = migration_plan(from_definition_id, to_definition_id, user_id)
    parsed = definitions.parsed_definition(to_definition_id)
    moved, skipped = [], []
    for row in plan["instances"]:
        if instance_ids is not None and row["id"] not in instance_ids:
            continue
        if not row["can_migrate"]:
            skipped.append((row["id"], row["reason"]))
            continue
        reason = instance_lock.run_locked(row["id"], partial(
            _migrate_one, from_definition_id=from_definition_id, to_definition_id=to_definition_id, parsed=parsed,
            user_id=user.id, versions_label=(plan["from"]["version"], plan["to"]["version"])))
        if reason is None:
            moved.append(row["id"])
        else:
            skipped.append((row["id"], reason))
    timers.changed()
    return {"moved": moved, "skipped": skipped}


def _migrate_one(instance: ProcessInstance, *, from_definition_id: int, to_definition_id: int, parsed: ParsedProcess,
                 user_id: int, versions_label: tuple[int, int]) -> str | None:
    """Under the instance's lock: move it to the target version. None when moved, else why not."""
    if instance.definition_id != from_definition_id or instance.status not in OPEN_STATUSES:
        db.session.rollback()
        return "该实例已变更（已迁移或已结束），未迁移"
    workflow = progress.load(instance)
    try:
        versions.migrate(workflow, parsed)
    except EngineError as exc:
        db.session.rollback()
        return f"迁移后执行出错：{exc.reason}"
    instance.definition_id = to_definition_id
    old, new = versions_label
    progress.persist(instance, workflow, actor_id=user_id, action="migrate", step=f"迁移到第 {new} 版",
                     detail={"summary": f"第 {old} 版 → 第 {new} 版", "from_definition_id": from_definition_id,
                             "to_definition_id": to_definition_id})
    db.session.commit()
    return None


def _definition(definition_id: int) -> ProcessDefinition:
    definition = db.session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound("流程版本不存在")
    return definition


def _open_instances(definition_id: int) -> list[ProcessInstance]:
    return db.session.scalars(select(ProcessInstance).where(ProcessInstance.definition_id == definition_id,
                                                            ProcessInstance.status.in_(OPEN_STATUSES))
                              .order_by(ProcessInstance.id)).all()


def open_counts() -> dict[int, int]:
    """Open instances per definition version."""
    return dict(db.session.execute(select(ProcessInstance.definition_id, func.count(ProcessInstance.id))
                                   .where(ProcessInstance.status.in_(OPEN_STATUSES))
                                   .group_by(ProcessInstance.definition_id)).all())
