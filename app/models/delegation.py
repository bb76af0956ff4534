"""委托/代理: a principal names a deputy who may act on the principal's tasks for a date range."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import User
from .types import UTCDateTime, utcnow


class Delegation(db.Model):
    """Active from starts_at (inclusive) to ends_at (exclusive), both UTC: the UI's China-time dates, the last one
    inclusive, become [start of the first day, start of the day after the last) in +08:00. Revoking sets revoked_at."""

    __tablename__ = "delegation"
    __table_args__ = (Index("ix_delegation_deputy", "deputy_id", "ends_at"),  # whose tasks a user holds now
                      Index("ix_delegation_principal", "principal_id", "ends_at"))  # overlap check, my list
    id: Mapped[int] = mapped_column(primary_key=True)
    principal_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    deputy_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    principal: Mapped[User] = relationship(foreign_keys=[principal_id])
    deputy: Mapped[User] = relationship(foreign_keys=[deputy_id])
