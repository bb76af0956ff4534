"""Issue 11 "lists that scale": 我的待办 / 我已办 / 我发起的 / 抄送我的 (and the API's 'involved' requests), one page
each with the same search and filters.

Every list is a fixed number of statements whatever the history: the user (1), the process key check (1, only with
`process`), the resources matching the search words (1, only with `q`), the count (1, 待办 and 抄送我的 only, as
before), the rows with every name joined in (1) and, for the open tasks, the working calendar (1). 我已办, 我发起的
and the request lists grow with a person's history: no count there; one row more than the page says has_next.
Indexes (migration 5ec17elist00): task(completed_by_id, completed_at, id) for 我已办, process_instance(initiator_id,
created_at, id) for 我发起的; the other lists use ix_task_open, ix_carbon_copy_recipient, ix_process_instance_created.

Search words (q) match a request number, the request's title, the applicant's name, the applicant department's name,
or a resource's name or code; '#123' is request 123 only (a primary-key lookup). Resources are found without reading
the stored workflows: the few catalogue entries whose name or code contain the words are read first (data_resource is
small), then a request matches when its title names one of them (a share request's title lists every resource
applied for, "X申请使用A、B") or a grant row links it to one (data_grant.resource_id is indexed)."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, exists, func, null, or_, select
from sqlalchemy.orm import aliased

from ...extensions import db
from ...models import (
    AuditLog,
    DataGrant,
    DataResource,
    Department,
    ProcessDefinition,
    ProcessInstance,
    TaskRecord,
    User,
)
from ...models.actions import CarbonCopy
from ...models.process import INSTANCE_STATUS_LABELS, InstanceStatus
from ...models.task import TaskState
from ...models.types import CHINA_TZ, utcnow
from ..calendar import current_calendar
from ..errors import ValidationFailed
from ..oversight.supervision import open_task_order
from ..paging import Page, request_number, search_words
from ..people import access
from ..people.access import OVERSIGHT_ROLES, candidate_filter, claim_filter, get_user
from . import request_scope, task_forms
from .requests import holder_view

TABS = ("todo", "done", "mine", "cc")
TAB_LABELS = {"todo": "我的待办", "done": "我已办", "mine": "我发起的", "cc": "抄送我的"}
TASK_SCOPES = ("todo", "done")
REQUEST_SCOPES = ("mine", "involved")
RESOURCE_MATCHES = 20  # catalogue entries a search word may stand for; more means the words are too vague
TRUE = ("1", "on", "true", "yes")
FALSE = ("", "0", "off", "false", "no")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FIRST_YEAR, LAST_YEAR = 1900, 2999  # any real filter; both ends stay datetimes in every time zone
PROCESS_KEY = re.compile(r"[A-Za-z0-9_.-]{1,80}")
FILTER_NAMES = ("q", "process", "step", "status", "created_from", "created_to", "completed_from", "completed_to",
                "overdue")


@dataclass(frozen=True)
class ListFilters:
    q: str | None = None
    process: str | None = None
    step: str | None = None
    status: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    completed_from: date | None = None
    completed_to: date | None = None
    overdue: bool = False
    unread: bool = False  # 抄送我的 only

    def args(self) -> dict[str, Any]:
        """The filters as query-string values (for page links and the form)."""
        out: dict[str, Any] = {}
        for name in (*FILTER_NAMES, "unread"):
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, date) else (value if value is not None else "")
        return out

    @property
    def active(self) -> bool:
        """Any filter besides the search words (the form shows them unfolded then)."""
        return any(getattr(self, n) for n in FILTER_NAMES[1:])


def _fail(name: str, message: str) -> ValidationFailed:
    return ValidationFailed({name: message}, message=message)


def _flag(raw: Mapping[str, Any], name: str) -> bool:
    text = str(raw.get(name) or "").strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise _fail(name, f"参数 {name} 应为 1 或留空")


def _date(raw: Mapping[str, Any], name: str, label: str) -> date | None:
    text = str(raw.get(name) or "").strip()
    if not text:
        return None
    if not DATE.fullmatch(text):
        raise _fail(name, f"{label}应为 YYYY-MM-DD 格式的日期")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise _fail(name, f"{label}不是有效的日期") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:  # 0001-01-01 in Beijing time is before datetime.min in UTC
        raise _fail(name, f"{label}应在 {FIRST_YEAR} 至 {LAST_YEAR} 年之间")
    return day


def parse_filters(raw: Mapping[str, Any]) -> ListFilters:
    """The filters from a query string; a bad value is a ValidationFailed (422) naming its parameter."""
    q = search_words(raw.get("q"))
    step = raw.get("step")
    try:
        step = search_words(step)
    except ValidationFailed:
        raise _fail("step", "环节名称不能超过 100 个字符") from None
    process = str(raw.get("process") or "").strip() or None
    if process is not None and not PROCESS_KEY.fullmatch(process):
        raise _fail("process", "流程不存在")
    status = str(raw.get("status") or "").strip() or None
    if status is not None and status not in INSTANCE_STATUS_LABELS:
        raise _fail("status", "状态不存在")
    created_from = _date(raw, "created_from", "提交日期（起）")
    created_to = _date(raw, "created_to", "提交日期（止）")
    completed_from = _date(raw, "completed_from", "办结日期（起）")
    completed_to = _date(raw, "completed_to", "办结日期（止）")
    if created_from and created_to and created_from > created_to:
        raise _fail("created_to", "提交日期（止）不能早于（起）")
    if completed_from and completed_to and completed_from > completed_to:
        raise _fail("completed_to", "办结日期（止）不能早于（起）")
    return ListFilters(q=q, process=process, step=step, status=status, created_from=created_from,
                       created_to=created_to, completed_from=completed_from, completed_to=completed_to,
                       overdue=_flag(raw, "overdue"), unread=_flag(raw, "unread"))


def scope(raw: Any, allowed: tuple[str, ...]) -> str | None:
    """?scope=…: None when absent, else one of `allowed` (422 naming scope otherwise)."""
    text = str(raw or "").strip()
    if not text:
        return None
    if text not in allowed:
        raise _fail("scope", f"scope 应为 {' 或 '.join(allowed)}")
    return text


def process_choices() -> list[dict[str, str]]:
    """The processes for the filter form: key and the newest version's name."""
    rows = db.session.execute(select(ProcessDefinition.process_key, ProcessDefinition.name)
                              .order_by(ProcessDefinition.process_key, ProcessDefinition.version)).all()
    return [{"key": k, "name": n} for k, n in dict(rows).items()]


# -- the shared conditions ---------------------------------------------------------------------------------------

def _day_start(day: date) -> datetime:
    """Midnight Beijing time of a day (the users' dates), as an aware datetime."""
    return datetime.combine(day, time.min, tzinfo=CHINA_TZ)


def _between(column, start: date | None, end: date | None) -> list:
    where = []
    if start:
        where.append(column >= _day_start(start))
    if end:
        where.append(column < _day_start(end + timedelta(days=1)))
    return where


def _resource_terms(q: str) -> tuple[list[str], list[int]]:
    """Names and ids of the (few) catalogue entries whose name or code contains the words."""
    rows = db.session.execute(select(DataResource.id, DataResource.name).where(or_(
        DataResource.name.contains(q, autoescape=True), DataResource.code.contains(q, autoescape=True)))
        .order_by(DataResource.id).limit(RESOURCE_MATCHES)).all()
    return [r[1] for r in rows if r[1]], [r[0] for r in rows]


def _search(q: str, initiator, applicant) -> ColumnElement[bool]:
    number = request_number(q)
    if number is not None and q.startswith("#"):  # '#123': that request only (its primary key, no text scan)
        return ProcessInstance.id == number
    terms = [ProcessInstance.title.contains(q, autoescape=True), initiator.display_name.contains(q, autoescape=True),
             applicant.name.contains(q, autoescape=True)]
    if number is not None:
        terms.append(ProcessInstance.id == number)
    names, ids = _resource_terms(q)
    terms += [ProcessInstance.title.contains(name, autoescape=True) for name in names]
    if ids:
        terms.append(exists(select(DataGrant.id).where(DataGrant.instance_id == ProcessInstance.id,
                                                       DataGrant.resource_id.in_(ids))))
    return or_(*terms)


def _overdue_open(now: datetime) -> ColumnElement[bool]:
    """The request has an open step past its deadline."""
    late = aliased(TaskRecord)
    return exists(select(late.id).where(late.instance_id == ProcessInstance.id, late.state == TaskState.ready,
                                        late.due_at <= now))


def _instance_filters(f: ListFilters, initiator, applicant, now: datetime, *, step_column=None,
                      completed_column=None) -> list:
    """Conditions on the request (and, for task lists, the step) shared by every list."""
    where: list = []
    if f.q:
        where.append(_search(f.q, initiator, applicant))
    if f.process:
        where.append(ProcessDefinition.process_key == f.process)
    if f.step:
        where.append((step_column if step_column is not None else ProcessInstance.current_step)
                     .contains(f.step, autoescape=True))
    if f.status:
        where.append(ProcessInstance.status == f.status)
    where += _between(ProcessInstance.created_at, f.created_from, f.created_to)
    where += _between(completed_column if completed_column is not None else ProcessInstance.completed_at,
                      f.completed_from, f.completed_to)
    return where


def _check_process(f: ListFilters) -> None:
    if f.process and db.session.scalar(select(ProcessDefinition.id).where(
            ProcessDefinition.process_key == f.process).limit(1)) is None:
        raise _fail("process", "流程不存在")


def _status_words(status: str, current_step: str | None) -> str:
    if status == InstanceStatus.completed:
        return current_step or "已结束"
    return INSTANCE_STATUS_LABELS.get(status, status)


def _names():
    return aliased(User), aliased(Department)


def _request_joins(query, initiator, applicant):
    return (query.join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
            .join(applicant, applicant.id == ProcessInstance.applicant_department_id)
            .outerjoin(initiator, initiator.id == ProcessInstance.initiator_id))


REQUEST_COLUMNS = (ProcessInstance.id, ProcessInstance.title, ProcessInstance.status, ProcessInstance.current_step,
                   ProcessInstance.created_at, ProcessInstance.updated_at, ProcessInstance.completed_at,
                   ProcessDefinition.process_key, ProcessDefinition.name)


def _request_item(r) -> dict[str, Any]:
    return {"instance_id": r[0], "request_title": r[1], "status": r[2], "current_step": r[3],
            "status_label": _status_words(r[2], r[3]), "created_at": r[4], "updated_at": r[5],
            "request_completed_at": r[6], "process_key": r[7], "process_name": r[8]}


def _page(items: list, page: int, per_page: int, total: int | None, f: ListFilters, more: bool | None = None) -> Page:
    has_next = more if more is not None else page * per_page < (total or 0)
    return Page(items, page, per_page, total=total, has_next=has_next, filters=f.args())


# -- the lists ---------------------------------------------------------------------------------------------------

@cache
def _todo_statements():
    """我的待办's count and row statements without their conditions, built once (their aliases are shared: every
    condition is added to a copy), and the aliases the conditions refer to."""
    initiator, applicant = _names()
    task_department, claimer = aliased(Department), aliased(User)
    count = _request_joins(select(func.count()).select_from(TaskRecord)
                           .join(ProcessInstance, ProcessInstance.id == TaskRecord.instance_id), initiator, applicant)
    rows = (_request_joins(
        select(TaskRecord.id, TaskRecord.title, TaskRecord.form_key, TaskRecord.candidate_roles,
               TaskRecord.claimed_by_id, TaskRecord.created_at, TaskRecord.due_at, task_department.name,
               claimer.display_name, applicant.name, initiator.display_name, *REQUEST_COLUMNS)
        .select_from(TaskRecord).join(ProcessInstance, ProcessInstance.id == TaskRecord.instance_id),
        initiator, applicant)
        .outerjoin(task_department, task_department.code == TaskRecord.department_code)
        .outerjoin(claimer, claimer.id == TaskRecord.claimed_by_id))
    return count, rows, initiator, applicant


def todo(user_id: int, f: ListFilters = ListFilters(), *, page: int = 1, per_page: int = 50) -> Page:
    """我的待办: ready tasks the user may act on (unclaimed or claimed by them), soonest deadline first; the inbox's
    rows (tasks.inbox) with every filter. overdue: past the deadline."""
    user = get_user(user_id)
    _check_process(f)
    now = utcnow()
    count, select_rows, initiator, applicant = _todo_statements()
    where = [TaskRecord.state == TaskState.ready, ProcessInstance.status == InstanceStatus.running,
             candidate_filter(user), claim_filter(user),  # 委托: with the tasks a deputy claimed for the user
             *_instance_filters(f, initiator, applicant, now, step_column=TaskRecord.title)]
    if f.overdue:
        where.append(TaskRecord.due_at <= now)
    total = db.session.scalar(count.where(*where))
    behalf = getattr(access, "delegated_label", None)  # 委托: the principal's name when seen as a deputy
    rows = db.session.execute(select_rows.add_columns(behalf(user) if behalf else null())
                              .where(*where).order_by(*open_task_order())
                              .limit(per_page).offset((page - 1) * per_page)).all()
    calendar = current_calendar() if rows else None
    items = [{**_request_item(r[11:20]),
              **holder_view(task_id=r[0], title=r[1], department_name=r[7], candidate_roles=r[3], claimed_by=r[8],
                            created_at=r[5], due_at=r[6], calendar=calendar, now=now),
              "form_key": r[2], "claimed_by_me": r[4] == user.id, "applicant_department": r[9],
              "initiator": r[10] or "系统", "batchable": task_forms.batch_fields(r[2]) is not None,
              "on_behalf_of": r[20]} for r in rows]
    return _page(items, page, per_page, total, f)


def done(user_id: int, f: ListFilters = ListFilters(), *, page: int = 1, per_page: int = 50) -> Page:
    """我已办: tasks the user completed (as deputy too: completed_by is whoever acted), newest first, with the
    decision in words (the completion's audit summary) and the request's current status. overdue: completed after
    the deadline. Dates of completion are the task's."""
    user = get_user(user_id)
    _check_process(f)
    now = utcnow()
    initiator, applicant = _names()
    where = [TaskRecord.completed_by_id == user.id, TaskRecord.state == TaskState.completed,
             *_instance_filters(f, initiator, applicant, now, step_column=TaskRecord.title,
                                completed_column=TaskRecord.completed_at)]
    if f.overdue:
        where.append(TaskRecord.completed_at > TaskRecord.due_at)
    behalf_column = getattr(TaskRecord, "on_behalf_of_id", None)  # 委托 (another change adds it)
    principal = aliased(User)
    extra = [principal.display_name] if behalf_column is not None else []
    # the completion's audit row (its summary is the decision in words), found through the indexed instance_id
    # (audit_log has no task_id index); the newest one should a step ever be recorded twice
    decision = (select(AuditLog.detail).where(AuditLog.instance_id == TaskRecord.instance_id,
                                              AuditLog.task_id == TaskRecord.id, AuditLog.action == "complete")
                .order_by(AuditLog.id.desc()).limit(1).correlate(TaskRecord).scalar_subquery())
    query = _request_joins(
        select(TaskRecord.id, TaskRecord.title, TaskRecord.completed_at, TaskRecord.due_at, TaskRecord.opinion,
               decision, applicant.name, initiator.display_name, *REQUEST_COLUMNS, *extra)
        .select_from(TaskRecord).join(ProcessInstance, ProcessInstance.id == TaskRecord.instance_id),
        initiator, applicant)
    if behalf_column is not None:
        query = query.outerjoin(principal, principal.id == behalf_column)
    rows = db.session.execute(query.where(*where)
                              .order_by(TaskRecord.completed_at.desc(), TaskRecord.id.desc())
                              .limit(per_page + 1).offset((page - 1) * per_page)).all()
    items = []
    for r in rows[:per_page]:
        detail = r[5] if isinstance(r[5], dict) else {}
        items.append({**_request_item(r[8:17]), "task_id": r[0], "title": r[1], "completed_at": r[2],
                      "due_at": r[3], "late": bool(r[2] and r[3] and r[2] > r[3]), "opinion": r[4],
                      "decision": detail.get("summary") or "", "applicant_department": r[6],
                      "initiator": r[7] or "系统", "on_behalf_of": r[17] if extra else None})
    return _page(items, page, per_page, None, f, len(rows) > per_page)


def _request_list(where: list, f: ListFilters, page: int, per_page: int, *, initiator, applicant) -> Page:
    """Requests newest first, one page and whether another follows (no count: it would grow with history)."""
    now = utcnow()
    due = (select(func.min(TaskRecord.due_at)).where(TaskRecord.instance_id == ProcessInstance.id,
                                                      TaskRecord.state == TaskState.ready)
           .correlate(ProcessInstance).scalar_subquery())
    rows = db.session.execute(_request_joins(
        select(*REQUEST_COLUMNS, applicant.name, initiator.display_name, due).select_from(ProcessInstance),
        initiator, applicant).where(*where)
        .order_by(ProcessInstance.created_at.desc(), ProcessInstance.id.desc())
        .limit(per_page + 1).offset((page - 1) * per_page)).all()
    items = [{**_request_item(r), "id": r[0], "title": r[1], "applicant_department": r[9],
              "initiator": r[10] or "系统", "next_due_at": r[11], "overdue": bool(r[11] and r[11] <= now)}
             for r in rows[:per_page]]
    return _page(items, page, per_page, None, f, len(rows) > per_page)


def mine(user_id: int, f: ListFilters = ListFilters(), *, page: int = 1, per_page: int = 50) -> Page:
    """我发起的: requests the user applied for, newest first, with the current status and the nearest deadline of
    their open steps. overdue: an open step is past its deadline."""
    user = get_user(user_id)
    _check_process(f)
    now = utcnow()
    initiator, applicant = _names()
    where = [ProcessInstance.initiator_id == user.id, *_instance_filters(f, initiator, applicant, now)]
    if f.overdue:
        where.append(_overdue_open(now))
    return _request_list(where, f, page, per_page, initiator=initiator, applicant=applicant)


def involved(user_id: int, f: ListFilters = ListFilters(), *, page: int = 1, per_page: int = 50) -> Page:
    """Requests the user took part in: applied for, completed a step of, or was copied on. No total (it would
    grow with history): has_next says whether there is more."""
    user = get_user(user_id)
    _check_process(f)
    now = utcnow()
    initiator, applicant = _names()
    acted = exists(select(TaskRecord.id).where(TaskRecord.instance_id == ProcessInstance.id,
                                               TaskRecord.completed_by_id == user.id))
    copied = exists(select(CarbonCopy.id).where(CarbonCopy.instance_id == ProcessInstance.id,
                                                CarbonCopy.to_user_id == user.id))
    where = [or_(ProcessInstance.initiator_id == user.id, acted, copied),
             *_instance_filters(f, initiator, applicant, now)]
    if f.overdue:
        where.append(_overdue_open(now))
    return _request_list(where, f, page, per_page, initiator=initiator, applicant=applicant)


def visible(user_id: int, f: ListFilters = ListFilters(), *, page: int = 1, per_page: int = 50,
            department: str | None = None) -> Page:
    """The requests the user may see (requests.list_requests' rule: their department's and those they or their
    department acted on; all of them for 网信中心/网信办/督办/管理员; a deputy's principals' too, 委托), with every
    filter; no total."""
    user = get_user(user_id)
    _check_process(f)
    now = utcnow()
    initiator, applicant = _names()
    where = _instance_filters(f, initiator, applicant, now)
    if not user.has_role(*OVERSIGHT_ROLES):
        involved_task = select(TaskRecord.instance_id).where(
            TaskRecord.instance_id == ProcessInstance.id, or_(TaskRecord.completed_by_id == user.id,
                                                              TaskRecord.department_code == user.department.code))
        where.append(or_(ProcessInstance.applicant_department_id == user.department_id, involved_task.exists(),
                         request_scope.delegated_scope(user.id)))  # 委托: what the principal sees, meanwhile
    if department:
        where.append(applicant.code == department)
    if f.overdue:
        where.append(_overdue_open(now))
    result = _request_list(where, f, page, per_page, initiator=initiator, applicant=applicant)
    result.filters["department"] = department or ""
    return result


def cc(user_id: int, f: ListFilters = ListFilters(), *, page: int = 1, per_page: int = 50) -> Page:
    """抄送我的: the copies the user received, newest first; step is the step copied; unread keeps the unread ones;
    overdue: the request has an open step past its deadline."""
    user = get_user(user_id)
    _check_process(f)
    now = utcnow()
    initiator, applicant = _names()
    where = [CarbonCopy.to_user_id == user.id,
             *_instance_filters(f, initiator, applicant, now, step_column=TaskRecord.title)]
    if f.unread:
        where.append(CarbonCopy.read_at.is_(None))
    if f.overdue:
        where.append(_overdue_open(now))

    def joined(query):
        return _request_joins(query.select_from(CarbonCopy)
                              .join(ProcessInstance, ProcessInstance.id == CarbonCopy.instance_id)
                              .join(TaskRecord, TaskRecord.id == CarbonCopy.task_id), initiator, applicant)

    total = db.session.scalar(joined(select(func.count())).where(*where))
    sender, sender_department = aliased(User), aliased(Department)
    rows = db.session.execute(joined(
        select(CarbonCopy.id, TaskRecord.title, sender.display_name, sender_department.name, CarbonCopy.note,
               CarbonCopy.created_at, CarbonCopy.read_at, applicant.name, initiator.display_name, *REQUEST_COLUMNS))
        .join(sender, sender.id == CarbonCopy.from_user_id)
        .join(sender_department, sender_department.id == sender.department_id)
        .where(*where).order_by(CarbonCopy.id.desc())
        .limit(per_page).offset((page - 1) * per_page)).all()
    items = [{**_request_item(r[9:]), "id": r[0], "step": r[1], "from": r[2], "from_department": r[3],
              "note": r[4], "created_at": r[5], "read": r[6] is not None, "applicant_department": r[7],
              "initiator": r[8] or "系统"} for r in rows]
    return _page(items, page, per_page, total, f)

