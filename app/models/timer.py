"""Armed timer events projected from the engine, for the scheduler and the overdue views."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .process import ProcessInstance
from .types import UTCDateTime, utcnow


class TimerState:
    pending = "pending"
    fired = "fired"
    cancelled = "cancelled"


class TimerRecord(db.Model):
    __tablename__ = "timer"
    __table_args__ = (UniqueConstraint("instance_id", "engine_task_id"), Index("ix_timer_due", "state", "due_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    engine_task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200), default="")
    interrupting: Mapped[bool] = mapped_column(default=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(20), default=TimerState.pending)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    instance: Mapped[ProcessInstance] = relationship()
