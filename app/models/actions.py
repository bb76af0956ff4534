"""The 中国式审批 actions' own records: carbon copies (抄送) of a step to people outside it."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import User
from .process import ProcessInstance
from .task import TaskRecord
from .types import UTCDateTime, utcnow


class CarbonCopy(db.Model):
    """One person copied on one step of a request; it lets that person see the request (access.can_view)."""

    __tablename__ = "carbon_copy"
    __table_args__ = (Index("ix_carbon_copy_recipient", "to_user_id", "id"),  # 抄送我的, newest first
                      Index("ix_carbon_copy_instance_recipient", "instance_id", "to_user_id"))  # can_view
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id"))
    from_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    to_user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    instance: Mapped[ProcessInstance] = relationship()
    task: Mapped[TaskRecord] = relationship()
    from_user: Mapped[User] = relationship(foreign_keys=[from_user_id])
    to_user: Mapped[User] = relationship(foreign_keys=[to_user_id])
