"""转办 (hand my task to a colleague who could hold it) and 抄送 (copy people on a step), and the 抄送我的 list.

Neither changes the workflow: a transfer moves the task's claim, a copy adds who may read the request."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import aliased, joinedload

from ...extensions import db
from ...models import CarbonCopy, Department, ProcessInstance, TaskRecord, User
from ...models.process import INSTANCE_STATUS_LABELS
from ...models.task import TaskState
from ...models.types import utcnow
from ..errors import Forbidden, NotFound, ValidationFailed
from ..messaging import notify
from ..paging import Page, request_number
from ..people import delegations
from ..people.access import acting_for, get_user, holds_claim, is_candidate
from ..security import audit
from . import instance_lock, progress
from .tasks import _already_done

MAX_REASON = 500
MAX_CC = 50


def _record(task_id: int, *, fresh: bool = False) -> TaskRecord:
    record = db.session.get(TaskRecord, task_id, populate_existing=fresh)
    if record is None:
        raise NotFound("任务不存在")
    return record


def _require_holder(user: User, record: TaskRecord) -> None:
    """The user may act on the ready task now: a candidate, and it is unclaimed or claimed by them."""
    if not is_candidate(user, record):
        raise Forbidden("您不是该任务的办理人")
    if record.state != TaskState.ready:
        raise _already_done(record)
    if not holds_claim(user, record):
        raise Forbidden(f"该任务已由{record.claimed_by.display_name}签收，您不是当前办理人")


def _text(raw: Any, name: str, label: str, *, required: bool) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise _invalid(name, f"{label}应为文字")
    text = raw.strip()
    if required and not text:
        raise _invalid(name, f"请填写{label}")
    if len(text) > MAX_REASON:
        raise _invalid(name, f"{label}不能超过 {MAX_REASON} 个字")
    return text


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed({name: message}, message=message)


def _user_named(raw: Any, name: str) -> User:
    if not isinstance(raw, str) or not raw.strip():
        raise _invalid(name, "请选择人员")
    user = db.session.scalar(select(User).where(User.username == raw.strip()).options(joinedload(User.department)))
    if user is None:
        raise _invalid(name, f"用户「{raw.strip()[:60]}」不存在")
    if not user.active:
        raise _invalid(name, f"{user.display_name}的账号已停用")
    return user


# --- 转办 -----------------------------------------------------------------------------------------------------------

def transfer_choices(task_id: int, user_id: int) -> list[dict[str, str]]:
    """Colleagues the holder may hand the task to: active candidates of its department and roles, not the holder."""
    user = get_user(user_id)
    record = _record(task_id)
    _require_holder(user, record)
    return [{"username": u.username, "name": u.display_name, "department": u.department.name}
            for u in sorted(notify.users_for(record.department_code, record.candidate_roles or [record.candidate_role]),
                            key=lambda u: u.username)
            if u.id != user.id and is_candidate(u, record, delegated=False)]


def transfer(task_id: int, user_id: int, to_username: Any, reason: Any) -> dict[str, Any]:
    """The holder hands the ready task to a colleague who could hold it: the task becomes claimed by the colleague,
    who is notified; the history says 转办给 X：理由. The workflow is not touched."""
    user = get_user(user_id)
    record = _record(task_id)
    _require_holder(user, record)
    colleague = _user_named(to_username, "user")
    text = _text(reason, "reason", "转办理由", required=True)
    if colleague.id == user.id:
        raise _invalid("user", "不能转办给自己")
    if not is_candidate(colleague, record, delegated=False):  # a deputy holds tasks only beside the principal
        raise _invalid("user", f"{colleague.display_name}不能办理「{record.title}」（须为该环节所在部门的办理角色）")

    def work(instance: ProcessInstance) -> dict[str, Any]:
        current = _record(task_id, fresh=True)  # as it is now that we hold the lock
        _require_holder(user, current)
        progress.require_running(instance)
        db.session.execute(update(TaskRecord).where(TaskRecord.id == task_id).values(claimed_by_id=colleague.id,
                                                                                          on_behalf_of_id=None),
                           execution_options={"synchronize_session": False})
        summary = f"转办给 {colleague.display_name}：{text}"
        on_behalf = delegations.behalf(acting_for(user, current))
        audit.record("transfer", user_id=user.id, instance_id=instance.id, task_id=task_id, step=current.title,
                     opinion=text, detail={"summary": summary, "to": colleague.username, **on_behalf})
        actor = delegations.acting_name(user.display_name, on_behalf)
        notify.add([colleague], "transfer", f"{actor}将「{current.title}」转办给您：{text}"
                                            f"（#{instance.id} {instance.title}）", instance_id=instance.id,
                   task_id=task_id)
        result = {"task_id": task_id, "instance_id": instance.id, "claimed_by": colleague.username,
                  "claimed_by_name": colleague.display_name}
        db.session.commit()
        return result

    result = instance_lock.run_locked(record.instance_id, work)
    notify.send_pending_emails()
    return result


# --- 抄送 -----------------------------------------------------------------------------------------------------------

def cc_choices(user_id: int) -> list[dict[str, str]]:
    """Everyone who may be copied: active users but oneself, by department."""
    user = get_user(user_id)
    rows = db.session.execute(select(User.username, User.display_name, Department.name).join(Department)
                              .where(User.active.is_(True), User.id != user.id)
                              .order_by(Department.name, User.username)).all()
    return [{"username": r[0], "name": r[1], "department": r[2]} for r in rows]


def _may_copy(user: User, record: TaskRecord) -> None:
    """Those who may act on the task now, or who completed it."""
    if record.completed_by_id == user.id:
        return
    _require_holder(user, record)


def cc(task_id: int, user_id: int, usernames: Any, note: Any) -> int:
    """Copy active users on a step with an optional note: a record each (it lets them see the request), a
    notification each, one audit row. Returns how many were copied."""
    user = get_user(user_id)
    record = _record(task_id)
    _may_copy(user, record)
    if isinstance(usernames, str):
        usernames = [usernames]
    if not isinstance(usernames, list) or not usernames:
        raise _invalid("users", "请选择抄送人员")
    if len(usernames) > MAX_CC:
        raise _invalid("users", f"一次最多抄送 {MAX_CC} 人")
    recipients: dict[int, User] = {}
    for raw in usernames:
        person = _user_named(raw, "users")
        if person.id == user.id:
            raise _invalid("users", "不能抄送给自己")
        recipients[person.id] = person
    text = _text(note, "note", "抄送说明", required=False)

    def work(instance: ProcessInstance) -> int:
        current = _record(task_id, fresh=True)
        _may_copy(user, current)
        people = list(recipients.values())
        on_behalf = delegations.behalf(current.on_behalf_of if current.completed_by_id == user.id
                                       else acting_for(user, current))
        for person in people:
            db.session.add(CarbonCopy(instance_id=instance.id, task_id=task_id, from_user_id=user.id,
                                      to_user_id=person.id, note=text))
        names = "、".join(p.display_name for p in people)
        audit.record("cc", user_id=user.id, instance_id=instance.id, task_id=task_id, step=current.title,
                     opinion=text or None, detail={"summary": f"抄送给 {names}",
                                                   "recipients": sorted(p.username for p in people), **on_behalf})
        actor = delegations.acting_name(user.display_name, on_behalf)
        message = f"{actor}抄送「{current.title}」给您" + (f"：{text}" if text else "")
        notify.add(people, "cc", f"{message}（#{instance.id} {instance.title}）", instance_id=instance.id,
                   task_id=task_id)
        db.session.commit()
        return len(people)

    count = instance_lock.run_locked(record.instance_id, work)
    notify.send_pending_emails()
    return count


def cc_list(user_id: int, *, page: int = 1, per_page: int = 50, q: str | None = None,
            unread: bool = False) -> Page:
    """抄送我的: the copies the user received, newest first, one page; q is a request number or words of its title."""
    user = get_user(user_id)
    where = [CarbonCopy.to_user_id == user.id]
    if q:
        number = request_number(q)
        words = ProcessInstance.title.contains(q, autoescape=True)
        where.append(or_(CarbonCopy.instance_id == number, words) if number is not None else words)
    if unread:
        where.append(CarbonCopy.read_at.is_(None))
    total = db.session.scalar(select(func.count()).select_from(CarbonCopy).join(ProcessInstance).where(*where))
    sender, sender_department = aliased(User), aliased(Department)
    rows = db.session.execute(
        select(CarbonCopy.id, CarbonCopy.instance_id, ProcessInstance.title, TaskRecord.title, sender.display_name,
               sender_department.name, CarbonCopy.note, CarbonCopy.created_at, CarbonCopy.read_at,
               ProcessInstance.status)
        .join(ProcessInstance, ProcessInstance.id == CarbonCopy.instance_id)
        .join(TaskRecord, TaskRecord.id == CarbonCopy.task_id)
        .join(sender, sender.id == CarbonCopy.from_user_id)
        .join(sender_department, sender_department.id == sender.department_id)
        .where(*where).order_by(CarbonCopy.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    items = [{"id": r[0], "instance_id": r[1], "request_title": r[2], "step": r[3], "from": r[4],
              "from_department": r[5], "note": r[6], "created_at": r[7], "read": r[8] is not None,
              "status": r[9], "status_label": INSTANCE_STATUS_LABELS.get(r[9], r[9])} for r in rows]
    return Page(items, page, per_page, total=total, has_next=page * per_page < total,
                filters={"q": q or "", "unread": unread})


def mark_cc_read(user_id: int) -> int:
    """Mark every copy the user received as read. Returns how many."""
    user = get_user(user_id)
    done = db.session.execute(update(CarbonCopy).where(CarbonCopy.to_user_id == user.id,
                                                       CarbonCopy.read_at.is_(None)).values(read_at=utcnow()))
    db.session.commit()
    return done.rowcount
