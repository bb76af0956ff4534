"""The per-instance lock with real threads on the real database (SQLite file or PostgreSQL): a second writer waits
and then works on what the first committed; suspend and cancel racing parallel approvals; the bounded retry."""
from __future__ import annotations

import threading
import time
from functools import partial

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.extensions import db
from app.models import AuditLog, ProcessInstance, TaskRecord, TimerRecord
from app.services.errors import Busy, Conflict
from app.services.workflow import instance_lock, instances, tasks

from ..conftest import wipe
from ..web.parallel import APPROVE, forward_request, make_providers, race, remove_providers
from .test_services import _submit, _uid


@pytest.fixture()
def fleet(app, ctx):
    yield forward_request(make_providers(20))
    db.session.rollback()
    wipe(app)
    remove_providers()


def _approve(app, task_id: int, user_id: int) -> str:
    with app.app_context():
        try:
            tasks.complete_task(task_id, user_id, APPROVE)
            return "ok"
        except Conflict as exc:
            return exc.message
        finally:
            db.session.remove()


def _completed_reviews(rid: int) -> set[str]:
    return set(db.session.scalars(select(TaskRecord.department_code).where(
        TaskRecord.instance_id == rid, TaskRecord.element_id == "provider_review", TaskRecord.state == "completed")))


def _review_completions(rid: int) -> int:
    return db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.instance_id == rid, AuditLog.action == "complete", AuditLog.step.startswith("数据提供部门审核")))


def test_a_second_writer_waits_for_the_lock_then_sees_what_the_first_committed(app, ctx):
    rid = _submit("course_schedule")
    version = db.session.get(ProcessInstance, rid).lock_version
    db.session.commit()
    held, seen = threading.Event(), {}

    def first() -> None:
        with app.app_context():
            instance = instance_lock.lock_instance(rid)
            held.set()
            time.sleep(0.5)
            instance.current_step = "第一个写入者"
            db.session.commit()
            db.session.remove()

    def second() -> None:
        with app.app_context():
            stale = db.session.get(ProcessInstance, rid)  # an old copy in this session's identity map
            assert stale.current_step != "第一个写入者"
            held.wait(10)
            started = time.perf_counter()
            instance = instance_lock.lock_instance(rid)
            seen.update(waited=time.perf_counter() - started, step=instance.current_step,
                        version=instance.lock_version, same=instance is stale)
            db.session.rollback()
            db.session.remove()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen["waited"] >= 0.3  # it queued behind the first writer
    assert (seen["step"], seen["version"]) == ("第一个写入者", version + 1)  # and read the committed row again
    assert seen["same"]


def test_suspend_racing_twenty_approvals_then_resume(app, fleet):
    rid = fleet.instance_id
    admin = _uid("admin")

    def suspend() -> str:
        with app.app_context():
            try:
                instances.suspend(rid, admin, "并发暂停测试")
                return "ok"
            finally:
                db.session.remove()

    jobs = [suspend] + [partial(_approve, app, fleet.task_ids[p.department], p.user_id) for p in fleet.providers]
    outcome, *answers = race(jobs)
    assert outcome == "ok"
    assert set(answers) <= {"ok", "该申请当前状态为「已暂停」，不能办理"}, answers
    approved = {p.department for p, a in zip(fleet.providers, answers, strict=True) if a == "ok"}
    db.session.expire_all()
    assert _completed_reviews(rid) == approved
    assert db.session.get(ProcessInstance, rid).status == "suspended"

    instances.resume(rid, admin)
    rest = [partial(_approve, app, fleet.task_ids[p.department], p.user_id) for p in fleet.providers
            if p.department not in approved]
    assert set(race(rest)) <= {"ok"}
    db.session.expire_all()
    assert len(_completed_reviews(rid)) == 20
    assert [t.element_id for t in db.session.scalars(select(TaskRecord).where(
        TaskRecord.instance_id == rid, TaskRecord.state == "ready"))] == ["deliver"]
    assert _review_completions(rid) == 20


def test_cancel_racing_twenty_approvals_leaves_nothing_open(app, fleet):
    rid = fleet.instance_id

    def cancel() -> str:
        with app.app_context():
            try:
                instances.cancel(rid, _uid("admin"), "并发取消测试")
                return "ok"
            finally:
                db.session.remove()

    jobs = [partial(_approve, app, fleet.task_ids[p.department], p.user_id) for p in fleet.providers] + [cancel]
    *answers, outcome = race(jobs)
    allowed = {"ok", "该任务已不在待办状态（流程已继续或已结束）", "该申请当前状态为「已取消」，不能办理"}
    assert outcome == "ok"  # even after all twenty approvals the process is open (delivery) and can be cancelled
    assert set(answers) <= allowed, answers
    approved = {p.department for p, a in zip(fleet.providers, answers, strict=True) if a == "ok"}
    db.session.expire_all()
    assert _completed_reviews(rid) == approved
    instance = db.session.get(ProcessInstance, rid)
    assert instance.status == "cancelled"
    assert db.session.scalar(select(func.count(TaskRecord.id)).where(
        TaskRecord.instance_id == rid, TaskRecord.state == "ready")) == 0
    assert db.session.scalar(select(func.count(TimerRecord.id)).where(
        TimerRecord.instance_id == rid, TimerRecord.state == "pending")) == 0
    assert _review_completions(rid) == len(approved)


class _PgDeadlock(Exception):
    sqlstate = "40P01"


def test_run_locked_retries_what_the_database_asks_to_retry_and_nothing_else(ctx):
    rid = _submit("course_schedule")
    updated_at = db.session.get(ProcessInstance, rid).updated_at
    db.session.commit()
    calls: list[int] = []

    def stale_once(instance: ProcessInstance) -> str:
        calls.append(instance.id)
        if len(calls) == 1:
            raise StaleDataError("another writer")
        return "done"

    assert instance_lock.run_locked(rid, stale_once) == "done" and len(calls) == 2

    calls.clear()

    def always_locked(instance: ProcessInstance) -> None:
        calls.append(instance.id)
        raise OperationalError("UPDATE ...", {}, Exception("database is locked"))

    with pytest.raises(Busy):
        instance_lock.run_locked(rid, always_locked)
    assert len(calls) == instance_lock.ATTEMPTS

    calls.clear()

    def broken(instance: ProcessInstance) -> None:
        calls.append(instance.id)
        raise OperationalError("SELECT ...", {}, Exception("no such column: nope"))

    with pytest.raises(OperationalError):
        instance_lock.run_locked(rid, broken)
    assert len(calls) == 1
    assert instance_lock.retryable(OperationalError("x", {}, _PgDeadlock("deadlock detected")))

    def refused_after_writing(instance: ProcessInstance) -> None:
        instance.current_step = "不应保存"
        db.session.flush()
        raise Conflict("拒绝")

    with pytest.raises(Conflict):
        instance_lock.run_locked(rid, refused_after_writing)
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, rid)
    assert instance.current_step != "不应保存" and instance.updated_at == updated_at  # rolled back, lock released
    assert instance_lock.lock_instance(rid).id == rid
    db.session.rollback()


def test_file_sqlite_databases_run_in_wal_mode(app, ctx):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
