"""Firing the engine's timers exactly once, and moving deadlines when the calendar changes."""
from __future__ import annotations

import random
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


def fire_due(now: datetime | None = None, *, batch: int = BATCH) -> FireReport:
    """Fire every timer due at `now` in batches: one statement selects up to `batch` due timers (on PostgreSQL
    skipping rows another scheduler is claiming right now), that transaction ends, then each instance is fired in
    its own short transaction through the exactly-once path (instance lock, then the conditional claim).

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
        for instance_id, timer_ids in groups:
            try:
                outcome = _fire_instance(instance_id, timer_ids, wait=not postgres)
            except (Busy, OperationalError) as exc:
                current_app.logger.warning("timers %s on instance %s not fired now: %s", timer_ids, instance_id, exc)
                report.failed += 1
                continue
            except Exception:  # one broken instance must not hold up the others; the next pass tries again
                current_app.logger.exception("timers %s on instance %s failed", timer_ids, instance_id)
                db.session.rollback()
                report.failed += 1
                continue
            if outcome is _SKIPPED:
                report.skipped += 1
            elif outcome is not None:
                fired, rescheduled = outcome
                report.fired += 1
                report.timers += fired
                report.rescheduled |= rescheduled
        if len(rows) < batch:
            break
    if report.fired:
        notify.send_pending_emails()
    return report


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
        locked = db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.id == instance_id)
                                   .with_for_update(skip_locked=True))
        if locked is None:
            db.session.rollback()
            return _SKIPPED
        instance = db.session.get(ProcessInstance, instance_id, populate_existing=True)
        return work(instance)
    except BaseException:
        db.session.rollback()
        raise


def _fire(timer_ids: list[int], instance: ProcessInstance) -> tuple[int, bool] | None:
    """Under the instance's lock: None if there was nothing to fire, else (timers fired, whether the schedule
    changed)."""
    now = utcnow()
    claimed = list(db.session.scalars(update(TimerRecord).where(
        TimerRecord.id.in_(timer_ids), TimerRecord.instance_id == instance.id,
        TimerRecord.state == TimerState.pending, TimerRecord.due_at <= now)
        .values(state=TimerState.fired, fired_at=now).returning(TimerRecord.id),
        execution_options={"synchronize_session": False}))
    if not claimed or instance.status != InstanceStatus.running:
        db.session.rollback()  # fired or withdrawn already; or suspended/failed: fires after resume / retry
        return None
    rows = list(db.session.scalars(select(TimerRecord).where(TimerRecord.id.in_(claimed))
                                   .order_by(TimerRecord.due_at, TimerRecord.id)
                                   .execution_options(populate_existing=True)))
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
    db.session.commit()
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
