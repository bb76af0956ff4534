"""Notifications: in-app rows, e-mail through SMTP when MAIL_SERVER is configured, and 企业微信 / 钉钉 messages
through the outbox in app.services.messaging.channels, each as the user chose (in-app always)."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import contains_eager, joinedload

from ...extensions import db
from ...models import Delegation, Department, Notification, TaskRecord, User
from ...models.types import utcnow
from ..people.access import get_user, is_candidate
from . import channels

EVENT_LABELS = {"new_task": "新待办", "reminder": "催办提醒", "overdue": "逾期", "urge": "催办", "end": "办结",
                "returned": "退回", "task_cancelled": "待办撤销",
                "renewal": "授权续期", "error": "流程出错", "order": "责令整改", "referral": "移送",
                "quality": "质量反馈", "overruled": "不予提供意见未被采纳",
                "transfer": "转办", "cc": "抄送",
                "add_signer": "加签", "sign_answer": "加签答复", "sign_cancel": "加签撤销", "delegation": "工作委托"}


def users_for(department_code: str | None, roles: list[str] | tuple[str, ...], *,
              deputies: dict[int, int] | None = None) -> list[User]:
    """Active users with one of the roles in the department (any department when None). With `deputies`, the
    same statement also reads each user's deputy of a delegation running now (委托) into it: user id -> deputy id."""
    query = select(User)
    if deputies is not None:
        query = query.add_columns(active_deputy())
    query = query.where(User.active.is_(True))
    if department_code:  # the department comes with the users (is_candidate reads it): no query per user
        query = (query.join(Department).where(Department.code == department_code)
                 .options(contains_eager(User.department)))
    else:
        query = query.options(joinedload(User.department))
    if deputies is None:
        return [u for u in db.session.scalars(query) if u.roles & set(roles)]
    users = []
    for user, deputy_id in db.session.execute(query):
        if user.roles & set(roles):
            users.append(user)
            if deputy_id is not None:
                deputies[user.id] = deputy_id
    return users


def active_deputy():
    """SQL, correlated to User: the deputy of the user's delegation running now (委托; one at a time), else NULL."""
    now = utcnow()
    return (select(Delegation.deputy_id).where(Delegation.principal_id == User.id, Delegation.revoked_at.is_(None),
                                               Delegation.starts_at <= now, Delegation.ends_at > now)
            .order_by(Delegation.starts_at.desc()).limit(1).correlate(User).scalar_subquery())


def task_holders(record: TaskRecord, *, deputies: dict[int, int] | None = None) -> list[User]:
    """Who holds a task: the claimer, or every candidate. `deputies`: as users_for() (unclaimed tasks only)."""
    if record.claimed_by is not None:
        return [record.claimed_by]
    return [u for u in users_for(record.department_code, record.candidate_roles, deputies=deputies)
            if is_candidate(u, record, delegated=False)]


def deputy_notices(holders: dict[int, list[User]], deputies: dict[int, int]) -> dict[int, list[tuple[User, User]]]:
    """委托: task id -> (deputy, principal) pairs to tell of the new task on the principal's behalf, once per task;
    a deputy who holds the task in their own right is told as a holder already, and a deputy's own deputy is not
    followed. `deputies` (holder id -> deputy id) comes from the holders' own statement: no delegation, no query;
    otherwise one query reads the (active) deputies."""
    wanted = {d for users in holders.values() for u in users if (d := deputies.get(u.id)) is not None}
    if not wanted:
        return {}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(wanted), User.active.is_(True))
                                                  .options(joinedload(User.department)))}
    notices: dict[int, list[tuple[User, User]]] = {}
    for task_id, users in holders.items():
        told = {u.id for u in users}
        for principal in sorted(users, key=lambda u: (u.display_name, u.id)):  # as access.acting_for: first by name
            deputy = people.get(deputies.get(principal.id, 0))
            if deputy is not None and deputy.id not in told:
                told.add(deputy.id)
                notices.setdefault(task_id, []).append((deputy, principal))
    return notices


def add(users: list[User], event: str, message: str, *, instance_id: int | None = None,
        task_id: int | None = None) -> int:
    """Queue one notification per distinct user, with its deliveries on the user's other channels. Callers commit;
    sending happens after the commit (send_pending_emails), so a channel never holds up or fails the caller."""
    mail = bool(current_app.config.get("MAIL_SERVER"))
    seen: set[int] = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        wanted = channels.user_channels(user)
        email = "pending" if mail and "email" in wanted else "none"
        db.session.add(Notification(user_id=user.id, event=event, message=message, instance_id=instance_id,
                                    task_id=task_id, email_state=email, deliveries=channels.deliveries_for(user)))
    return len(seen)


def send_pending_emails(limit: int = 200) -> int:
    """Send queued e-mails (after the transaction that queued them committed), then hand the 企业微信 / 钉钉
    deliveries to channels.dispatch (a background thread in a web request). Returns how many e-mails were sent."""
    sent = _send_emails(limit)
    channels.dispatch()
    return sent


def _send_emails(limit: int) -> int:
    server = current_app.config.get("MAIL_SERVER")
    if not server:
        return 0
    rows = db.session.scalars(select(Notification).where(Notification.email_state == "pending")
                              .order_by(Notification.id).limit(limit)).all()
    if not rows:
        return 0
    sent = 0
    try:
        with smtplib.SMTP(server, int(current_app.config.get("MAIL_PORT", 25)), timeout=10) as smtp:
            for row in rows:
                address = row.user.email
                if not address:
                    row.email_state = "none"
                    continue
                msg = EmailMessage()
                msg["From"] = current_app.config.get("MAIL_FROM", "noreply@localhost")
                msg["To"] = address
                msg["Subject"] = f"【数据资源共享审批】{EVENT_LABELS.get(row.event, row.event)}"
                msg.set_content(row.message)
                smtp.send_message(msg)
                row.email_state = "sent"
                sent += 1
    except (OSError, smtplib.SMTPException):
        current_app.logger.warning("SMTP delivery failed; will retry", exc_info=True)
    db.session.commit()
    return sent


def inbox_notifications(user_id: int, limit: int = 50) -> list[dict[str, Any]]:
    user = get_user(user_id)
    rows = db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                              .order_by(Notification.id.desc()).limit(limit))
    return [{"id": n.id, "event": n.event, "event_label": EVENT_LABELS.get(n.event, n.event), "message": n.message,
             "instance_id": n.instance_id, "task_id": n.task_id, "created_at": n.created_at,
             "read": n.read_at is not None} for n in rows]


UNREAD_CAP = 100  # the badge shows "99+" beyond this: counting further would grow with an unread backlog


def unread_count(user_id: int) -> int:
    """Unread notifications, counted up to UNREAD_CAP (one index range scan of at most that many entries)."""
    unread = (select(Notification.id).where(Notification.user_id == user_id, Notification.read_at.is_(None))
              .limit(UNREAD_CAP).subquery())
    return db.session.scalar(select(db.func.count()).select_from(unread)) or 0


def mark_all_read(user_id: int) -> None:
    db.session.execute(update(Notification).where(Notification.user_id == user_id, Notification.read_at.is_(None))
                       .values(read_at=utcnow()))
    db.session.commit()
