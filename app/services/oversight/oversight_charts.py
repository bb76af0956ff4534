"""The supervisors' charts: open and overdue by department (now and per week), the on-time rate of the providers'
answers per month (Art. 22: 5 working days), data-quality feedback (Art. 25), violation cases by outcome.

The weekly and monthly deadline figures come from one read of deadline_stats.sums() over the weeks' and months'
boundaries (Beijing midnights, computed here): the settled days' sums plus one GROUP BY over the tasks still moving,
so the same code runs on SQLite and PostgreSQL. The other figures are one GROUP BY each over indexed columns."""
from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from ...extensions import db
from ...models import Department, ProcessDefinition, ProcessInstance, TaskRecord
from ...models.process import InstanceStatus
from ...models.task import TaskState
from ...models.types import CHINA_TZ, utcnow
from ..calendar import current_calendar
from ..errors import ValidationFailed
from ..spreadsheet import append_row
from . import deadline_stats
from .supervision import _require_overseer, _status_case, due_soon_before, export_workbook, quality_stats

WEEKS = 12
MONTHS = 6
PROVIDER_STEP = "provider_review"
VIOLATION_PROCESS = "violation_case"
MONTH_RE = re.compile(r"(\d{4})-(\d{2})")
STATUS_OUTCOMES = {InstanceStatus.running: "办理中", InstanceStatus.cancelled: "已取消"}


def _weeks(now: datetime, count: int = WEEKS) -> list[datetime]:
    """count + 1 boundaries: Mondays 00:00 China time, the last one the Monday after this week's."""
    today = now.astimezone(CHINA_TZ).date()
    monday = today - timedelta(days=today.weekday())
    return [datetime.combine(monday + timedelta(weeks=k), time(), CHINA_TZ) for k in range(-count + 1, 2)]


def _months(now: datetime, count: int = MONTHS) -> list[datetime]:
    """count + 1 boundaries: the first of each month 00:00 China time, the last one next month's."""
    today = now.astimezone(CHINA_TZ).date()
    firsts, year, month = [], today.year, today.month + 1
    if month == 13:  # in December the last boundary is next January's
        year, month = year + 1, 1
    for _ in range(count + 1):
        if month == 0:
            year, month = year - 1, 12
        firsts.append(date(year, month, 1))
        month -= 1
    return [datetime.combine(d, time(), CHINA_TZ) for d in reversed(firsts)]


def chart_data(user_id: int, now: datetime | None = None) -> dict[str, Any]:
    """Every figure of the charts, as plain JSON-ready data: a fixed number of queries; the deadline figures read
    the daily sums (deadline_stats) and the tasks after their mark, so the cost follows the period shown."""
    _require_overseer(user_id)
    now = now or utcnow()
    names = {code: name for code, name in db.session.execute(select(Department.code, Department.name))}
    return _chart_data(now, names)


def _chart_data(now: datetime, names: dict[str, str], month: list[datetime] | None = None) -> dict[str, Any]:
    """chart_data(); with `month` ([first, next first)) the month's provider answers too, under "month_answers"
    (from the same sums when the month is one of the chart's six)."""

    def name(code: str | None) -> str:
        return names.get(code or "", code or "—")

    _, months, bounds = _deadline_bounds(now)
    sums = deadline_stats.sums(bounds, now)
    data = {"generated_at": now.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M"),
            "open_by_department": _open_by_department(now, name), "weekly": _weekly(now, name, sums),
            "on_time": _on_time(now, name, months, sums, bounds), "quality": quality_stats(names, now),
            "violations": _violations()}
    if month is not None:
        if month[0] in bounds and month[1] in bounds:
            data["month_answers"] = _on_time(now, name, month, sums, bounds)
        else:  # an earlier month: its own sums
            data["month_answers"] = _on_time(now, name, month)
    return data


def _open_by_department(now: datetime, name) -> list[dict[str, Any]]:
    status = _status_case(now, due_soon_before(now, current_calendar())).label("status")
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"open": 0, "overdue": 0, "due_soon": 0})
    for code, status_, n in db.session.execute(select(TaskRecord.department_code, status, func.count())
                                               .where(TaskRecord.state == TaskState.ready)
                                               .group_by(TaskRecord.department_code, status)):
        row = counts[name(code)]
        row["open"] += n
        if status_ in ("overdue", "due_soon"):
            row[status_] += n
    return sorted(({"department": k, **v} for k, v in counts.items()),
                  key=lambda r: (-r["overdue"], -r["open"], r["department"]))


def _deadline_bounds(now: datetime) -> tuple[list[datetime], list[datetime], list[datetime]]:
    """The weeks' and months' boundaries, and both merged (the weeks lie within the months)."""
    weeks, months = _weeks(now), _months(now)
    return weeks, months, sorted(set(weeks) | set(months))


def _span(bounds: list[datetime], first: datetime, end: datetime) -> range:
    """The intervals of `bounds` making up [first, end) (both are among the bounds)."""
    return range(bounds.index(first), bounds.index(end))


def _weekly(now: datetime, name, sums: deadline_stats.Sums | None = None) -> dict[str, Any]:
    """Per department and week (Monday to Sunday): tasks whose deadline fell in the week (up to now), and how many
    of them were still unanswered when it passed (answered late, escalated, or still open). A task withdrawn
    before its deadline (request cancelled or ended elsewhere) was never due."""
    weeks, _months, bounds = _deadline_bounds(now)
    if sums is None:
        sums = deadline_stats.sums(bounds, now)
    due: dict[str, list[int]] = defaultdict(lambda: [0] * WEEKS)
    overdue: dict[str, list[int]] = defaultdict(lambda: [0] * WEEKS)
    position = {index: w for w in range(WEEKS) for index in _span(bounds, weeks[w], weeks[w + 1])}
    for (code, index, _provider, past), (n, late, _good) in sums.items():
        if past and index in position and n:
            due[name(code)][position[index]] += n
            overdue[name(code)][position[index]] += late
    return {"weeks": [b.strftime("%m-%d") for b in weeks[:-1]],
            "series": [{"department": d, "due": due[d], "overdue": overdue[d]} for d in sorted(due)]}


def _on_time(now: datetime, name, months: list[datetime] | None = None,
             sums: deadline_stats.Sums | None = None, bounds: list[datetime] | None = None) -> dict[str, Any]:
    """Per providing department and month of the deadline: provider answers on time (completed by the deadline)
    and late (completed after it, escalated by the deadline timer, or still open past it). Answers not yet due
    and tasks withdrawn before their deadline are not counted. `sums` over `bounds` (holding the months') when
    already read."""
    months = months or _months(now)
    if sums is None:
        bounds = months
        sums = deadline_stats.sums(bounds, now)
    assert bounds is not None
    position = {index: m for m in range(len(months) - 1) for index in _span(bounds, months[m], months[m + 1])}
    table: dict[str, list[dict[str, Any]]] = {}
    for (code, index, provider, past), (n, _late, good) in sums.items():
        if not provider or index not in position or not (n if past else good):
            continue
        cells = table.setdefault(name(code), [{"on_time": 0, "late": 0} for _ in months[:-1]])
        cells[position[index]]["on_time"] += good
        cells[position[index]]["late"] += (n - good) if past else 0
    series = []
    for department in sorted(table):
        for cell in table[department]:
            answered = cell["on_time"] + cell["late"]
            cell["rate"] = round(100 * cell["on_time"] / answered, 1) if answered else None
        series.append({"department": department, "months": table[department]})
    return {"months": [b.strftime("%Y-%m") for b in months[:-1]], "series": series}


def monthly_report(user_id: int, month: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The monthly 督办通报: the month's provider answers on time and late by department, with the open and overdue
    tasks, quality feedback and violation cases as they stand now. `month` is YYYY-MM, by default last month."""
    _require_overseer(user_id)
    now = now or utcnow()
    today = now.astimezone(CHINA_TZ).date()
    if month:
        match = MONTH_RE.fullmatch(month)
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 2000:
            raise ValidationFailed({"month": "月份格式应为 YYYY-MM"}, message="月份格式应为 YYYY-MM")
        first = date(int(match[1]), int(match[2]), 1)
        if first > today:
            raise ValidationFailed({"month": "不能生成未来月份的通报"}, message="不能生成未来月份的通报")
    else:
        first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    bounds = [datetime.combine(first, time(), CHINA_TZ), datetime.combine(following, time(), CHINA_TZ)]
    names = {code: name for code, name in db.session.execute(select(Department.code, Department.name))}
    data = _chart_data(now, names, bounds)
    answers = [{"department": row["department"], **row["months"][0]}
               for row in data.pop("month_answers")["series"]]
    answers.sort(key=lambda r: (r["rate"] if r["rate"] is not None else 101, r["department"]))
    on_time, late = sum(r["on_time"] for r in answers), sum(r["late"] for r in answers)
    return {**data, "month": first.strftime("%Y-%m"), "month_title": f"{first.year} 年 {first.month} 月",
            "previous": (first - timedelta(days=1)).strftime("%Y-%m"),
            "next": following.strftime("%Y-%m") if following <= today else None,
            "answers": answers, "answers_total": {"on_time": on_time, "late": late,
                                                  "rate": round(100 * on_time / (on_time + late), 1)
                                                  if on_time + late else None},
            "open_total": sum(r["open"] for r in data["open_by_department"]),
            "overdue_total": sum(r["overdue"] for r in data["open_by_department"])}


def _violations() -> list[dict[str, Any]]:
    versions = db.session.scalars(select(ProcessDefinition.id)
                                  .where(ProcessDefinition.process_key == VIOLATION_PROCESS)).all()
    if not versions:
        return []
    counts: dict[str, int] = defaultdict(int)
    for status, outcome, step, n in db.session.execute(
            select(ProcessInstance.status, ProcessInstance.outcome, ProcessInstance.current_step, func.count())
            .where(ProcessInstance.definition_id.in_(versions))
            .group_by(ProcessInstance.status, ProcessInstance.outcome, ProcessInstance.current_step)):
        if status == InstanceStatus.completed and outcome:
            label = step or outcome  # a completed instance's current_step is its end event's name
        else:
            label = STATUS_OUTCOMES.get(status, "其他（异常或挂起）")
        counts[label] += n
    return sorted(({"outcome": k, "count": v} for k, v in counts.items()), key=lambda r: (-r["count"], r["outcome"]))


def export_xlsx(user_id: int, now: datetime | None = None, **filters: str | None) -> bytes:
    """The supervisors' Excel export (supervision.export_workbook) with the charts' figures on a sheet of their own."""
    book = export_workbook(user_id, now, **filters)
    _chart_sheet(book, chart_data(user_id, now))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _chart_sheet(book, data: dict[str, Any]) -> None:
    sheet = book.create_sheet("图表数据")
    append_row(sheet, ["按期答复率（第二十二条，5 个工作日）"])
    append_row(sheet, ["提供部门", "月份", "按期答复", "逾期答复", "按期率（%）"])
    for row in data["on_time"]["series"]:
        for month, cell in zip(data["on_time"]["months"], row["months"], strict=True):
            if cell["on_time"] or cell["late"]:
                append_row(sheet, [row["department"], month, cell["on_time"], cell["late"], cell["rate"]])
    append_row(sheet, [])
    append_row(sheet, ["每周到期与逾期（按答复期限所在周）"])
    append_row(sheet, ["办理部门", "周（周一）", "到期任务", "逾期未按期办理"])
    for row in data["weekly"]["series"]:
        for week, due, late in zip(data["weekly"]["weeks"], row["due"], row["overdue"], strict=True):
            if due:
                append_row(sheet, [row["department"], week, due, late])
    append_row(sheet, [])
    append_row(sheet, ["违规处理案件（按结果）"])
    append_row(sheet, ["结果", "件数"])
    for row in data["violations"]:
        append_row(sheet, [row["outcome"], row["count"]])
