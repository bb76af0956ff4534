"""退回 and 收回 racing a completion over real HTTP (a live threaded server, one thread per person): whichever takes
the instance's lock first wins, the other gets a clear 409 or acts on what is left, and the task rows always match
the engine's ready tasks."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.engine import runtime
from app.extensions import db
from app.models import ProcessInstance, TaskRecord
from app.models.task import TaskState
from app.services.people import org
from app.services.workflow import progress

from .parallel import APPROVE, post_json, race

PEOPLE = ("cs_handler", "cs_head", "nic_head", "student_head", "hr_head")
APPLICATION = {"purpose": "并发退回测试：核对学生与教职工身份", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True}


@pytest.fixture()
def tokens(app):
    with app.app_context():
        return {u: org.issue_api_token(u) for u in PEOPLE}


def _open(app, rid: int) -> dict[str, TaskRecord]:
    with app.app_context():
        rows = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                           TaskRecord.state == TaskState.ready)).all()
        db.session.expunge_all()
        return {f"{r.element_id}:{r.department_code}": r for r in rows}


def _consistent(app, rid: int) -> list[str]:
    """The projection equals the engine: the same ready tasks, each once."""
    with app.app_context():
        instance = db.session.get(ProcessInstance, rid)
        engine_ids = sorted(v.task_id for v in runtime.ready_user_tasks(progress.load(instance)))
        rows = sorted(db.session.scalars(select(TaskRecord.engine_task_id).where(
            TaskRecord.instance_id == rid, TaskRecord.state == TaskState.ready)))
        assert rows == engine_ids
        return sorted(db.session.scalars(select(TaskRecord.element_id).where(
            TaskRecord.instance_id == rid, TaskRecord.state == TaskState.ready)))


def _to_reviews(app, live_url: str, tokens: dict[str, str]) -> int:
    catalogue = {r["code"]: r["id"] for r in _get_catalogue(app)}
    body = {**APPLICATION, "resources": [{"resource_id": catalogue["student_basic"], "fields": ["xh"]},
                                         {"resource_id": catalogue["staff_basic"], "fields": ["gh"]}]}
    reply = post_json(live_url, "/api/v1/requests", tokens["cs_handler"], body)
    assert reply.status == 201, reply.body
    rid = reply.body["id"]
    for user in ("cs_head", "nic_head"):
        (task,) = _open(app, rid).values()
        assert post_json(live_url, f"/api/v1/tasks/{task.id}/complete", tokens[user], APPROVE).status == 200
    return rid


def _get_catalogue(app) -> list[dict]:
    from app.services.workflow import requests

    with app.app_context():
        return requests.catalogue()


@pytest.mark.parametrize("round_", range(3))
def test_a_return_racing_the_sibling_review_leaves_one_consistent_state(app, live_url, tokens, round_):
    rid = _to_reviews(app, live_url, tokens)
    reviews = _open(app, rid)
    student, hr = reviews["provider_review:student"], reviews["provider_review:hr"]
    back, done = race([
        lambda: post_json(live_url, f"/api/v1/tasks/{student.id}/return", tokens["student_head"],
                          {"target": "nic_review", "reason": "请复核"}),
        lambda: post_json(live_url, f"/api/v1/tasks/{hr.id}/complete", tokens["hr_head"], APPROVE)])
    assert back.status == 200, back.body  # the return wins either way: its own task was still open
    assert done.status in (200, 409), done.body
    if done.status == 409:
        assert "不在待办" in done.body["error"] or "已由" in done.body["error"]
    assert _consistent(app, rid) == ["nic_review"]


@pytest.mark.parametrize("round_", range(3))
def test_a_recall_racing_the_next_steps_completion_is_one_or_the_other(app, live_url, tokens, round_):
    catalogue = {r["code"]: r["id"] for r in _get_catalogue(app)}
    body = {**APPLICATION, "resources": [{"resource_id": catalogue["course_schedule"], "fields": ["kch"]}]}
    rid = post_json(live_url, "/api/v1/requests", tokens["cs_handler"], body).body["id"]
    (head_task,) = _open(app, rid).values()
    assert post_json(live_url, f"/api/v1/tasks/{head_task.id}/complete", tokens["cs_head"], APPROVE).status == 200
    (nic_task,) = _open(app, rid).values()
    recall, done = race([
        lambda: post_json(live_url, f"/api/v1/tasks/{head_task.id}/recall", tokens["cs_head"], {"reason": "更正"}),
        lambda: post_json(live_url, f"/api/v1/tasks/{nic_task.id}/complete", tokens["nic_head"], APPROVE)])
    assert sorted((recall.status, done.status)) == [200, 409], (recall.body, done.body)
    if recall.status == 200:
        assert _consistent(app, rid) == ["dept_head_sign"]
    else:
        assert "下一步已由郑主任（网信中心）办理" in recall.body["error"]
        assert _consistent(app, rid) == ["deliver"]
