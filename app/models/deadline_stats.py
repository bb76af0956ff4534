"""The supervisors' deadline figures summed per day (oversight.deadline_stats): the tasks whose deadline and end
both lie before the refresh mark, which no later change touches (only open tasks are ever updated)."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime


class DeadlineDay(db.Model):
    """Per Beijing date of the deadline, department and kind (provider answer or not): the settled tasks counted
    by the charts, those not handled by their deadline, and those completed by it."""
    __tablename__ = "deadline_day"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(40), primary_key=True)  # '' for a task without one
    provider: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    due: Mapped[int] = mapped_column(Integer, default=0)
    missed: Mapped[int] = mapped_column(Integer, default=0)
    on_time: Mapped[int] = mapped_column(Integer, default=0)


class DeadlineRefresh(db.Model):
    """One row: every closed task with deadline and end before settled_before is summed in deadline_day."""
    __tablename__ = "deadline_refresh"
    id: Mapped[int] = mapped_column(primary_key=True)
    settled_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
