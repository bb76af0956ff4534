"""The real scheduler: a wake-up at the next due time fired from the timer table, restart, two schedulers at once.

Timers here are due seconds from now: the test moves an armed timer's due time forward in the engine (the
working-day arithmetic that normally sets it is tested with a moved clock in tests/services/test_deadlines.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, ProcessInstance, TimerRecord, User
from app.services.workflow import progress, requests, tasks

ROOT = Path(__file__).resolve().parents[2]
APPLICATION = {"purpose": "学院综合测评核对身份", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True}


def _uid(name: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == name))


def _forwarded_request_with_reminder_in(seconds: float) -> int:
    catalogue = {r["code"]: r for r in requests.catalogue()}
    rid = requests.submit_share_request(_uid("cs_handler"), {**APPLICATION, "resources": [
        {"resource_id": catalogue["student_basic"]["id"], "fields": ["xh"]}]})
    for user in ("cs_head", "nic_head"):
        task = next(t for t in requests.request_view(rid, _uid(user))["current_tasks"])
        tasks.complete_task(task["task_id"], _uid(user), {"decision": "approve"})
    instance = db.session.get(ProcessInstance, rid)
    workflow = progress.load(instance)
    for task in workflow.get_tasks():
        if getattr(task.task_spec, "bpmn_id", None) == "reminder_timer" and "event_value" in task.internal_data:
            task.internal_data["event_value"] = (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()
    progress.persist(instance, workflow, actor_id=None, action="test_adjust", step="提前提醒时间（测试）")
    db.session.commit()
    return rid


def _count(rid: int, action: str) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.instance_id == rid,
                                                                   AuditLog.action == action))


def _reminder_state(rid: int) -> str:
    db.session.expire_all()
    return db.session.scalar(select(TimerRecord.state).where(TimerRecord.instance_id == rid,
                                                             TimerRecord.element_id == "reminder_timer"))


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def _start_scheduler(app, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SCHEDULER_SYNC_SECONDS": "1",
           "SCHEDULER_LEASE_SECONDS": "3", "SCHEDULER_HEARTBEAT_SECONDS": "1",  # a killed leader's lease expires soon
           "FLASK_APP": "wsgi.py", "PYTHONUNBUFFERED": "1"}
    env.pop("TEST_DATABASE_URL", None)
    return subprocess.Popen([sys.executable, "-m", "flask", "scheduler", "run"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def _wakeup_set(rid: int, log: Path) -> bool:
    """The scheduler process logged a wake-up at the reminder's due time (the timer table is its only schedule)."""
    due = db.session.scalar(select(TimerRecord.due_at).where(TimerRecord.instance_id == rid,
                                                             TimerRecord.element_id == "reminder_timer"))
    return f"timer wake-up at {due.isoformat()}" in log.read_text()


def test_in_process_scheduler_wakes_at_the_due_time(app, ctx):
    from app import jobs

    app.config["SCHEDULER_SYNC_SECONDS"] = 3600  # only the first sync runs: the wake-up must fire it
    rid = _forwarded_request_with_reminder_in(2.5)
    try:
        jobs.start_in_process(app)
        assert _wait_for(lambda: _reminder_state(rid) == "fired", 15)
    finally:
        jobs.shutdown()
        app.config["SCHEDULER_SYNC_SECONDS"] = 30
    assert _count(rid, "timer") == 1 and _count(rid, "notify_reminder") == 1


def test_killed_scheduler_restarts_and_the_due_timer_fires_once(app, ctx, tmp_path):
    rid = _forwarded_request_with_reminder_in(6)
    first = _start_scheduler(app, tmp_path / "first.log")
    try:
        assert _wait_for(lambda: _wakeup_set(rid, tmp_path / "first.log"), 20), (tmp_path / "first.log").read_text()
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    time.sleep(max(0.0, 6.5 - 0))  # the due time passes while no scheduler runs
    assert _reminder_state(rid) == "pending"
    second = _start_scheduler(app, tmp_path / "second.log")
    try:
        assert _wait_for(lambda: _reminder_state(rid) == "fired", 20), (tmp_path / "second.log").read_text()
        time.sleep(2.5)  # two more sync rounds: nothing fires again
    finally:
        second.send_signal(signal.SIGINT)
        second.wait(10)
    assert _count(rid, "timer") == 1 and _count(rid, "notify_reminder") == 1


def test_two_schedulers_fire_a_timer_once_and_both_keep_running(app, ctx, tmp_path):
    rid = _forwarded_request_with_reminder_in(5)
    procs = [_start_scheduler(app, tmp_path / f"s{i}.log") for i in range(2)]
    try:
        assert _wait_for(lambda: _reminder_state(rid) == "fired", 25)
        time.sleep(3)
        assert [p.poll() for p in procs] == [None, None], [(tmp_path / f"s{i}.log").read_text() for i in range(2)]
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait(10)
    assert _count(rid, "timer") == 1 and _count(rid, "notify_reminder") == 1
    logs = "".join((tmp_path / f"s{i}.log").read_text() for i in range(2))
    assert "Traceback" not in logs, logs


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
