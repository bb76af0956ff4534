"""The approver's side: inbox, claim/release, completing a task exactly once."""
from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import aliased

from ...engine import runtime
from ...extensions import db
from ...models import Department, ProcessInstance, TaskRecord, User
from ...models.process import InstanceStatus
from ...models.task import TaskState
from ...models.types import CHINA_TZ, utcnow
from ..calendar import current_calendar
from ..errors import Conflict, DomainError, NotFound, ValidationFailed
from ..inputs import parse_id
from ..messaging import notify
from ..oversight.supervision import open_task_order
from ..paging import Page, request_number
from ..people import delegations
from ..people.access import (
    acting_for,
    candidate_filter,
    claim_filter,
    delegated_label,
    get_user,
    holds_claim,
    require_candidate,
)
from ..security import audit
from . import attachments, instance_lock, progress, task_forms, timers
from .requests import catalogue, holder_view, request_view, task_holder


def inbox(user_id: int, *, page: int = 1, per_page: int = 50, q: str | None = None,
          overdue: bool = False) -> Page:
    """Ready tasks the user may act on, one page: unclaimed ones and those the user claimed, soonest deadline first.
    q is a request number or words of the request's title or the step; overdue keeps the tasks past their deadline.
    Three queries whatever the page holds: the count, the rows (with names joined in), the calendar."""
    user = get_user(user_id)
    now = utcnow()
    where = [TaskRecord.state == TaskState.ready, ProcessInstance.status == InstanceStatus.running,
             candidate_filter(user), claim_filter(user)]
    if q:
        number = request_number(q)
        words = or_(ProcessInstance.title.contains(q, autoescape=True), TaskRecord.title.contains(q, autoescape=True))
        where.append(or_(TaskRecord.instance_id == number, words) if number is not None else words)
    if overdue:
        where.append(TaskRecord.due_at <= now)
    total = db.session.scalar(select(func.count()).select_from(TaskRecord).join(ProcessInstance).where(*where))
    applicant, task_department, claimer = aliased(Department), aliased(Department), aliased(User)
    rows = db.session.execute(
        select(TaskRecord.id, TaskRecord.title, TaskRecord.form_key, TaskRecord.instance_id, TaskRecord.candidate_roles,
               TaskRecord.claimed_by_id, TaskRecord.created_at, TaskRecord.due_at, task_department.name,
               claimer.display_name, ProcessInstance.title, applicant.name, delegated_label(user))
        .join(ProcessInstance, ProcessInstance.id == TaskRecord.instance_id)
        .join(applicant, applicant.id == ProcessInstance.applicant_department_id)
        .outerjoin(task_department, task_department.code == TaskRecord.department_code)
        .outerjoin(claimer, claimer.id == TaskRecord.claimed_by_id)
        .where(*where)
        .order_by(*open_task_order())
        .limit(per_page).offset((page - 1) * per_page)).all()
    calendar = current_calendar() if rows else None
    items = [{**holder_view(task_id=r[0], title=r[1], department_name=r[8], candidate_roles=r[4], claimed_by=r[9],
                            created_at=r[6], due_at=r[7], calendar=calendar, now=now),
              "form_key": r[2], "instance_id": r[3], "request_title": r[10], "claimed_by_me": r[5] == user.id,
              "applicant_department": r[11], "batchable": task_forms.batch_fields(r[2]) is not None,
              "on_behalf_of": r[12]} for r in rows]  # 委托: seen only as a deputy
    return Page(items, page, per_page, total=total, has_next=page * per_page < total,
                filters={"q": q or "", "overdue": overdue})


def _record(task_id: int) -> TaskRecord:
    record = db.session.get(TaskRecord, task_id)
    if record is None:
        raise NotFound("任务不存在")
    return record


def _already_done(record: TaskRecord) -> Conflict:
    if record.state == TaskState.completed and record.completed_by is not None:
        when = record.completed_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if record.completed_at else ""
        return Conflict(f"该任务已由{record.completed_by.display_name}于 {when} 办理，不能重复办理")
    return Conflict("该任务已不在待办状态（流程已继续或已结束）")


def _actionable(task_id: int, user_id: int, *, claimed: bool = False) -> tuple[User, TaskRecord]:
    """The user and the task, when the user is a candidate and the task still waits for them. claimed: the user's
    own claim is enough (a 后加签's held completion: a deputy's claim outlives the delegation, access.holds_claim)."""
    user = get_user(user_id)
    record = _record(task_id)
    if not (claimed and record.claimed_by_id == user.id):
        require_candidate(user, record)
    if record.state != TaskState.ready:
        raise _already_done(record)
    if not holds_claim(user, record):
        raise Conflict(f"该任务已由{record.claimed_by.display_name}签收，不能办理")
    return user, record


def task_page(task_id: int, user_id: int) -> dict[str, Any]:
    """The task, its form definition, prefill values and the request it belongs to."""
    user, record = _actionable(task_id, user_id)
    form = task_forms.load_form(record.form_key, instance_id=record.instance_id)
    workflow = progress.load(record.instance)  # loaded once for the view and the form
    view = request_view(record.instance_id, user_id, workflow=workflow)
    try:
        ready = runtime.get_ready_task(workflow, record.engine_task_id)
    except runtime.TaskNotReady as exc:
        raise _already_done(record) from exc
    task_data = ready.data
    values: dict[str, Any] = {}
    if form.get("allow_withdraw") and task_data.get(ready.result_variable):
        # a returned start form (e.g. the 申请表) comes back filled in with what was last submitted
        values = task_forms.values_for_render(form, task_data[ready.result_variable])
    return {"task": {**task_holder(record), "form_key": record.form_key, "instance_id": record.instance_id,
                     "claimed_by_me": record.claimed_by_id == user.id, "department_code": record.department_code,
                     "provider_department": task_data.get("provider_department"),
                     "on_behalf_of": principal.display_name if (principal := acting_for(user, record)) else None},
            "form": form, "prefill": values, "request": view,
            "catalogue": catalogue() if any(f["type"] == "resources" for f in form["fields"]) else None}


def claim(task_id: int, user_id: int) -> None:
    """Take a shared task so that other candidates no longer see it."""
    user = get_user(user_id)
    record = _record(task_id)
    require_candidate(user, record)
    principal = acting_for(user, record)  # 委托: a deputy's claim keeps the task the principal's too
    result = db.session.execute(update(TaskRecord).where(
        TaskRecord.id == task_id, TaskRecord.state == TaskState.ready, TaskRecord.claimed_by_id.is_(None))
        .values(claimed_by_id=user.id, on_behalf_of_id=principal.id if principal else None))
    if result.rowcount != 1:
        db.session.rollback()
        record = _record(task_id)
        if record.state != TaskState.ready:
            raise _already_done(record)
        if record.claimed_by_id == user.id:
            return
        raise Conflict(f"该任务已由{record.claimed_by.display_name}签收")
    audit.record("claim", user_id=user.id, instance_id=record.instance_id, task_id=task_id, step=record.title,
                 detail=delegations.behalf(principal))
    db.session.commit()


def release(task_id: int, user_id: int) -> None:
    """Give a claimed task back to the pool."""
    user = get_user(user_id)
    record = _record(task_id)
    require_candidate(user, record)
    result = db.session.execute(update(TaskRecord).where(
        TaskRecord.id == task_id, TaskRecord.state == TaskState.ready,
        or_(TaskRecord.claimed_by_id == user.id, TaskRecord.on_behalf_of_id == user.id))  # 委托: the deputy's too
        .values(claimed_by_id=None, on_behalf_of_id=None))
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict("只能退回自己签收的待办任务")
    audit.record("release", user_id=user.id, instance_id=record.instance_id, task_id=task_id, step=record.title,
                 detail=delegations.behalf(acting_for(user, record)))
    db.session.commit()


def complete_task(task_id: int, user_id: int, raw: dict[str, Any], *, withdraw: bool = False,
                  cosign: countersign.Cosign | None = None) -> int:
    """Validate the form and complete the task once; a second or concurrent completion raises Conflict.

    The form is checked first; then, holding the instance's lock, the task's state is read again (someone may
    have completed it while we waited), the workflow is loaded, run, saved and projected. Returns the instance id.
    """
    user, record = _actionable(task_id, user_id, claimed=cosign is not None)
    form = task_forms.load_form(record.form_key, instance_id=record.instance_id)
    withdrawing = withdraw and bool(form.get("allow_withdraw"))
    result: dict[str, Any] = {}
    summary, opinion = "撤回申请", None
    if not withdrawing:
        result = task_forms.validate(form, raw)
        if form.get("allow_withdraw"):
            result["action"] = "submit"
        summary = task_forms.summary(form, result)
        opinion = result.get(form.get("opinion_field", ""), None) or None
    # 委托: a deputy completes on the principal's behalf (the one the deputy's claim was for, if any)
    principal = (record.on_behalf_of if record.claimed_by_id == user.id and record.on_behalf_of_id is not None
                 else acting_for(user, record))
    on_behalf = delegations.behalf(principal)
    stamp = {"by": user.username, "by_name": delegations.acting_name(user.display_name, on_behalf),
             "department": user.department.code, "at": utcnow().isoformat(timespec="seconds"),
             "basis": form.get("basis", ""), **on_behalf}

    def work(instance: ProcessInstance) -> bool:
        current = db.session.get(TaskRecord, task_id, populate_existing=True)  # as it is now that we hold the lock
        if current.state != TaskState.ready:
            raise _already_done(current)
        if not holds_claim(user, current):
            raise Conflict(f"该任务已由{current.claimed_by.display_name}签收，不能办理")
        progress.require_running(instance)
        cosigned = countersign.completion_check(current, user, summary, cosign)  # 加签 holds the task
        workflow = progress.load(instance)
        submitted, attached = attachments.bind_values(form, result, user.id, instance_id=instance.id)
        failure: runtime.EngineError | None = None
        try:
            if withdrawing:
                view = runtime.get_ready_task(workflow, current.engine_task_id)
                submitted = {**view.data.get(view.result_variable, {}), "action": "withdraw"}
            submitted = {**submitted, **stamp}
            runtime.complete_user_task(workflow, current.engine_task_id, submitted)
        except runtime.TaskNotReady:
            raise _already_done(current) from None
        except runtime.EngineError as exc:
            failure = exc  # the user's step is kept; the instance waits for an administrator
        done = db.session.execute(update(TaskRecord).where(
            TaskRecord.id == task_id, TaskRecord.state == TaskState.ready).values(
            state=TaskState.completed, completed_by_id=user.id, completed_at=utcnow(), claimed_by_id=user.id,
            on_behalf_of_id=principal.id if principal else None, opinion=opinion),
            execution_options={"synchronize_session": False})
        if done.rowcount != 1:  # changed by a path that does not take the instance's lock
            raise _already_done(db.session.get(TaskRecord, task_id, populate_existing=True))
        attachments.attach(attached, instance.id, task_id)
        step = {"actor_id": user.id, "action": "complete", "step": current.title, "task_id": task_id,
                "opinion": opinion, "detail": {"summary": summary, "result": submitted, **cosigned, **on_behalf}}
        saved.clear()
        if failure is None:
            rescheduled = progress.persist(instance, workflow, **step)
            db.session.flush()  # the lock_version this commit writes
            saved.update(version=instance.lock_version, workflow=workflow)
        else:
            progress.record_failure(instance, workflow, failure, **step)
            rescheduled = False
        db.session.commit()
        return rescheduled

    instance_id = record.instance_id
    saved: dict[str, Any] = {}
    rescheduled = instance_lock.run_locked(instance_id, work)
    if saved:  # committed: the response view reads this workflow instead of loading it again
        progress.remember(instance_id, saved["version"], saved["workflow"])
    notify.send_pending_emails()
    if rescheduled:
        timers.changed()
    return instance_id


BATCH_LIMIT = 50  # tasks in one batch: each is a full completion (lock, engine step, audit), ~20 ms apiece
BATCH_OPINION_MAX = 1000
NOT_BATCHABLE = "该环节不能批量办理"


def complete_many(task_ids: Any, user_id: int, raw: Any) -> list[dict[str, Any]]:
    """批量审批: one decision ("approve" or "return") and opinion for several tasks whose forms are plain decisions.

    The batch itself is checked first (ids, size, decision, a return's opinion): ValidationFailed and nothing done.
    Then each task is completed by complete_task, independently and in the order given; a task that fails reports
    its status and message ({"task_id", "ok": False, "status", "error"}) and the others go on."""
    ids, decision, opinion = _batch_input(task_ids, raw)
    results: list[dict[str, Any]] = []
    for task_id in ids:
        try:
            instance_id = _complete_one(task_id, user_id, decision, opinion)
        except DomainError as exc:
            db.session.rollback()
            result = {"task_id": task_id, "ok": False, "status": exc.status, "error": exc.message}
            if isinstance(exc, ValidationFailed):
                result["errors"] = exc.errors
            results.append(result)
        except Exception:  # a bug in one task must not hide what the batch already did
            db.session.rollback()
            current_app.logger.exception("batch completion of task %s failed", task_id)
            results.append({"task_id": task_id, "ok": False, "status": 500, "error": "服务器内部错误，已记录"})
        else:
            results.append({"task_id": task_id, "ok": True, "instance_id": instance_id})
    return results


def _batch_input(task_ids: Any, raw: Any) -> tuple[list[int], str, str]:
    errors: dict[str, str] = {}
    ids: list[int] = []
    if not isinstance(task_ids, list) or not task_ids:
        errors["task_ids"] = "请选择要批量办理的任务"
    elif len(task_ids) > BATCH_LIMIT:
        errors["task_ids"] = f"一次最多批量办理 {BATCH_LIMIT} 项"
    else:
        parsed = [parse_id(t) for t in task_ids]
        if None in parsed:
            errors["task_ids"] = "任务编号无效"
        ids = list(dict.fromkeys(t for t in parsed if t is not None))
    raw = raw if isinstance(raw, dict) else {}
    decision, opinion = raw.get("decision"), raw.get("opinion")
    if decision not in task_forms.BATCH_DECISIONS:
        errors["decision"] = "请选择「同意」或「退回」"
    if opinion is None:
        opinion = ""
    if not isinstance(opinion, str):
        errors["opinion"] = "「审批意见」应为文本"
        opinion = ""
    opinion = opinion.strip()
    if len(opinion) > BATCH_OPINION_MAX:
        errors["opinion"] = f"「审批意见」不能超过 {BATCH_OPINION_MAX} 个字"
    elif decision == "return" and not opinion:
        errors["opinion"] = "退回须填写审批意见"
    if errors:
        raise ValidationFailed(errors, values={"decision": decision if isinstance(decision, str) else "",
                                               "opinion": opinion},
                               message=next(iter(errors.values())))
    return ids, decision, opinion


def _complete_one(task_id: int, user_id: int, decision: str, opinion: str) -> int:
    """One task of a batch: the holder's checks first (so a stranger learns nothing of the form), then the form's."""
    user = get_user(user_id)
    record = _record(task_id)
    require_candidate(user, record)
    fields = task_forms.batch_fields(record.form_key, instance_id=record.instance_id)
    if fields is None:
        raise ValidationFailed({"task_id": NOT_BATCHABLE}, message=NOT_BATCHABLE)
    decision_field, opinion_field = fields
    return complete_task(task_id, user_id, {decision_field: decision, opinion_field: opinion})


from . import countersign  # noqa: E402  (加签: its completion hook; it imports this module)
