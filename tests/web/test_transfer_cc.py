"""转办 and 抄送 (issue 11) over the web pages and /api/v1: who may, what is stored, what the history and the
recipients see, and that a copy lets its recipient see the request (and nothing else does)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AuditLog, CarbonCopy, Notification, TaskRecord, User
from app.services.people import org

from .journey import act, my_task, request_json, submit

APPROVE = {"decision": "approve", "opinion": "同意"}
COLLEAGUE, AWAY = "cs_head_tr", "cs_head_off"


@pytest.fixture()
def colleagues(app):
    """A second head of 计算机与通信学院 (may hold the head's task) and a disabled one; disabled again afterwards,
    as other tests count the department's heads."""
    with app.app_context():
        for username, name in ((COLLEAGUE, "孙副主任"), (AWAY, "钱副主任")):
            if db.session.scalar(select(User.id).where(User.username == username)) is None:
                org.create_user(username, name, "college_cs", ["dept_head"], "demo12345", check_policy=False)
        db.session.execute(update(User).where(User.username == COLLEAGUE).values(active=True))
        db.session.execute(update(User).where(User.username == AWAY).values(active=False))
        db.session.commit()
    yield
    with app.app_context():
        db.session.execute(update(User).where(User.username.in_([COLLEAGUE, AWAY])).values(active=False))
        db.session.commit()


def _api(b, url: str, body):
    return b.client.post(url, json=body, headers={"X-CSRFToken": b.csrf})


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_transfer_on_the_task_page_hands_the_task_to_the_colleague(app, login, colleagues):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    page = head.get(f"/tasks/{task_id}").get_data(as_text=True)
    chooser = page.split('id="transfer-user"')[1].split("</select>")[0]
    assert f'value="{COLLEAGUE}"' in chooser  # eligible: same department and role
    assert 'value="cs_head"' not in chooser and f'value="{AWAY}"' not in chooser and "cs_handler" not in chooser
    assert "<script>" not in page.split('id="task-actions"')[1].split("</section>")[0]  # CSP: no inline JS

    resp = head.post(f"/tasks/{task_id}/transfer", {"user": COLLEAGUE, "reason": "本人出差，请代为审核"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/requests/{rid}")
    view = request_json(head, rid)
    assert view["current_tasks"][0]["claimed_by"] == "孙副主任"
    row = next(h for h in view["history"] if h["action"] == "transfer")
    assert (row["action_label"], row["summary"], row["user"], row["step"], row["opinion"]) == (
        "转办", "转办给 孙副主任：本人出差，请代为审核", "李主任", "部门负责人签署承诺", "本人出差，请代为审核")
    with app.app_context():
        note = db.session.scalar(select(Notification).join(User).where(User.username == COLLEAGUE,
                                                                         Notification.event == "transfer"))
        assert note is not None and note.task_id == task_id and "本人出差" in note.message
    # the former holder no longer holds it; the colleague acts on it and the workflow goes on
    assert head.get("/api/v1/tasks").get_json()["tasks"] == []
    assert head.post(f"/tasks/{task_id}", APPROVE).status_code == 302  # redirected with "已由…签收"
    assert request_json(head, rid)["current_tasks"][0]["title"] == "部门负责人签署承诺"
    colleague = login(COLLEAGUE)
    act(colleague, rid, APPROVE)
    assert [t["title"] for t in request_json(head, rid)["current_tasks"]] == ["网信中心审核"]


def test_transfer_api_refuses_what_it_must_and_stores_nothing(app, login, colleagues):
    handler, head, colleague = login("cs_handler"), login("cs_head"), login(COLLEAGUE)
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    url = f"/api/v1/tasks/{task_id}/transfer"
    for body, status, words in (
            ({"user": "cs_head", "reason": "x"}, 422, "不能转办给自己"),
            ({"user": AWAY, "reason": "x"}, 422, "已停用"),
            ({"user": "cs_handler", "reason": "x"}, 422, "不能办理"),
            ({"user": "student_head", "reason": "x"}, 422, "不能办理"),
            ({"user": "nobody_here", "reason": "x"}, 422, "不存在"),
            ({"user": COLLEAGUE, "reason": "  "}, 422, "请填写转办理由"),
            ({"user": COLLEAGUE, "reason": "长" * 501}, 422, "不能超过"),
            ({"user": ["x"], "reason": "x"}, 422, "请选择人员"),
            ({"user": COLLEAGUE, "reason": 5}, 422, "应为文字"),
            (["not", "an", "object"], 422, "JSON 对象")):
        resp = _api(head, url, body)
        assert resp.status_code == status, (body, resp.get_json())
        assert words in resp.get_json()["error"], (body, resp.get_json())
    assert _api(handler, url, {"user": COLLEAGUE, "reason": "x"}).status_code == 403  # not a candidate
    assert _api(login("student_head"), url, {"user": COLLEAGUE, "reason": "x"}).status_code == 403
    assert _api(head, "/api/v1/tasks/999999/transfer", {"user": COLLEAGUE, "reason": "x"}).status_code == 404
    assert _count(app, AuditLog, AuditLog.action == "transfer") == 0
    # a candidate who does not hold the claimed task may not transfer it
    assert colleague.post(f"/tasks/{task_id}/claim").status_code == 302
    assert _api(head, url, {"user": COLLEAGUE, "reason": "x"}).status_code == 403
    resp = _api(colleague, url, {"user": "cs_head", "reason": "还是请李主任办理"})
    assert resp.status_code == 200 and resp.get_json()["claimed_by"] == "cs_head"
    act(head, rid, APPROVE)
    resp = _api(head, url, {"user": COLLEAGUE, "reason": "x"})  # the task is done
    assert resp.status_code == 409 and "已由李主任" in resp.get_json()["error"]
    assert _count(app, AuditLog, AuditLog.action == "transfer") == 1
    with app.app_context():
        assert db.session.get(TaskRecord, task_id).completed_by.username == "cs_head"


def test_cc_lets_the_recipient_see_the_request_and_lists_it_under_cc(app, login):
    handler, head, outsider = login("cs_handler"), login("cs_head"), login("me_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    # 机械学院's handler is not involved: no view before a copy
    assert outsider.get(f"/requests/{rid}").status_code == 403
    assert outsider.get(f"/api/v1/requests/{rid}").status_code == 403
    page = head.get(f"/tasks/{task_id}").get_data(as_text=True)
    cc_options = page.split('id="cc-users"')[1].split("</select>")[0]
    assert 'value="me_handler"' in cc_options and 'value="cs_head"' not in cc_options

    resp = head.post(f"/tasks/{task_id}/cc", {"users": ["me_handler", "hr_head"], "note": "请知悉课程表共享"},
                     headers={"Referer": f"http://localhost/tasks/{task_id}"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/tasks/{task_id}")
    assert outsider.get(f"/requests/{rid}").status_code == 200
    assert outsider.get(f"/api/v1/requests/{rid}").status_code == 200
    assert login("student_head").get(f"/requests/{rid}").status_code == 403  # copies are per person
    history = request_json(head, rid)["history"]
    row = next(h for h in history if h["action"] == "cc")
    assert row["action_label"] == "抄送" and row["opinion"] == "请知悉课程表共享"
    assert "赵经办" in row["summary"] and "刘处长（人事处）" in row["summary"]
    with app.app_context():
        events = db.session.execute(select(User.username, Notification.event).join(User).where(
            Notification.event == "cc")).all()
        assert sorted(events) == [("hr_head", "cc"), ("me_handler", "cc")]
    listing = outsider.get("/cc").get_data(as_text=True)
    assert 'id="cc-list"' in listing and f"#{rid}" in listing and "请知悉课程表共享" in listing and "unread" in listing
    items = outsider.get("/api/v1/cc").get_json()
    assert items["total"] == 1 and items["cc"][0]["instance_id"] == rid and items["cc"][0]["from"] == "李主任"
    assert items["cc"][0]["step"] == "部门负责人签署承诺" and items["cc"][0]["read"] is False
    assert outsider.post("/cc/read").status_code == 302
    assert outsider.get("/api/v1/cc").get_json()["cc"][0]["read"] is True
    assert outsider.get("/api/v1/cc?unread=1").get_json()["total"] == 0
    assert head.get("/api/v1/cc").get_json()["total"] == 0  # only what was copied to me


def test_cc_api_who_may_copy_and_bad_input(app, login, colleagues):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    url = f"/api/v1/tasks/{task_id}/cc"
    for body, words in (({"users": []}, "请选择抄送人员"), ({"users": "  "}, "请选择人员"),
                        ({"users": ["cs_head"]}, "不能抄送给自己"), ({"users": [AWAY]}, "已停用"),
                        ({"users": ["nobody_here"]}, "不存在"), ({"users": [{"a": 1}]}, "请选择人员"),
                        ({"users": ["x"] * 51}, "最多"), ({"users": ["me_handler"], "note": ["x"]}, "应为文字"),
                        ({"users": {"me_handler": 1}}, "请选择抄送人员")):
        resp = _api(head, url, body)
        assert resp.status_code == 422 and words in resp.get_json()["error"], (body, resp.get_json())
    outsider = login("me_handler")
    assert _api(outsider, url, {"users": ["hr_head"]}).status_code == 403  # may not act on it
    assert _api(handler, url, {"users": ["hr_head"]}).status_code == 403
    assert _count(app, CarbonCopy) == 0 and _count(app, AuditLog, AuditLog.action == "cc") == 0
    assert outsider.get(f"/requests/{rid}").status_code == 403
    # whoever completed the step may still copy it; a fellow candidate who did not may not (it is no longer ready)
    act(head, rid, APPROVE)
    resp = _api(head, url, {"users": ["me_handler"]})
    assert resp.status_code == 201 and resp.get_json()["copied"] == 1
    assert _api(login(COLLEAGUE), url, {"users": ["me_handler"]}).status_code == 409
    assert outsider.get(f"/api/v1/requests/{rid}").status_code == 200


def test_cc_list_pages(app, login):
    handler, head, outsider = login("cs_handler"), login("cs_head"), login("me_handler")
    rids = [submit(handler, {"course_schedule": ["kch"]}) for _ in range(3)]
    for rid in rids:
        assert _api(head, f"/api/v1/tasks/{my_task(head, rid)}/cc", {"users": ["me_handler"]}).status_code == 201
    first = outsider.get("/api/v1/cc?per_page=2").get_json()
    assert (first["total"], first["pages"], first["has_next"]) == (3, 2, True)
    assert [c["instance_id"] for c in first["cc"]] == [rids[2], rids[1]]  # newest first
    second = outsider.get("/api/v1/cc?per_page=2&page=2").get_json()
    assert [c["instance_id"] for c in second["cc"]] == [rids[0]] and second["has_next"] is False
    assert outsider.get(f"/api/v1/cc?q={rids[1]}").get_json()["total"] == 1
    assert outsider.get("/api/v1/cc?page=0").status_code == 422
    html = outsider.get("/cc?per_page=2").get_data(as_text=True)
    assert 'rel="next"' in html and "共 3 条" in html
    assert outsider.get("/cc?per_page=abc").status_code == 422
    assert "抄送我的" in outsider.get("/inbox").get_data(as_text=True)  # in the navigation
