"""Process analytics (issue 12): figures the refresh job (services.oversight.analytics.refresh) derives from finished
steps and from each instance's task tree, so the analytics page never reads workflows or the audit log."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .process import ProcessInstance
from .types import UTCDateTime


class AnalyticsStep(db.Model):
    """One completed user task: its duration in working days and whether it returned or refused the request."""

    __tablename__ = "analytics_step"
    __table_args__ = (Index("ix_analytics_step_day", "definition_id", "day"),)
    task_id: Mapped[int] = mapped_column(ForeignKey("task.id", ondelete="CASCADE"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), index=True)
    definition_id: Mapped[int] = mapped_column(Integer)
    applicant_department_id: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())  # the request's creation (the date filter)
    day: Mapped[date] = mapped_column(Date)  # its Beijing date
    element_id: Mapped[str] = mapped_column(String(80))
    working_days: Mapped[float] = mapped_column(Float)  # to 0.01 working day
    negative: Mapped[bool] = mapped_column(default=False)  # the decision was a return, refusal or rejection


class AnalyticsFlow(db.Model):
    """How often one instance took one sequence flow."""

    __tablename__ = "analytics_flow"
    __table_args__ = (Index("ix_analytics_flow_day", "definition_id", "day"),)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id", ondelete="CASCADE"), primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    definition_id: Mapped[int] = mapped_column(Integer)
    applicant_department_id: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    day: Mapped[date] = mapped_column(Date)
    taken: Mapped[int] = mapped_column(Integer)


class AnalyticsStepDay(db.Model):
    """analytics_step summed per version, submission day, applicant department, step, duration and decision: what
    the figures read when no providing department is chosen (rebuilt for the days the refresh job touched)."""

    __tablename__ = "analytics_step_day"
    definition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    applicant_department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    element_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    working_days: Mapped[float] = mapped_column(Float, primary_key=True)
    negative: Mapped[bool] = mapped_column(primary_key=True)
    passed: Mapped[int] = mapped_column(Integer)


class AnalyticsFlowDay(db.Model):
    """analytics_flow summed per version, submission day, applicant department and flow."""

    __tablename__ = "analytics_flow_day"
    definition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    applicant_department_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    flow_id: Mapped[str] = mapped_column(String(80), primary_key=True)
    taken: Mapped[int] = mapped_column(Integer)


class AnalyticsRefresh(db.Model):
    """The single row (id 1): instances changed up to (changed_to, last_id) are counted."""

    __tablename__ = "analytics_refresh"
    id: Mapped[int] = mapped_column(primary_key=True)
    changed_to: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# the refresh job finds the instances changed since its last run (declared here, on process_instance's table)
Index("ix_process_instance_updated", ProcessInstance.updated_at, ProcessInstance.id)
