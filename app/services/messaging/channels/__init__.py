"""Notification channels beside in-app and e-mail: 企业微信 application messages and 钉钉 group robots.

notify.add writes one NotificationDelivery per user and channel in the caller's transaction (an outbox), so an
approval never waits for, nor fails with, a channel. deliver_pending sends them later: claimed one at a time
(a conditional UPDATE, so several processes may send), retried with exponential backoff, deferred (never dropped) at
the channels' documented rate limits, and marked failed after CHANNEL_MAX_ATTEMPTS for administrators to see."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app, has_request_context
from sqlalchemy import func, select, update

from ....extensions import db
from ....models import Notification, NotificationDelivery, User
from ....models.types import utcnow
from . import dingtalk
from .http import DeliveryError
from .wecom import WecomApp

CHANNELS = ("email", "wecom", "dingtalk")  # chosen per user; in-app is always on
CHANNEL_LABELS = {"email": "电子邮件", "wecom": "企业微信", "dingtalk": "钉钉"}
# (window seconds, messages) per recipient: 企业微信 allows 30 a minute and 1,000 an hour per member; a 钉钉 robot
# 20 a minute in all (beyond that it is muted for 10 minutes), so its limit counts every recipient together.
RATE_LIMITS: dict[str, tuple[tuple[int, int], ...]] = {"wecom": ((60, 30), (3600, 1000)), "dingtalk": ((60, 20),)}
PER_RECIPIENT = {"wecom": True, "dingtalk": False}


def user_channels(user: User) -> set[str]:
    return {c for c in (user.notify_channels or "").split(",") if c in CHANNELS}


def enabled_channels() -> set[str]:
    cfg = current_app.config
    on = set()
    if cfg.get("WECOM_CORP_ID") and cfg.get("WECOM_AGENT_ID") and cfg.get("WECOM_SECRET"):
        on.add("wecom")
    if cfg.get("DINGTALK_WEBHOOK"):
        on.add("dingtalk")
    return on


def wecom_userid(user: User) -> str:
    if user.wecom_userid:
        return user.wecom_userid
    return user.username if current_app.config.get("WECOM_USERID_FROM_USERNAME") else ""


def deliveries_for(user: User) -> list[NotificationDelivery]:
    """New outbox rows for one notification to this user: each configured channel the user has on."""
    wanted = enabled_channels() & user_channels(user)
    rows = []
    if "wecom" in wanted and (userid := wecom_userid(user)):
        rows.append(NotificationDelivery(channel="wecom", recipient=userid, state="pending", attempts=0,
                                         next_attempt_at=utcnow()))
    if "dingtalk" in wanted:
        rows.append(NotificationDelivery(channel="dingtalk", recipient=user.phone or "", state="pending", attempts=0,
                                         next_attempt_at=utcnow()))
    return rows


def link_for(notification: Notification) -> str:
    """The absolute address of what the notification is about (SITE_URL + the task, the request or the inbox)."""
    site = current_app.config.get("SITE_URL", "").rstrip("/")
    if notification.task_id:
        return f"{site}/tasks/{notification.task_id}"
    if notification.instance_id:
        return f"{site}/requests/{notification.instance_id}"
    return f"{site}/notifications"


# --- sending ------------------------------------------------------------------------------------------------------

def deliver_pending(now: datetime | None = None, limit: int = 200) -> dict[str, int]:
    """Send the deliveries that are due. Returns counts: sent, retry, failed, deferred. Never raises for a channel."""
    now = now or utcnow()
    cfg = current_app.config
    lease = timedelta(seconds=float(cfg.get("CHANNEL_TIMEOUT_SECONDS", 5)) * 3 + 30)
    counts = {"sent": 0, "retry": 0, "failed": 0, "deferred": 0}
    due = db.session.scalars(select(NotificationDelivery.id)
                             .where(NotificationDelivery.state.in_(("pending", "sending")),
                                    NotificationDelivery.next_attempt_at <= now)
                             .order_by(NotificationDelivery.next_attempt_at, NotificationDelivery.id)
                             .limit(limit)).all()
    db.session.commit()
    for delivery_id in due:
        # claim: a sender that dies mid-send leaves "sending" with a lease; another picks it up after the lease
        claimed = db.session.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == delivery_id, NotificationDelivery.state.in_(("pending", "sending")),
                   NotificationDelivery.next_attempt_at <= now)
            .values(state="sending", next_attempt_at=now + lease)).rowcount
        db.session.commit()
        if claimed != 1:
            continue
        row = db.session.get(NotificationDelivery, delivery_id)
        free_at = _rate_limited(row, now)
        if free_at is not None:
            row.state, row.next_attempt_at = "pending", free_at
            counts["deferred"] += 1
            db.session.commit()
            continue
        try:
            _send(row)
        except DeliveryError as exc:
            _record_failure(row, exc, now, counts)
        except Exception as exc:  # a bug must not stop the other deliveries; it shows on the admin page
            current_app.logger.exception("notification delivery %s crashed", row.id)
            _record_failure(row, DeliveryError(f"内部错误：{type(exc).__name__}: {exc}"), now, counts)
        else:
            row.state, row.sent_at, row.last_error = "sent", now, None
            row.attempts += 1
            counts["sent"] += 1
        db.session.commit()
    return counts


def _send(row: NotificationDelivery) -> None:
    from ..notify import EVENT_LABELS

    cfg = current_app.config
    note = row.notification
    title = f"【数据资源共享审批】{EVENT_LABELS.get(note.event, note.event)}"
    timeout = float(cfg.get("CHANNEL_TIMEOUT_SECONDS", 5))
    if row.channel not in enabled_channels():
        raise DeliveryError(f"{CHANNEL_LABELS.get(row.channel, row.channel)}未配置", permanent=True)
    if row.channel == "wecom":
        app = WecomApp(cfg["WECOM_API_BASE"], cfg["WECOM_CORP_ID"], str(cfg["WECOM_AGENT_ID"]), cfg["WECOM_SECRET"],
                       timeout)
        app.send_textcard(row.recipient, title, note.message, link_for(note))
    elif row.channel == "dingtalk":
        dingtalk.send_markdown(cfg["DINGTALK_WEBHOOK"], cfg.get("DINGTALK_SECRET", ""), title, note.message,
                               link_for(note), row.recipient, timeout)
    else:
        raise DeliveryError(f"未知渠道 {row.channel}", permanent=True)


def _record_failure(row: NotificationDelivery, exc: DeliveryError, now: datetime, counts: dict[str, int]) -> None:
    cfg = current_app.config
    row.attempts += 1
    row.last_error = exc.message[:2000]
    if exc.permanent or row.attempts >= int(cfg.get("CHANNEL_MAX_ATTEMPTS", 6)):
        row.state = "failed"
        counts["failed"] += 1
        current_app.logger.warning("notification delivery %s (%s → %s) failed after %s attempts: %s", row.id,
                                   row.channel, row.recipient, row.attempts, row.last_error)
        return
    base = int(cfg.get("CHANNEL_RETRY_SECONDS", 60))
    delay = min(base * 2 ** (row.attempts - 1), int(cfg.get("CHANNEL_RETRY_MAX_SECONDS", 3600)))
    row.state, row.next_attempt_at = "pending", now + timedelta(seconds=delay)
    counts["retry"] += 1


def _rate_limited(row: NotificationDelivery, now: datetime) -> datetime | None:
    """When this delivery may be sent, if a rate limit holds it back now; None if it may go."""
    latest: datetime | None = None
    for window, allowed in RATE_LIMITS.get(row.channel, ()):
        query = (select(NotificationDelivery.sent_at)
                 .where(NotificationDelivery.channel == row.channel, NotificationDelivery.state == "sent",
                        NotificationDelivery.sent_at > now - timedelta(seconds=window)))
        if PER_RECIPIENT.get(row.channel):
            query = query.where(NotificationDelivery.recipient == row.recipient)
        # the allowed-th most recent send: once it leaves the window, there is room for one more
        oldest = db.session.scalar(query.order_by(NotificationDelivery.sent_at.desc()).offset(allowed - 1).limit(1))
        if oldest is not None:
            free_at = oldest + timedelta(seconds=window)
            latest = free_at if latest is None or free_at > latest else latest
    return latest


# --- after a commit: in the background for web requests, inline for the scheduler and the CLI ----------------------

_worker_lock = threading.Lock()
_worker: threading.Thread | None = None
_again = False


def dispatch() -> None:
    """Send what is due without holding up the caller's answer; never raises."""
    try:
        if not enabled_channels():  # rows queued before a channel was switched off wait for it to come back
            return
        if has_request_context() and current_app.config.get("CHANNEL_BACKGROUND", True):
            _start_worker(current_app._get_current_object())  # type: ignore[attr-defined]
        else:
            deliver_pending()
    except Exception:  # the approval that called this has committed: report, never fail it
        current_app.logger.exception("notification channel dispatch failed")
        db.session.rollback()


def _start_worker(app: Flask) -> None:
    global _worker, _again
    with _worker_lock:
        _again = True
        if _worker is not None and _worker.is_alive():
            return
        _worker = threading.Thread(target=_work, args=(app,), name="notify-channels", daemon=True)
        _worker.start()


def _work(app: Flask) -> None:
    global _again
    while True:
        with _worker_lock:
            if not _again:
                return
            _again = False
        with app.app_context():
            try:
                deliver_pending()
            except Exception:
                app.logger.exception("notification channel worker failed")
            finally:
                db.session.remove()


def wait_idle(timeout: float = 30) -> bool:
    """Wait for this process's background sender (tests, shutdown). True when it is idle."""
    worker = _worker
    if worker is not None:
        worker.join(timeout)
        return not worker.is_alive()
    return True


# --- administrators ------------------------------------------------------------------------------------------------

def delivery_overview(limit: int = 200) -> dict[str, Any]:
    """Failed deliveries (newest first, with the error) and counts by state, for /admin/deliveries."""
    counts = dict(db.session.execute(select(NotificationDelivery.state, func.count())
                                     .group_by(NotificationDelivery.state)).all())
    rows = db.session.execute(
        select(NotificationDelivery, Notification, User)
        .join(Notification, NotificationDelivery.notification_id == Notification.id)
        .join(User, Notification.user_id == User.id)
        .where(NotificationDelivery.state == "failed")
        .order_by(NotificationDelivery.id.desc()).limit(limit)).all()
    failed = [{"id": d.id, "channel": d.channel, "channel_label": CHANNEL_LABELS.get(d.channel, d.channel),
               "recipient": d.recipient, "user": u.display_name, "username": u.username, "event": n.event,
               "message": n.message, "instance_id": n.instance_id, "task_id": n.task_id, "attempts": d.attempts,
               "error": d.last_error or "", "created_at": d.created_at, "last_attempt_at": d.next_attempt_at}
              for d, n, u in rows]
    return {"counts": {s: counts.get(s, 0) for s in ("pending", "sending", "sent", "failed")}, "failed": failed,
            "enabled": sorted(enabled_channels())}


def retry_failed(delivery_id: int, admin_id: int) -> bool:
    """Put a failed delivery back in the queue (an administrator fixed the member id or the settings)."""
    from ...security import audit

    row = db.session.get(NotificationDelivery, delivery_id)
    if row is None or row.state != "failed":
        return False
    row.state, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
    audit.record("notification_retry", user_id=admin_id, instance_id=row.notification.instance_id,
                 detail={"delivery_id": row.id, "channel": row.channel, "recipient": row.recipient,
                         "error": row.last_error})
    db.session.commit()
    return True
