"""退回, 撤回 and 收回 (issue 11) over /api/v1 and the web pages, on share_request: who may, what the workflow, the
task rows, the timers, the history and the notifications become, and what is refused (403/404/409/422)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AuditLog, Notification, ProcessInstance, TaskRecord, TimerRecord, User
from app.models.task import TaskState
from app.models.timer import TimerState
from app.services.workflow import tasks

from .journey import act, application_form, my_task, request_json, submit
from .test_transfer_cc import COLLEAGUE, colleagues  # noqa: F401  (the fixture)

APPROVE = {"decision": "approve", "opinion": "同意"}
BOTH_PROVIDERS = {"student_basic": ["xh", "xm"], "staff_basic": ["gh"]}


def _api(b, url: str, body=None):
    return b.client.post(url, json=body if body is not None else {}, headers={"X-CSRFToken": b.csrf})


def _rows(app, model, *where, order=None) -> list:
    with app.app_context():
        query = select(model).where(*where).order_by(order if order is not None else model.id)
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _notes(app, username: str, event: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Notification.message).join(User).where(
            User.username == username, Notification.event == event).order_by(Notification.id)))


def _targets(b, task_id: int) -> list[dict]:
    resp = b.get(f"/api/v1/tasks/{task_id}/return-targets")
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["targets"]


def _to_providers(login, wanted=None) -> tuple[int, dict]:
    people = {u: login(u) for u in ("cs_handler", "cs_head", "nic_head", "student_head", "hr_head")}
    rid = submit(people["cs_handler"], wanted or BOTH_PROVIDERS)
    act(people["cs_head"], rid, APPROVE)
    act(people["nic_head"], rid, APPROVE)
    return rid, people


# --- 退回 -----------------------------------------------------------------------------------------------------------

def test_return_to_the_applicant_reopens_the_filled_form_for_them_with_the_banner(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    targets = _targets(head, task_id)
    assert [(t["step"], t["title"], t["completed_by"], t["completed_by_name"]) for t in targets] == [
        ("fill_application", "填写申请表并接受保密协议", "cs_handler", "王经办")]
    assert targets[0]["completed_at"]

    resp = _api(head, f"/api/v1/tasks/{task_id}/return", {"target": "fill_application", "reason": "用途需写明具体系统"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert (body["returned_to"], body["claimed_by"]) == ("fill_application", "cs_handler")
    # the head's task is cancelled (not completed); the applicant's step is open again, claimed for them
    (old,) = _rows(app, TaskRecord, TaskRecord.id == task_id)
    assert (old.state, old.completed_by_id) == (TaskState.cancelled, None)
    reopened = _rows(app, TaskRecord, TaskRecord.instance_id == rid, TaskRecord.state == TaskState.ready)
    assert [(r.element_id, r.id) for r in reopened] == [("fill_application", body["new_task_id"])]
    with app.app_context():
        assert db.session.get(TaskRecord, body["new_task_id"]).claimed_by.username == "cs_handler"
    # the applicant is told why; nobody else gets a new-task notice for it
    assert any("用途需写明具体系统" in m for m in _notes(app, "cs_handler", "returned"))
    assert _notes(app, "cs_handler", "new_task") == []
    # the form comes back filled in, under the 已退回 banner with the reason
    page = handler.get(f"/tasks/{body['new_task_id']}").get_data(as_text=True)
    assert 'id="returned"' in page and "用途需写明具体系统" in page and "李主任" in page
    assert "用于学院学生综合测评系统" in page
    view = request_json(handler, rid)
    assert view["returned"]["reason"] == "用途需写明具体系统"
    row = next(h for h in view["history"] if h["action"] == "return_to")
    assert (row["action_label"], row["user"], row["step"], row["opinion"]) == (
        "退回", "李主任", "部门负责人签署承诺", "用途需写明具体系统")
    assert row["summary"] == "「填写申请表并接受保密协议」（交王经办重新办理）"
    # resubmitted, the workflow goes on from there
    act(handler, rid, application_form(handler, {"course_schedule": ["kch"]}), form_key="share_application")
    assert [t["title"] for t in request_json(handler, rid)["current_tasks"]] == ["部门负责人签署承诺"]
    act(head, rid, APPROVE)
    assert [t["title"] for t in request_json(handler, rid)["current_tasks"]] == ["网信中心审核"]
    assert request_json(handler, rid)["returned"] is None


def test_return_to_the_department_head_by_engine_id_and_the_same_task_twice_is_409(app, login):
    handler, head, nic_head = login("cs_handler"), login("cs_head"), login("nic_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    act(head, rid, APPROVE)
    task_id = my_task(nic_head, rid)
    targets = _targets(nic_head, task_id)
    assert [t["step"] for t in targets] == ["dept_head_sign", "fill_application"]  # nearest first
    resp = _api(nic_head, f"/api/v1/tasks/{task_id}/return",
                {"target": targets[0]["target"], "reason": "请负责人确认承诺"})
    assert resp.status_code == 200, resp.get_json()
    new_id = resp.get_json()["new_task_id"]
    assert my_task(head, rid) == new_id  # in the head's inbox, claimed for them
    assert any("请负责人确认承诺" in m for m in _notes(app, "cs_head", "returned"))
    again = _api(nic_head, f"/api/v1/tasks/{task_id}/return", {"target": "dept_head_sign", "reason": "再退一次"})
    assert again.status_code == 409 and "不在待办" in again.get_json()["error"]
    late = _api(nic_head, f"/api/v1/tasks/{task_id}/complete", APPROVE)  # the returned task cannot be completed
    assert late.status_code == 409, late.get_json()
    assert _count(app, AuditLog, AuditLog.action == "return_to") == 1
    act(head, rid, APPROVE)
    assert [t["title"] for t in request_json(head, rid)["current_tasks"]] == ["网信中心审核"]


def test_return_from_a_provider_review_to_before_the_block_cancels_the_sibling_and_rearms_timers(app, login):
    rid, p = _to_providers(login)
    student_task = my_task(p["student_head"], rid)
    hr_task = my_task(p["hr_head"], rid)
    first_timers = _rows(app, TimerRecord, TimerRecord.instance_id == rid)
    assert len(first_timers) == 2 and {t.state for t in first_timers} == {TimerState.pending}
    targets = _targets(p["student_head"], student_task)
    assert [t["step"] for t in targets] == ["nic_review", "dept_head_sign", "fill_application"]  # no sibling review

    resp = _api(p["student_head"], f"/api/v1/tasks/{student_task}/return",
                {"target": "nic_review", "reason": "学号字段不属于本次可提供范围，请网信中心复核"})
    assert resp.status_code == 200, resp.get_json()
    states = {r.id: r.state for r in _rows(app, TaskRecord, TaskRecord.id.in_([student_task, hr_task]))}
    assert states == {student_task: TaskState.cancelled, hr_task: TaskState.cancelled}
    assert {t.state for t in _rows(app, TimerRecord, TimerRecord.instance_id == rid)} == {TimerState.cancelled}
    assert any("已撤销" in m for m in _notes(app, "hr_head", "task_cancelled"))  # the sibling's holder is told
    view = request_json(p["cs_handler"], rid)
    assert [t["title"] for t in view["current_tasks"]] == ["网信中心审核"]
    assert view["current_tasks"][0]["claimed_by"] == "郑主任（网信中心）"

    # approved again a week later: a new review block, fresh timers from the new forwarding date
    nic_task = my_task(p["nic_head"], rid)
    later = datetime.now(UTC) + timedelta(days=7)
    with time_machine.travel(later, tick=True), app.app_context():  # the service: a week outlives the session
        tasks.complete_task(nic_task, db.session.scalar(select(User.id).where(User.username == "nic_head")), APPROVE)
    timers = _rows(app, TimerRecord, TimerRecord.instance_id == rid)
    pending = [t for t in timers if t.state == TimerState.pending]
    assert len(timers) == 4 and len(pending) == 2
    assert {t.engine_task_id for t in pending}.isdisjoint({t.engine_task_id for t in first_timers})
    old_due = {t.element_id: t.due_at for t in first_timers}
    assert all(t.due_at - old_due[t.element_id] >= timedelta(days=5) for t in pending)
    assert my_task(p["student_head"], rid) not in (student_task, hr_task)
    act(p["student_head"], rid, {"decision": "approve", "opinion": "同意"})
    act(p["hr_head"], rid, APPROVE)
    view = request_json(p["cs_handler"], rid)
    assert [t["title"] for t in view["current_tasks"]] == ["网信中心提供数据"]
    assert sorted(o["department"] for o in view["refusals"]) == []


def test_return_is_refused_to_others_and_validates_its_input(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    url = f"/api/v1/tasks/{task_id}/return"
    for body, words in (({"target": "fill_application"}, "请填写退回理由"),
                        ({"target": "fill_application", "reason": "  "}, "请填写退回理由"),
                        ({"target": "fill_application", "reason": 3}, "应为文字"),
                        ({"target": "fill_application", "reason": "长" * 501}, "不能超过"),
                        ({"reason": "x"}, "请选择退回到的环节"),
                        ({"target": "nic_review", "reason": "x"}, "只能退回到本任务之前"),
                        ({"target": "dept_head_sign", "reason": "x"}, "只能退回到本任务之前"),
                        (["x"], "JSON 对象")):
        resp = _api(head, url, body)
        assert resp.status_code == 422, (body, resp.get_json())
        assert words in resp.get_json()["error"], (body, resp.get_json())
    for user in ("cs_handler", "student_head", "nic_head"):
        resp = _api(login(user), url, {"target": "fill_application", "reason": "x"})
        assert resp.status_code == 403 and "办理人" in resp.get_json()["error"], user
        assert login(user).get(f"/api/v1/tasks/{task_id}/return-targets").status_code == 403
    assert _api(head, "/api/v1/tasks/999999/return", {"target": "x", "reason": "x"}).status_code == 404
    assert _count(app, AuditLog, AuditLog.action == "return_to") == 0
    assert request_json(head, rid)["current_tasks"][0]["title"] == "部门负责人签署承诺"


def test_return_on_the_task_page_form(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    page = head.get(f"/tasks/{task_id}").get_data(as_text=True)
    picker = page.split('id="return-target"')[1].split("</select>")[0]
    assert "填写申请表并接受保密协议（王经办" in picker
    assert "<script>" not in page.split('id="return-section"')[1].split("</section>")[0]
    resp = head.post(f"/tasks/{task_id}/return", {"target": "fill_application", "reason": ""})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/tasks/{task_id}")
    resp = head.post(f"/tasks/{task_id}/return", {"target": "fill_application", "reason": "请补充联系人"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/requests/{rid}")
    assert request_json(handler, rid)["returned"]["reason"] == "请补充联系人"


# --- 撤回 -----------------------------------------------------------------------------------------------------------

def test_withdraw_while_nobody_acted_cancels_tasks_and_tells_the_holders(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    head_task = my_task(head, rid)
    view = request_json(handler, rid)
    assert view["can_withdraw"] is True and view["recall"] is None
    assert request_json(head, rid)["can_withdraw"] is False
    page = handler.get(f"/requests/{rid}").get_data(as_text=True)
    assert 'id="withdraw-form"' in page
    resp = _api(handler, f"/api/v1/requests/{rid}/withdraw", {"reason": "申请内容有误，重新提交"})
    assert resp.status_code == 200, resp.get_json()
    view = request_json(handler, rid)
    assert (view["status"], view["current_step"], view["current_tasks"]) == ("cancelled", "申请已撤回", [])
    assert view["status_reason"] == "申请人撤回：申请内容有误，重新提交"
    assert view["can_withdraw"] is False
    assert {r.state for r in _rows(app, TaskRecord, TaskRecord.instance_id == rid)} == {"completed", "cancelled"}
    assert any("申请内容有误" in m for m in _notes(app, "cs_head", "task_cancelled"))
    row = next(h for h in view["history"] if h["action"] == "withdraw")
    assert (row["action_label"], row["user"], row["opinion"]) == ("撤回申请", "王经办", "申请内容有误，重新提交")
    assert head.get("/api/v1/tasks").get_json()["tasks"] == []
    assert _api(head, f"/api/v1/tasks/{head_task}/complete", APPROVE).status_code == 409
    again = _api(handler, f"/api/v1/requests/{rid}/withdraw", {"reason": "x"})
    assert again.status_code == 409 and "不在办理中" in again.get_json()["error"]


def test_withdraw_is_refused_once_someone_acted_and_to_anyone_but_the_applicant(app, login):
    handler, head, nic_head = login("cs_handler"), login("cs_head"), login("nic_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    url = f"/api/v1/requests/{rid}/withdraw"
    assert _api(head, url, {"reason": "x"}).status_code == 403
    assert _api(login("me_handler"), url, {"reason": "x"}).status_code == 403  # may not even see it
    assert _api(handler, url, {"reason": ""}).status_code == 422
    assert _api(handler, "/api/v1/requests/999999/withdraw", {"reason": "x"}).status_code == 404
    # claimed: refused
    assert head.post(f"/tasks/{my_task(head, rid)}/claim").status_code == 302
    resp = _api(handler, url, {"reason": "x"})
    assert resp.status_code == 409 and "已由李主任签收" in resp.get_json()["error"]
    assert request_json(handler, rid)["can_withdraw"] is False
    # approved: refused, and the page offers nothing
    act(head, rid, APPROVE)
    resp = _api(handler, url, {"reason": "x"})
    assert resp.status_code == 409 and "已由李主任办理" in resp.get_json()["error"]
    assert 'id="withdraw-form"' not in handler.get(f"/requests/{rid}").get_data(as_text=True)
    resp = handler.post(f"/requests/{rid}/withdraw", {"reason": "x"})
    assert resp.status_code == 302
    assert request_json(handler, rid)["status"] == "running"
    assert _count(app, AuditLog, AuditLog.action == "withdraw") == 0
    assert my_task(nic_head, rid)


def test_withdraw_after_a_return_to_the_applicant_is_refused(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    resp = _api(head, f"/api/v1/tasks/{task_id}/return", {"target": "fill_application", "reason": "改"})
    assert resp.status_code == 200
    resp = _api(handler, f"/api/v1/requests/{rid}/withdraw", {"reason": "x"})
    assert resp.status_code == 409  # the applicant's own form offers 撤回申请 (the diagram's path) instead


# --- 收回 -----------------------------------------------------------------------------------------------------------

def test_recall_my_decision_while_the_next_step_is_untouched(app, login):
    handler, head, nic_head = login("cs_handler"), login("cs_head"), login("nic_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    head_task = act(head, rid, APPROVE)
    nic_task = my_task(nic_head, rid)
    view = request_json(head, rid)
    assert view["recall"] == {"task_id": head_task, "title": "部门负责人签署承诺"}
    assert request_json(handler, rid)["recall"] is None
    assert 'id="recall-form"' in head.get(f"/requests/{rid}").get_data(as_text=True)

    resp = _api(head, f"/api/v1/tasks/{head_task}/recall", {"reason": "意见写错了"})
    assert resp.status_code == 200, resp.get_json()
    new_id = resp.get_json()["new_task_id"]
    assert my_task(head, rid) == new_id
    with app.app_context():
        assert db.session.get(TaskRecord, new_id).claimed_by.username == "cs_head"
        assert db.session.get(TaskRecord, head_task).state == TaskState.completed  # the first round stays on record
        assert db.session.get(TaskRecord, nic_task).state == TaskState.cancelled
    assert any("收回" in m for m in _notes(app, "nic_head", "task_cancelled"))
    view = request_json(head, rid)
    assert view["returned"] is None  # a recall is no 退回
    row = next(h for h in view["history"] if h["action"] == "recall")
    assert (row["action_label"], row["user"], row["opinion"]) == ("收回", "李主任", "意见写错了")
    again = _api(head, f"/api/v1/tasks/{head_task}/recall", {"reason": "再收回"})
    assert again.status_code == 409 and "已被退回或收回" in again.get_json()["error"]
    act(head, rid, {"decision": "approve", "opinion": "同意（更正）"})
    assert [t["title"] for t in request_json(head, rid)["current_tasks"]] == ["网信中心审核"]


def test_recall_is_refused_once_the_next_step_is_claimed_or_done_and_to_others(app, login):
    handler, head, nic_head = login("cs_handler"), login("cs_head"), login("nic_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    head_task = act(head, rid, APPROVE)
    url = f"/api/v1/tasks/{head_task}/recall"
    assert _api(nic_head, url, {"reason": "x"}).status_code == 403
    assert _api(handler, url, {"reason": "x"}).status_code == 403
    assert _api(head, url, {}).status_code == 422
    assert _api(head, "/api/v1/tasks/999999/recall", {"reason": "x"}).status_code == 404
    nic_task = my_task(nic_head, rid)
    assert nic_head.post(f"/tasks/{nic_task}/claim").status_code == 302
    resp = _api(head, url, {"reason": "x"})
    assert resp.status_code == 409 and "签收" in resp.get_json()["error"]
    assert request_json(head, rid)["recall"] is None
    act(nic_head, rid, APPROVE)
    resp = _api(head, url, {"reason": "x"})
    assert resp.status_code == 409 and "下一步已由郑主任（网信中心）办理" in resp.get_json()["error"]
    resp = head.post(f"/tasks/{head_task}/recall", {"reason": "x", "instance_id": rid})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/requests/{rid}")
    assert _count(app, AuditLog, AuditLog.action == "recall") == 0


def test_recall_of_one_provider_review_is_refused(app, login):
    rid, p = _to_providers(login)
    student_task = act(p["student_head"], rid, {"decision": "approve", "opinion": "同意"})
    resp = _api(p["student_head"], f"/api/v1/tasks/{student_task}/recall", {"reason": "x"})
    assert resp.status_code == 409 and "不能收回" in resp.get_json()["error"]
    # the head of 网信中心 recalls the forwarding: both reviews (one done, one open) go, timers too
    with app.app_context():
        nic_task = db.session.scalar(select(TaskRecord.id).where(TaskRecord.instance_id == rid,
                                                                 TaskRecord.element_id == "nic_review"))
    resp = _api(p["nic_head"], f"/api/v1/tasks/{nic_task}/recall", {"reason": "x"})
    assert resp.status_code == 409 and "下一步已由张处长（学生处）办理" in resp.get_json()["error"]


def test_recall_of_the_forwarding_drops_both_reviews_and_their_timers(app, login):
    rid, p = _to_providers(login)
    with app.app_context():
        nic_task = db.session.scalar(select(TaskRecord.id).where(TaskRecord.instance_id == rid,
                                                                 TaskRecord.element_id == "nic_review"))
    assert request_json(p["nic_head"], rid)["recall"]["task_id"] == nic_task
    resp = _api(p["nic_head"], f"/api/v1/tasks/{nic_task}/recall", {"reason": "提供部门确定有误"})
    assert resp.status_code == 200, resp.get_json()
    view = request_json(p["cs_handler"], rid)
    assert [(t["title"], t["claimed_by"]) for t in view["current_tasks"]] == [("网信中心审核", "郑主任（网信中心）")]
    assert {t.state for t in _rows(app, TimerRecord, TimerRecord.instance_id == rid)} == {TimerState.cancelled}
    with app.app_context():
        instance = db.session.get(ProcessInstance, rid)
        assert instance.status == "running" and instance.current_step == "网信中心审核"


def test_return_to_a_step_whose_former_holder_left_goes_to_the_steps_candidates(app, login, colleagues):  # noqa: F811
    handler, nic_head = login("cs_handler"), login("nic_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    act(login(COLLEAGUE), rid, APPROVE)  # 孙副主任 signs for the department, then leaves
    with app.app_context():
        db.session.execute(update(User).where(User.username == COLLEAGUE).values(active=False))
        db.session.commit()
    task_id = my_task(nic_head, rid)
    resp = _api(nic_head, f"/api/v1/tasks/{task_id}/return", {"target": "dept_head_sign", "reason": "请重新签署"})
    assert resp.status_code == 200 and resp.get_json()["claimed_by"] is None
    view = request_json(handler, rid)
    assert [(t["title"], t["claimed_by"]) for t in view["current_tasks"]] == [("部门负责人签署承诺", None)]
    assert any("部门负责人签署承诺" in m for m in _notes(app, "cs_head", "new_task"))  # the step's candidates
    assert my_task(login("cs_head"), rid) == resp.get_json()["new_task_id"]


def test_return_from_after_the_review_block_to_before_it_runs_the_whole_block_again(app, login):
    rid, p = _to_providers(login)
    act(p["student_head"], rid, {"decision": "refuse", "opinion": "敏感", "legal_basis": "《个人信息保护法》"})
    act(p["hr_head"], rid, APPROVE)
    refusal_task = my_task(p["cs_handler"], rid)  # 申请部门处理不予提供意见
    targets = _targets(p["cs_handler"], refusal_task)
    assert [t["step"] for t in targets] == ["nic_review", "dept_head_sign", "fill_application"]
    resp = _api(p["cs_handler"], f"/api/v1/tasks/{refusal_task}/return",
                {"target": "nic_review", "reason": "请网信中心先与学生处沟通"})
    assert resp.status_code == 200, resp.get_json()
    assert request_json(p["cs_handler"], rid)["refusals"] == []  # the earlier round's opinions are gone
    act(p["nic_head"], rid, APPROVE)
    view = request_json(p["cs_handler"], rid)
    assert sorted(t["department"] for t in view["current_tasks"]) == ["人事处", "学生处"]  # both review again
    assert len([t for t in _rows(app, TimerRecord, TimerRecord.instance_id == rid)
                if t.state == TimerState.pending]) == 2
    act(p["student_head"], rid, APPROVE)
    act(p["hr_head"], rid, APPROVE)
    assert [t["title"] for t in request_json(p["cs_handler"], rid)["current_tasks"]] == ["网信中心提供数据"]
