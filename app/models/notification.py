"""In-app notifications (and their e-mail delivery state)."""
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
