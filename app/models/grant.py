"""Granted access to shared data (Art. 22-23, 30): one row per delivered resource."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .catalog import DataResource
from .org import Department
from .types import UTCDateTime, utcnow


class DataGrant(db.Model):
    __tablename__ = "data_grant"
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    grantee_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("data_resource.id"), index=True)
    fields: Mapped[list] = mapped_column(JSON, default=list)  # field labels granted (minimisation)
    purpose: Mapped[str] = mapped_column(Text)
    method: Mapped[str] = mapped_column(String(20))  # interface | sync | export
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    renewal_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    grantee_department: Mapped[Department] = relationship()
    resource: Mapped[DataResource] = relationship()
