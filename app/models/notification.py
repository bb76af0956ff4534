"""In-app notifications (and their e-mail delivery state), and their deliveries to 企业微信 / 钉钉 (an outbox)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import User
from .types import UTCDateTime, utcnow


class Notification(db.Model):
    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_unread", "user_id", "read_at"),
                      # the unread badge on every page counts only these (migration 5ec0c3perf00)
                      Index("ix_notification_unread_only", "user_id", postgresql_where=text("read_at IS NULL"),
                            sqlite_where=text("read_at IS NULL")))
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    event: Mapped[str] = mapped_column(String(40))  # new_task | reminder | overdue | urge | ...
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    email_state: Mapped[str] = mapped_column(String(20), default="none")  # none | pending | sent | failed
    user: Mapped[User] = relationship()
    deliveries: Mapped[list[NotificationDelivery]] = relationship(back_populates="notification",
                                                                  cascade="all, delete-orphan",
                                                                  passive_deletes=True)


DELIVERY_STATES = ("pending", "sending", "sent", "failed")


class NotificationDelivery(db.Model):
    """One notification on one channel: written with the notification (same transaction), sent afterwards by
    app.services.messaging.channels.deliver_pending with retries, exponential backoff and the channels' rate limits."""

    __tablename__ = "notification_delivery"
    __table_args__ = (Index("ix_delivery_due", "state", "next_attempt_at"),
                      Index("ix_delivery_rate", "channel", "recipient", "sent_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notification.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # wecom | dingtalk
    recipient: Mapped[str] = mapped_column(String(120), default="")  # 企业微信 userid; 钉钉: the mobile to @
    # pending → (claimed) sending → sent | back to pending with a later next_attempt_at | failed
    state: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    notification: Mapped[Notification] = relationship(back_populates="deliveries")
