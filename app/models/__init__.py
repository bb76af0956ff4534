"""Typed SQLAlchemy 2.0 models."""
from __future__ import annotations

from .audit import AuditLog
from .catalog import DataDomain, DataResource, ShareClass
from .org import ApiToken, Department, Role, User
from .process import ProcessDefinition, ProcessInstance
from .task import TaskRecord

__all__ = ["ApiToken", "AuditLog", "DataDomain", "DataResource", "Department", "ProcessDefinition",
           "ProcessInstance", "Role", "ShareClass", "TaskRecord", "User"]
