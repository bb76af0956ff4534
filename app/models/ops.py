"""Operations state kept in the database: the scheduler lease (which scheduler process is the active one)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class SchedulerLease(db.Model):
    """One row per lease name. `holder` renews `heartbeat_at`/`expires_at`; anyone may take an expired or released
    (holder NULL) lease. `term` counts the holders so far (a takeover increments it)."""
    __tablename__ = "scheduler_lease"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    term: Mapped[int] = mapped_column(default=0)
    acquired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
