"""Parallel approvals over real HTTP (a live threaded server on loopback, real sockets, one thread per approver):
20 providers approving one request at the same moment, a double completion, approvals racing the deadline timer."""
from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import time_machine
from sqlalchemy import func, select

from app.engine.runtime import workflow_data
from app.extensions import db
from app.models import AuditLog, ProcessDefinition, ProcessInstance, TaskRecord, TimerRecord
from app.models.types import CHINA_TZ
from app.services.people import org
from app.services.workflow import timers
from app.services.workflow.progress import load

from ..conftest import wipe
from .parallel import APPROVE, Reply, forward_request, make_providers, post_json, race, remove_providers

FIGURES: dict[str, float] = {}


@pytest.fixture()
def providers(app):
    def build(count: int):
        with app.app_context():
            return make_providers(count)

    yield build
    wipe(app)
    with app.app_context():
        remove_providers()


def _complete(live_url: str, task_id: int, token: str, body: dict | None = None) -> Reply:
    return post_json(live_url, f"/api/v1/tasks/{task_id}/complete", token, body or APPROVE)


def _dialect(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].split(":")[0].split("+")[0]


def _describe(replies) -> list:
    return [r if isinstance(r, Exception) else (r.status, r.body.get("error")) for r in replies]


def _reviews(rid: int) -> list[TaskRecord]:
    return db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                       TaskRecord.element_id == "provider_review")).all()


def _audit_count(rid: int, action: str, step_prefix: str = "") -> int:
    return db.session.scalar(select(func.count(AuditLog.id)).where(
        AuditLog.instance_id == rid, AuditLog.action == action, AuditLog.step.startswith(step_prefix)))


def test_twenty_providers_approve_the_same_request_at_the_same_moment(app, live_url, providers):
    fleet = providers(20)
    with app.app_context():
        request = forward_request(fleet)
        rid = request.instance_id
        version_before = db.session.get(ProcessInstance, rid).lock_version
    jobs = [partial(_complete, live_url, request.task_ids[p.department], p.token) for p in fleet]
    started = time.perf_counter()
    replies = race(jobs)
    FIGURES["20 parallel approvals (s)"] = elapsed = time.perf_counter() - started
    print(f"\n[{_dialect(app)}] 20 parallel approvals over HTTP: {elapsed:.2f} s wall, "
          f"slowest reply {max(r.ended - r.started for r in replies):.2f} s")

    assert [r.status for r in replies if not isinstance(r, Exception)] == [200] * 20, _describe(replies)
    with app.app_context():
        by_department = {r.department_code: r for r in _reviews(rid)}
        for provider in fleet:  # each review completed once, by its own provider
            record = by_department[provider.department]
            assert (record.state, record.completed_by_id) == ("completed", provider.user_id)
        assert _audit_count(rid, "complete", "数据提供部门审核") == 20
        assert _audit_count(rid, "error") == 0
        instance = db.session.get(ProcessInstance, rid)
        assert instance.status == "running"
        assert instance.lock_version == version_before + 20  # one save per approval, none lost, none repeated
        opinions = workflow_data(load(instance))["provider_opinions"]
        assert sorted(o["department"] for o in opinions) == sorted(p.department for p in fleet)
        # the process moved on exactly once: one delivery task, no provider review left open
        open_tasks = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                                 TaskRecord.state == "ready")).all()
        assert [t.element_id for t in open_tasks] == ["deliver"]
        assert db.session.scalar(select(func.count(TaskRecord.id)).where(
            TaskRecord.instance_id == rid, TaskRecord.element_id == "deliver")) == 1


def test_the_same_task_completed_twice_at_once_applies_once_and_names_who_did_it(app, live_url, providers):
    fleet = providers(2)
    with app.app_context():
        request = forward_request(fleet)
        first = fleet[0]
        second_name = f"{first.username}2"  # a second 负责人 of the same department
        org.create_user(second_name, "第二负责人", first.department, ["dept_head"], "demo12345", check_policy=False)
        second_token = org.issue_api_token(second_name)
    task_id = request.task_ids[first.department]
    for _round in range(2):  # the same person double-clicking, then two people of the department
        replies = race([partial(_complete, live_url, task_id, first.token),
                        partial(_complete, live_url, task_id, first.token if _round == 0 else second_token)])
        statuses = sorted(r.status for r in replies if not isinstance(r, Exception))
        if _round == 0:
            assert statuses == [200, 409], _describe(replies)
            loser = next(r for r in replies if r.status == 409)
            assert loser.body["error"].startswith(f"该任务已由{first.department} 负责人于 ")
            assert loser.body["error"].endswith("办理，不能重复办理")
        else:  # already done before this round: both are refused with the same words
            assert statuses == [409, 409], _describe(replies)
            assert all("已由" in r.body["error"] and "办理" in r.body["error"] for r in replies)
    with app.app_context():
        assert _audit_count(request.instance_id, "complete", "数据提供部门审核") == 1
        record = db.session.get(TaskRecord, task_id)
        assert record.completed_by_id == first.user_id
        # the other provider's review is untouched and still open
        assert db.session.get(TaskRecord, request.task_ids[fleet[1].department]).state == "ready"


@pytest.mark.parametrize("due_in", [None, 0.4], ids=["deadline-passed", "deadline-falls-mid-race"])
def test_approvals_racing_the_deadline_timer_either_count_or_go_overdue(app, live_url, providers, due_in):
    """A timer job fires while 20 providers approve. Deadline passed: the first to take the instance's lock
    decides: a timer (no approval counts) or one approval (it counts, and the engine escalates the rest at once).
    Deadline falling due mid-race (clock moved, ticking): approvals before it count, the rest go overdue."""
    fleet = providers(20)
    with app.app_context():
        request = forward_request(fleet, at=datetime(2025, 9, 1, 10, 0, tzinfo=CHINA_TZ))
        rid = request.instance_id
        timer_rows = {t.element_id: (t.id, t.due_at) for t in db.session.scalars(select(TimerRecord).where(
            TimerRecord.instance_id == rid, TimerRecord.state == "pending"))}
        assert set(timer_rows) == {"reminder_timer", "deadline_timer"}
    deadline = timer_rows["deadline_timer"][1]

    def fire(timer_id: int, due_at: datetime) -> bool:
        while datetime.now(UTC) < due_at:  # the scheduler's exact date job wakes at the due time
            time.sleep(0.002)
        with app.app_context():
            try:
                return timers.fire_timer(timer_id)
            finally:
                db.session.remove()

    jobs = [partial(fire, *timer_rows[t]) for t in ("reminder_timer", "deadline_timer")] + [
        partial(_complete, live_url, request.task_ids[p.department], p.token) for p in fleet]
    clock = time_machine.travel(deadline - timedelta(seconds=due_in), tick=True) if due_in else None
    if clock:
        clock.start()
    try:
        results = race(jobs)
    finally:
        if clock:
            clock.stop()
    fired, replies = results[:2], results[2:]
    assert not [r for r in fired if isinstance(r, Exception)], fired
    assert all(not isinstance(r, Exception) and r.status in (200, 409) for r in replies), _describe(replies)
    approved = {p.department for p, r in zip(fleet, replies, strict=True) if r.status == 200}
    refused = [r for r in replies if r.status == 409]
    assert all(r.body["error"] == "该任务已不在待办状态（流程已继续或已结束）" for r in refused), _describe(refused)
    print(f"\n[{_dialect(app)}] deadline {'passed' if due_in is None else 'mid-race'}: {len(approved)} approvals "
          f"counted, {len(refused)} overdue; timer jobs fired (reminder, deadline): {fired}")
    if due_in is None:
        assert len(approved) <= 1

    with app.app_context():
        reviews = {r.department_code: r for r in _reviews(rid)}
        assert {d for d, r in reviews.items() if r.state == "completed"} == approved
        assert {d for d, r in reviews.items() if r.state == "cancelled"} == {p.department for p in fleet} - approved
        assert _audit_count(rid, "complete", "数据提供部门审核") == len(approved)
        assert _audit_count(rid, "error") == 0 and _audit_count(rid, "timer") <= 2
        assert _audit_count(rid, "notify_overdue") == (1 if len(approved) < 20 else 0)
        instance = db.session.get(ProcessInstance, rid)
        assert instance.status == "running"
        open_tasks = [t.element_id for t in db.session.scalars(select(TaskRecord).where(
            TaskRecord.instance_id == rid, TaskRecord.state == "ready"))]
        cases = db.session.scalars(select(ProcessInstance).join(ProcessDefinition).where(
            ProcessDefinition.process_key == "violation_case")).all()
        if len(approved) < 20:  # the overdue path ran, once, for exactly the providers that had not answered
            assert open_tasks == ["nic_overdue"]
            assert len(cases) == 20 - len(approved)
            started = db.session.scalars(select(AuditLog).where(AuditLog.instance_id == rid,
                                                                AuditLog.action == "process_started")).all()
            assert sorted(a.detail["department"] for a in started) == sorted(
                {p.department for p in fleet} - approved)
        else:  # every approval came before the deadline: the timers were withdrawn with the review
            assert open_tasks == ["deliver"] and cases == []
        assert db.session.scalar(select(func.count(TaskRecord.id)).where(
            TaskRecord.instance_id == rid, TaskRecord.element_id.in_(["deliver", "nic_overdue"]))) == 1
        assert db.session.scalar(select(func.count(TimerRecord.id)).where(
            TimerRecord.instance_id == rid, TimerRecord.state == "pending")) == 0
