"""Deadlines met and missed, summed per Beijing day of the deadline, department and kind, for the supervisors'
charts and the monthly 督办通报 (oversight_charts).

A task is counted once its deadline is set: open, completed, or withdrawn after its deadline (a task withdrawn before
it was never due). It missed its deadline if it is still open or ended after it; it was on time if it was completed
by it. Only open task rows are ever updated (services.workflow.progress), so a closed task keeps its figures for
good: refresh() (a scheduler job) adds the tasks closed before a mark to deadline_day and moves the mark; sums()
reads deadline_day for the days asked and the task table only for the open tasks, those closed after the mark and
those due today (whose deadline may be still ahead), so the cost follows the period shown and the tasks moving, not
the history. The mark stays `settle` behind the clock: a completion commits a little after its timestamp."""
from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from sqlalchemy import and_, case, func, literal, or_, select

from ...extensions import db
from ...models.deadline_stats import DeadlineDay, DeadlineRefresh
from ...models.task import TaskRecord, TaskState
from ...models.types import CHINA_TZ, utcnow

PROVIDER_STEP = "provider_review"  # Art. 22: the providing department's answer, 5 working days
SETTLE = timedelta(hours=1)

# the tasks the figures count, and the two counts of each
COUNTED = and_(TaskRecord.due_at.is_not(None),
               TaskRecord.state.in_((TaskState.ready, TaskState.completed, TaskState.cancelled)),
               or_(TaskRecord.state != TaskState.cancelled, TaskRecord.completed_at >= TaskRecord.due_at))
MISSED = or_(TaskRecord.state == TaskState.ready, TaskRecord.completed_at > TaskRecord.due_at)
ON_TIME = and_(TaskRecord.state == TaskState.completed, TaskRecord.completed_at <= TaskRecord.due_at)

# (department_code or '', interval index, provider answer?, deadline passed?) -> [due, missed, on_time]
Sums = dict[tuple[str, int, bool, bool], list[int]]


def mark() -> datetime | None:
    """The instant before which every closed task is in deadline_day (None: nothing summed yet)."""
    state = db.session.get(DeadlineRefresh, 1)
    return state.settled_before if state else None


def refresh(settle: timedelta = SETTLE, now: datetime | None = None) -> int:
    """Add the counted tasks closed before `now - settle` (and after the last mark) to deadline_day and move the
    mark there. One transaction; the mark's row lock keeps two runs apart. Returns the number of tasks added."""
    now = now or utcnow()
    state = db.session.scalar(select(DeadlineRefresh).where(DeadlineRefresh.id == 1).with_for_update())
    if state is None:
        state = DeadlineRefresh(id=1, settled_before=None)
        db.session.add(state)
        db.session.flush()
    old, new = state.settled_before, now - settle
    if old is not None and new <= old:
        db.session.commit()
        return 0
    query = select(TaskRecord.due_at, TaskRecord.department_code, TaskRecord.element_id, TaskRecord.state,
                   TaskRecord.completed_at).where(COUNTED, TaskRecord.state != TaskState.ready,
                                                  TaskRecord.completed_at < new)
    if old is not None:  # closed since the last mark: ix_task_closed_with_deadline
        query = query.where(TaskRecord.completed_at >= old)
    added: dict[tuple[date, str, bool], list[int]] = defaultdict(lambda: [0, 0, 0])
    count = 0
    for due_at, code, element_id, task_state, completed_at in db.session.execute(
            query.execution_options(yield_per=5000)):
        cell = added[(due_at.astimezone(CHINA_TZ).date(), code or "", element_id == PROVIDER_STEP)]
        cell[0] += 1
        cell[1] += completed_at > due_at
        cell[2] += task_state == TaskState.completed and completed_at <= due_at
        count += 1
    if added:
        days = sorted({key[0] for key in added})
        existing = {(row.day, row.department_code, row.provider): row for row in db.session.scalars(
            select(DeadlineDay).where(DeadlineDay.day >= days[0], DeadlineDay.day <= days[-1]))}
        for key, (due, missed, on_time) in added.items():
            row = existing.get(key)
            if row is None:
                db.session.add(DeadlineDay(day=key[0], department_code=key[1], provider=key[2], due=due,
                                           missed=missed, on_time=on_time))
            else:
                row.due, row.missed, row.on_time = row.due + due, row.missed + missed, row.on_time + on_time
    state.settled_before, state.refreshed_at = new, now
    db.session.commit()
    return count


def _bucket(column, bounds: list[datetime]):
    """The index i of the [bounds[i], bounds[i+1]) interval holding the column (callers keep it inside bounds)."""
    if len(bounds) == 2:
        return literal(0)
    return case(*[(column < b, i) for i, b in enumerate(bounds[1:-1])], else_=len(bounds) - 2)


def _total(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def sums(bounds: list[datetime], now: datetime) -> Sums:
    """The counted tasks with a deadline in [bounds[0], bounds[-1]) (bounds: ascending Beijing midnights) by
    department, interval, kind and whether the deadline has passed at `now`."""
    out: Sums = defaultdict(lambda: [0, 0, 0])
    settled = mark()
    if settled is not None and settled > now:  # a clock set back (tests): the sums are of a later time
        settled = None
    in_range = [COUNTED, TaskRecord.due_at >= bounds[0], TaskRecord.due_at < bounds[-1]]
    closed = TaskRecord.state.in_((TaskState.completed, TaskState.cancelled))
    if settled is None:
        parts = [in_range]
    else:
        today = now.astimezone(CHINA_TZ).date()
        days = [b.astimezone(CHINA_TZ).date() for b in bounds]
        for day, code, provider, due, missed, on_time in db.session.execute(
                select(DeadlineDay.day, DeadlineDay.department_code, DeadlineDay.provider, DeadlineDay.due,
                       DeadlineDay.missed, DeadlineDay.on_time)
                .where(DeadlineDay.day >= days[0], DeadlineDay.day < days[-1], DeadlineDay.day != today)):
            cell = out[(code, bisect_right(days, day) - 1, bool(provider), day < today)]
            cell[0] += due
            cell[1] += missed
            cell[2] += on_time
        # the tasks not in those sums: open (ix_task_open), closed after the mark (ix_task_closed_with_deadline),
        # and the summed ones due today, whose deadline may be still ahead (ix_task_due)
        midnight = datetime.combine(today, time(), CHINA_TZ)
        parts = [[*in_range, TaskRecord.state == TaskState.ready],
                 [*in_range, closed, TaskRecord.completed_at >= settled],
                 [*in_range, closed, TaskRecord.completed_at.is_(None)]]  # none is closed so, but were one
        if bounds[0] <= midnight < bounds[-1]:
            parts.append([*in_range, closed, TaskRecord.completed_at < settled, TaskRecord.due_at >= midnight,
                          TaskRecord.due_at < midnight + timedelta(days=1)])
    provider = case((TaskRecord.element_id == PROVIDER_STEP, 1), else_=0).label("provider")
    past = case((TaskRecord.due_at <= now, 1), else_=0).label("past")
    interval = _bucket(TaskRecord.due_at, bounds).label("interval")
    for where in parts:
        for code, index, is_provider, is_past, due, missed, on_time in db.session.execute(
                select(TaskRecord.department_code, interval, provider, past, func.count(), _total(MISSED),
                       _total(ON_TIME)).where(*where)
                .group_by(TaskRecord.department_code, interval, provider, past)):
            cell = out[(code or "", index, bool(is_provider), bool(is_past))]
            cell[0] += due
            cell[1] += int(missed)
            cell[2] += int(on_time)
    return out
