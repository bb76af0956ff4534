"""加签 (issue 11) over the web pages and /api/v1: 前加签 blocks the holder's completion until the signer's opinion,
后加签 holds the holder's decision and applies it exactly once on agreement (as a normal completion would), a
disagreement gives the task back; cancel, who may (403), repeats (409), validation (422), stale signatures, races."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AddedSigner, AuditLog, Notification, TaskRecord, TimerRecord, User
from app.models.timer import TimerState
from app.services.errors import Conflict, DomainError
from app.services.workflow import countersign, instances

from .journey import act, my_task, request_json, submit

APPROVE = {"decision": "approve", "opinion": "同意"}
OUTSIDER = "me_handler"  # 机械学院's 赵经办: not involved in a 计算机学院 request
COSIGNER = "academic_head"  # 陈处长（教务处）


def _api(b, url: str, body=None):
    return b.client.post(url, json=body if body is not None else {}, headers={"X-CSRFToken": b.csrf})


def _count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _uid(username: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == username))


def _complete_rows(app, rid: int) -> list[AuditLog]:
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.instance_id == rid, AuditLog.action == "complete")
                                  .order_by(AuditLog.id)).all()
        db.session.expunge_all()
        return rows


def _pending_timers(app, rid: int) -> list[tuple[str, str]]:
    with app.app_context():
        return sorted(db.session.execute(select(TimerRecord.element_id, TimerRecord.title).where(
            TimerRecord.instance_id == rid, TimerRecord.state == TimerState.pending)).all())


def _events(app, username: str, event: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Notification.message).join(User, User.id == Notification.user_id)
                                       .where(User.username == username, Notification.event == event)))


def test_before_signature_blocks_completion_until_the_opinion_then_allows_it(app, login):
    handler, head, signer, hr = login("cs_handler"), login("cs_head"), login(OUTSIDER), login("hr_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    assert signer.get(f"/api/v1/requests/{rid}").status_code == 403  # not involved yet
    page = head.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'id="add-signer-form"' in page and 'id="add-signer-after"' in page
    chooser = page.split('id="signer-user"')[1].split("</select>")[0]
    assert f'value="{OUTSIDER}"' in chooser and 'value="cs_head"' not in chooser

    resp = head.post(f"/tasks/{task_id}/add-signer", {"position": "before", "user": OUTSIDER,
                                                       "reason": "请机电学院就课程表用途提意见"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/tasks/{task_id}")
    sig = head.get(f"/api/v1/tasks/{task_id}/signatures").get_json()["signatures"]
    assert [(s["signer"], s["position"], s["status"]) for s in sig] == [("赵经办", "before", "pending")]
    sid = sig[0]["id"]
    with app.app_context():
        assert db.session.get(TaskRecord, task_id).claimed_by.username == "cs_head"  # held by its holder
    # the holder cannot complete while the request is open
    resp = _api(head, f"/api/v1/tasks/{task_id}/complete", APPROVE)
    assert resp.status_code == 409 and "等待 赵经办 的意见" in resp.get_json()["error"]
    assert "等待 赵经办 的意见" in head.get(f"/tasks/{task_id}").get_data(as_text=True)
    # one pending signature per task
    resp = _api(head, f"/api/v1/tasks/{task_id}/add-signer", {"user": "hr_head", "position": "before", "reason": "x"})
    assert resp.status_code == 409 and "已有待答复的加签" in resp.get_json()["error"]

    # the signer: notified, a count in the navigation, a notice atop the inbox, the list, the request readable
    assert any("征求您的意见" in m for m in _events(app, OUTSIDER, "add_signer"))
    inbox = signer.get("/inbox").get_data(as_text=True)
    assert 'id="signatures-link">加签待办<span class="count">1</span>' in inbox and 'id="signature-notice"' in inbox
    listing = signer.get("/signatures").get_data(as_text=True)
    assert f'data-signature-id="{sid}"' in listing and "请机电学院就课程表用途提意见" in listing
    assert signer.get("/api/v1/signatures").get_json()["total"] == 1
    assert signer.get(f"/api/v1/requests/{rid}").status_code == 200
    sign_page = signer.get(f"/signatures/{sid}").get_data(as_text=True)
    assert 'id="signature-answer-form"' in sign_page and "填写申请表并接受保密协议" in sign_page
    # nobody else answers; the signer answers once
    assert _api(hr, f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "x"}).status_code == 403
    assert _api(head, f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "x"}).status_code == 403
    assert hr.get(f"/signatures/{sid}").status_code == 403
    resp = signer.post(f"/signatures/{sid}/answer", {"agree": "1", "opinion": "用途明确，建议同意"})
    assert resp.status_code == 302
    resp = _api(signer, f"/api/v1/signatures/{sid}/answer", {"agree": False, "opinion": "再改"})
    assert resp.status_code == 409 and "已同意" in resp.get_json()["error"]
    assert any("用途明确" in m for m in _events(app, "cs_head", "sign_answer"))
    assert 'class="count"' not in signer.get("/signatures").get_data(as_text=True).split("</nav>")[0]

    # the opinion: in the history, on the task page, in the printable 审批单
    view = request_json(head, rid)
    row = next(h for h in view["history"] if h["action"] == "sign_answer")
    assert (row["action_label"], row["user"], row["step"], row["opinion"]) == (
        "加签意见", "赵经办", "部门负责人签署承诺", "用途明确，建议同意")
    assert any(h["action"] == "add_signer" and h["opinion"] == "请机电学院就课程表用途提意见" for h in view["history"])
    page = head.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'id="signature-opinions"' in page and "用途明确，建议同意" in page.split('id="signature-opinions"')[1]
    sheet = head.get(f"/requests/{rid}/print").get_data(as_text=True)
    assert "用途明确，建议同意" in sheet.split('id="box-commitment"')[1].split("</td>")[0]

    # then the holder decides as usual
    act(head, rid, APPROVE)
    assert [t["title"] for t in request_json(head, rid)["current_tasks"]] == ["网信中心审核"]
    assert signer.get(f"/api/v1/requests/{rid}").status_code == 200  # still readable after answering


def test_after_signature_holds_then_applies_exactly_once_like_a_normal_completion(app, login):
    handler, head, nic, cosigner = login("cs_handler"), login("cs_head"), login("nic_head"), login(COSIGNER)
    normal = submit(handler, {"student_basic": ["xh", "xm"]})  # conditional: 网信中心审核 leads to timed reviews
    held = submit(handler, {"student_basic": ["xh", "xm"]})
    for rid in (normal, held):
        act(head, rid, APPROVE)
    act(nic, normal, {"decision": "approve", "opinion": "同意，转数据提供部门"})
    task_id = my_task(nic, held)
    resp = nic.post(f"/tasks/{task_id}/add-signer", {"decision": "approve", "opinion": "同意，转数据提供部门",
                                                      "sign_user": COSIGNER, "sign_reason": "涉及学生数据，请会签"})
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/tasks/{task_id}")
    # held: the task stays open with its holder, nothing applied
    view = request_json(nic, held)
    assert [t["title"] for t in view["current_tasks"]] == ["网信中心审核"]
    assert len(_complete_rows(app, held)) == 1  # the head's commitment only
    assert _pending_timers(app, held) == []
    page = nic.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "待 陈处长（教务处） 会签" in page and "同意，转数据提供部门" in page.split('id="signature-pending"')[1]
    resp = _api(nic, f"/api/v1/tasks/{task_id}/complete", APPROVE)
    assert resp.status_code == 409 and "待 陈处长（教务处） 会签" in resp.get_json()["error"]
    sid = cosigner.get("/api/v1/signatures").get_json()["signatures"][0]["id"]
    sign_page = cosigner.get(f"/signatures/{sid}").get_data(as_text=True)
    assert 'id="held-summary"' in sign_page and "同意，转数据提供部门" in sign_page

    resp = cosigner.post(f"/signatures/{sid}/answer", {"agree": "1", "opinion": "同意会签"})
    assert resp.status_code == 302
    # applied once, as the holder's completion at the time of agreement, with the co-signer named
    rows = [r for r in _complete_rows(app, held) if r.step == "网信中心审核"]
    assert len(rows) == 1 and rows[0].opinion == "同意，转数据提供部门" and rows[0].user_id is not None
    assert "经 陈处长（教务处） 会签同意" in rows[0].detail["summary"] and rows[0].detail["cosigner"] == COSIGNER
    assert rows[0].detail["result"]["by"] == "nic_head"
    with app.app_context():
        record = db.session.get(TaskRecord, task_id)
        assert (record.state, record.completed_by.username) == ("completed", "nic_head")
        assert db.session.get(AddedSigner, sid).status == "agreed"
    # the process went on exactly as after the ordinary completion: next tasks, their deadlines, the timers
    a, b = request_json(nic, normal), request_json(nic, held)
    titles = [t["title"] for t in a["current_tasks"]]
    assert [t["title"] for t in b["current_tasks"]] == titles and titles and titles[0].startswith("数据提供部门审核")
    assert [bool(t["due_at"]) for t in b["current_tasks"]] == [bool(t["due_at"]) for t in a["current_tasks"]]
    assert [t["due_at"][:10] for t in b["current_tasks"]] == [t["due_at"][:10] for t in a["current_tasks"]]
    assert _pending_timers(app, held) == _pending_timers(app, normal) != []
    history = [(h["action"], h["user"]) for h in b["history"]]
    assert history.index(("sign_answer", "陈处长（教务处）")) < history.index(("complete", "郑主任（网信中心）"))
    assert any("您的办理已生效" in m for m in _events(app, "nic_head", "sign_answer"))
    # answering again changes nothing
    resp = _api(cosigner, f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "再次同意"})
    assert resp.status_code == 409
    assert len([r for r in _complete_rows(app, held) if r.step == "网信中心审核"]) == 1
    act(login("student_head"), held, APPROVE)  # and the process goes on from there
    assert [t["title"] for t in request_json(nic, held)["current_tasks"]] == ["网信中心提供数据"]


def test_after_signature_disagreed_gives_the_task_back_and_applies_nothing(app, login):
    handler, head, cosigner = login("cs_handler"), login("cs_head"), login(COSIGNER)
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    resp = _api(head, f"/api/v1/tasks/{task_id}/add-signer", {
        "user": COSIGNER, "position": "after", "reason": "请会签", "data": {"decision": "approve", "opinion": "同意"}})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["status"], body["held_summary"], body["position_label"]) == ("pending", "同意，签署部门承诺",
                                                                             "后加签（会签）")
    resp = _api(cosigner, f"/api/v1/signatures/{body['id']}/answer", {"agree": False, "opinion": "用途不明确，请补充"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "disagreed"
    assert _complete_rows(app, rid) == []
    view = request_json(head, rid)
    assert [t["title"] for t in view["current_tasks"]] == ["部门负责人签署承诺"]
    row = next(h for h in view["history"] if h["action"] == "sign_answer")
    assert row["opinion"] == "用途不明确，请补充" and "退回 李主任 重新办理" in row["summary"]
    assert any("用途不明确" in m for m in _events(app, "cs_head", "sign_answer"))
    page = head.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'id="signature-pending"' not in page and "用途不明确，请补充" in page.split('id="signature-opinions"')[1]
    # the holder decides again, now freely
    act(head, rid, {"decision": "return", "opinion": "请补充用途"})
    assert len(_complete_rows(app, rid)) == 1


def test_cancel_and_who_may_do_what(app, login):
    handler, head, signer, hr = login("cs_handler"), login("cs_head"), login(OUTSIDER), login("hr_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    url = f"/api/v1/tasks/{task_id}/add-signer"
    before = {"user": OUTSIDER, "position": "before", "reason": "请提意见"}
    # only the task's holder may add
    for stranger in (handler, hr, signer):
        resp = _api(stranger, url, before)
        assert resp.status_code == 403 and "办理人" in resp.get_json()["error"]
    assert _api(head, "/api/v1/tasks/999999/add-signer", before).status_code == 404
    sid = _api(head, url, before).get_json()["id"]
    # only its requester may cancel
    assert _api(signer, f"/api/v1/signatures/{sid}/cancel").status_code == 403
    assert _api(hr, f"/api/v1/signatures/{sid}/cancel").status_code == 403
    assert hr.get(f"/api/v1/signatures/{sid}").status_code == 403
    assert _api(head, "/api/v1/signatures/999999/cancel").status_code == 404
    resp = head.post(f"/signatures/{sid}/cancel")
    assert resp.status_code == 302
    assert head.get(f"/api/v1/signatures/{sid}").get_json()["status"] == "cancelled"
    assert _api(head, f"/api/v1/signatures/{sid}/cancel").status_code == 409
    resp = _api(signer, f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "同意"})
    assert resp.status_code == 409 and "已撤销" in resp.get_json()["error"]
    assert any("撤销" in m for m in _events(app, OUTSIDER, "sign_cancel"))
    assert signer.get(f"/api/v1/requests/{rid}").status_code == 403  # a cancelled request no longer lets them read
    assert signer.get("/api/v1/signatures").get_json()["total"] == 0
    assert signer.get("/api/v1/signatures?done=1").get_json()["signatures"][0]["status_label"] == "已撤销"
    assert _count(app, AuditLog, AuditLog.action == "sign_cancel") == 1
    # a new signature may follow, and the holder completes once nothing is pending
    assert _api(head, url, {**before, "user": "hr_head"}).status_code == 201
    sid2 = hr.get("/api/v1/signatures").get_json()["signatures"][0]["id"]
    assert _api(head, f"/api/v1/signatures/{sid2}/cancel").status_code == 200
    act(head, rid, APPROVE)
    # the task is done: no more 加签 on it
    resp = _api(head, url, {**before, "user": "hr_head"})
    assert resp.status_code == 409


def test_api_validation_is_422_and_stores_nothing(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    url = f"/api/v1/tasks/{task_id}/add-signer"
    for body, words in (
            ({"user": "cs_head", "position": "before", "reason": "x"}, "不能给自己加签"),
            ({"user": "nobody_here", "position": "before", "reason": "x"}, "不存在"),
            ({"user": ["x"], "position": "before", "reason": "x"}, "请选择人员"),
            ({"position": "before", "reason": "x"}, "请选择人员"),
            ({"user": OUTSIDER, "position": "middle", "reason": "x"}, "加签方式"),
            ({"user": OUTSIDER, "position": None, "reason": "x"}, "加签方式"),
            ({"user": OUTSIDER, "position": "before", "reason": "  "}, "请填写加签理由"),
            ({"user": OUTSIDER, "position": "before", "reason": "长" * 501}, "不能超过"),
            ({"user": OUTSIDER, "position": "before", "reason": 5}, "应为文字"),
            ({"user": OUTSIDER, "position": "after", "reason": "x"}, "办理意见"),
            ({"user": OUTSIDER, "position": "after", "reason": "x", "data": []}, "办理意见"),
            ({"user": OUTSIDER, "position": "after", "reason": "x", "data": {"decision": "maybe"}}, ""),
            ({"user": OUTSIDER, "position": "after", "reason": "x", "data": {"decision": "return"}}, "审批意见"),
            (["not", "an", "object"], "JSON 对象")):
        resp = _api(head, url, body)
        assert resp.status_code == 422, (body, resp.get_json())
        assert words in json.dumps(resp.get_json(), ensure_ascii=False), (body, resp.get_json())
    assert _count(app, AddedSigner) == 0 and _count(app, AuditLog, AuditLog.action == "add_signer") == 0
    sid = _api(head, url, {"user": OUTSIDER, "position": "before", "reason": "x"}).get_json()["id"]
    signer = login(OUTSIDER)
    for body, words in (({"agree": "yes", "opinion": "x"}, "同意或不同意"), ({"opinion": "x"}, "同意或不同意"),
                        ({"agree": True, "opinion": " "}, "请填写意见"), ({"agree": True}, "请填写意见"),
                        ({"agree": True, "opinion": 1}, "应为文字"),
                        ({"agree": True, "opinion": "长" * 1001}, "不能超过"), ("x", "JSON 对象")):
        resp = _api(signer, f"/api/v1/signatures/{sid}/answer", body)
        assert resp.status_code == 422, (body, resp.get_json())
        assert words in resp.get_json()["error"], (body, resp.get_json())
    assert signer.get(f"/api/v1/signatures/{sid}").get_json()["status"] == "pending"
    assert signer.get("/api/v1/signatures?page=0").status_code == 422
    # the web form's 后加签 with a bad decision shows the task page again with the errors (and what was typed)
    page = head.post(f"/tasks/{task_id}/add-signer", {"decision": "approve", "opinion": "", "sign_user": OUTSIDER,
                                                       "sign_reason": "x"})
    assert page.status_code == 302  # one is already pending: refused with a message
    assert "已有待答复的加签" in head.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert _api(head, f"/api/v1/signatures/{sid}/cancel").status_code == 200
    page = head.post(f"/tasks/{task_id}/add-signer", {"decision": "", "opinion": "想想", "sign_user": OUTSIDER,
                                                       "sign_reason": "x"})
    assert page.status_code == 422 and "想想" in page.get_data(as_text=True)
    page = head.post(f"/tasks/{task_id}/add-signer", {"decision": "approve", "opinion": "", "sign_user": "cs_head",
                                                       "sign_reason": "x"})
    assert page.status_code == 422 and "不能给自己加签" in page.get_data(as_text=True)


def test_a_pending_signature_is_cancelled_when_its_task_stops_waiting(app, login):
    handler, head, signer = login("cs_handler"), login("cs_head"), login(OUTSIDER)
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    sid = _api(head, f"/api/v1/tasks/{task_id}/add-signer",
               {"user": OUTSIDER, "position": "before", "reason": "请提意见"}).get_json()["id"]
    with app.app_context():
        instances.cancel(rid, _uid("admin"), "申请人撤回")
    # the navigation no longer counts it, and the list / the answer cancel it
    assert 'class="count"' not in signer.get("/inbox").get_data(as_text=True).split("</nav>")[0]
    assert signer.get("/api/v1/signatures").get_json()["total"] == 0
    resp = _api(signer, f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "同意"})
    assert resp.status_code == 409 and "已撤销" in resp.get_json()["error"]
    assert signer.get(f"/api/v1/signatures/{sid}").get_json()["status"] == "cancelled"
    assert _count(app, AuditLog, AuditLog.action == "sign_cancel") == 1
    assert any("已撤销" in m for m in _events(app, OUTSIDER, "sign_cancel"))


def test_releasing_the_task_voids_its_signature(app, login):
    handler, head, cosigner = login("cs_handler"), login("cs_head"), login(COSIGNER)
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    sid = _api(head, f"/api/v1/tasks/{task_id}/add-signer", {
        "user": COSIGNER, "position": "after", "reason": "请会签", "data": APPROVE}).get_json()["id"]
    assert head.post(f"/tasks/{task_id}/release").status_code == 302  # back to the pool: the decision is dropped
    resp = _api(cosigner, f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "同意"})
    assert resp.status_code == 409 and "已自动撤销" in resp.get_json()["error"]
    assert _complete_rows(app, rid) == []
    assert cosigner.get(f"/api/v1/signatures/{sid}").get_json()["status"] == "cancelled"
    act(head, rid, APPROVE)  # nothing holds the task any more
    assert len(_complete_rows(app, rid)) == 1


def _race(app, calls) -> list[object]:
    """Run each call in its own thread (own app context and session) at the same moment; their results or errors."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i: int, call) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = call()
            except DomainError as exc:
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_two_signers_cannot_be_pending_at_once_and_an_agreement_applies_once(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    with app.app_context():
        head_id, cosigner_id = _uid("cs_head"), _uid(COSIGNER)
    results = _race(app, [lambda u=u: countersign.add_signer(task_id, head_id, u, "before", "请提意见")
                          for u in (OUTSIDER, "hr_head", COSIGNER)])
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, dict)), results
    assert _count(app, AddedSigner, AddedSigner.status == "pending") == 1
    won = next(r for r in results if isinstance(r, dict))
    assert _api(head, f"/api/v1/signatures/{won['id']}/cancel").status_code == 200

    sid = _api(head, f"/api/v1/tasks/{task_id}/add-signer", {
        "user": COSIGNER, "position": "after", "reason": "请会签", "data": APPROVE}).get_json()["id"]
    results = _race(app, [lambda: countersign.answer(sid, cosigner_id, True, "同意")] * 3)
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, dict)), results
    assert len(_complete_rows(app, rid)) == 1
    assert [t["title"] for t in request_json(head, rid)["current_tasks"]] == ["网信中心审核"]


@pytest.mark.parametrize("position", ["before", "after"])
def test_a_batch_completion_also_waits_for_the_signature(app, login, position):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    body = {"user": OUTSIDER, "position": position, "reason": "x", "data": APPROVE}
    assert _api(head, f"/api/v1/tasks/{task_id}/add-signer", body).status_code == 201
    resp = _api(head, "/api/v1/tasks/batch", {"task_ids": [task_id], "decision": "approve", "opinion": "同意"})
    assert resp.get_json()["results"][0]["status"] == 409
    assert _complete_rows(app, rid) == []
