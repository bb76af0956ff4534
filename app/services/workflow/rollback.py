"""退回 (send a task back to an earlier step), 撤回 (the applicant withdraws) and 收回 (an approver takes back a
decision nobody has acted on yet), each under the instance's lock.

The engine goes back with SpiffWorkflow's own reset_from_task_id (app/engine/rollback.py); progress.persist then
brings the projection in line: the open tasks the reset dropped become cancelled, timers of the dropped path are
cancelled and those of the new ready task armed. The step gone back to is claimed for whoever completed it before,
who is told why. Every action is an audit row with who, when and why (the history shows it)."""
from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ...engine import rollback as engine
from ...engine import runtime
from ...extensions import db
from ...models import AuditLog, ProcessInstance, TaskRecord, User
from ...models.process import InstanceStatus
from ...models.task import TaskState
from ...models.types import CHINA_TZ, utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..messaging import notify
from ..people import delegations
from ..people.access import acting_for, get_user, get_viewable_instance, holds_claim, is_candidate
from . import instance_lock, progress, timers

MAX_REASON = 500
RETURN_ACTION, WITHDRAW_ACTION, RECALL_ACTION = "return_to", "withdraw", "recall"


# --- input --------------------------------------------------------------------------------------------------------

def _reason(raw: Any, label: str) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise _invalid("reason", f"{label}应为文字")
    text = raw.strip()
    if not text:
        raise _invalid("reason", f"请填写{label}")
    if len(text) > MAX_REASON:
        raise _invalid("reason", f"{label}不能超过 {MAX_REASON} 个字")
    return text


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed({name: message}, message=message)


def _record(task_id: int, *, fresh: bool = False) -> TaskRecord:
    record = db.session.get(TaskRecord, task_id, populate_existing=fresh)
    if record is None:
        raise NotFound("任务不存在")
    return record


def _when(record: TaskRecord) -> str:
    return record.completed_at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if record.completed_at else ""


def _require_holder(user: User, record: TaskRecord) -> None:
    """The user may act on the ready task now: a candidate, and it is unclaimed or claimed by them."""
    if not is_candidate(user, record):
        raise Forbidden("您不是该任务的办理人，不能退回")
    if record.state != TaskState.ready:
        if record.state == TaskState.completed and record.completed_by is not None:
            raise Conflict(f"该任务已由{record.completed_by.display_name}于 {_when(record)} 办理，不能退回")
        raise Conflict("该任务已不在待办状态（流程已继续、已退回或已结束）")
    if not holds_claim(user, record):  # 委托: a principal also holds what the deputy claimed for them
        raise Forbidden(f"该任务已由{record.claimed_by.display_name}签收，您不是当前办理人")


class _Facts:
    """What the checks read of one instance, each at most once: its completed task rows (with who completed them),
    its open task rows and its 退回/收回 audit rows."""

    def __init__(self, instance_id: int, open_records: list[TaskRecord]):
        self.instance_id = instance_id
        self.open = open_records
        self._completed: list[TaskRecord] | None = None
        self._audit: list[AuditLog] | None = None

    @property
    def completed(self) -> list[TaskRecord]:
        """Oldest first."""
        if self._completed is None:
            self._completed = list(db.session.scalars(
                select(TaskRecord).where(TaskRecord.instance_id == self.instance_id,
                                         TaskRecord.state == TaskState.completed)
                .options(joinedload(TaskRecord.completed_by)).order_by(TaskRecord.id)))
        return self._completed

    @property
    def audit(self) -> list[AuditLog]:
        """The instance's 退回 and 收回, newest first."""
        if self._audit is None:
            self._audit = list(db.session.scalars(
                select(AuditLog).where(AuditLog.instance_id == self.instance_id,
                                       AuditLog.action.in_((RETURN_ACTION, RECALL_ACTION)))
                .options(joinedload(AuditLog.user)).order_by(AuditLog.id.desc())))
        return self._audit

    def completion(self, engine_task_id: str | None) -> TaskRecord | None:
        """The latest completed row of an engine task (a reset step has one row per round)."""
        return next((r for r in reversed(self.completed) if r.engine_task_id == engine_task_id), None)

    def completer(self, engine_task_id: str | None) -> str:
        done = self.completion(engine_task_id)
        return done.completed_by.display_name if done is not None and done.completed_by else "他人"

    def open_row(self, engine_task_id: str) -> TaskRecord | None:
        return next((r for r in self.open if r.engine_task_id == engine_task_id), None)


def _view_facts(instance_id: int, open_records: list[TaskRecord]) -> _Facts:
    """One _Facts per request page (the banner and the offered actions share it), read once per transaction."""
    transaction = db.session().get_transaction()
    cached = db.session.info.get("rollback_facts")
    if cached is not None and cached[0] is transaction and cached[1].instance_id == instance_id \
            and cached[1].open == open_records:
        return cached[1]
    facts = _Facts(instance_id, open_records)
    db.session.info["rollback_facts"] = (transaction, facts)
    return facts


def _open_records(instance_id: int) -> list[TaskRecord]:
    return list(db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == instance_id,
                                                            TaskRecord.state == TaskState.ready)
                                   .order_by(TaskRecord.id)))


def _tell_dropped(records: list[TaskRecord], actor: User, words: str, instance: ProcessInstance) -> None:
    """Tell the holders of open tasks that went away (not the actor)."""
    for record in records:
        if record.state != TaskState.cancelled:
            continue
        people = [u for u in notify.task_holders(record) if u.id != actor.id]
        notify.add(people, "task_cancelled", f"「{record.title}」已撤销：{words}（#{instance.id} {instance.title}）",
                   instance_id=instance.id, task_id=record.id)


def _reopened(instance_id: int, engine_task_id: str) -> TaskRecord:
    return db.session.scalar(select(TaskRecord).where(
        TaskRecord.instance_id == instance_id, TaskRecord.engine_task_id == engine_task_id,
        TaskRecord.state == TaskState.ready))


def _finish(instance_id: int, work) -> Any:
    result = instance_lock.run_locked(instance_id, work)
    notify.send_pending_emails()
    timers.changed()  # timers of the dropped path were cancelled, the new ready task's armed
    return result


# --- 退回 -----------------------------------------------------------------------------------------------------------

def return_targets(task_id: int, user_id: int) -> list[dict[str, Any]]:
    """The earlier steps the holder of a ready task may send it back to: completed user steps this task's path came
    through, nearest first, each with who completed it and when."""
    user = get_user(user_id)
    record = _record(task_id)
    _require_holder(user, record)
    progress.require_running(record.instance)
    return _targets(progress.load(record.instance), record)


def return_choices(task_id: int, user_id: int) -> list[dict[str, Any]]:
    """return_targets() for the task page: [] when the task cannot be sent back now (the page still shows)."""
    try:
        return return_targets(task_id, user_id)
    except (Conflict, Forbidden, runtime.TaskNotReady):
        return []


def _targets(workflow: BpmnWorkflow, record: TaskRecord) -> list[dict[str, Any]]:
    facts = _Facts(record.instance_id, [])
    try:
        steps = engine.return_targets(workflow, record.engine_task_id)
    except runtime.TaskNotReady:
        raise Conflict("该任务已不在待办状态（流程已继续、已退回或已结束）") from None
    out = []
    for step in steps:
        done = facts.completion(step.task_id)
        if done is None:
            continue  # a step nobody completed in this system cannot be handed back to anyone
        person = done.completed_by
        out.append({"target": step.task_id, "step": step.element_id, "title": step.title,
                    "completed_by": person.username if person else None,
                    "completed_by_name": person.display_name if person else "系统",
                    "completed_at": done.completed_at, "task_id": done.id})
    return out


def return_to(task_id: int, user_id: int, target: Any, reason: Any) -> dict[str, Any]:
    """退回: the holder sends the ready task back to an earlier step of its path (target: the engine task id or the
    step id from return_targets). The workflow resets to that step, which is claimed for whoever completed it before
    and who is told the reason; the other open tasks the reset drops are cancelled and their holders told."""
    user = get_user(user_id)
    record = _record(task_id)
    _require_holder(user, record)
    if not isinstance(target, str) or not target.strip():
        raise _invalid("target", "请选择退回到的环节")
    target = target.strip()
    text = _reason(reason, "退回理由")

    def work(instance: ProcessInstance) -> dict[str, Any]:
        current = _record(task_id, fresh=True)  # as it is now that we hold the lock
        _require_holder(user, current)
        progress.require_running(instance)
        workflow = progress.load(instance)
        choice = next((t for t in _targets(workflow, current) if target in (t["target"], t["step"])), None)
        if choice is None:
            raise _invalid("target", "只能退回到本任务之前已办理过的环节")
        before = _open_records(instance.id)
        done_before = db.session.get(TaskRecord, choice["task_id"])
        previous = done_before.on_behalf_of or done_before.completed_by  # 委托: back to the principal
        # claimed for them while they may still hold the step; otherwise it goes back to the step's candidates
        may_hold = previous is not None and previous.active and is_candidate(previous, done_before, delegated=False)
        holder = previous if may_hold else None
        try:
            engine.reset(workflow, choice["target"])
        except runtime.EngineError as exc:
            raise Conflict(f"退回失败：流程在「{exc.element_id}」出错（{exc.reason}），未作任何更改") from None
        summary = f"「{choice['title']}」（交{choice['completed_by_name']}重新办理）"  # the reason is the opinion
        progress.persist(instance, workflow, actor_id=user.id, action=RETURN_ACTION, step=current.title,
                         task_id=task_id, opinion=text, claim_for={choice["target"]: holder} if holder else None,
                         detail={"summary": summary, "target": choice["target"], "target_step": choice["step"],
                                 "target_title": choice["title"], "to": choice["completed_by"],
                                 **delegations.behalf(acting_for(user, current))})
        reopened = _reopened(instance.id, choice["target"])
        if holder is not None:
            notify.add([holder], "returned", f"{user.display_name}将「{current.title}」退回至「{choice['title']}」，"
                                             f"请重新办理。理由：{text}（#{instance.id} {instance.title}）",
                       instance_id=instance.id, task_id=reopened.id if reopened else None)
        _tell_dropped([r for r in before if r.id != task_id], user, f"{user.display_name}退回至「{choice['title']}」",
                      instance)
        result = {"task_id": task_id, "instance_id": instance.id, "returned_to": choice["step"],
                  "returned_to_title": choice["title"], "new_task_id": reopened.id if reopened else None,
                  "claimed_by": holder.username if holder else None}
        db.session.commit()
        return result

    return _finish(record.instance_id, work)


# --- 撤回 -----------------------------------------------------------------------------------------------------------

def _withdraw_problem(instance: ProcessInstance, workflow: BpmnWorkflow, facts: _Facts) -> str | None:
    """None when the applicant may withdraw now: every open task follows the submission directly and nobody has
    claimed or completed anything since."""
    if instance.status != InstanceStatus.running:
        return "申请已不在办理中，不能撤回"
    if not facts.open:
        return "申请没有待办环节，不能撤回"
    for record in facts.open:
        if record.claimed_by_id is not None:
            return f"「{record.title}」已由{record.claimed_by.display_name}签收，不能撤回"
        sender = engine.sending_step(workflow, record.engine_task_id)
        if sender is None or engine.sending_step(workflow, sender) is not None:  # not straight from the start form
            done = facts.completion(sender)
            return f"申请已由{facts.completer(sender)}办理（{done.title if done else record.title}），不能撤回"
    return None


def _require_applicant(user: User, instance: ProcessInstance) -> None:
    if instance.initiator_id != user.id:
        raise Forbidden("只有申请人本人可以撤回申请")


def withdraw(instance_id: int, user_id: int, reason: Any) -> dict[str, Any]:
    """撤回: the applicant ends the request while nobody has acted on it since it was submitted. The workflow is
    cancelled (status 已取消, reason 申请人撤回), open tasks cancelled, timers dropped, their holders told."""
    user = get_user(user_id)
    instance = get_viewable_instance(instance_id, user)
    _require_applicant(user, instance)
    text = _reason(reason, "撤回理由")

    def work(locked: ProcessInstance) -> dict[str, Any]:
        workflow = progress.load(locked)
        before = _open_records(locked.id)
        problem = _withdraw_problem(locked, workflow, _Facts(locked.id, before))
        if problem is not None:
            raise Conflict(problem)
        engine.cancel(workflow)
        progress.persist(locked, workflow, actor_id=user.id, action=WITHDRAW_ACTION, step="撤回申请", opinion=text,
                         detail={"summary": "流程结束，各待办撤销"})
        now = utcnow()
        locked.status, locked.status_reason = InstanceStatus.cancelled, f"申请人撤回：{text}"
        locked.current_step, locked.completed_at = "申请已撤回", now
        _tell_dropped(before, user, f"申请人{user.display_name}已撤回申请，理由：{text}", locked)
        db.session.commit()
        return {"instance_id": locked.id, "status": locked.status, "withdrawn": True}

    return _finish(instance.id, work)


# --- 收回 -----------------------------------------------------------------------------------------------------------

def _recall_problem(workflow: BpmnWorkflow, record: TaskRecord, facts: _Facts) -> str | None:
    """None when the completed task may be taken back: the user steps it led to are all still ready and nobody
    claimed them."""
    if record.instance.status != InstanceStatus.running:
        return "申请已不在办理中，不能收回"
    if record.state != TaskState.completed or not engine.is_completed(workflow, record.engine_task_id):
        return "该环节已被退回或收回，不能收回"
    newer = facts.completion(record.engine_task_id)
    if newer is not None and newer.id != record.id:
        return "该环节已重新办理，不能收回此前的意见"
    if engine.sending_step(workflow, record.engine_task_id) is None:  # the first step: the submitted form
        return "提交的申请不能收回；尚无人办理时可撤回申请"
    if engine.in_multi_instance(workflow, record.engine_task_id):
        return "多部门并行审核中的单个意见不能收回，请联系后续办理人退回"
    following = engine.followers(workflow, record.engine_task_id)
    for step in following:
        if not step.ready:
            return f"下一步已由{facts.completer(step.task_id)}办理（{step.title}），不能收回"
    if not following:
        return "下一步尚未开始或流程已继续，不能收回"
    for step in following:
        row = facts.open_row(step.task_id)
        if row is not None and row.claimed_by_id is not None:
            return f"下一步已由{row.claimed_by.display_name}签收（{step.title}），不能收回"
    return None


def recall(task_id: int, user_id: int, reason: Any) -> dict[str, Any]:
    """收回: the approver takes back the task they completed while the steps it led to are still ready and unclaimed:
    the workflow resets to it, it is ready again and claimed by them; the next steps' holders are told."""
    user = get_user(user_id)
    record = _record(task_id)
    if record.completed_by_id != user.id:
        raise Forbidden("只能收回本人办理的环节")
    text = _reason(reason, "收回理由")

    def work(instance: ProcessInstance) -> dict[str, Any]:
        current = _record(task_id, fresh=True)
        workflow = progress.load(instance)
        before = _open_records(instance.id)
        problem = _recall_problem(workflow, current, _Facts(instance.id, before))
        if problem is not None:
            raise Conflict(problem)
        try:
            engine.reset(workflow, current.engine_task_id)
        except runtime.EngineError as exc:
            raise Conflict(f"收回失败：流程在「{exc.element_id}」出错（{exc.reason}），未作任何更改") from None
        progress.persist(instance, workflow, actor_id=user.id, action=RECALL_ACTION, step=current.title,
                         task_id=task_id, opinion=text, claim_for={current.engine_task_id: user},
                         detail={"summary": f"「{current.title}」重新由本人办理",
                                 "target": current.engine_task_id})
        reopened = _reopened(instance.id, current.engine_task_id)
        _tell_dropped(before, user, f"{user.display_name}已收回「{current.title}」的办理意见", instance)
        result = {"task_id": task_id, "instance_id": instance.id, "new_task_id": reopened.id if reopened else None,
                  "claimed_by": user.username}
        db.session.commit()
        return result

    return _finish(record.instance_id, work)


# --- the request page ---------------------------------------------------------------------------------------------

def view_actions(user: User, instance: ProcessInstance, workflow: BpmnWorkflow,
                 open_records: list[TaskRecord]) -> dict[str, Any]:
    """What the request page offers this user: 撤回申请 (the applicant, while allowed) and 收回 of their latest
    decision (while allowed). Reads only: one query (the completed rows), shared with returned_by_reset()."""
    facts = _view_facts(instance.id, open_records)
    can_withdraw = instance.initiator_id == user.id and _withdraw_problem(instance, workflow, facts) is None
    recall_task = None
    if instance.status == InstanceStatus.running and open_records:
        mine = max((r for r in facts.completed if r.completed_by_id == user.id),
                   key=lambda r: (r.completed_at, r.id), default=None)
        if mine is not None and _recall_problem(workflow, mine, facts) is None:
            recall_task = {"task_id": mine.id, "title": mine.title}
    return {"can_withdraw": can_withdraw, "recall": recall_task}


def returned_by_reset(instance_id: int, open_records: list[TaskRecord]) -> dict[int, dict[str, Any]]:
    """Open tasks a 退回 reopened (the 已退回 banner): task id -> the returning step, who, when and the reason.
    Only when the latest reset of the task's step was a 退回 (a 收回 reopens without a banner)."""
    if not open_records:
        return {}
    facts = _view_facts(instance_id, open_records)
    done_before = {r.engine_task_id for r in facts.completed}  # a reset reopens a step under its own engine id
    reopened = [r for r in open_records if r.engine_task_id in done_before]
    if not reopened:
        return {}
    latest: dict[str, AuditLog] = {}
    for row in facts.audit:
        latest.setdefault(str((row.detail or {}).get("target", "")), row)
    out = {}
    for record in reopened:
        row = latest.get(record.engine_task_id)
        if row is not None and row.action == RETURN_ACTION:  # only a reset reopens a step under its engine id
            out[record.id] = {"step": row.step, "by": row.user.display_name if row.user else "系统", "at": row.at,
                              "reason": row.opinion or ""}
    return out
