"""The task table: the engine's ready user tasks projected for inbox queries."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import User
from .process import ProcessInstance
from .types import UTCDateTime, utcnow


class TaskState:
    ready = "ready"
    completed = "completed"
    cancelled = "cancelled"


class TaskRecord(db.Model):
    __tablename__ = "task"
    __table_args__ = (
        # a reset (退回/撤回/收回, migration 5ec14brtrn00) reopens a step under its engine id: unique while open only
        Index("uq_task_open_engine_task", "instance_id", "engine_task_id", unique=True,
              postgresql_where=text("state = 'ready'"), sqlite_where=text("state = 'ready'")),
        Index("ix_task_instance_engine_task", "instance_id", "engine_task_id"),
        Index("ix_task_inbox", "state", "candidate_role", "department_code"),
        Index("ix_task_due", "state", "due_at"),
        # read paths (migration 5ec0c3perf00): the open tasks in inbox order, and who was involved in a request
        Index("ix_task_open", "due_at", "created_at", "id", postgresql_where=text("state = 'ready'"),
              sqlite_where=text("state = 'ready'")),
        Index("ix_task_department_instance", "department_code", "instance_id"),
        Index("ix_task_completed_by_instance", "completed_by_id", "instance_id"),
        Index("ix_task_completed_by_at", "completed_by_id", "completed_at", "id"),  # 我已办 (migration 5ec17elist00)
        # the tasks closed after the supervisors' deadline sums were taken (oversight.deadline_stats, 5ec1b2chrt00)
        Index("ix_task_closed_with_deadline", "completed_at", postgresql_where=text("due_at IS NOT NULL"),
              sqlite_where=text("due_at IS NOT NULL")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    engine_task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    lane: Mapped[str | None] = mapped_column(String(80))
    form_key: Mapped[str] = mapped_column(String(80))
    candidate_role: Mapped[str] = mapped_column(String(40))  # the first role; all of them in candidate_roles
    candidate_roles: Mapped[list] = mapped_column(JSON, default=list)
    department_code: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(20), default=TaskState.ready)
    claimed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    on_behalf_of_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # 委托: completed as deputy
    opinion: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    instance: Mapped[ProcessInstance] = relationship()
    claimed_by: Mapped[User | None] = relationship(foreign_keys=[claimed_by_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    on_behalf_of: Mapped[User | None] = relationship(foreign_keys=[on_behalf_of_id])
