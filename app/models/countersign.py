"""加签 (add a signer): a named person's opinion before the holder decides, or their co-signature after it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import User
from .process import ProcessInstance
from .task import TaskRecord
from .types import UTCDateTime, utcnow


class SignPosition:
    before = "before"  # 前加签 / 征求意见: the holder asks before deciding; the task cannot be completed meanwhile
    after = "after"  # 后加签: the holder's decision is held until the signer agrees


class SignStatus:
    pending = "pending"
    agreed = "agreed"
    disagreed = "disagreed"
    cancelled = "cancelled"


SIGN_POSITION_LABELS = {SignPosition.before: "前加签（征求意见）", SignPosition.after: "后加签（会签）"}
SIGN_STATUS_LABELS = {SignStatus.pending: "待答复", SignStatus.agreed: "同意", SignStatus.disagreed: "不同意",
                      SignStatus.cancelled: "已撤销"}
VISIBLE_SIGN_STATUSES = (SignStatus.pending, SignStatus.agreed, SignStatus.disagreed)  # let the signer read


class AddedSigner(db.Model):
    """One 加签 request on one task; at most one pending per task (a partial unique index)."""

    __tablename__ = "added_signer"
    __table_args__ = (Index("ix_added_signer_signer", "signer_id", "status", "id"),  # 加签待办, the nav count
                      Index("ix_added_signer_instance_signer", "instance_id", "signer_id"),  # can_view
                      Index("ix_added_signer_task", "task_id", "id"),
                      Index("uq_added_signer_pending", "task_id", unique=True,
                            postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")))
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id"))
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    signer_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    position: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default=SignStatus.pending)
    opinion: Mapped[str | None] = mapped_column(Text)
    held_data: Mapped[dict | None] = mapped_column(JSON)  # after only: the holder's validated form values
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    task: Mapped[TaskRecord] = relationship()
    instance: Mapped[ProcessInstance] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    signer: Mapped[User] = relationship(foreign_keys=[signer_id])
