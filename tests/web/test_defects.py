"""Defects users saw (issue 11): the refusal's legal ground shown to those who judge it, field ticks that select
their resource, only the buttons a user may use, returned requests marked, the overruled provider told, names
instead of codes."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import Notification, User
from app.services.people import org
from app.services.security import audit
from app.services.workflow import requests as share_requests

from .journey import APPLICATION, act, application_form, my_task, request_json, resource_ids, submit

APPROVE = {"decision": "approve", "opinion": "同意"}
LEGAL = "《中华人民共和国个人信息保护法》第二十八条"


def _refused(login) -> tuple[int, dict]:
    """A request whose 学生处 refused (with its legal ground) and 人事处 approved: at the applicant's response."""
    people = {u: login(u) for u in ("cs_handler", "cs_head", "nic_head", "student_head", "hr_head", "cac",
                                    "nic_staff", "supervisor")}
    rid = submit(people["cs_handler"], {"student_basic": ["xh", "sfzh"], "staff_basic": ["gh"]})
    act(people["cs_head"], rid, APPROVE)
    act(people["nic_head"], rid, APPROVE)
    act(people["student_head"], rid, {"decision": "refuse", "opinion": "身份证号属个人敏感信息", "legal_basis": LEGAL})
    act(people["hr_head"], rid, APPROVE)
    return rid, people


def _task_page(b, rid: int) -> str:
    resp = b.get(f"/tasks/{my_task(b, rid)}")
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_refusal_legal_ground_is_shown_to_applicant_nic_and_cac_on_the_request_page_and_in_the_api(login):
    rid, p = _refused(login)
    page = _task_page(p["cs_handler"], rid)
    assert 'id="refusals"' in page and LEGAL in page and "学生处" in page
    view = request_json(p["cs_handler"], rid)
    assert view["refusals"] == [{"department": "学生处", "by": "张处长（学生处）", "at": view["refusals"][0]["at"],
                                 "opinion": "身份证号属个人敏感信息", "legal_basis": LEGAL}]
    refusal_rows = [h for h in view["history"] if h["legal_basis"]]
    assert [(h["user"], h["legal_basis"]) for h in refusal_rows] == [("张处长（学生处）", LEGAL)]
    show = p["cs_handler"].get(f"/requests/{rid}").get_data(as_text=True)
    assert show.count(LEGAL) == 2  # the refusals card and the history row
    act(p["cs_handler"], rid, {"action": "object", "reason": "综合测评需核对身份证号"})
    assert LEGAL in _task_page(p["nic_head"], rid)
    act(p["nic_head"], rid, {"conclusion": "refer", "opinion": "报请网信办决定"})
    assert LEGAL in _task_page(p["cac"], rid)


def test_provider_overruled_by_cac_office_is_told(login, app):
    rid, p = _refused(login)
    act(p["cs_handler"], rid, {"action": "object", "reason": "综合测评需核对身份证号"})
    act(p["nic_head"], rid, {"conclusion": "refer", "opinion": "报请网信办决定"})
    act(p["cac"], rid, {"decision": "provide", "opinion": "在加密前提下予以提供"})
    assert [t["title"] for t in request_json(p["cs_handler"], rid)["current_tasks"]] == ["网信中心提供数据"]
    with app.app_context():
        told = db.session.execute(select(User.username, Notification.message).join(User)
                                  .where(Notification.event == "overruled", Notification.instance_id == rid)).all()
    assert [u for u, _ in told] == ["student_head"]  # the refusing department's head, not 人事处 who approved
    assert "在加密前提下予以提供" in told[0][1] and "未被采纳" in told[0][1]
    page = p["student_head"].get("/notifications").get_data(as_text=True)
    assert "不予提供意见未被采纳</span>" in page and ">overruled<" not in page
    assert any(h["action"] == "notify_overruled" for h in request_json(p["cs_handler"], rid)["history"])


def test_cac_office_upholding_the_refusal_tells_nobody(login, app):
    rid, p = _refused(login)
    act(p["cs_handler"], rid, {"action": "object", "reason": "需要"})
    act(p["nic_head"], rid, {"conclusion": "refer", "opinion": "报请网信办决定"})
    act(p["cac"], rid, {"decision": "not_provide", "opinion": "维持"})
    with app.app_context():
        assert db.session.scalar(select(Notification.id).where(Notification.event == "overruled")) is None


def test_ticking_fields_selects_their_resource_without_the_row_checkbox(login):
    handler = login("cs_handler")
    catalog = resource_ids(handler)
    data = {**APPLICATION, f"fields_{catalog['course_schedule']['id']}": ["kch", "kcm"],
            f"fields_{catalog['org_units']['id']}": ["jgmc"]}
    resp = handler.post("/requests/new", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    rid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    chosen = {r["code"]: r["fields"] for r in request_json(handler, rid)["application"]["resources"]}
    assert chosen == {"course_schedule": ["kch", "kcm"], "org_units": ["jgmc"]}


def test_a_rejected_application_keeps_every_tick(login):
    handler = login("cs_handler")
    catalog = resource_ids(handler)
    course, org_units, student = (catalog[c]["id"] for c in ("course_schedule", "org_units", "student_basic"))
    data = {**APPLICATION, "purpose": "", "resources": [str(student)],  # a row ticked without fields
            f"fields_{course}": ["kch", "kcm"], f"fields_{org_units}": ["jgmc"]}
    resp = handler.post("/requests/new", data)
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    for rid in (course, org_units, student):
        assert re.search(rf'id="res_{rid}"\s+checked', page), f"resource {rid} not ticked again"
    for rid, field in ((course, "kch"), (course, "kcm"), (org_units, "jgmc")):
        assert re.search(rf'name="fields_{rid}" value="{field}"\s+checked', page), (rid, field)
    assert not re.search(rf'name="fields_{course}" value="skjs"\s+checked', page)
    assert "请填写「用途」" in page or "用途" in page


@pytest.mark.parametrize("key", ["fields_abc", "fields_", "fields_１２", "fields_99999999"])
def test_hostile_field_names_are_a_clear_4xx(login, key):
    handler = login("cs_handler")
    resp = handler.post("/requests/new", {**APPLICATION, key: ["x"]})
    assert resp.status_code == 422
    assert handler.get("/requests").status_code == 200
    assert "用于学院学生综合测评系统" not in handler.get("/requests").get_data(as_text=True)  # nothing stored


def test_buttons_only_for_what_the_user_may_do_and_supervisors_urge(login, app):
    handler, head, provider, sup = (login(u) for u in ("cs_handler", "cs_head", "student_head", "supervisor"))
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_link = f'href="/tasks/{my_task(head, rid)}"'

    def page(b) -> str:
        resp = b.get(f"/requests/{rid}")
        assert resp.status_code == 200
        return resp.get_data(as_text=True)

    assert task_link in page(head) and 'id="urge"' in page(head)  # the holder, in the applicant's department
    assert task_link not in page(handler) and 'id="urge"' in page(handler)
    assert task_link not in page(sup) and 'id="urge"' in page(sup)
    view = request_json(sup, rid)
    assert view["can_urge"] is True and view["current_tasks"][0]["can_act"] is False
    assert request_json(head, rid)["current_tasks"][0]["can_act"] is True
    resp = sup.post(f"/requests/{rid}/urge")
    assert resp.status_code == 302
    assert any(h["action"] == "urge" and h["user"] == "督办员" for h in request_json(handler, rid)["history"])

    # a provider department that is not involved sees neither (it would get 403s)
    act(head, rid, APPROVE)
    assert provider.get(f"/requests/{rid}").status_code in (403, 404)
    rid2 = submit(handler, {"student_basic": ["xh"]})
    act(head, rid2, APPROVE)
    act(login("nic_head"), rid2, APPROVE)
    shown = provider.get(f"/requests/{rid2}").get_data(as_text=True)
    assert f'href="/tasks/{my_task(provider, rid2)}"' in shown and 'id="urge"' not in shown
    assert provider.post(f"/requests/{rid2}/urge").status_code == 403


def test_no_act_button_on_a_task_claimed_by_a_colleague(login, app):
    with app.app_context():
        if db.session.scalar(select(User.id).where(User.username == "cs_head_d11")) is None:
            org.create_user("cs_head_d11", "钱副主任", "college_cs", ["dept_head"], "demo12345", check_policy=False)
        else:
            db.session.execute(update(User).where(User.username == "cs_head_d11").values(active=True))
            db.session.commit()
    try:
        handler, head, colleague = login("cs_handler"), login("cs_head"), login("cs_head_d11")
        rid = submit(handler, {"course_schedule": ["kch"]})
        task_id = my_task(head, rid)
        assert colleague.post(f"/tasks/{task_id}/claim").status_code == 302
        assert f'href="/tasks/{task_id}"' not in head.get(f"/requests/{rid}").get_data(as_text=True)
        assert f'href="/tasks/{task_id}"' in colleague.get(f"/requests/{rid}").get_data(as_text=True)
    finally:
        with app.app_context():  # other tests count the department's heads
            db.session.execute(update(User).where(User.username == "cs_head_d11").values(active=False))
            db.session.commit()


def test_returned_request_shows_returned_with_the_reason(login):
    handler, head, nic_head = login("cs_handler"), login("cs_head"), login("nic_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    act(head, rid, {"decision": "return", "opinion": "用途写得不清楚"})
    page = _task_page(handler, rid)
    notice = re.search(r'<div class="flash flash-error returned" id="returned"[^>]*>(.*?)</div>', page, re.S)
    assert notice, "no 已退回 notice"
    assert "已退回" in notice.group(1) and "用途写得不清楚" in notice.group(1) and "李主任" in notice.group(1)
    assert page.index('id="returned"') < page.index('id="task-form"')  # at the top
    show = handler.get(f"/requests/{rid}").get_data(as_text=True)
    assert 'id="returned-status">已退回' in show and "用途写得不清楚" in show
    view = request_json(handler, rid)
    assert view["returned"]["reason"] == "用途写得不清楚" and view["returned"]["step"] == "部门负责人签署承诺"
    # resubmitted: the head's task is not a returned one; a return by 网信中心 names 网信中心's reason
    act(handler, rid, application_form(handler, {"course_schedule": ["kch"]}), form_key="share_application")
    assert request_json(handler, rid)["returned"] is None
    assert 'id="returned"' not in _task_page(head, rid)
    act(head, rid, APPROVE)
    act(nic_head, rid, {"decision": "return", "opinion": "请补充项目批文"})
    assert request_json(handler, rid)["returned"]["reason"] == "请补充项目批文"


def test_a_task_reached_for_the_first_time_is_not_returned(login):
    handler = login("cs_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    view = request_json(handler, rid)
    assert view["returned"] is None and view["current_tasks"][0]["returned"] is None


def test_names_not_codes(login, app):
    admin = login("admin")
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    page = admin.get("/admin/instances").get_data(as_text=True)
    row = re.search(rf'<tr data-instance="{rid}">(.*?)</tr>', page, re.S).group(1)
    assert "信息化数据资源共享申请" in row and "share_request" not in row and " v1" not in row
    with app.app_context():
        audit.record("process_started", instance_id=rid, step="自动发起 #99", detail={
            "summary": "自动发起 violation_case #99", "process_key": "violation_case", "instance_id": 99})
        db.session.commit()
        started = [h for h in share_requests.history(rid) if h["action"] == "process_started"]
    assert len(started) == 1 and "violation_case" not in started[0]["summary"] and "#99" in started[0]["summary"]
    assert "「" in started[0]["summary"]
