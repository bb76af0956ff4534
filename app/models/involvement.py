"""Which departments a request involved: one row per (instance, department holding one of its tasks), with the
instance's creation time, so a department's requests are read newest first from one index (migration 5ec1a1perf02)
instead of probing every instance's tasks. Maintained by services.workflow.progress where tasks are projected."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class InstanceDepartment(db.Model):
    __tablename__ = "instance_department"
    __table_args__ = (Index("ix_instance_department_created", "department_code", "created_at", "instance_id"),)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), primary_key=True)
    department_code: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the instance's created_at (ordering copy)
