"""批量审批 (issue 11): one decision and opinion for several plain approve/return steps, over the API and the inbox.
Each task is a normal completion (complete_task: lock, engine step, audit); one failing task leaves the others."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, TaskRecord
from app.models.task import TaskState
from app.services.workflow import task_forms, tasks

from .journey import resource_ids


@pytest.fixture()
def catalog(login):
    return resource_ids(login("cs_handler"))


def _submit(client, headers, catalog, code: str = "org_units", fields: tuple[str, ...] = ("jgdm",)) -> int:
    body = {"purpose": "核对学院组织机构代码", "head_name": "李主任", "head_phone": "13900000000",
            "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True,
            "resources": [{"resource_id": catalog[code]["id"], "fields": list(fields)}]}
    resp = client.post("/api/v1/requests", json=body, headers=headers)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def _task(client, headers, rid: int) -> int:
    mine = [t for t in client.get("/api/v1/tasks?per_page=200", headers=headers).get_json()["tasks"]
            if t["instance_id"] == rid]
    assert len(mine) == 1, mine
    return mine[0]["task_id"]


def _complete(client, headers, rid: int, body: dict) -> None:
    resp = client.post(f"/api/v1/tasks/{_task(client, headers, rid)}/complete", json=body, headers=headers)
    assert resp.status_code == 200, resp.get_json()


def _batch(client, headers, task_ids, decision="approve", opinion=None):
    body = {"task_ids": task_ids, "decision": decision}
    if opinion is not None:
        body["opinion"] = opinion
    return client.post("/api/v1/tasks/batch", json=body, headers=headers)


def _states(app, task_ids) -> dict[int, TaskState]:
    with app.app_context():
        rows = db.session.execute(select(TaskRecord.id, TaskRecord.state).where(TaskRecord.id.in_(task_ids))).all()
        return {task_id: state for task_id, state in rows}


def _completions(app, task_ids) -> list[AuditLog]:
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "complete",
                                                         AuditLog.task_id.in_(task_ids)).order_by(AuditLog.id)).all()
        db.session.expunge_all()
        return rows


def test_three_requests_approved_in_one_batch_move_on_each_audited(app, client, catalog, token_for):
    h, head, nic = token_for("cs_handler"), token_for("cs_head"), token_for("nic_head")
    rids = [_submit(client, h, catalog) for _ in range(3)]
    ids = [_task(client, head, rid) for rid in rids]
    resp = _batch(client, head, ids, "approve", "同意，签署部门承诺")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["completed"] == 3 and body["failed"] == 0
    expected = [(t, True, r) for t, r in zip(ids, rids, strict=True)]
    assert [(r["task_id"], r["ok"], r["instance_id"]) for r in body["results"]] == expected
    assert set(_states(app, ids).values()) == {TaskState.completed}
    nic_tasks = {t["instance_id"]: t["form_key"] for t in client.get("/api/v1/tasks", headers=nic).get_json()["tasks"]}
    assert all(nic_tasks.get(rid) == "nic_review" for rid in rids)  # all three moved on to 网信中心审核
    audited = _completions(app, ids)
    assert sorted(a.task_id for a in audited) == sorted(ids)
    assert {a.opinion for a in audited} == {"同意，签署部门承诺"}
    assert {a.detail["result"]["decision"] for a in audited} == {"approve"}
    assert {a.detail["result"]["by"] for a in audited} == {"cs_head"}
    history = client.get(f"/api/v1/requests/{rids[1]}", headers=h).get_json()["history"]
    assert [x["action"] for x in history] == ["submit", "complete"] and history[1]["opinion"] == "同意，签署部门承诺"
    assert client.get("/api/v1/tasks", headers=head).get_json()["tasks"] == []


def test_another_departments_task_gets_403_a_done_one_409_and_the_others_complete(app, client, catalog, token_for):
    cs, me, head = token_for("cs_handler"), token_for("me_handler"), token_for("cs_head")
    mine = [_submit(client, cs, catalog) for _ in range(2)]
    theirs = _submit(client, me, catalog)
    t1, t2 = (_task(client, head, rid) for rid in mine)
    with app.app_context():  # the 机电工程学院 head's step: not in cs_head's inbox, its id guessed
        foreign = db.session.scalar(select(TaskRecord.id).where(TaskRecord.instance_id == theirs,
                                                                TaskRecord.state == TaskState.ready))
    resp = _batch(client, head, [t1, foreign, t2, 99999])
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [(r["task_id"], r["ok"], r.get("status")) for r in results] == [
        (t1, True, None), (foreign, False, 403), (t2, True, None), (99999, False, 404)]
    assert results[1]["error"] == "您不是该任务的办理人" and resp.get_json()["completed"] == 2
    assert _states(app, [foreign])[foreign] == TaskState.ready  # untouched
    again = _batch(client, head, [t1]).get_json()
    assert again["completed"] == 0 and again["results"][0]["status"] == 409
    assert "不能重复办理" in again["results"][0]["error"]
    assert len(_completions(app, [t1, t2, foreign])) == 2  # the repeat audited nothing


def test_return_needs_an_opinion_for_the_whole_batch_and_returns_with_one(app, client, catalog, token_for):
    cs, head = token_for("cs_handler"), token_for("cs_head")
    rids = [_submit(client, cs, catalog) for _ in range(2)]
    ids = [_task(client, head, rid) for rid in rids]
    for opinion in (None, "", "   "):
        resp = _batch(client, head, ids, "return", opinion)
        assert resp.status_code == 422, resp.get_json()
        assert resp.get_json()["errors"] == {"opinion": "退回须填写审批意见"}
    assert set(_states(app, ids).values()) == {TaskState.ready} and _completions(app, ids) == []
    resp = _batch(client, head, ids, "return", "请写明核对的范围")
    assert resp.get_json()["completed"] == 2
    # back at the applicant: the 申请表 is no plain decision, so it cannot be batched
    returned = [_task(client, cs, rid) for rid in rids]
    resp = _batch(client, cs, returned, "approve")
    assert resp.status_code == 200
    assert [(r["ok"], r["status"], r["error"]) for r in resp.get_json()["results"]] == [
        (False, 422, "该环节不能批量办理")] * 2
    assert set(_states(app, returned).values()) == {TaskState.ready}


def test_a_step_that_is_not_batchable_reports_422_while_the_others_proceed(app, client, catalog, token_for):
    cs, head, nic, provider = (token_for(u) for u in ("cs_handler", "cs_head", "nic_head", "student_head"))
    refused = _submit(client, cs, catalog, "student_basic", ("xh",))
    _complete(client, head, refused, {"decision": "approve"})
    _complete(client, nic, refused, {"decision": "approve"})
    _complete(client, provider, refused, {"decision": "refuse", "opinion": "涉及个人信息",
                                          "legal_basis": "《个人信息保护法》第二十八条"})
    _complete(client, cs, refused, {"action": "object", "reason": "仅用于核对学籍，已最小化"})
    plain = _submit(client, cs, catalog)
    _complete(client, head, plain, {"decision": "approve"})
    coordination, review = _task(client, nic, refused), _task(client, nic, plain)
    resp = _batch(client, nic, [coordination, review], "approve", "同意")
    results = resp.get_json()["results"]
    assert results[0] == {"task_id": coordination, "ok": False, "status": 422, "error": "该环节不能批量办理",
                          "errors": {"task_id": "该环节不能批量办理"}}
    assert results[1]["ok"] is True
    assert _states(app, [coordination, review]) == {coordination: TaskState.ready, review: TaskState.completed}


def test_batch_size_and_hostile_bodies_get_422_and_change_nothing(app, client, catalog, token_for, login):
    cs, head = token_for("cs_handler"), token_for("cs_head")
    task_id = _task(client, head, _submit(client, cs, catalog))
    cases = [
        ({"task_ids": list(range(1, 52)), "decision": "approve"}, "task_ids", "一次最多批量办理 50 项"),
        ({"task_ids": [], "decision": "approve"}, "task_ids", "请选择要批量办理的任务"),
        ({"task_ids": str(task_id), "decision": "approve"}, "task_ids", "请选择要批量办理的任务"),
        ({"task_ids": [task_id, "１"], "decision": "approve"}, "task_ids", "任务编号无效"),
        ({"task_ids": [task_id, True], "decision": "approve"}, "task_ids", "任务编号无效"),
        ({"task_ids": [task_id, 2**40], "decision": "approve"}, "task_ids", "任务编号无效"),
        ({"task_ids": [task_id], "decision": "provide"}, "decision", "请选择「同意」或「退回」"),
        ({"task_ids": [task_id], "decision": ["approve"]}, "decision", "请选择「同意」或「退回」"),
        ({"task_ids": [task_id], "decision": "approve", "opinion": {"x": 1}}, "opinion", "「审批意见」应为文本"),
        ({"task_ids": [task_id], "decision": "approve", "opinion": "长" * 1001}, "opinion",
         "「审批意见」不能超过 1000 个字"),
    ]
    for body, field, message in cases:
        resp = client.post("/api/v1/tasks/batch", json=body, headers=head)
        assert resp.status_code == 422, (body, resp.get_json())
        assert resp.get_json()["errors"][field] == message
    resp = client.post("/api/v1/tasks/batch", data="[1, 2]", headers={**head, "Content-Type": "application/json"})
    assert resp.status_code == 422
    assert client.post("/api/v1/tasks/batch", json={"task_ids": [task_id], "decision": "approve"}).status_code == 401
    session = login("cs_head")  # a session write without X-CSRFToken
    resp = session.client.post("/api/v1/tasks/batch", json={"task_ids": [task_id], "decision": "approve"})
    assert resp.status_code == 400
    assert _states(app, [task_id])[task_id] == TaskState.ready
    # exactly 50 is allowed; duplicates count once
    resp = client.post("/api/v1/tasks/batch", json={"task_ids": [task_id] * 50, "decision": "approve"}, headers=head)
    assert resp.status_code == 200 and resp.get_json()["completed"] == 1 and len(resp.get_json()["results"]) == 1


def test_web_inbox_ticks_eligible_rows_and_completes_them(app, client, catalog, token_for, login):
    cs = token_for("cs_handler")
    rids = [_submit(client, cs, catalog) for _ in range(3)]
    theirs = _submit(client, token_for("me_handler"), catalog)
    head = login("cs_head")
    html = head.get("/inbox").get_data(as_text=True)
    assert html.count('class="batch-pick"') == 3 and 'id="batch-form"' in html and _ticked(html) == set()
    assert "<script>" not in html and "js/inbox_batch.js" in html
    ids = [_task(client, token_for("cs_head"), rid) for rid in rids]
    with app.app_context():
        foreign = db.session.scalar(select(TaskRecord.id).where(TaskRecord.instance_id == theirs,
                                                                TaskRecord.state == TaskState.ready))

    resp = head.post("/inbox/batch", {"task_id": [str(ids[0]), str(ids[1])], "decision": "return"})
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "退回须填写审批意见" in page
    assert _ticked(page) == {ids[0], ids[1]}  # the choice survives the refusal, with 退回 still chosen
    assert re.search(r'value="return"[^>]*checked', page)
    assert _completions(app, ids) == []

    resp = head.post("/inbox/batch", {"task_id": [str(ids[0]), str(foreign), str(ids[1])], "decision": "approve",
                                      "opinion": "同意"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inbox")
    page = head.get("/inbox").get_data(as_text=True)
    assert "已批量办理 2 项" in page and f"任务 {foreign} 未办理：您不是该任务的办理人" in page
    assert page.count('class="batch-pick"') == 1 and f'data-task-id="{ids[2]}"' in page
    assert f'data-task-id="{ids[0]}"' not in page and f'data-task-id="{ids[1]}"' not in page
    assert [a.task_id for a in _completions(app, ids)] == ids[:2]
    assert _states(app, [foreign])[foreign] == TaskState.ready

    resp = head.post("/inbox/batch", {"task_id": ["abc"], "decision": "approve"})
    assert resp.status_code == 422 and "任务编号无效" in resp.get_data(as_text=True)
    assert head.client.post("/inbox/batch", data={"task_id": [str(ids[2])], "decision": "approve"}).status_code == 400


def test_inbox_without_batchable_rows_has_no_batch_form(client, catalog, token_for, login):
    cs, head = token_for("cs_handler"), token_for("cs_head")
    rid = _submit(client, cs, catalog)
    _complete(client, head, rid, {"decision": "return", "opinion": "请补充用途"})
    html = login("cs_handler").get("/inbox").get_data(as_text=True)
    assert f"#{rid}" in html and "batch-pick" not in html and 'id="batch-form"' not in html
    tasks_json = client.get("/api/v1/tasks", headers=cs).get_json()["tasks"]
    assert [t["batchable"] for t in tasks_json] == [False]


def _ticked(page: str) -> set[int]:
    return {int(m.group(1)) for m in re.finditer(r'<input type="checkbox" name="task_id" value="(\d+)"[^>]*>', page)
            if " checked" in m.group(0)}


def _write(directory: dict, key: str, form: dict) -> None:
    directory[key] = {"key": key, "title": key, **form}


def test_which_forms_are_batchable(app):
    with app.app_context():
        shipped = {key for key in task_forms.form_keys() if task_forms.batch_fields(key)}
        assert shipped == {"dept_head_commitment", "nic_review"}
        assert task_forms.batch_fields("nic_review") == ("decision", "opinion")
        assert task_forms.batch_fields("no_such_form") is None and task_forms.batch_fields(None) is None
    decision = {"name": "decision", "label": "意见", "type": "radio", "required": True,
                "options": [{"value": "approve", "label": "同意"}, {"value": "return", "label": "退回"}]}
    opinion = {"name": "opinion", "label": "意见", "type": "textarea", "max_length": 1000,
               "required_if": {"decision": "return"}}
    plain = {"batchable": True, "opinion_field": "opinion"}
    forms: dict[str, dict] = {}  # forms are stored versions now: the rule is checked on the definitions
    _write(forms, "ok", {**plain, "fields": [decision, opinion]})
    free_opinion = {k: v for k, v in opinion.items() if k != "required_if"}
    _write(forms, "ok_free_opinion", {**plain, "fields": [decision, free_opinion]})
    _write(forms, "unmarked", {"opinion_field": "opinion", "fields": [decision, opinion]})
    _write(forms, "extra_field", {**plain, "fields": [decision, opinion, {**opinion, "name": "legal_basis"}]})
    _write(forms, "refuse", {**plain, "fields": [
        {**decision, "options": [{"value": "approve", "label": "同意"}, {"value": "refuse", "label": "不予提供"}]},
        opinion]})
    _write(forms, "opinion_required", {**plain, "fields": [decision, {**opinion, "required": True}]})
    _write(forms, "opinion_min", {**plain, "fields": [decision, {**opinion, "min_length": 5}]})
    _write(forms, "other_opinion", {**plain, "opinion_field": "note", "fields": [decision, opinion]})
    _write(forms, "withdraw", {**plain, "allow_withdraw": True, "fields": [decision, opinion]})
    _write(forms, "marked_string", {**plain, "batchable": "true", "fields": [decision, opinion]})
    got = {key: task_forms.batch_fields_of(form) for key, form in forms.items()}
    assert {k for k, v in got.items() if v} == {"ok", "ok_free_opinion"}
    assert tasks.BATCH_LIMIT == 50
