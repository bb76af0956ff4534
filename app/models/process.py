"""Deployed process definitions (versioned) and running instances (serialized workflows)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import Department, User
from .types import UTCDateTime, utcnow


class ProcessDefinition(db.Model):
    __tablename__ = "process_definition"
    __table_args__ = (UniqueConstraint("process_key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_key: Mapped[str] = mapped_column(String(80), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)  # read when parsing or showing the diagram
    sha256: Mapped[str] = mapped_column(String(64))
    source_file: Mapped[str] = mapped_column(String(200), default="")
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InstanceStatus:
    running = "running"
    suspended = "suspended"  # by an administrator: no task can be completed, no timer fires
    error = "error"  # a step failed; an administrator fixes (new version + migration) and retries
    cancelled = "cancelled"
    completed = "completed"


INSTANCE_STATUS_LABELS = {InstanceStatus.running: "办理中", InstanceStatus.suspended: "已暂停",
                          InstanceStatus.error: "流程出错（待管理员处理）", InstanceStatus.cancelled: "已取消",
                          InstanceStatus.completed: "已结束"}
OPEN_STATUSES = (InstanceStatus.running, InstanceStatus.suspended, InstanceStatus.error)


class ProcessInstance(db.Model):
    __tablename__ = "process_instance"
    __table_args__ = (  # newest-first request lists (migration 5ec0c3perf00)
        Index("ix_process_instance_created", "created_at", "id"),
        Index("ix_process_instance_department_created", "applicant_department_id", "created_at", "id"),
        Index("ix_process_instance_initiator_created", "initiator_id", "created_at", "id"),  # 我发起的 (5ec17elist00)
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=InstanceStatus.running, index=True)
    outcome: Mapped[str | None] = mapped_column(String(80))  # the end event reached
    current_step: Mapped[str] = mapped_column(String(300), default="")
    status_reason: Mapped[str | None] = mapped_column(Text)  # why it was suspended or cancelled
    error_element: Mapped[str | None] = mapped_column(String(80))
    error_message: Mapped[str | None] = mapped_column(Text)
    initiator_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)  # None: the system
    applicant_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    # the engine state without its spec (attached from the definition version); read by workflow.progress.load only
    workflow_json: Mapped[str] = mapped_column(Text, deferred=True)
    serializer_version: Mapped[str] = mapped_column(String(20))
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    definition: Mapped[ProcessDefinition] = relationship()
    initiator: Mapped[User | None] = relationship()
    applicant_department: Mapped[Department] = relationship()

    __mapper_args__ = {"version_id_col": lock_version}  # optimistic locking: a stale save raises StaleDataError
