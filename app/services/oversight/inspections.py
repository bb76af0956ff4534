"""Periodic data-security inspections (Art. 31): one round per configured quarter-month, a task for every
department with a data-responsible head; records missing at the deadline show as overdue."""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import select

from ...extensions import db
from ...models import Department, ProcessDefinition, ProcessInstance, User
from ...models.org import Role
from ...models.types import CHINA_TZ, utcnow
from ..resources.reference_data import CAC_OFFICE
from ..workflow.processes import start_round

PROCESS_KEY = "security_inspection"


def round_title(moment: datetime) -> str:
    local = moment.astimezone(CHINA_TZ)
    return f"{local.year} 年第 {(local.month - 1) // 3 + 1} 季度数据安全检查"


def inspected_departments() -> list[str]:
    """Departments with a 部门信息化负责人 (they manage data, Art. 8), except 网信办."""
    codes = {u.department.code for u in db.session.scalars(select(User).where(User.active.is_(True)))
             if u.has_role(Role.dept_head)}
    ordered = db.session.scalars(select(Department.code).order_by(Department.id))
    return [c for c in ordered if c in codes and c != CAC_OFFICE]


def start_round_now(now: datetime | None = None) -> int | None:
    """Start this quarter's round unless it exists already (idempotent). Returns the new instance id."""
    title = round_title(now or utcnow())
    exists = db.session.scalar(select(ProcessInstance.id).join(ProcessDefinition).where(
        ProcessDefinition.process_key == PROCESS_KEY, ProcessInstance.title == title).limit(1))
    if exists is not None:
        return None
    return start_round(PROCESS_KEY, title, {"inspected_departments": inspected_departments(),
                                            "period_days": int(current_app.config.get("INSPECTION_DAYS", 10))})


def start_due_round(now: datetime | None = None) -> int | None:
    """Called by the scheduler's sync: start the round in the configured months (default Jan, Apr, Jul, Oct)."""
    now = now or utcnow()
    months = current_app.config.get("INSPECTION_MONTHS", (1, 4, 7, 10))
    if now.astimezone(CHINA_TZ).month not in months:
        return None
    return start_round_now(now)
