"""Share requests (Art. 21-23): submitting, listing and showing them."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import current_app
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState as SpiffTaskState
from sqlalchemy import or_, select
from sqlalchemy.orm import aliased, joinedload

from ...engine import runtime
from ...engine.calendar import WorkingCalendar
from ...extensions import db
from ...models import AuditLog, DataResource, Department, ProcessDefinition, ProcessInstance, TaskRecord, User
from ...models.catalog import SHARE_CLASS_LABELS, ShareClass
from ...models.org import ROLE_LABELS, Role
from ...models.process import INSTANCE_STATUS_LABELS, InstanceStatus
from ...models.task import TaskState
from ...models.types import CHINA_TZ, utcnow
from ..calendar import current_calendar
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..messaging import notify
from ..oversight.supervision import deadline_status
from ..paging import Page, request_number
from ..people.access import OVERSIGHT_ROLES, candidate_filter, get_user, get_viewable_instance, holds_claim
from ..people.delegations import acting_name
from ..security import audit
from ..security.audit import ACTION_LABELS
from . import attachments, processes, progress, request_scope, task_forms
from .instance_lock import lock_instance
from .rollback import returned_by_reset, view_actions

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


def list_requests(user_id: int, *, page: int = 1, per_page: int = 50, q: str | None = None,
                  status: str | None = None, department: str | None = None) -> Page:
    """Requests the user may see, newest first, one page: their department's, and all of them for
    网信中心/网信办/督办/管理员. q is a request number or words of the title; department an applicant's code.
    No total: counting would grow with history, so the page says whether a next one exists."""
    user = get_user(user_id)
    applicant = aliased(Department)
    query = (select(ProcessInstance.id, ProcessInstance.title, ProcessInstance.status, ProcessInstance.current_step,
                    ProcessInstance.created_at, ProcessInstance.updated_at, ProcessDefinition.name,
                    applicant.name, User.display_name)
             .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .join(applicant, applicant.id == ProcessInstance.applicant_department_id)
             .outerjoin(User, User.id == ProcessInstance.initiator_id)
             .order_by(ProcessInstance.created_at.desc(), ProcessInstance.id.desc()))
    if not user.has_role(*OVERSIGHT_ROLES):  # the newest rows of the user's scopes, each from its own index
        query = query.where(ProcessInstance.id.in_(request_scope.visible_ids(
            user, lambda alias: _request_filters(q, status, department, alias), page * per_page + 1)))
    query = query.where(*_request_filters(q, status, department, applicant))
    rows = db.session.execute(query.limit(per_page + 1).offset((page - 1) * per_page)).all()
    items = [{"id": r[0], "title": r[1], "status": r[2], "process_name": r[6],
              "status_label": _status_words(r[2], r[3]), "current_step": r[3], "applicant_department": r[7],
              "initiator": r[8] or "系统", "created_at": r[4], "updated_at": r[5]} for r in rows[:per_page]]
    return Page(items, page, per_page, has_next=len(rows) > per_page,
                filters={"q": q or "", "status": status or "", "department": department or ""})


def _request_filters(q: str | None, status: str | None, department: str | None, applicant) -> list:
    where = []
    if q:
        number = request_number(q)
        title = ProcessInstance.title.contains(q, autoescape=True)
        where.append(or_(ProcessInstance.id == number, title) if number is not None else title)
    if status:
        if status not in INSTANCE_STATUS_LABELS:
            raise ValidationFailed({"status": "状态不存在"}, message="状态不存在")
        where.append(ProcessInstance.status == status)
    if department:
        where.append(applicant.code == department)
    return where


def _summary(instance: ProcessInstance) -> dict[str, Any]:
    return {"id": instance.id, "title": instance.title, "status": instance.status,
            "process_name": instance.definition.name,
            "status_label": status_label(instance), "current_step": instance.current_step,
            "applicant_department": instance.applicant_department.name,
            "initiator": instance.initiator.display_name if instance.initiator else "系统",
            "created_at": instance.created_at,
            "updated_at": instance.updated_at}


def status_label(instance: ProcessInstance) -> str:
    return _status_words(instance.status, instance.current_step)


def _status_words(status: str, current_step: str | None) -> str:
    if status == InstanceStatus.completed:
        return current_step or "已结束"
    return INSTANCE_STATUS_LABELS.get(status, status)


def request_view(instance_id: int, user_id: int, *, workflow: BpmnWorkflow | None = None,
                 completed_by_user: bool = False) -> dict[str, Any]:
    """Everything the request page and the API show: status, current holders, application, history, diagram.
    `workflow`: the instance's workflow when the caller has already loaded it (read only here). completed_by_user:
    the user has just completed one of its tasks (the completion's answer), so may see it without a check."""
    user = get_user(user_id)
    instance = get_viewable_instance(instance_id, user, completed_by_user=completed_by_user)
    if workflow is None:
        workflow = progress.load(instance)
    data = runtime.workflow_data(workflow)
    start = runtime.start_result(workflow)
    start_summary = []
    if start is not None:
        start_summary = task_forms.describe_values(task_forms.load_form(start[0], instance.definition_id), start[1])
    definition = db.session.get(ProcessDefinition, instance.definition_id)
    open_rows = db.session.execute(select(TaskRecord, candidate_filter(user))  # is_candidate (委托 too) in SQL
                                   .where(TaskRecord.instance_id == instance.id, TaskRecord.state == TaskState.ready)
                                   .options(joinedload(TaskRecord.claimed_by))
                                   .order_by(TaskRecord.id)).all()
    open_tasks = [row[0] for row in open_rows]
    candidate_of = {row[0].id for row in open_rows if row[1]}
    calendar = current_calendar() if open_tasks else None
    current = _current_tasks(user, instance, open_tasks, calendar, workflow, candidate_of)
    return {**_summary(instance), "application": data.get("application", {}),
            "start_summary": start_summary, "status_reason": instance.status_reason,
            "error_element": instance.error_element,
            "error_message": instance.error_message,
            "process": {"key": definition.process_key, "version": definition.version,
                        "definition_id": definition.id, "name": definition.name},
            "current_tasks": current, "returned": next((t["returned"] for t in current if t["returned"]), None),
            "can_urge": bool(open_tasks) and may_urge(user, instance), "refusals": refusals(data),
            **view_actions(user, instance, workflow, open_tasks),  # can_withdraw, recall
            "history": (past := history(instance.id)), "attachments": attachments.listed(past),
            "elements": runtime.element_states(workflow)}


def _current_tasks(user: User, instance: ProcessInstance, open_tasks: list[TaskRecord],
                   calendar: WorkingCalendar | None, workflow: BpmnWorkflow,
                   candidate_of: set[int]) -> list[dict[str, Any]]:
    """The open tasks in words, with whether this user may act on each (办理; candidate_of: the tasks the user is a
    candidate of, as a deputy too) and whether a step sent it back."""
    returned = {**_returned(instance.id, open_tasks, workflow), **returned_by_reset(instance.id, open_tasks)}
    running = instance.status == InstanceStatus.running
    return [{**task_holder(t, calendar), "returned": returned.get(t.id),
             "can_act": running and t.id in candidate_of and holds_claim(user, t)}
            for t in open_tasks]


RETURN_CHOICES = frozenset({"return", "revise", "reopen"})  # form choices that send a request back to an earlier step


def _returned(instance_id: int, open_tasks: list[TaskRecord], workflow: BpmnWorkflow) -> dict[int, dict[str, Any]]:
    """Open tasks a later step sent back (退回): the step ran before, and the user step that led here again chose to
    return. Task id -> the returning step, who, when and the reason (its opinion)."""
    if not open_tasks:
        return {}
    done = {getattr(t.task_spec, "bpmn_id", None) for t in workflow.get_tasks(state=SpiffTaskState.COMPLETED)}
    out: dict[int, dict[str, Any]] = {}
    for record in open_tasks:
        sender = _sending_step(workflow, record.engine_task_id) if record.element_id in done else None
        if sender is None:
            continue
        row = db.session.scalar(select(AuditLog).join(TaskRecord, TaskRecord.id == AuditLog.task_id).where(
            TaskRecord.instance_id == instance_id, TaskRecord.engine_task_id == sender,
            AuditLog.action == "complete").options(joinedload(AuditLog.user)).order_by(AuditLog.id.desc()).limit(1))
        detail = (row.detail or {}) if row is not None else {}
        result = detail.get("result") or {}
        if row is None or not RETURN_CHOICES & {str(result.get(k)) for k in ("decision", "action", "conclusion")}:
            continue
        out[record.id] = {"step": row.step, "by": row.user.display_name if row.user else "系统", "at": row.at,
                          "reason": row.opinion or detail.get("summary", "")}
    return out


def _sending_step(workflow: BpmnWorkflow, engine_task_id: str) -> str | None:
    """The engine id of the completed user step that led to this task (through gateways and scripts)."""
    task = next((t for t in workflow.get_tasks(state=SpiffTaskState.READY) if str(t.id) == engine_task_id), None)
    parent = task.parent if task is not None else None
    while parent is not None and not (parent.task_spec.manual and parent.state == SpiffTaskState.COMPLETED):
        parent = parent.parent
    return str(parent.id) if parent is not None else None


def refusals(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The providers' refusals of the latest review round (Art. 21): who, when, the opinion and the legal ground."""
    refused = [o for o in data.get("provider_opinions") or [] if isinstance(o, dict) and o.get("decision") == "refuse"]
    if not refused:
        return []
    names = dict(db.session.execute(select(Department.code, Department.name).where(
        Department.code.in_({str(o.get("department", "")) for o in refused}))).all())
    return [{"department": names.get(o.get("department"), ""), "by": o.get("by_name", ""), "at": o.get("at"),
             "opinion": o.get("opinion", ""), "legal_basis": o.get("legal_basis", "")} for o in refused]


def may_urge(user: User, instance: ProcessInstance) -> bool:
    """催办: the applicant's department, 网信中心 and the supervisors (督办)."""
    return (instance.applicant_department_id == user.department_id
            or user.has_role(Role.nic_head, Role.nic_reviewer, Role.supervisor))


def task_holder(record: TaskRecord, calendar: WorkingCalendar | None = None) -> dict[str, Any]:
    """Who holds a task, in words."""
    dept_name = _department_names().get(record.department_code) if record.department_code else None
    return holder_view(task_id=record.id, title=record.title, department_name=dept_name,
                       candidate_roles=record.candidate_roles,
                       claimed_by=record.claimed_by.display_name if record.claimed_by else None,
                       created_at=record.created_at, due_at=record.due_at, calendar=calendar)


def _department_names() -> dict[str, str]:
    """Every department's name by code, read once per transaction (a page names the holders of several tasks)."""
    transaction = db.session().get_transaction()
    cached = db.session.info.get("department_names")
    if transaction is not None and cached is not None and cached[0] is transaction:
        return cached[1]
    names = dict(db.session.execute(select(Department.code, Department.name)).all())
    db.session.info["department_names"] = (db.session().get_transaction(), names)
    return names


def holder_view(*, task_id: int, title: str, department_name: str | None, candidate_roles: list[str],
                claimed_by: str | None, created_at: datetime, due_at: datetime | None,
                calendar: WorkingCalendar | None = None, now: datetime | None = None) -> dict[str, Any]:
    """task_holder() from plain values, for lists that fetched them in one query."""
    roles = "、".join(ROLE_LABELS.get(r, r) for r in candidate_roles or [])
    holder = claimed_by or f"{department_name or ''} {roles}".strip()
    status, left, words = deadline_status(due_at, now, calendar)
    return {"task_id": task_id, "title": title, "holder": holder, "department": department_name,
            "candidate_roles": candidate_roles, "claimed_by": claimed_by, "created_at": created_at, "due_at": due_at,
            "deadline_status": status, "remaining_working_days": left, "deadline": words}


_HISTORY = (select(AuditLog.at, AuditLog.action, AuditLog.step, AuditLog.opinion, AuditLog.detail,
                   User.id.label("user_id"), User.display_name.label("user_name"),
                   Department.name.label("department_name"))
            .outerjoin(User, User.id == AuditLog.user_id).outerjoin(Department, Department.id == User.department_id)
            .order_by(AuditLog.at, AuditLog.id))


def history(instance_id: int) -> list[dict[str, Any]]:
    # plain rows, not audit/user objects: a view reads a handful of columns of every row of the instance
    rows = db.session.execute(_HISTORY.where(AuditLog.instance_id == instance_id))
    out = []
    process_names: dict[str, str] | None = None
    for row in rows:
        label = ACTION_LABELS.get(row.action) or ("系统通知" if row.action.startswith("notify_") else row.action)
        detail = row.detail or {}
        summary = detail.get("summary", "")
        if row.action == "process_started" and detail.get("process_key"):  # the process's name, not its key
            if process_names is None:
                process_names = dict(db.session.execute(select(ProcessDefinition.process_key, ProcessDefinition.name)
                                                        .order_by(ProcessDefinition.version)).all())
            name = process_names.get(detail["process_key"], detail["process_key"])
            summary = f"自动发起「{name}」#{detail.get('instance_id', '')}"
        result = detail.get("result") or {}
        out.append({"at": row.at, "action": row.action, "action_label": label,
                    "step": row.step, "user": acting_name(row.user_name, detail) if row.user_id else "系统",
                    "department": row.department_name if row.user_id else "", "opinion": row.opinion,
                    "summary": summary, "basis": result.get("basis", ""),
                    "legal_basis": result.get("legal_basis", "") if result.get("decision") == "refuse" else "",
                    "attachments": attachments.in_result(result)})
    return out


def definition_file(definition_id: int, user_id: int) -> tuple[str, str]:
    """(file name, BPMN XML) of a process version (any signed-in user may see the diagrams)."""
    get_user(user_id)
    definition = db.session.get(ProcessDefinition, definition_id)
    if definition is None:
        raise NotFound("流程定义不存在")
    return f"{definition.process_key}-v{definition.version}.bpmn", definition.bpmn_xml


def urge(instance_id: int, user_id: int) -> int:
    """催办: the applicant's department, 网信中心 or 督办 urges the current holders; at most once per
    URGE_INTERVAL_HOURS per request. Returns how many people were notified."""
    user = get_user(user_id)
    instance = get_viewable_instance(instance_id, user)
    if not may_urge(user, instance):
        raise Forbidden("只有申请部门、网信中心和督办人员可以催办")
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
