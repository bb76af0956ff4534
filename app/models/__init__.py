"""Typed SQLAlchemy 2.0 models."""
from __future__ import annotations

from .actions import CarbonCopy
from .analytics import AnalyticsFlow, AnalyticsRefresh, AnalyticsStep
from .attachment import Attachment
from .audit import AuditLog
from .calendar import CalendarYear
from .catalog import DataDomain, DataResource, ShareClass
from .countersign import AddedSigner
from .deadline_stats import DeadlineDay, DeadlineRefresh  # noqa: F401 - the charts' daily sums
from .delegation import Delegation
from .forms import FormDefinition, ProcessFormVersion
from .grant import DataGrant
from .identity import CasTicket
from .involvement import InstanceDepartment  # noqa: F401 - a read index kept by workflow.progress
from .notification import Notification, NotificationDelivery
from .ops import SchedulerLease
from .org import ApiToken, Department, Role, User
from .process import ProcessDefinition, ProcessInstance
from .task import TaskRecord
from .timer import TimerRecord

__all__ = ["AddedSigner", "AnalyticsFlow", "AnalyticsRefresh", "AnalyticsStep", "ApiToken", "Attachment", "AuditLog",
           "CalendarYear", "CarbonCopy", "CasTicket", "DataDomain", "DataGrant", "DataResource", "Delegation",
           "Department", "FormDefinition", "Notification", "NotificationDelivery", "ProcessDefinition",
           "ProcessFormVersion", "ProcessInstance", "Role", "SchedulerLease", "ShareClass", "TaskRecord",
           "TimerRecord", "User"]
