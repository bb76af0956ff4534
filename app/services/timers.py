"""Firing the engine's timers exactly once, and moving deadlines when the calendar changes."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from ..engine import runtime
from ..extensions import db
from ..models import ProcessInstance, TimerRecord
from ..models.process import InstanceStatus
from ..models.timer import TimerState
from ..models.types import utcnow
from . import instance_lock, notify, progress
from .errors import Busy

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
        rescheduled = instance_lock.run_locked(instance_id, partial(_fire, timer_id))
    except (Busy, OperationalError) as exc:
        current_app.logger.warning("timer %s on instance %s not fired now: %s", timer_id, instance_id, exc)
        return False  # the sweep will try again
    if rescheduled is None:
        return False
    notify.send_pending_emails()
    if rescheduled:
        changed()
    return True


def _fire(timer_id: int, instance: ProcessInstance) -> bool | None:
    """Under the instance's lock: None if there was nothing to fire, else whether the schedule changed."""
    now = utcnow()
    claimed = db.session.execute(update(TimerRecord).where(
        TimerRecord.id == timer_id, TimerRecord.state == TimerState.pending, TimerRecord.due_at <= now)
        .values(state=TimerState.fired, fired_at=now), execution_options={"synchronize_session": False})
    if claimed.rowcount != 1 or instance.status != InstanceStatus.running:
        db.session.rollback()  # fired or withdrawn already; or suspended/failed: fires after resume / retry
        return None
    row = db.session.get(TimerRecord, timer_id, populate_existing=True)
    step = {"actor_id": None, "action": "timer", "step": row.title,
            "detail": {"element": row.element_id, "due_at": row.due_at.isoformat()}}
    workflow = progress.load(instance)
    try:
        runtime.fire_due_timers(workflow)
    except runtime.EngineError as exc:
        current_app.logger.error("timer %s on instance %s failed: %s", timer_id, instance.id, exc)
        progress.record_failure(instance, workflow, exc, **step)
        rescheduled = False
    else:
        rescheduled = progress.persist(instance, workflow, **step)
    db.session.commit()
    return rescheduled


def due_timer_ids(now: datetime | None = None, limit: int = 1000) -> list[int]:
    return list(db.session.scalars(select(TimerRecord.id).join(ProcessInstance).where(
        TimerRecord.state == TimerState.pending, TimerRecord.due_at <= (now or utcnow()),
        ProcessInstance.status == InstanceStatus.running).order_by(TimerRecord.due_at).limit(limit)))


def fire_due_timers(now: datetime | None = None) -> int:
    """The sweep: fire every pending timer that is due. Returns how many fired."""
    return sum(fire_timer(timer_id) for timer_id in due_timer_ids(now))


def pending_schedule() -> list[tuple[int, datetime]]:
    """(timer id, due time) of every pending timer of a running instance, for the scheduler's exact date jobs."""
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
