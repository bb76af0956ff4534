"""Firing the engine's timers exactly once, and moving deadlines when the calendar changes."""
from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import OperationalError

from ...engine import runtime
from ...extensions import db
from ...models import ProcessInstance, TimerRecord
from ...models.process import InstanceStatus
from ...models.timer import TimerState
from ...models.types import utcnow
from .. import calendar as calendar_service
from ..errors import Busy
from ..messaging import notify
from ..security import audit
from . import instance_lock, progress

BATCH = 200  # due timers selected per statement

# Called (with no arguments) after a transaction changed pending timers; the in-process scheduler registers here.
on_change: list[Callable[[], None]] = []


def changed() -> None:
    for callback in list(on_change):
        callback()


def fire_timer(timer_id: int) -> bool:
    """Fire a due, pending timer. Holding the instance's lock, a conditional update claims the timer row (a second
    scheduler, or a completion that already moved the workflow on, leaves nothing to claim); True if it fired."""
    instance_id = db.session.scalar(select(TimerRecord.instance_id).where(TimerRecord.id == timer_id))
    if instance_id is None:
        return False
    try:
        outcome = _fire_instance(instance_id, [timer_id], wait=True)
    except (Busy, OperationalError) as exc:
        current_app.logger.warning("timer %s on instance %s not fired now: %s", timer_id, instance_id, exc)
        return False  # the sweep will try again
    if outcome is None:
        return False
    notify.send_pending_emails()
    if outcome[1]:
        changed()
    return True


@dataclass
class FireReport:
    """One pass over the due timers: instances moved on, and instances left for the next pass."""
    fired: int = 0
    timers: int = 0
    skipped: int = 0  # locked by another scheduler or a user's step right now (PostgreSQL)
    failed: int = 0  # busy database or an unexpected error: the next pass tries again
    rescheduled: bool = False


_SKIPPED = object()

# Instances fired in one transaction by fire_due: one commit (on SQLite one write lock and one WAL sync) for the
# group instead of one per instance. Every instance of the group is still locked (lock_instance) before its timers
# are claimed, so the group's commit is the exactly-once point of all of them; if anything in the group fails the
# whole group is rolled back and its instances are fired again one per transaction.
GROUP = 10
# SQLite has one write lock and waiting writers poll for it (every 100 ms at worst): after each group the pass
# pauses for this share of the time it held the lock, or a user's step, the scheduler's lease renewal and its job
# store would wait for the whole pass (they starved: "database is locked" after 15 s, the lease lost mid-pass).
YIELD = 0.2


def fire_due(now: datetime | None = None, *, batch: int = BATCH, group: int = GROUP) -> FireReport:
    """Fire every timer due at `now` in batches: one statement selects up to `batch` due timers (on PostgreSQL
    skipping rows another scheduler is claiming right now), that transaction ends, then the instances are fired
    through the exactly-once path (instance lock, then the conditional claim), up to `group` instances per
    transaction.

    The candidate rows are not kept locked while instance locks are taken: every writer takes the instance lock
    first, so holding timer rows meanwhile could deadlock against a user's step on the same instance."""
    now = now or utcnow()
    report = FireReport()
    postgres = db.session.get_bind().dialect.name == "postgresql"
    after: tuple[datetime, int] | None = None
    while True:
        rows = _due_candidates(now, after, batch, skip_locked=postgres)
        if not rows:
            break
        after = (rows[-1].due_at, rows[-1].id)
        by_instance: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            by_instance[row.instance_id].append(row.id)
        groups = list(by_instance.items())
        if postgres:  # several schedulers walk the same candidates: a different order makes them meet less
            random.shuffle(groups)
        for start in range(0, len(groups), max(group, 1)):
            chunk = groups[start:start + max(group, 1)]
            began = time.perf_counter()
            outcomes = _fire_group(chunk, postgres=postgres) if len(chunk) > 1 else None
            if outcomes is None:  # one instance, or the group failed as a whole: one transaction per instance
                outcomes = [_fire_alone(instance_id, timer_ids, wait=not postgres)
                            for instance_id, timer_ids in chunk]
            if not postgres:  # let other writers in: SQLite's busy wait polls, it does not queue
                time.sleep(min(0.05, YIELD * (time.perf_counter() - began)))
            for outcome in outcomes:
                _count(report, outcome)
        if len(rows) < batch:
            break
    if report.fired:
        notify.send_pending_emails()
    return report


_FAILED = object()


def _count(report: FireReport, outcome) -> None:
    if outcome is _SKIPPED:
        report.skipped += 1
    elif outcome is _FAILED:
        report.failed += 1
    elif outcome is not None:
        fired, rescheduled = outcome
        report.fired += 1
        report.timers += fired
        report.rescheduled |= rescheduled


def _fire_alone(instance_id: int, timer_ids: list[int], *, wait: bool):
    """One instance in its own transaction; failures are logged and reported (_FAILED), the next pass retries."""
    try:
        return _fire_instance(instance_id, timer_ids, wait=wait)
    except (Busy, OperationalError) as exc:
        current_app.logger.warning("timers %s on instance %s not fired now: %s", timer_ids, instance_id, exc)
    except Exception:  # one broken instance must not hold up the others; the next pass tries again
        current_app.logger.exception("timers %s on instance %s failed", timer_ids, instance_id)
        db.session.rollback()
    return _FAILED


def _fire_group(chunk: list[tuple[int, list[int]]], *, postgres: bool) -> list | None:
    """Fire several instances' timers in one transaction, each under its instance lock; one commit for all.

    SQLite: the first lock_instance takes the database's write lock for the whole transaction (the others are
    then immediate). PostgreSQL: one `FOR UPDATE SKIP LOCKED` statement locks the instances nobody else holds;
    the others are _SKIPPED (a later pass fires them). None when the group failed (rolled back entirely): the
    caller fires its instances one per transaction."""
    ids = [instance_id for instance_id, _timer_ids in chunk]
    try:
        locked: dict[int, ProcessInstance] = {}
        if postgres:  # locked and read as they are now, in one statement
            locked = {i.id: i for i in db.session.scalars(
                select(ProcessInstance).where(ProcessInstance.id.in_(ids)).with_for_update(skip_locked=True)
                .execution_options(populate_existing=True))}
        outcomes: list = []
        for instance_id, timer_ids in chunk:
            if postgres and instance_id not in locked:
                outcomes.append(_SKIPPED)  # another scheduler or a user's step holds it (or it is gone)
                continue
            instance = locked[instance_id] if postgres else instance_lock.lock_instance(instance_id)
            outcomes.append(_fire_locked(timer_ids, instance))
        db.session.commit()
    except Exception as exc:  # noqa: BLE001 - any failure: nothing of the group is kept, each is tried alone
        db.session.rollback()
        current_app.logger.warning("timer group of %s instances rolled back (%s); firing them one by one",
                                   len(chunk), str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
        return None
    return outcomes


def fire_due_timers(now: datetime | None = None) -> int:
    """The sweep: fire every pending timer that is due. Returns on how many instances timers fired."""
    report = fire_due(now)
    if report.rescheduled:
        changed()
    return report.fired


def _due_candidates(now: datetime, after: tuple[datetime, int] | None, limit: int, *, skip_locked: bool):
    """Up to `limit` due, pending timers of running instances after `after` (due time, id), in due order."""
    query = select(TimerRecord.id, TimerRecord.instance_id, TimerRecord.due_at).join(ProcessInstance).where(
        TimerRecord.state == TimerState.pending, TimerRecord.due_at <= now,
        ProcessInstance.status == InstanceStatus.running)
    if after is not None:
        query = query.where(or_(TimerRecord.due_at > after[0],
                                and_(TimerRecord.due_at == after[0], TimerRecord.id > after[1])))
    query = query.order_by(TimerRecord.due_at, TimerRecord.id).limit(limit)
    if skip_locked:
        query = query.with_for_update(of=TimerRecord, skip_locked=True)
    rows = db.session.execute(query).all()
    db.session.commit()  # releases the row locks at once (see fire_due)
    return rows


def _fire_instance(instance_id: int, timer_ids: list[int], *, wait: bool):
    """Fire the instance's due timers among `timer_ids` under its lock. `wait=False` (PostgreSQL batches) skips an
    instance whose lock another scheduler or a user's step holds: _SKIPPED. None if nothing was left to fire, else
    (timers fired, whether the schedule changed)."""
    work = partial(_fire, timer_ids)
    if wait:
        return instance_lock.run_locked(instance_id, work)
    try:
        instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                                     .with_for_update(skip_locked=True).execution_options(populate_existing=True))
        if instance is None:
            db.session.rollback()
            return _SKIPPED
        return work(instance)
    except BaseException:
        db.session.rollback()
        raise


def _fire(timer_ids: list[int], instance: ProcessInstance) -> tuple[int, bool] | None:
    """Under the instance's lock, in a transaction of its own: None if there was nothing to fire, else (timers
    fired, whether the schedule changed)."""
    outcome = _fire_locked(timer_ids, instance)
    if outcome is None:
        db.session.rollback()
    else:
        db.session.commit()
    return outcome


def _fire_locked(timer_ids: list[int], instance: ProcessInstance) -> tuple[int, bool] | None:
    """Under the instance's lock, neither committing nor rolling back: None (and nothing written) if there was
    nothing to fire, else (timers fired, whether the schedule changed)."""
    if instance.status != InstanceStatus.running:
        return None  # suspended/failed/ended: fires after resume / retry, or never
    now = utcnow()
    rows = sorted(db.session.scalars(update(TimerRecord).where(  # the claimed rows, as claimed
        TimerRecord.id.in_(timer_ids), TimerRecord.instance_id == instance.id,
        TimerRecord.state == TimerState.pending, TimerRecord.due_at <= now)
        .values(state=TimerState.fired, fired_at=now).returning(TimerRecord),
        execution_options={"synchronize_session": False, "populate_existing": True}),
        key=lambda row: (row.due_at, row.id))
    if not rows:
        return None  # fired or withdrawn already
    claimed = [row.id for row in rows]
    steps = [{"actor_id": None, "action": "timer", "step": row.title,
              "detail": {"element": row.element_id, "due_at": row.due_at.isoformat()}} for row in rows]
    for step in steps[:-1]:  # one engine step fires them all; each timer keeps its own audit row
        audit.record(step["action"], instance_id=instance.id, step=step["step"], detail=step["detail"])
    workflow = progress.load(instance)
    try:
        runtime.fire_due_timers(workflow)
    except runtime.EngineError as exc:
        current_app.logger.error("timers %s on instance %s failed: %s", claimed, instance.id, exc)
        progress.record_failure(instance, workflow, exc, **steps[-1])
        rescheduled = False
    else:
        rescheduled = progress.persist(instance, workflow, **steps[-1])
    return len(rows), rescheduled


def due_timer_ids(now: datetime | None = None, limit: int = 1000) -> list[int]:
    return [row.id for row in _due_candidates(now or utcnow(), None, limit, skip_locked=False)]


def next_due() -> datetime | None:
    """The earliest due time of a pending timer of a running instance: when the scheduler wakes up next."""
    return db.session.scalar(select(func.min(TimerRecord.due_at)).join(ProcessInstance).where(
        TimerRecord.state == TimerState.pending, ProcessInstance.status == InstanceStatus.running))


def pending_schedule() -> list[tuple[int, datetime]]:
    """(timer id, due time) of every pending timer of a running instance."""
    return [(r.id, r.due_at) for r in db.session.execute(
        select(TimerRecord.id, TimerRecord.due_at).join(ProcessInstance).where(
            TimerRecord.state == TimerState.pending, ProcessInstance.status == InstanceStatus.running))]


def recompute_deadlines(user_id: int | None, reason: str) -> int:
    """Re-evaluate the armed timers of every running instance against the current calendar; returns how many
    instances had a deadline moved (each one is audited with the old and new times)."""
    instance_ids = list(db.session.scalars(select(TimerRecord.instance_id).join(ProcessInstance).where(
        TimerRecord.state == TimerState.pending, ProcessInstance.status == InstanceStatus.running).distinct()))

    def move(instance: ProcessInstance) -> bool:
        if instance.status != InstanceStatus.running:
            db.session.rollback()
            return False
        workflow = progress.load(instance)
        moved = runtime.recompute_timers(workflow)
        if not moved:
            db.session.rollback()
            return False
        progress.persist(instance, workflow, actor_id=user_id, action="deadline_moved", step=reason,
                         detail={"summary": "；".join(f"{el}: {old} → {new}" for el, old, new in moved),
                                 "moved": [list(m) for m in moved]})
        db.session.commit()
        return True

    moved_count = sum(instance_lock.run_locked(instance_id, move) for instance_id in instance_ids)
    changed()
    return moved_count


calendar_service.after_change.append(recompute_deadlines)
