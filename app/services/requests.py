"""Share requests (Art. 21-23): submitting, listing and showing them."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from ..engine import runtime
from ..extensions import db
from ..models import AuditLog, DataResource, Department, ProcessDefinition, ProcessInstance, TaskRecord, User
from ..models.catalog import SHARE_CLASS_LABELS, ShareClass
from ..models.org import ROLE_LABELS, Role
from ..models.process import INSTANCE_STATUS_LABELS, InstanceStatus
from ..models.task import TaskState
from ..models.types import CHINA_TZ, utcnow
from . import audit, notify, processes, progress, task_forms
from .access import OVERSIGHT_ROLES, get_user, get_viewable_instance
from .audit import ACTION_LABELS
from .errors import Conflict, Forbidden, NotFound
from .instance_lock import lock_instance
from .supervision import deadline_status

SHARE_PROCESS_KEY = "share_request"
APPLICATION_FORM = "share_application"


def submit_share_request(user_id: int, raw: dict[str, Any]) -> int:
    """Validate the 申请表, start a share-request instance and complete its application task. Returns the id."""
    user = get_user(user_id)
    if not user.has_role(Role.handler):
        raise Forbidden("只有各部门经办人可以提出数据共享申请")

    def describe(clean: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
        names = "、".join(r["name"] for r in clean["resources"])
        submitted = datetime.now(UTC).astimezone(CHINA_TZ).isoformat(timespec="minutes")
        return (f"{user.department.name}申请使用{names}", f"申请 {names}",
                {"action": "submit", "submitted_at": submitted})

    return processes.start_process(SHARE_PROCESS_KEY, user_id, raw, describe=describe)


def catalogue() -> list[dict[str, Any]]:
    """The catalogue for the request form and the API, grouped order: domain, name."""
    rows = db.session.scalars(select(DataResource).where(DataResource.retired.is_(False))
                              .order_by(DataResource.domain_id, DataResource.name))
    return [{"id": r.id, "code": r.code, "name": r.name, "description": r.description, "domain_id": r.domain_id,
             "domain": r.domain.name, "owner_department": r.owner_department.code,
             "owner_department_name": r.owner_department.name, "share_class": r.share_class,
             "share_class_label": SHARE_CLASS_LABELS[ShareClass(r.share_class)],
             "requestable": r.share_class != ShareClass.not_shared, "fields": r.fields} for r in rows]


def list_requests(user_id: int) -> list[dict[str, Any]]:
    """Requests the user may see: their department's, and all of them for 网信中心/网信办/督办/管理员."""
    user = get_user(user_id)
    query = select(ProcessInstance).order_by(ProcessInstance.created_at.desc()).limit(500)
    if not user.has_role(*OVERSIGHT_ROLES):
        involved = select(TaskRecord.instance_id).where(or_(TaskRecord.completed_by_id == user.id,
                                                            TaskRecord.department_code == user.department.code))
        query = query.where(or_(ProcessInstance.applicant_department_id == user.department_id,
                                ProcessInstance.id.in_(involved)))
    return [_summary(i) for i in db.session.scalars(query)]


def _summary(instance: ProcessInstance) -> dict[str, Any]:
    return {"id": instance.id, "title": instance.title, "status": instance.status,
            "process_name": instance.definition.name,
            "status_label": status_label(instance), "current_step": instance.current_step,
            "applicant_department": instance.applicant_department.name,
            "initiator": instance.initiator.display_name if instance.initiator else "系统",
            "created_at": instance.created_at,
            "updated_at": instance.updated_at}


def status_label(instance: ProcessInstance) -> str:
    if instance.status == InstanceStatus.completed:
        return instance.current_step or "已结束"
    return INSTANCE_STATUS_LABELS.get(instance.status, instance.status)


def request_view(instance_id: int, user_id: int) -> dict[str, Any]:
    """Everything the request page and the API show: status, current holders, application, history, diagram."""
    user = get_user(user_id)
    instance = get_viewable_instance(instance_id, user)
    workflow = progress.load(instance)
    data = runtime.workflow_data(workflow)
    start = runtime.start_result(workflow)
    start_summary = []
    if start is not None:
        start_summary = task_forms.describe_values(task_forms.load_form(start[0]), start[1])
    definition = db.session.get(ProcessDefinition, instance.definition_id)
    open_tasks = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == instance.id,
                                                             TaskRecord.state == TaskState.ready)
                                    .order_by(TaskRecord.id)).all()
    return {**_summary(instance), "application": data.get("application", {}),
            "start_summary": start_summary, "status_reason": instance.status_reason,
            "error_element": instance.error_element,
            "error_message": instance.error_message,
            "process": {"key": definition.process_key, "version": definition.version,
                        "definition_id": definition.id, "name": definition.name},
            "current_tasks": [task_holder(t) for t in open_tasks],
            "history": history(instance.id), "elements": runtime.element_states(workflow)}


def task_holder(record: TaskRecord) -> dict[str, Any]:
    """Who holds a task, in words."""
    dept_name = None
    if record.department_code:
        dept_name = db.session.scalar(select(Department.name).where(Department.code == record.department_code))
    roles = "、".join(ROLE_LABELS.get(r, r) for r in record.candidate_roles)
    holder = record.claimed_by.display_name if record.claimed_by else f"{dept_name or ''} {roles}".strip()
    status, left, words = deadline_status(record.due_at)
    return {"task_id": record.id, "title": record.title, "holder": holder, "department": dept_name,
            "candidate_roles": record.candidate_roles, "claimed_by": record.claimed_by.display_name
            if record.claimed_by else None, "created_at": record.created_at, "due_at": record.due_at,
            "deadline_status": status, "remaining_working_days": left, "deadline": words}


def history(instance_id: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(select(AuditLog).where(AuditLog.instance_id == instance_id)
                              .order_by(AuditLog.at, AuditLog.id))
    out = []
    for row in rows:
        user: User | None = row.user
        label = ACTION_LABELS.get(row.action) or ("系统通知" if row.action.startswith("notify_") else row.action)
        out.append({"at": row.at, "action": row.action, "action_label": label,
                    "step": row.step, "user": user.display_name if user else "系统",
                    "department": user.department.name if user else "", "opinion": row.opinion,
                    "summary": (row.detail or {}).get("summary", ""),
                    "basis": ((row.detail or {}).get("result") or {}).get("basis", "")})
    return out


def definition_file(definition_id: int, user_id: int) -> tuple[str, str]:
    """(file name, BPMN XML) of a process version (any signed-in user may see the diagrams)."""
    get_user(user_id)
    definition = db.session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound("流程定义不存在")
    return f"{definition.process_key}-v{definition.version}.bpmn", definition.bpmn_xml


def urge(instance_id: int, user_id: int) -> int:
    """催办: the applicant's department or 网信中心 urges the current holders; at most once per URGE_INTERVAL_HOURS
    per request. Returns how many people were notified."""
    user = get_user(user_id)
    instance = get_viewable_instance(instance_id, user)
    if not (instance.applicant_department_id == user.department_id or user.has_role(Role.nic_head, Role.nic_reviewer)):
        raise Forbidden("只有申请部门和网信中心可以催办")
    lock_instance(instance.id)  # two urges at the same moment: the second sees the first and waits its turn
    open_tasks = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == instance.id,
                                                             TaskRecord.state == TaskState.ready)).all()
    if not open_tasks:
        raise Conflict("该申请没有待办环节，无需催办")
    hours = current_app.config.get("URGE_INTERVAL_HOURS", 4)
    last = db.session.scalar(select(AuditLog.at).where(AuditLog.instance_id == instance.id, AuditLog.action == "urge")
                             .order_by(AuditLog.at.desc()).limit(1))
    if last is not None and utcnow() - last < timedelta(hours=hours):
        raise Conflict(f"{hours} 小时内只能催办一次（上次催办：{last.astimezone(CHINA_TZ):%m-%d %H:%M}）")
    holders = [u for record in open_tasks for u in notify.task_holders(record)]
    steps = "、".join(dict.fromkeys(r.title for r in open_tasks))
    count = notify.add(holders, "urge", f"{user.department.name}{user.display_name}催办：{steps}（#{instance.id} "
                                        f"{instance.title}）", instance_id=instance.id)
    audit.record("urge", user_id=user.id, instance_id=instance.id, step=steps,
                 detail={"summary": f"催办 {count} 人", "recipients": sorted({u.username for u in holders})})
    db.session.commit()
    notify.send_pending_emails()
    return count
