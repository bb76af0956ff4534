"""The supervisors' view: open tasks with their deadlines, overdue and due-soon items, ageing, Excel export."""
from __future__ import annotations

import io
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import Department, ProcessDefinition, ProcessInstance, TaskRecord
from ..models.task import TaskState
from ..models.types import CHINA_TZ, utcnow
from .access import OVERSIGHT_ROLES, get_user
from .calendar import current_calendar, provisional_warning
from .errors import Forbidden
from .spreadsheet import append_row

AGE_BUCKETS = ((2, "0–2 天"), (5, "3–5 天"), (10, "6–10 天"), (10**6, "10 天以上"))
STATUS_LABELS = {"overdue": "已逾期", "due_soon": "即将到期", "on_time": "未到期", "no_deadline": "无时限"}


def deadline_status(due_at: datetime | None, now: datetime | None = None) -> tuple[str, int | None, str]:
    """(status, remaining working days, words) for a task's deadline."""
    if due_at is None:
        return "no_deadline", None, ""
    now = now or utcnow()
    left = current_calendar().working_days_left(now, due_at)
    if now >= due_at:
        return "overdue", left, f"已逾期 {-left} 个工作日"
    if left <= 1:
        return "due_soon", left, "今日到期" if left == 0 else "剩余 1 个工作日"
    return "on_time", left, f"剩余 {left} 个工作日"


def overview(user_id: int, now: datetime | None = None) -> dict[str, Any]:
    user = get_user(user_id)
    if not user.has_role(*OVERSIGHT_ROLES):
        raise Forbidden("只有督办、网信中心、网信办和管理员可以查看督办页面")
    now = now or utcnow()
    names = {code: name for code, name in db.session.execute(select(Department.code, Department.name))}
    rows = db.session.execute(select(TaskRecord, ProcessInstance).join(ProcessInstance)
                              .where(TaskRecord.state == TaskState.ready)
                              .order_by(TaskRecord.due_at.is_(None), TaskRecord.due_at, TaskRecord.created_at)).all()
    items = []
    by_department: dict[str, Counter] = defaultdict(Counter)
    by_step: dict[str, Counter] = defaultdict(Counter)
    ageing: Counter = Counter()
    for record, instance in rows:
        status, left, words = deadline_status(record.due_at, now)
        age_days = (now - record.created_at).days
        bucket = next(label for limit, label in AGE_BUCKETS if age_days <= limit)
        department = names.get(record.department_code or "", record.department_code or "—")
        items.append({"task_id": record.id, "instance_id": instance.id, "request_title": instance.title,
                      "step": record.title, "department": department, "created_at": record.created_at,
                      "due_at": record.due_at, "status": status, "status_label": STATUS_LABELS[status],
                      "remaining_working_days": left, "remaining_words": words, "age_days": age_days,
                      "age_bucket": bucket})
        for counter in (by_department[department], by_step[record.title]):
            counter["open"] += 1
            counter[status] += 1
        ageing[bucket] += 1
    return {"now": now, "items": items, "quality": quality_stats(names, now),
            "attention": [i for i in items if i["status"] in ("overdue", "due_soon")],
            "by_department": sorted(((k, dict(v)) for k, v in by_department.items()),
                                    key=lambda kv: (-kv[1].get("overdue", 0), -kv[1]["open"], kv[0])),
            "by_step": sorted(((k, dict(v)) for k, v in by_step.items()), key=lambda kv: (-kv[1]["open"], kv[0])),
            "ageing": [(label, ageing.get(label, 0)) for _limit, label in AGE_BUCKETS],
            "provisional_warning": provisional_warning(now.astimezone(CHINA_TZ).date())}


QUALITY_STEP = "provider_correct"


def quality_stats(names: dict[str, str], now: datetime) -> list[dict[str, Any]]:
    """Data-quality feedback per providing department (Art. 25: it counts in the departments' assessment):
    feedback cases, answers asked, answered on time / late, open, open past the deadline."""
    stats: dict[str, Counter] = defaultdict(Counter)
    cases: dict[str, set[int]] = defaultdict(set)
    rows = db.session.scalars(select(TaskRecord).join(ProcessInstance).join(ProcessDefinition).where(
        ProcessDefinition.process_key == "quality_feedback", TaskRecord.element_id == QUALITY_STEP))
    for record in rows:
        code = record.department_code or "—"
        cases[code].add(record.instance_id)
        counter = stats[code]
        counter["answers_asked"] += 1
        if record.state == TaskState.completed:
            late = record.due_at is not None and record.completed_at > record.due_at
            counter["late" if late else "on_time"] += 1
        elif record.state == TaskState.ready:
            counter["overdue" if record.due_at is not None and now > record.due_at else "open"] += 1
    keys = ("answers_asked", "on_time", "late", "open", "overdue")
    return sorted(({"department": names.get(code, code), "reports": len(cases[code]),
                    **{k: counter.get(k, 0) for k in keys}} for code, counter in stats.items()),
                  key=lambda row: (-row["overdue"] - row["late"], row["department"]))


def export_xlsx(user_id: int, now: datetime | None = None) -> bytes:
    """The overview as an Excel workbook: open tasks, by department, by step."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    data = overview(user_id, now)
    book = Workbook()
    sheet = book.active
    sheet.title = "在办任务"
    append_row(sheet, ["申请编号", "申请", "环节", "办理部门", "到达时间", "答复期限", "状态", "剩余工作日",
                       "已等待天数"])
    for i in data["items"]:
        append_row(sheet, [i["instance_id"], i["request_title"], i["step"], i["department"], _local(i["created_at"]),
                           _local(i["due_at"]), i["status_label"], i["remaining_working_days"], i["age_days"]])
    quality = book.create_sheet("数据质量反馈")
    append_row(quality, ["提供部门", "反馈件数", "需答复次数", "按期答复", "逾期答复", "办理中", "已逾期未答复"])
    for q in data["quality"]:
        append_row(quality, [q["department"], q["reports"], q["answers_asked"], q["on_time"], q["late"], q["open"],
                             q["overdue"]])
    for title, groups in (("按部门", data["by_department"]), ("按环节", data["by_step"])):
        ws = book.create_sheet(title)
        append_row(ws, [title[1:], "在办", "已逾期", "即将到期"])
        for name, counts in groups:
            append_row(ws, [name, counts.get("open", 0), counts.get("overdue", 0), counts.get("due_soon", 0)])
    for ws in book.worksheets:
        for cell in ws[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _local(value: datetime | None) -> str:
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if value else ""
