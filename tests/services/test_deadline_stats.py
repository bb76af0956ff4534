"""The supervisors' deadline figures (oversight_charts: weekly due/overdue, monthly on-time answers, the monthly
督办通报) against a straightforward count over every task, on known data: deadlines set by the working-day calendar
across the 2025 National Day holiday, a deadline on a Beijing month boundary, tasks open, answered on time, late, at
the deadline to the second, withdrawn before and after it, without a deadline, and older than the charts. Compared
before any refresh, after deadline_stats.refresh() and after tasks moved on past its mark (completed, withdrawn,
new), a few days and a month later, and with the clock set back before the mark; the Excel export carries the same
figures."""
from __future__ import annotations

import io
import random
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Department, ProcessDefinition, ProcessInstance, TaskRecord, User
from app.models.deadline_stats import DeadlineDay, DeadlineRefresh
from app.models.task import TaskState
from app.models.types import CHINA_TZ
from app.services.calendar import current_calendar
from app.services.oversight import deadline_stats, oversight_charts

PROVIDER = "provider_review"
DEPARTMENTS = ("student", "hr", "academic", None)
NOW = datetime(2025, 11, 20, 10, 0, tzinfo=CHINA_TZ)  # a Thursday


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


@pytest.fixture()
def tasks(ctx):
    """About 500 tasks over the 7 months before NOW, drawn with a fixed seed, and the hand-picked cases."""
    calendar = current_calendar()
    definition = db.session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.process_key == "share_request"))
    department = db.session.scalar(select(Department.id).where(Department.code == "college_cs"))
    instance = ProcessInstance(definition_id=definition, title="截止统计", applicant_department_id=department,
                               workflow_json="{}", serializer_version="test", created_at=NOW - timedelta(days=240))
    db.session.add(instance)
    db.session.flush()
    rng = random.Random(20251120)
    serial = 0

    def add(element: str, code: str | None, start: datetime, due: datetime | None, state: str,
            completed: datetime | None) -> TaskRecord:
        nonlocal serial
        serial += 1
        record = TaskRecord(instance_id=instance.id, engine_task_id=f"t{serial}", element_id=element,
                            title=element, form_key=element, candidate_role="provider", candidate_roles=["provider"],
                            department_code=code, state=state, created_at=start, completed_at=completed, due_at=due)
        db.session.add(record)
        return record

    for _ in range(500):
        start = NOW - timedelta(days=rng.uniform(0, 215))
        element = PROVIDER if rng.random() < 0.7 else rng.choice(("nic_review", "provider_correct"))
        if element == PROVIDER:
            due = calendar.add_working_days(start, 5).at
        else:
            due = calendar.add_working_days(start, rng.randint(1, 3)).at if rng.random() < 0.8 else None
        code = rng.choice(DEPARTMENTS)
        roll = rng.random()
        if due is not None and due > NOW:
            state = TaskState.ready if roll < 0.4 else TaskState.completed if roll < 0.9 else TaskState.cancelled
            completed = None if state == TaskState.ready else start + (NOW - start) * rng.random()
        else:
            state = TaskState.ready if roll < 0.15 else TaskState.completed if roll < 0.75 else TaskState.cancelled
            latest = min(NOW, (due or NOW) + timedelta(days=6))
            completed = None if state == TaskState.ready else start + (latest - start) * rng.random()
        add(element, code, start, due, state, completed)
    # the National Day holiday: forwarded 2025-09-30 10:00, due 2025-10-14 17:30 (5 working days)
    forwarded = bj(2025, 9, 30, 10, 0)
    due = calendar.add_working_days(forwarded, 5).at
    assert due == bj(2025, 10, 14, 17, 30)
    add(PROVIDER, "library", forwarded, due, TaskState.completed, bj(2025, 10, 9, 9, 0))  # on time (holiday)
    add(PROVIDER, "library", forwarded, due, TaskState.completed, bj(2025, 10, 14, 18, 0))  # late
    add(PROVIDER, "library", forwarded, due, TaskState.completed, due)  # at the deadline: on time
    add(PROVIDER, "finance", forwarded, due, TaskState.cancelled, due)  # escalated at the deadline
    add(PROVIDER, "finance", forwarded, due, TaskState.cancelled, bj(2025, 10, 8, 12, 0))  # withdrawn before
    # a deadline at 00:30 on 1 November in Beijing (still 31 October in UTC) counts for November
    add(PROVIDER, "archives", bj(2025, 10, 27, 9, 0), bj(2025, 11, 1, 0, 30), TaskState.completed,
        bj(2025, 11, 1, 0, 10))
    add(PROVIDER, "archives", bj(2025, 10, 27, 9, 0), bj(2025, 11, 1, 0, 30), TaskState.ready, None)
    # closed in the last hour before NOW (after a refresh's mark with the default settle) and due today
    add(PROVIDER, "hr", NOW - timedelta(days=8), bj(2025, 11, 20, 9, 30), TaskState.completed,
        NOW - timedelta(minutes=20))
    add(PROVIDER, "hr", NOW - timedelta(days=8), bj(2025, 11, 20, 17, 30), TaskState.completed,
        NOW - timedelta(days=1))
    db.session.commit()
    yield instance.id
    db.session.rollback()
    db.session.execute(DeadlineDay.__table__.delete())
    db.session.execute(DeadlineRefresh.__table__.delete())
    db.session.commit()


def _reference(now: datetime) -> tuple[dict, dict, dict[str, dict[str, list[int]]]]:
    """The weekly and monthly figures counted task by task, and the on-time answers by month (YYYY-MM) of every
    month with a deadline, as [on_time, late] per department."""
    names = dict(db.session.execute(select(Department.code, Department.name)).all())
    today = now.astimezone(CHINA_TZ).date()
    first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=11)
    months = []
    year, month = today.year, today.month
    for _ in range(6):
        months.insert(0, f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    due = defaultdict(lambda: [0] * 12)
    overdue = defaultdict(lambda: [0] * 12)
    answers: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for task in db.session.scalars(select(TaskRecord)):
        if task.due_at is None:
            continue
        if task.state == TaskState.cancelled and not task.completed_at >= task.due_at:
            continue  # withdrawn before its deadline: never due
        name = names.get(task.department_code, "—") if task.department_code else "—"
        local = task.due_at.astimezone(CHINA_TZ).date()
        passed = task.due_at <= now
        missed = task.state == TaskState.ready or task.completed_at > task.due_at
        week = (local - first_monday).days // 7
        if passed and 0 <= week < 12:
            due[name][week] += 1
            overdue[name][week] += missed
        on_time = task.state == TaskState.completed and task.completed_at <= task.due_at
        if task.element_id == PROVIDER and (on_time or passed):
            answers[f"{local.year:04d}-{local.month:02d}"][name][0 if on_time else 1] += 1
    weekly = {"weeks": [(first_monday + timedelta(weeks=k)).strftime("%m-%d") for k in range(12)],
              "series": [{"department": d, "due": due[d], "overdue": overdue[d]} for d in sorted(due)]}
    departments = sorted({d for m in months for d in answers.get(m, {})})
    series = []
    for d in departments:
        cells = []
        for m in months:
            good, late = answers.get(m, {}).get(d, [0, 0])
            cells.append({"on_time": good, "late": late,
                          "rate": round(100 * good / (good + late), 1) if good + late else None})
        series.append({"department": d, "months": cells})
    return weekly, {"months": months, "series": series}, answers


def _supervisor() -> int:
    return db.session.scalar(select(User.id).where(User.username == "supervisor"))


def _check(now: datetime, report_months: tuple[str, ...] = ()) -> None:
    weekly, on_time, answers = _reference(now)
    data = oversight_charts.chart_data(_supervisor(), now)
    assert data["weekly"] == weekly
    assert data["on_time"] == on_time
    for month in report_months:
        report = oversight_charts.monthly_report(_supervisor(), month, now)
        expected = {d: {"on_time": g, "late": late} for d, (g, late) in answers.get(month, {}).items() if g + late}
        assert {r["department"]: {"on_time": r["on_time"], "late": r["late"]} for r in report["answers"]} == expected
        total = [sum(v["on_time"] for v in expected.values()), sum(v["late"] for v in expected.values())]
        assert [report["answers_total"]["on_time"], report["answers_total"]["late"]] == total
    db.session.rollback()


def test_the_known_cases(tasks):
    weekly, on_time, answers = _reference(NOW)
    assert answers["2025-10"]["图书馆"] == [2, 1] and answers["2025-10"]["财务处"] == [0, 1]
    assert answers["2025-11"]["档案馆"] == [1, 1] and "档案馆" not in answers["2025-10"]
    weeks = {s["department"]: s for s in weekly["series"]}
    assert weeks["图书馆"]["due"][6] == 3 and weeks["图书馆"]["overdue"][6] == 1  # the week of Monday 10-13
    assert weeks["财务处"]["due"][6] == 1 and weeks["财务处"]["overdue"][6] == 0  # ended at the deadline, not after
    assert on_time["months"] == [
        "2025-06", "2025-07", "2025-08", "2025-09", "2025-10", "2025-11"]
    assert weekly["weeks"][-1] == "11-17" and weekly["weeks"][0] == "09-01"
    assert any(answers[m] for m in ("2025-04", "2025-05"))  # history older than the charts exists


def test_figures_match_a_plain_count_through_refreshes(tasks):
    months = ("2025-04", "2025-09", "2025-10", "2025-11")
    _check(NOW, months)  # nothing summed yet: every task read
    assert deadline_stats.refresh(now=NOW) > 300
    assert deadline_stats.mark() == NOW - deadline_stats.SETTLE
    assert db.session.scalar(select(DeadlineDay.day).order_by(DeadlineDay.day.desc()).limit(1)) > NOW.date()
    _check(NOW, months)
    # after the mark: answers, escalations and new tasks
    later = NOW + timedelta(minutes=30)
    ready = list(db.session.scalars(select(TaskRecord).where(TaskRecord.state == TaskState.ready)
                                    .order_by(TaskRecord.id)))
    for i, record in enumerate(ready[:60]):
        record.state = TaskState.completed if i % 3 else TaskState.cancelled
        record.completed_at = later
    calendar = current_calendar()
    for code in DEPARTMENTS:
        db.session.add(TaskRecord(instance_id=tasks, engine_task_id=f"new-{code}", element_id=PROVIDER,
                                  title="新任务", form_key="x", candidate_role="provider", candidate_roles=[],
                                  department_code=code, state=TaskState.ready, created_at=later,
                                  due_at=calendar.add_working_days(later, 5).at))
    db.session.commit()
    _check(later, months)
    for days in (1, 2, 5):  # the days after: deadlines of today pass, summed days stay
        _check(later + timedelta(days=days), months)
    assert deadline_stats.refresh(now=later + timedelta(days=2)) >= 41  # 40 answered, one closed before NOW
    assert deadline_stats.refresh(now=later + timedelta(days=2)) == 0  # nothing new
    _check(later + timedelta(days=2, hours=3), months)
    _check(later + timedelta(days=41), (*months, "2025-12"))  # 31 December: the charts moved, next January ends them
    _check(bj(2026, 1, 5, 9, 0), ("2025-12", "2025-11"))  # over the year's end
    _check(NOW - timedelta(days=3), ("2025-10",))  # the clock before the mark: sums not used


def test_the_excel_export_has_the_charts_figures(tasks):
    from openpyxl import load_workbook

    deadline_stats.refresh(now=NOW)
    uid = _supervisor()
    data = oversight_charts.chart_data(uid, NOW)
    book = load_workbook(io.BytesIO(oversight_charts.export_xlsx(uid, NOW)))
    rows = [tuple(v for v in r if v is not None) for r in book["图表数据"].iter_rows(values_only=True)]
    for series in data["on_time"]["series"]:
        for month, cell in zip(data["on_time"]["months"], series["months"], strict=True):
            if cell["on_time"] or cell["late"]:
                expected = (series["department"], month, cell["on_time"], cell["late"], cell["rate"])
                assert expected in rows
    for series in data["weekly"]["series"]:
        for week, due, late in zip(data["weekly"]["weeks"], series["due"], series["overdue"], strict=True):
            if due:
                assert (series["department"], week, due, late) in rows
    by_department = {r[0]: r[1:] for r in book["按部门"].iter_rows(min_row=2, values_only=True)}
    assert by_department == {r["department"]: (r["open"], r["overdue"], r["due_soon"])
                             for r in data["open_by_department"]}
    assert [(r["outcome"], r["count"]) for r in data["violations"]] == [
        r for r in rows if len(r) == 2 and isinstance(r[1], int)]
    quality = [r for r in book["数据质量反馈"].iter_rows(min_row=2, values_only=True)]
    assert quality == [(r["department"], r["reports"], r["answers_asked"], r["on_time"], r["late"], r["open"],
                        r["overdue"]) for r in data["quality"]]
    written = sum(1 for r in rows if len(r) == 5 and isinstance(r[2], int)) + sum(
        1 for r in rows if len(r) == 4 and isinstance(r[2], int))
    assert written == sum(1 for s in data["on_time"]["series"] for c in s["months"] if c["on_time"] or c["late"]) + \
        sum(1 for s in data["weekly"]["series"] for d in s["due"] if d)
    assert date(2025, 11, 20) == NOW.date()


def test_the_scheduler_keeps_the_sums(app, tasks):
    from app import jobs

    scheduler = jobs.build_scheduler(app, blocking=False)
    try:
        job = next(j for j in scheduler.get_jobs() if j.id == "deadline-refresh")
        assert job.func is jobs.deadline_refresh_job and "0:10:00" in str(job.trigger)
    finally:
        jobs.shutdown()
    jobs._app = app
    jobs.deadline_refresh_job()  # the real clock: every task of the fixture is closed long before the mark
    db.session.rollback()
    assert deadline_stats.mark() is not None
    assert db.session.scalar(select(func.sum(DeadlineDay.due))) == db.session.scalar(
        select(func.count()).select_from(TaskRecord).where(deadline_stats.COUNTED,
                                                           TaskRecord.state != TaskState.ready))
