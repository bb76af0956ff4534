"""Firing from the timer table in batches: many due timers fire once each, schedulers share the load, the wake-up
follows the earliest due time, and a scheduler killed in the middle of a batch loses and doubles nothing."""
from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from app.extensions import db
from app.models import AuditLog, ProcessInstance, TaskRecord, TimerRecord
from app.services.workflow import progress, timers

from .test_scheduler import _forwarded_request_with_reminder_in, _start_scheduler, _wait_for


def _clone(rid: int, copies: int) -> list[int]:
    """The instance with its ready tasks and pending timers, copied `copies` times; all instance ids."""
    source = db.session.get(ProcessInstance, rid)
    task_rows = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                            TaskRecord.state == "ready")).all()
    timer_rows = db.session.scalars(select(TimerRecord).where(TimerRecord.instance_id == rid,
                                                              TimerRecord.state == "pending")).all()
    first = db.session.scalar(select(func.max(ProcessInstance.id))) + 1
    ids = list(range(first, first + copies))
    columns = [c.key for c in ProcessInstance.__table__.columns if c.key != "id"]
    db.session.execute(insert(ProcessInstance), [{"id": i, **{c: getattr(source, c) for c in columns}} for i in ids])
    for model, rows in ((TaskRecord, task_rows), (TimerRecord, timer_rows)):
        db.session.execute(insert(model), [
            {c.key: (i if c.key == "instance_id" else getattr(r, c.key)) for c in model.__table__.columns
             if c.key != "id"} for i in ids for r in rows])
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("SELECT setval('process_instance_id_seq', (SELECT max(id) FROM process_instance))"))
    db.session.commit()
    return [rid, *ids]


def _due_reminders(count: int, seconds: float = -1) -> list[int]:
    return _clone(_forwarded_request_with_reminder_in(seconds), count - 1)


def _timer_audits(instance_ids: list[int]) -> dict[int, int]:
    db.session.expire_all()
    return dict(db.session.execute(select(AuditLog.instance_id, func.count(AuditLog.id)).where(
        AuditLog.action == "timer", AuditLog.instance_id.in_(instance_ids)).group_by(AuditLog.instance_id)).all())


def _reminders(instance_ids: list[int], state: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(TimerRecord.id)).where(
        TimerRecord.instance_id.in_(instance_ids), TimerRecord.element_id == "reminder_timer",
        TimerRecord.state == state))


def test_many_due_timers_fire_once_each_across_batches(ctx):
    ids = _due_reminders(90)
    report = timers.fire_due(batch=25)  # four candidate statements
    assert (report.fired, report.timers, report.skipped, report.failed) == (90, 90, 0, 0)
    assert _reminders(ids, "pending") == 0 and _reminders(ids, "fired") == 90
    assert _timer_audits(ids) == dict.fromkeys(ids, 1)
    assert timers.fire_due(batch=25).fired == 0  # nothing fires twice
    assert _timer_audits(ids) == dict.fromkeys(ids, 1)


def test_several_due_timers_of_one_instance_fire_in_one_step_with_an_audit_row_each(ctx):
    rid = _forwarded_request_with_reminder_in(-1)
    instance = db.session.get(ProcessInstance, rid)
    workflow = progress.load(instance)
    for task in workflow.get_tasks():
        if getattr(task.task_spec, "bpmn_id", None) == "deadline_timer" and "event_value" in task.internal_data:
            task.internal_data["event_value"] = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    progress.persist(instance, workflow, actor_id=None, action="test_adjust", step="提前截止时间（测试）")
    db.session.commit()
    before = db.session.get(ProcessInstance, rid).lock_version
    report = timers.fire_due()
    assert (report.fired, report.timers) == (1, 2)
    assert db.session.get(ProcessInstance, rid, populate_existing=True).lock_version == before + 1  # saved once
    db.session.expire_all()
    steps = db.session.scalars(select(AuditLog.step).where(AuditLog.instance_id == rid, AuditLog.action == "timer")
                               .order_by(AuditLog.id)).all()
    assert len(steps) == 2 and len(set(steps)) == 2


def test_two_schedulers_share_the_due_timers_and_fire_each_once(app, ctx):
    ids = _due_reminders(120)
    reports, errors = [], []
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        with app.app_context():
            try:
                barrier.wait()
                reports.append(timers.fire_due(batch=30))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sum(r.fired for r in reports) == 120
    assert _timer_audits(ids) == dict.fromkeys(ids, 1) and _reminders(ids, "fired") == 120
    if db.engine.dialect.name == "postgresql":  # SKIP LOCKED: both did part of the work (SQLite: one writer)
        assert all(r.fired > 0 for r in reports), reports


def test_a_timer_moved_earlier_moves_the_wake_up(app, ctx):
    from app import jobs

    app.config["SCHEDULER_SYNC_SECONDS"] = 3600  # only the first sync runs
    rid = _forwarded_request_with_reminder_in(3600)
    try:
        jobs.start_in_process(app)
        due = db.session.scalar(select(TimerRecord.due_at).where(TimerRecord.instance_id == rid,
                                                                 TimerRecord.element_id == "reminder_timer"))

        def wakeup_at():
            job = jobs._scheduler.get_job(jobs.WAKEUP)
            return job.next_run_time if job else None

        assert _wait_for(lambda: wakeup_at() == due, 10), (wakeup_at(), due)
        assert [j.id for j in jobs._scheduler.get_jobs() if j.id.startswith("timer")] == [jobs.WAKEUP]
        # what recompute_deadlines does after a calendar change: the deadline moves, then timers.changed()
        instance = db.session.get(ProcessInstance, rid)
        workflow = progress.load(instance)
        new_due = datetime.now(UTC) + timedelta(seconds=5)  # time to see the wake-up move before it fires
        for task in workflow.get_tasks():
            if getattr(task.task_spec, "bpmn_id", None) == "reminder_timer" and "event_value" in task.internal_data:
                task.internal_data["event_value"] = new_due.isoformat()
        assert progress.persist(instance, workflow, actor_id=None, action="deadline_moved", step="日历调整（测试）")
        db.session.commit()
        timers.changed()
        assert _wait_for(lambda: (at := wakeup_at()) is not None and abs((at - new_due).total_seconds()) < 0.01, 4)
        assert _wait_for(lambda: _reminders([rid], "fired") == 1, 10)
        fired_at = db.session.scalar(select(TimerRecord.fired_at).where(TimerRecord.instance_id == rid,
                                                                        TimerRecord.element_id == "reminder_timer"))
        # fired at the moved time, not at the old one an hour away (the lag itself is measured in the benchmark)
        assert timedelta(0) <= fired_at - new_due < timedelta(seconds=5)
    finally:
        jobs.shutdown()
        app.config["SCHEDULER_SYNC_SECONDS"] = 30
    assert _timer_audits([rid]) == {rid: 1}


def test_a_scheduler_killed_during_a_batch_loses_and_doubles_nothing(app, ctx, tmp_path):
    ids = _due_reminders(400, seconds=4)
    first = _start_scheduler(app, tmp_path / "first.log")
    try:
        assert _wait_for(lambda: _reminders(ids, "fired") >= 20, 30), (tmp_path / "first.log").read_text()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    fired = _reminders(ids, "fired")
    assert 20 <= fired < 400, fired  # killed in the middle of the batch
    audits = _timer_audits(ids)
    assert len(audits) == fired and set(audits.values()) == {1}  # every committed firing is whole
    second = _start_scheduler(app, tmp_path / "second.log")
    try:
        assert _wait_for(lambda: _reminders(ids, "pending") == 0, 60), (tmp_path / "second.log").read_text()
        time.sleep(1.5)  # a sync round more
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(10)
    assert _reminders(ids, "fired") == 400 and _timer_audits(ids) == dict.fromkeys(ids, 1)


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
