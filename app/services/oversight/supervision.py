"""The supervisors' view: open tasks with their deadlines, overdue and due-soon items, ageing, Excel export."""
from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from ...engine.calendar import WorkingCalendar
from ...extensions import db
from ...models import Department, ProcessDefinition, ProcessInstance, TaskRecord
from ...models.task import TaskState
from ...models.types import CHINA_TZ, utcnow
from ..calendar import current_calendar, provisional_warning
from ..errors import Forbidden, ValidationFailed
from ..paging import Page, request_number
from ..people.access import OVERSIGHT_ROLES, get_user
from ..spreadsheet import append_row

AGE_BUCKETS = ((2, "0–2 天"), (5, "3–5 天"), (10, "6–10 天"), (10**6, "10 天以上"))
STATUS_LABELS = {"overdue": "已逾期", "due_soon": "即将到期", "on_time": "未到期", "no_deadline": "无时限"}


def deadline_status(due_at: datetime | None, now: datetime | None = None,
                    calendar: WorkingCalendar | None = None,
                    memo: dict | None = None) -> tuple[str, int | None, str]:
    """(status, remaining working days, words) for a task's deadline. `memo`: a dict shared by the rows of one
    list (same now and calendar), so deadlines on the same day are counted once (counting walks the days)."""
    if due_at is None:
        return "no_deadline", None, ""
    now = now or utcnow()
    if memo is None:
        left = (calendar or current_calendar()).working_days_left(now, due_at)
    else:
        key = (due_at.astimezone(CHINA_TZ).date(), now >= due_at)
        if key not in memo:
            memo[key] = (calendar or current_calendar()).working_days_left(now, due_at)
        left = memo[key]
    if now >= due_at:
        return "overdue", left, f"已逾期 {-left} 个工作日"
    if left <= 1:
        return "due_soon", left, "今日到期" if left == 0 else "剩余 1 个工作日"
    return "on_time", left, f"剩余 {left} 个工作日"


def due_soon_before(now: datetime, calendar: WorkingCalendar) -> datetime:
    """A deadline before this instant (and after now) is due soon: working_days_left() ≤ 1 means the due day comes
    before the second working day after today."""
    day, found = now.astimezone(CHINA_TZ).date(), 0
    while found < 2:
        day += timedelta(days=1)
        found += calendar.is_working_day(day)
    return datetime.combine(day, time(), CHINA_TZ)


def _status_case(now: datetime, soon: datetime):
    """deadline_status()'s status in SQL, for counting and filtering without reading every open task."""
    return case((TaskRecord.due_at.is_(None), "no_deadline"), (TaskRecord.due_at <= now, "overdue"),
                (TaskRecord.due_at < soon, "due_soon"), else_="on_time")


def _age_case(now: datetime):
    """The AGE_BUCKETS index of (now - created_at).days."""
    whens = [(TaskRecord.created_at > now - timedelta(days=limit + 1), i)
             for i, (limit, _label) in enumerate(AGE_BUCKETS[:-1])]
    return case(*whens, else_=len(AGE_BUCKETS) - 1)


ATTENTION_LIMIT = 50
FILTER_STATUSES = {**STATUS_LABELS, "attention": "已逾期或即将到期"}


def _require_overseer(user_id: int) -> None:
    user = get_user(user_id)
    if not user.has_role(*OVERSIGHT_ROLES):
        raise Forbidden("只有督办、网信中心、网信办和管理员可以查看督办页面")


def _open_filters(now: datetime, soon: datetime, *, department: str | None, step: str | None, status: str | None,
                  q: str | None) -> list:
    where = [TaskRecord.state == TaskState.ready]
    if department:
        where.append(TaskRecord.department_code == department)
    if step:
        where.append(TaskRecord.title == step)
    if status:
        if status not in FILTER_STATUSES:
            raise ValidationFailed({"status": "状态不存在"}, message="状态不存在")
        wanted = ("overdue", "due_soon") if status == "attention" else (status,)
        where.append(_status_case(now, soon).in_(wanted))
    if q:
        number = request_number(q)
        title = ProcessInstance.title.contains(q, autoescape=True)
        where.append(or_(TaskRecord.instance_id == number, title) if number is not None else title)
    return where


def open_task_order() -> list:
    """Soonest deadline first, tasks without one last. On PostgreSQL in the order of the open-task index
    ix_task_open (due_at, created_at, id; ascending puts NULLs last there), so a page reads only its rows;
    SQLite sorts NULLs first, hence the explicit term there."""
    if db.session.get_bind().dialect.name == "postgresql":
        return [TaskRecord.due_at, TaskRecord.created_at, TaskRecord.id]
    return [TaskRecord.due_at.is_(None), TaskRecord.due_at, TaskRecord.created_at, TaskRecord.id]


def _open_items(where: list, names: dict[str, str], now: datetime, calendar: WorkingCalendar, *,
                limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    query = (select(TaskRecord.id, TaskRecord.instance_id, TaskRecord.title, TaskRecord.department_code,
                    TaskRecord.created_at, TaskRecord.due_at, ProcessInstance.title)
             .join(ProcessInstance, ProcessInstance.id == TaskRecord.instance_id).where(*where)
             .order_by(*open_task_order()))
    if limit is not None:
        query = query.limit(limit).offset(offset)
    items = []
    memo: dict = {}
    for task_id, instance_id, step, code, created_at, due_at, request_title in db.session.execute(query):
        status, left, words = deadline_status(due_at, now, calendar, memo)
        age_days = (now - created_at).days
        items.append({"task_id": task_id, "instance_id": instance_id, "request_title": request_title, "step": step,
                      "department": names.get(code or "", code or "—"), "created_at": created_at, "due_at": due_at,
                      "status": status, "status_label": STATUS_LABELS[status], "remaining_working_days": left,
                      "remaining_words": words, "age_days": age_days,
                      "age_bucket": next(label for limit_, label in AGE_BUCKETS if age_days <= limit_)})
    return items


def overview(user_id: int, now: datetime | None = None, *, page: int = 1, per_page: int = 50,
             department: str | None = None, step: str | None = None, status: str | None = None,
             q: str | None = None) -> dict[str, Any]:
    """Counts by department, step and age over every open task (SQL aggregates), the most urgent items, and one
    page of the open tasks matching the filters. A fixed number of queries, whatever the number of tasks."""
    _require_overseer(user_id)
    now = now or utcnow()
    calendar = current_calendar()
    soon = due_soon_before(now, calendar)
    names = {code: name for code, name in db.session.execute(select(Department.code, Department.name))}
    by_department: dict[str, Counter] = defaultdict(Counter)
    by_step: dict[str, Counter] = defaultdict(Counter)
    ageing: Counter = Counter()
    state, age = _status_case(now, soon).label("status"), _age_case(now).label("age")
    counts = db.session.execute(select(TaskRecord.department_code, TaskRecord.title, state, age, func.count())
                                .where(TaskRecord.state == TaskState.ready)
                                .group_by(TaskRecord.department_code, TaskRecord.title, state, age))
    for code, step_title, status_, bucket, n in counts:
        department_name = names.get(code or "", code or "—")
        for counter in (by_department[department_name], by_step[step_title]):
            counter["open"] += n
            counter[status_] += n
        ageing[AGE_BUCKETS[bucket][1]] += n
    attention_where = [TaskRecord.state == TaskState.ready, TaskRecord.due_at.is_not(None), TaskRecord.due_at < soon]
    attention = _open_items(attention_where, names, now, calendar, limit=ATTENTION_LIMIT)
    where = _open_filters(now, soon, department=department, step=step, status=status, q=q)
    counted = select(func.count()).select_from(TaskRecord)
    if q:  # the instance's title is searched; otherwise the open-task index alone answers
        counted = counted.join(ProcessInstance, ProcessInstance.id == TaskRecord.instance_id)
    total = db.session.scalar(counted.where(*where))
    items = _open_items(where, names, now, calendar, limit=per_page, offset=(page - 1) * per_page)
    open_total = sum(ageing.values())
    return {"now": now, "items": items, "quality": quality_stats(names, now),
            "page": Page(items, page, per_page, total=total, has_next=page * per_page < total,
                         filters={"department": department or "", "step": step or "", "status": status or "",
                                  "q": q or ""}),
            "attention": attention, "attention_total": sum(c.get("overdue", 0) + c.get("due_soon", 0)
                                                           for c in by_department.values()),
            "open_total": open_total,
            "departments": sorted(((code, name) for code, name in names.items()), key=lambda kv: kv[1]),
            "steps": sorted(by_step),
            "statuses": FILTER_STATUSES,
            "by_department": sorted(((k, dict(v)) for k, v in by_department.items()),
                                    key=lambda kv: (-kv[1].get("overdue", 0), -kv[1]["open"], kv[0])),
            "by_step": sorted(((k, dict(v)) for k, v in by_step.items()), key=lambda kv: (-kv[1]["open"], kv[0])),
            "ageing": [(label, ageing.get(label, 0)) for _limit, label in AGE_BUCKETS],
            "provisional_warning": provisional_warning(now.astimezone(CHINA_TZ).date())}


QUALITY_STEP = "provider_correct"


def quality_stats(names: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """Data-quality feedback per providing department (Art. 25: it counts in the departments' assessment):
    feedback cases, answers asked, answered on time / late, open, open past the deadline. One GROUP BY."""
    late = and_(TaskRecord.due_at.is_not(None), TaskRecord.completed_at > TaskRecord.due_at)
    overdue = and_(TaskRecord.due_at.is_not(None), TaskRecord.due_at < now)
    completed, ready = TaskRecord.state == TaskState.completed, TaskRecord.state == TaskState.ready

    def total(condition):
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    # the versions' ids as literals: the planner then sees how few instances they have and walks from them
    # through the instance and task indexes (joined by process_key it scanned every task for the element id)
    versions = db.session.scalars(select(ProcessDefinition.id)
                                  .where(ProcessDefinition.process_key == "quality_feedback")).all()
    if not versions:
        return []
    rows = db.session.execute(
        select(TaskRecord.department_code, func.count(func.distinct(TaskRecord.instance_id)), func.count(),
               total(and_(completed, ~late)), total(and_(completed, late)), total(and_(ready, ~overdue)),
               total(and_(ready, overdue)))
        .join(ProcessInstance, ProcessInstance.id == TaskRecord.instance_id)
        .where(ProcessInstance.definition_id.in_(versions), TaskRecord.element_id == QUALITY_STEP)
        .group_by(TaskRecord.department_code))
    keys = ("answers_asked", "on_time", "late", "open", "overdue")
    return sorted(({"department": names.get(code or "—", code or "—"), "reports": reports,
                    **dict(zip(keys, (int(v) for v in values), strict=True))} for code, reports, *values in rows),
                  key=lambda row: (-row["overdue"] - row["late"], row["department"]))


def export_xlsx(user_id: int, now: datetime | None = None, *, department: str | None = None, step: str | None = None,
                status: str | None = None, q: str | None = None) -> bytes:
    """The overview as an Excel workbook: the open tasks matching the filters (all of them), quality feedback,
    by department, by step."""
    out = io.BytesIO()
    export_workbook(user_id, now, department=department, step=step, status=status, q=q).save(out)
    return out.getvalue()


def export_workbook(user_id: int, now: datetime | None = None, *, department: str | None = None,
                    step: str | None = None, status: str | None = None, q: str | None = None):
    """export_xlsx()'s openpyxl Workbook, for callers adding sheets (the charts' figures)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    data = overview(user_id, now, per_page=1)
    now = data["now"]
    calendar = current_calendar()
    names = dict(data["departments"])
    where = _open_filters(now, due_soon_before(now, calendar), department=department, step=step, status=status, q=q)
    book = Workbook(write_only=False)
    sheet = book.active
    sheet.title = "在办任务"
    append_row(sheet, ["申请编号", "申请", "环节", "办理部门", "到达时间", "答复期限", "状态", "剩余工作日",
                       "已等待天数"])
    for i in _open_items(where, names, now, calendar):
        append_row(sheet, [i["instance_id"], i["request_title"], i["step"], i["department"], _local(i["created_at"]),
                           _local(i["due_at"]), i["status_label"], i["remaining_working_days"], i["age_days"]])
    quality = book.create_sheet("数据质量反馈")
    append_row(quality, ["提供部门", "反馈件数", "需答复次数", "按期答复", "逾期答复", "办理中", "已逾期未答复"])
    for q_ in data["quality"]:
        append_row(quality, [q_["department"], q_["reports"], q_["answers_asked"], q_["on_time"], q_["late"],
                             q_["open"], q_["overdue"]])
    for title, groups in (("按部门", data["by_department"]), ("按环节", data["by_step"])):
        ws = book.create_sheet(title)
        append_row(ws, [title[1:], "在办", "已逾期", "即将到期"])
        for name, counts in groups:
            append_row(ws, [name, counts.get("open", 0), counts.get("overdue", 0), counts.get("due_soon", 0)])
    for ws in book.worksheets:
        for cell in ws[1]:
            cell.font = Font(bold=True)
    return book


def _local(value: datetime | None) -> str:
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if value else ""
