"""加签 (issue 11): the holder of a ready task adds a named signer, before or after deciding.

- before (前加签 / 征求意见): the holder asks for an opinion; the task cannot be completed while the request is open.
- after (后加签 / 会签): the holder's decision (validated form values) is held with the request; the task stays open.
  On agree the held completion goes through tasks.complete_task as the holder, under the instance's lock, in the
  same transaction as the agreement (so it happens exactly once); on disagree nothing is applied.

The diagrams are never changed: a signature only holds the holder's task. A pending signature whose task stopped
waiting for its requester (completed elsewhere, timer, return, released to the pool, transferred, instance ended)
is cancelled when it is next read or answered."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from ...extensions import db
from ...models import AddedSigner, Delegation, Department, ProcessInstance, TaskRecord, User
from ...models.countersign import SIGN_POSITION_LABELS, SIGN_STATUS_LABELS, SignPosition, SignStatus
from ...models.process import InstanceStatus
from ...models.task import TaskState
from ...models.types import utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..messaging import notify
from ..paging import Page, request_number
from ..people import delegations
from ..people.access import acting_for, delegators, get_user, get_viewable_instance
from ..security import audit
from . import approval_actions, instance_lock, progress, task_forms, tasks

MAX_OPINION = 1000
ENDED = (InstanceStatus.completed, InstanceStatus.cancelled)


@dataclass(frozen=True)
class Cosign:
    """The signer's agreement to an after-signature, handed to tasks.complete_task to apply the held completion."""

    signature_id: int
    signer_id: int
    opinion: str
    answered_by_id: int | None = None  # 委托: the signer's deputy who agreed on the signer's behalf


def _invalid(name: str, message: str) -> ValidationFailed:
    return ValidationFailed({name: message}, message=message)


def _opinion_text(raw: Any) -> str:
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise _invalid("opinion", "意见应为文字")
    text = raw.strip()
    if not text:
        raise _invalid("opinion", "请填写意见")
    if len(text) > MAX_OPINION:
        raise _invalid("opinion", f"意见不能超过 {MAX_OPINION} 个字")
    return text


def _signature(signature_id: int, *, fresh: bool = False) -> AddedSigner:
    row = db.session.get(AddedSigner, signature_id, populate_existing=fresh)
    if row is None:
        raise NotFound("加签不存在")
    return row


def _stale(row: AddedSigner, task: TaskRecord, instance: ProcessInstance) -> bool:
    """The task no longer waits for the signature's requester."""
    return (task.state != TaskState.ready or instance.status in ENDED
            or task.claimed_by_id != row.requested_by_id)  # adding claims it: released or transferred since


def _cancel_stale(rows: list[AddedSigner]) -> int:
    """Cancel pending signatures whose task stopped waiting for their requester (audited, signer told); the caller
    commits. A row answered meanwhile is left alone (the UPDATE is conditional)."""
    cancelled = 0
    for row in rows:
        task, instance = row.task, row.instance
        if row.status != SignStatus.pending or not _stale(row, task, instance):
            continue
        done = db.session.execute(update(AddedSigner).where(AddedSigner.id == row.id,
                                                            AddedSigner.status == SignStatus.pending)
                                  .values(status=SignStatus.cancelled),
                                  execution_options={"synchronize_session": False})
        if done.rowcount != 1:
            continue
        cancelled += 1
        audit.record("sign_cancel", instance_id=row.instance_id, task_id=row.task_id, step=task.title,
                     detail={"summary": f"「{task.title}」已不在待办状态，对 {row.signer.display_name} 的加签自动撤销",
                             "signature_id": row.id})
        notify.add([row.signer], "sign_cancel", f"「{task.title}」已办结或流转，{row.requested_by.display_name}"
                                                f"对您的加签已撤销（#{row.instance_id} {instance.title}）",
                   instance_id=row.instance_id, task_id=row.task_id)
    return cancelled


def expire_stale(*, signer_id: int | None = None, task_id: int | None = None,
                 signature_id: int | None = None) -> int:
    """Cancel the stale pending signatures of a signer, a task or one signature, and commit. Returns how many."""
    where = [AddedSigner.status == SignStatus.pending]
    if signer_id is not None:
        where.append(AddedSigner.signer_id == signer_id)
    if task_id is not None:
        where.append(AddedSigner.task_id == task_id)
    if signature_id is not None:
        where.append(AddedSigner.id == signature_id)
    stale = (select(AddedSigner).join(TaskRecord, TaskRecord.id == AddedSigner.task_id)
             .join(ProcessInstance, ProcessInstance.id == AddedSigner.instance_id)
             .where(*where, or_(TaskRecord.state != TaskState.ready, ProcessInstance.status.in_(ENDED),
                                TaskRecord.claimed_by_id.is_(None),
                                TaskRecord.claimed_by_id != AddedSigner.requested_by_id)))
    rows = db.session.scalars(stale).all()
    if not rows:
        return 0
    count = _cancel_stale(list(rows))
    db.session.commit()
    if count:
        notify.send_pending_emails()
    return count


# --- the holder's side -------------------------------------------------------------------------------------------

def signer_choices(user_id: int) -> list[dict[str, str]]:
    """Who may be added: every active user but oneself, by department."""
    return approval_actions.cc_choices(user_id)


def _held(form: dict[str, Any], data: Any) -> dict[str, Any]:
    """An after-signature's decision: the form values, validated now (422 as a completion would), kept as given."""
    if not isinstance(data, dict):
        raise _invalid("data", "后加签须同时填写本环节的办理意见（data）")
    clean = task_forms.validate(form, data)
    values = {f["name"]: data[f["name"]] for f in form["fields"] if f["name"] in data}
    try:
        json.dumps(values)
    except (TypeError, ValueError):  # e.g. a file posted with the form: it cannot wait in the database
        raise _invalid("data", "后加签不能随表单上传文件，请先上传附件（/api/v1/attachments）或直接办理") from None
    if form.get("allow_withdraw"):
        clean["action"] = "submit"
    opinion = clean.get(form.get("opinion_field", ""), None) or None
    return {"values": values, "summary": task_forms.summary(form, clean), "opinion": opinion}


def add_signer(task_id: int, user_id: int, username: Any, position: Any, reason: Any,
               data: Any = None) -> dict[str, Any]:
    """加签: the holder of the ready task asks `username` for an opinion (before) or a co-signature of the decision
    in `data` (after). One pending signature per task; the task is claimed by the holder; the signer is notified."""
    user = get_user(user_id)
    record = approval_actions._record(task_id)
    approval_actions._require_holder(user, record)
    signer = approval_actions._user_named(username, "user")
    if signer.id == user.id:
        raise _invalid("user", "不能给自己加签")
    if not isinstance(position, str) or position not in SIGN_POSITION_LABELS:  # a JSON list is unhashable
        raise _invalid("position", "请选择加签方式（前加签或后加签）")
    text = approval_actions._text(reason, "reason", "加签理由", required=True)
    held = (_held(task_forms.load_form(record.form_key, instance_id=record.instance_id), data)
            if position == SignPosition.after else None)

    def work(instance: ProcessInstance) -> dict[str, Any]:
        current = approval_actions._record(task_id, fresh=True)
        approval_actions._require_holder(user, current)
        progress.require_running(instance)
        expire_pending = db.session.scalars(select(AddedSigner).where(
            AddedSigner.task_id == task_id, AddedSigner.status == SignStatus.pending)).all()
        _cancel_stale(list(expire_pending))
        open_one = db.session.scalar(select(AddedSigner).where(AddedSigner.task_id == task_id,
                                                               AddedSigner.status == SignStatus.pending))
        if open_one is not None:
            raise Conflict(f"该任务已有待答复的加签（{open_one.signer.display_name}），请等待答复或撤销后再加签")
        row = AddedSigner(task_id=task_id, instance_id=instance.id, requested_by_id=user.id, signer_id=signer.id,
                          position=position, reason=text, status=SignStatus.pending, held_data=held)
        db.session.add(row)
        try:
            db.session.flush()
        except IntegrityError:  # the partial unique index: another signature got in first
            raise Conflict("该任务已有待答复的加签，请等待答复或撤销后再加签") from None
        # 委托: a deputy's signature claims the task on the principal's behalf (as a claim does): the principal keeps
        # it, and the held decision applies as the deputy's on the principal's behalf, also after the delegation
        principal = _holding_for(user, current)
        db.session.execute(update(TaskRecord).where(TaskRecord.id == task_id, TaskRecord.claimed_by_id.is_(None))
                           .values(claimed_by_id=user.id, on_behalf_of_id=principal.id if principal else None),
                           execution_options={"synchronize_session": False})
        on_behalf = delegations.behalf(principal)
        actor = delegations.acting_name(user.display_name, on_behalf)
        if position == SignPosition.before:
            summary = f"前加签：征求 {signer.display_name} 的意见"
            message = f"{actor}就「{current.title}」征求您的意见：{text}"
        else:
            summary = f"后加签：拟办理「{held['summary']}」，请 {signer.display_name} 会签"
            message = f"{actor}办理「{current.title}」（{held['summary']}），请您会签：{text}"
        audit.record("add_signer", user_id=user.id, instance_id=instance.id, task_id=task_id, step=current.title,
                     opinion=text, detail={"summary": summary, "signer": signer.username, "position": position,
                                           "signature_id": row.id, **on_behalf})
        notify.add([signer], "add_signer", f"{message}（#{instance.id} {instance.title}）", instance_id=instance.id,
                   task_id=task_id)
        _tell_signers_deputy(signer, message, instance, task_id)
        db.session.commit()
        return signature_dict(row)

    result = instance_lock.run_locked(record.instance_id, work)
    notify.send_pending_emails()
    return result


def cancel(signature_id: int, user_id: int) -> dict[str, Any]:
    """The requester withdraws a pending signature (an after-signature's held decision is dropped)."""
    user = get_user(user_id)
    row = _signature(signature_id)
    if row.requested_by_id != user.id:
        raise Forbidden("只有发起加签的办理人可以撤销加签")

    def work(instance: ProcessInstance) -> dict[str, Any]:
        current = _signature(signature_id, fresh=True)
        if current.status != SignStatus.pending:
            raise Conflict(f"该加签已{SIGN_STATUS_LABELS[current.status]}，不能撤销")
        current.status = SignStatus.cancelled
        title = current.task.title
        on_behalf = delegations.behalf(_holding_for(user, current.task))
        audit.record("sign_cancel", user_id=user.id, instance_id=instance.id, task_id=current.task_id, step=title,
                     detail={"summary": f"撤销对 {current.signer.display_name} 的加签", "signature_id": current.id,
                             **on_behalf})
        notify.add([current.signer], "sign_cancel", f"{delegations.acting_name(user.display_name, on_behalf)}"
                                                    f"撤销了「{title}」对您的加签"
                                                    f"（#{instance.id} {instance.title}）",
                   instance_id=instance.id, task_id=current.task_id)
        db.session.commit()
        return signature_dict(current)

    result = instance_lock.run_locked(row.instance_id, work)
    notify.send_pending_emails()
    return result


# --- the signer's side -------------------------------------------------------------------------------------------

def answer(signature_id: int, user_id: int, agree: Any, opinion: Any) -> dict[str, Any]:
    """The signer answers: agree or not, with an opinion. A before-signature's opinion is recorded for the holder;
    an after-signature's agreement applies the held completion (once), a disagreement gives the task back."""
    user = get_user(user_id)
    row = _signature(signature_id)
    if row.signer_id != user.id and _answering_for(user, row) is None:
        raise Forbidden("您不是该加签的加签人")
    if not isinstance(agree, bool):
        raise _invalid("agree", "请选择同意或不同意")
    text = _opinion_text(opinion)
    if expire_stale(signature_id=signature_id):
        raise Conflict("该加签已自动撤销：任务已办结、流转或不再由发起人办理")
    row = _signature(signature_id, fresh=True)
    if row.status != SignStatus.pending:
        raise Conflict(f"该加签已{SIGN_STATUS_LABELS[row.status]}，不能再答复")
    if row.position == SignPosition.after and agree:
        return _apply_held(row, user, text)

    def work(instance: ProcessInstance) -> dict[str, Any]:
        current = _signature(signature_id, fresh=True)
        if current.status != SignStatus.pending:
            raise Conflict(f"该加签已{SIGN_STATUS_LABELS[current.status]}，不能再答复")
        signer = _answering_for(user, current)  # 委托: the signer's deputy answers on the signer's behalf
        if current.signer_id != user.id and signer is None:  # the delegation ended meanwhile
            raise Forbidden("您不是该加签的加签人")
        on_behalf = delegations.behalf(signer)
        task = db.session.get(TaskRecord, current.task_id, populate_existing=True)
        if _stale(current, task, instance):
            raise Conflict("该加签已自动撤销：任务已办结、流转或不再由发起人办理")
        current.status = SignStatus.agreed if agree else SignStatus.disagreed
        current.opinion, current.answered_at = text, utcnow()
        verdict = "同意" if agree else "不同意"
        if current.position == SignPosition.before:
            summary = f"加签意见（{verdict}），应 {current.requested_by.display_name} 征求"
        else:
            summary = f"不同意会签，「{task.title}」退回 {current.requested_by.display_name} 重新办理，原拟办理不生效"
        audit.record("sign_answer", user_id=user.id, instance_id=instance.id, task_id=task.id, step=task.title,
                     opinion=text, detail={"summary": summary, "agree": agree, "position": current.position,
                                           "signature_id": current.id, **on_behalf})
        notify.add([current.requested_by], "sign_answer", f"{delegations.acting_name(user.display_name, on_behalf)}"
                                                          f"对「{task.title}」的加签意见："
                                                          f"{verdict}。{text}（#{instance.id} {instance.title}）",
                   instance_id=instance.id, task_id=task.id)
        db.session.commit()
        return signature_dict(current)

    result = instance_lock.run_locked(row.instance_id, work)
    notify.send_pending_emails()
    return result


def _apply_held(row: AddedSigner, signer: User, opinion: str) -> dict[str, Any]:
    """后加签 agreed: complete the task as its holder with the held values, through the normal completion path."""
    held = row.held_data or {}
    try:
        tasks.complete_task(row.task_id, row.requested_by_id, dict(held.get("values") or {}),
                            cosign=Cosign(row.id, row.signer_id, opinion, answered_by_id=signer.id))
    except (Forbidden, ValidationFailed) as exc:  # the holder lost the task, or the held values no longer hold
        db.session.rollback()
        raise Conflict(f"原办理人的决定无法生效：{exc.message}") from None
    return signature_dict(_signature(row.id, fresh=True))


def completion_check(record: TaskRecord, user: User, summary: str, cosign: Cosign | None) -> dict[str, Any]:
    """tasks.complete_task's hook, under the instance's lock before the engine runs. Without `cosign`: refuse while
    a signature is pending on the task (409). With it: mark that after-signature agreed in this transaction and
    return what the completion's history row adds (the co-signer). Adding a signer claims the task for its holder
    and a signature whose task is no longer claimed by its requester is void: an unclaimed task or one claimed by
    someone else needs no query (the usual completion)."""
    if record.claimed_by_id != user.id:
        if cosign is not None:
            raise Conflict("该加签已自动撤销：任务已不在发起人名下")
        return {}
    pending = db.session.scalar(select(AddedSigner).where(AddedSigner.task_id == record.id,
                                                          AddedSigner.status == SignStatus.pending)
                                .execution_options(populate_existing=True))
    if cosign is None:
        if pending is None or pending.requested_by_id != user.id:
            return {}  # none, or a stale one of a former holder (cancelled when next read)
        if pending.position == SignPosition.before:
            raise Conflict(f"等待 {pending.signer.display_name} 的意见，答复或撤销加签后才能办理")
        raise Conflict(f"待 {pending.signer.display_name} 会签，会签或撤销加签前不能再次办理")
    if (pending is None or pending.id != cosign.signature_id or pending.signer_id != cosign.signer_id
            or pending.position != SignPosition.after or pending.requested_by_id != user.id):
        raise Conflict("该加签已答复或已撤销")
    done = db.session.execute(update(AddedSigner).where(AddedSigner.id == pending.id,
                                                        AddedSigner.status == SignStatus.pending)
                              .values(status=SignStatus.agreed, opinion=cosign.opinion, answered_at=utcnow()),
                              execution_options={"synchronize_session": False})
    if done.rowcount != 1:
        raise Conflict("该加签已答复或已撤销")
    signer = pending.signer
    answered_by = signer
    if cosign.answered_by_id not in (None, signer.id):  # 委托: the signer's deputy agreed on the signer's behalf
        answered_by = db.session.get(User, cosign.answered_by_id)
    on_behalf = delegations.behalf(signer if answered_by is not signer else None)
    holder = delegations.acting_name(user.display_name, delegations.behalf(record.on_behalf_of)
                                     if record.claimed_by_id == user.id else None)
    audit.record("sign_answer", user_id=answered_by.id, instance_id=record.instance_id, task_id=record.id,
                 step=record.title, opinion=cosign.opinion,
                 detail={"summary": f"同意会签，{holder}的办理生效", "agree": True,
                         "position": SignPosition.after, "signature_id": pending.id, **on_behalf})
    notify.add([user], "sign_answer", f"{delegations.acting_name(answered_by.display_name, on_behalf)}"
                                      f"同意会签「{record.title}」，您的办理已生效："
                                      f"{cosign.opinion}（#{record.instance_id}）",
               instance_id=record.instance_id, task_id=record.id)
    return {"summary": f"{summary}（经 {delegations.acting_name(answered_by.display_name, on_behalf)} 会签同意）",
            "cosigner": signer.username, "signature_id": pending.id}


# --- 委托 -----------------------------------------------------------------------------------------------------------

def _holding_for(user: User, record: TaskRecord) -> User | None:
    """The principal on whose behalf the user holds the task: the one the user's claim was for (it stays theirs
    after the delegation ends, access.holds_claim), else the one the user is a deputy of now."""
    if record.claimed_by_id == user.id and record.on_behalf_of_id is not None:
        return record.on_behalf_of
    return acting_for(user, record)


def _answering_for(user: User, row: AddedSigner) -> User | None:
    """The signer when the user is the signer's deputy now (委托; not a deputy's deputy), else None."""
    if row.signer_id == user.id:
        return None
    return next((p for p in delegators(user) if p.id == row.signer_id), None)


def _tell_signers_deputy(signer: User, message: str, instance: ProcessInstance, task_id: int) -> None:
    """委托: the signer's deputy of a delegation running now is told too, as "代 X：…" (one query)."""
    deputy_id = db.session.scalar(select(notify.active_deputy()).select_from(User).where(User.id == signer.id))
    deputy = db.session.get(User, deputy_id) if deputy_id is not None else None
    if deputy is not None and deputy.active:
        notify.add([deputy], "add_signer", f"代 {signer.display_name}：{message}（#{instance.id} {instance.title}）",
                   instance_id=instance.id, task_id=task_id)


def _signed_by(user_id: int):
    """SQL: the signature is the user's, or that of a signer who delegated to the user now (委托; no query of its
    own: a subquery of the list's statement)."""
    now = utcnow()
    principals = select(Delegation.principal_id).where(
        Delegation.deputy_id == user_id, Delegation.revoked_at.is_(None), Delegation.starts_at <= now,
        Delegation.ends_at > now)
    return or_(AddedSigner.signer_id == user_id, AddedSigner.signer_id.in_(principals))


# --- reading ------------------------------------------------------------------------------------------------------

def signature_dict(row: AddedSigner) -> dict[str, Any]:
    held = row.held_data or {}
    return {"id": row.id, "task_id": row.task_id, "instance_id": row.instance_id, "step": row.task.title,
            "request_title": row.instance.title, "requested_by": row.requested_by.display_name,
            "requested_by_username": row.requested_by.username,
            "requested_by_department": row.requested_by.department.name,
            "signer": row.signer.display_name, "signer_username": row.signer.username,
            "signer_department": row.signer.department.name, "position": row.position,
            "position_label": SIGN_POSITION_LABELS[row.position], "reason": row.reason, "status": row.status,
            "status_label": SIGN_STATUS_LABELS[row.status], "opinion": row.opinion,
            "held_summary": held.get("summary"), "held_opinion": held.get("opinion"),
            "created_at": row.created_at, "answered_at": row.answered_at}


def task_signatures(task_id: int, user_id: int) -> list[dict[str, Any]]:
    """The signatures of a task, oldest first, for whoever may see its request (the task page, the API)."""
    user = get_user(user_id)
    record = db.session.get(TaskRecord, task_id)
    if record is None:
        raise NotFound("任务不存在")
    get_viewable_instance(record.instance_id, user)
    expire_stale(task_id=task_id)
    rows = db.session.scalars(select(AddedSigner).where(AddedSigner.task_id == task_id).order_by(AddedSigner.id))
    return [signature_dict(r) for r in rows]


def pending_count(user_id: int) -> int:
    """Open 加签待办 of the user (the navigation count): pending, on a task still waiting for its requester.
    Read only: stale ones are left for the list page to cancel."""
    return db.session.scalar(
        select(func.count()).select_from(AddedSigner)
        .join(TaskRecord, TaskRecord.id == AddedSigner.task_id)
        .join(ProcessInstance, ProcessInstance.id == AddedSigner.instance_id)
        .where(_signed_by(user_id), AddedSigner.status == SignStatus.pending,
               TaskRecord.state == TaskState.ready, ProcessInstance.status.not_in(ENDED),
               TaskRecord.claimed_by_id == AddedSigner.requested_by_id)) or 0


def signature_list(user_id: int, *, page: int = 1, per_page: int = 50, q: str | None = None,
                   done: bool = False) -> Page:
    """加签待办: the user's pending signatures (done=False) or the ones answered or cancelled, newest first; q is a
    request number or words of its title."""
    user = get_user(user_id)
    expire_stale(signer_id=user.id)
    where = [AddedSigner.signer_id == user.id if done else _signed_by(user.id)]  # 委托: the principal's open ones
    where.append(AddedSigner.status != SignStatus.pending if done else AddedSigner.status == SignStatus.pending)
    if not done:  # a principal's stale ones are not cancelled here (the principal's list or an answer does): hidden
        where += [TaskRecord.state == TaskState.ready, ProcessInstance.status.not_in(ENDED),
                  TaskRecord.claimed_by_id == AddedSigner.requested_by_id]
    if q:
        number = request_number(q)
        words = ProcessInstance.title.contains(q, autoescape=True)
        where.append(or_(AddedSigner.instance_id == number, words) if number is not None else words)
    total = db.session.scalar(select(func.count()).select_from(AddedSigner).join(ProcessInstance)
                              .join(TaskRecord, TaskRecord.id == AddedSigner.task_id).where(*where))
    requester, department, signer = aliased(User), aliased(Department), aliased(User)
    rows = db.session.execute(
        select(AddedSigner, ProcessInstance.title, TaskRecord.title, requester.display_name, department.name,
               signer.display_name)
        .join(ProcessInstance, ProcessInstance.id == AddedSigner.instance_id)
        .join(TaskRecord, TaskRecord.id == AddedSigner.task_id)
        .join(requester, requester.id == AddedSigner.requested_by_id)
        .join(signer, signer.id == AddedSigner.signer_id)
        .join(department, department.id == requester.department_id)
        .where(*where).order_by(AddedSigner.id.desc()).limit(per_page).offset((page - 1) * per_page)).all()
    items = [{"id": r[0].id, "task_id": r[0].task_id, "instance_id": r[0].instance_id, "request_title": r[1],
              "step": r[2], "requested_by": r[3], "requested_by_department": r[4], "position": r[0].position,
              "position_label": SIGN_POSITION_LABELS[r[0].position], "reason": r[0].reason, "status": r[0].status,
              "status_label": SIGN_STATUS_LABELS[r[0].status], "opinion": r[0].opinion,
              "held_summary": (r[0].held_data or {}).get("summary"), "created_at": r[0].created_at,
              "answered_at": r[0].answered_at,
              "on_behalf_of": r[5] if r[0].signer_id != user.id else None} for r in rows]
    return Page(items, page, per_page, total=total, has_next=page * per_page < total,
                filters={"q": q or "", "done": done})


def signature_view(signature_id: int, user_id: int) -> dict[str, Any]:
    """One signature for its signer or requester (others: 403), with whether this user may answer or cancel it."""
    user = get_user(user_id)
    row = _signature(signature_id)
    deputy_for = _answering_for(user, row) if user.id not in (row.signer_id, row.requested_by_id) else None
    if user.id not in (row.signer_id, row.requested_by_id) and deputy_for is None:
        raise Forbidden("您无权查看该加签")
    if row.status == SignStatus.pending:
        expire_stale(signature_id=signature_id)
        row = _signature(signature_id, fresh=True)
    pending = row.status == SignStatus.pending
    return {**signature_dict(row), "can_answer": pending and (row.signer_id == user.id or deputy_for is not None),
            "can_cancel": pending and row.requested_by_id == user.id,
            "on_behalf_of": deputy_for.display_name if deputy_for else None}
