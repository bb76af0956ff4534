"""Every share-request journey over HTTP through the Flask client, against the real database."""
from __future__ import annotations

import re

from .journey import act, application_form, my_task, request_json, submit

APPROVE = {"decision": "approve", "opinion": "同意"}


def test_unconditional_request_is_approved_and_delivered_without_provider_review(login):
    handler, head, nic_head, nic_staff = (login(u) for u in ("cs_handler", "cs_head", "nic_head", "nic_staff"))
    rid = submit(handler, {"course_schedule": ["kch", "kcm"], "org_units": ["jgdm", "jgmc"]})
    assert request_json(handler, rid)["current_tasks"][0]["title"] == "部门负责人签署承诺"
    act(head, rid, APPROVE)
    act(nic_head, rid, APPROVE)
    view = request_json(handler, rid)
    assert [t["title"] for t in view["current_tasks"]] == ["网信中心提供数据"]
    assert "provider_review" not in view["elements"]["completed"]
    act(nic_staff, rid, {"method": "interface", "note": "接口地址 https://data.lut.edu.cn/api/course"})
    view = request_json(handler, rid)
    assert view["status"] == "completed" and view["status_label"] == "数据已提供"
    assert view["current_tasks"] == []
    steps = [(h["step"], h["action"]) for h in view["history"]]
    assert steps[0] == ("填写申请表并接受保密协议", "submit")
    assert ("网信中心提供数据", "complete") in steps and steps[-1] == ("数据已提供", "end")
    assert "end_delivered" in view["elements"]["completed"]


def test_conditional_request_needs_every_provider_and_is_delivered(login):
    handler, head, nic_head, nic_staff = (login(u) for u in ("cs_handler", "cs_head", "nic_head", "nic_staff"))
    student_head, hr_head = login("student_head"), login("hr_head")
    rid = submit(handler, {"student_basic": ["xh", "xm"], "staff_basic": ["gh", "xm"], "course_schedule": ["kch"]})
    act(head, rid, APPROVE)
    act(nic_head, rid, APPROVE)
    view = request_json(handler, rid)
    holders = sorted(t["department"] for t in view["current_tasks"])
    assert holders == ["人事处", "学生处"]
    # each provider sees only its own review
    assert request_json(student_head, rid)["status"] == "running"
    act(student_head, rid, {"decision": "approve", "opinion": "同意提供学号、姓名"})
    assert [t["department"] for t in request_json(handler, rid)["current_tasks"]] == ["人事处"]
    act(hr_head, rid, {"decision": "approve", "opinion": "同意"})
    assert [t["title"] for t in request_json(handler, rid)["current_tasks"]] == ["网信中心提供数据"]
    resp = nic_staff.post(f"/tasks/{my_task(nic_staff, rid)}", {"method": "export", "note": "导出文件"})
    assert resp.status_code == 422 and "采用数据导出的理由" in resp.get_data(as_text=True)
    act(nic_staff, rid, {"method": "export", "export_reason": "对方系统暂不支持接口", "note": "已加密导出"})
    view = request_json(handler, rid)
    assert view["status_label"] == "数据已提供"
    opinions = [h["opinion"] for h in view["history"] if h["step"].startswith("数据提供部门审核")]
    assert sorted(opinions) == ["同意", "同意提供学号、姓名"]


def test_provider_refusal_returns_to_applicant_who_objects_up_to_cac_office(login):
    handler, head, nic_head, nic_staff = (login(u) for u in ("cs_handler", "cs_head", "nic_head", "nic_staff"))
    student_head, hr_head, cac = login("student_head"), login("hr_head"), login("cac")
    rid = submit(handler, {"student_basic": ["xh", "sfzh"], "staff_basic": ["gh"]})
    act(head, rid, APPROVE)
    act(nic_head, rid, APPROVE)
    # a refusal must state its legal ground (Art. 21)
    resp = student_head.post(f"/tasks/{my_task(student_head, rid)}", {"decision": "refuse", "opinion": "不同意"})
    assert resp.status_code == 422
    assert "不予提供所依据的法律、法规" in resp.get_data(as_text=True)
    assert "不同意" in resp.get_data(as_text=True)  # what was typed is kept
    act(student_head, rid, {"decision": "refuse", "opinion": "身份证号属个人敏感信息",
                            "legal_basis": "《个人信息保护法》第二十八条"})
    act(hr_head, rid, APPROVE)
    view = request_json(handler, rid)
    assert [t["title"] for t in view["current_tasks"]] == ["申请部门处理不予提供意见"]
    act(handler, rid, {"action": "object", "reason": "综合测评需核对身份证号"})
    act(nic_head, rid, {"conclusion": "refer", "opinion": "报请网信办决定"})
    act(cac, rid, {"decision": "provide", "opinion": "在加密前提下予以提供"})
    act(nic_staff, rid, {"method": "interface", "note": "加密接口"})
    view = request_json(handler, rid)
    assert view["status_label"] == "数据已提供"
    assert {"nic_coordinate", "cac_decide", "deliver"} <= set(view["elements"]["completed"])


def test_refusal_then_revise_runs_provider_review_again_with_fresh_opinions(login):
    handler, head, nic_head = (login(u) for u in ("cs_handler", "cs_head", "nic_head"))
    student_head, nic_staff = login("student_head"), login("nic_staff")
    rid = submit(handler, {"student_basic": ["xh", "sfzh"]})
    act(head, rid, APPROVE)
    act(nic_head, rid, APPROVE)
    act(student_head, rid, {"decision": "refuse", "opinion": "敏感", "legal_basis": "《个人信息保护法》"})
    act(handler, rid, {"action": "revise"})
    form = application_form(handler, {"student_basic": ["xh", "xm"]})
    act(handler, rid, form, form_key="share_application")
    act(head, rid, APPROVE)
    act(nic_head, rid, APPROVE)
    act(student_head, rid, {"decision": "approve", "opinion": "同意"})
    act(nic_staff, rid, {"method": "sync", "note": "每日同步"})
    view = request_json(handler, rid)
    assert view["status_label"] == "数据已提供"
    assert view["application"]["resources"][0]["fields"] == ["xh", "xm"]


def test_dept_head_return_and_withdraw(login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    resp = head.post(f"/tasks/{my_task(head, rid)}", {"decision": "return"})
    assert resp.status_code == 422 and "请填写「审批意见」" in resp.get_data(as_text=True)
    act(head, rid, {"decision": "return", "opinion": "用途写得不清楚"})
    task_id = my_task(handler, rid, "share_application")
    page = handler.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "用途写得不清楚" in page and "用于学院学生综合测评系统" in page  # reason shown, previous values kept
    resp = handler.post(f"/tasks/{task_id}", {"_action": "withdraw"})
    assert resp.status_code == 302
    assert request_json(handler, rid)["status_label"] == "申请已撤回"


def test_not_shared_resource_is_rejected_at_the_form_citing_art_17(login):
    handler = login("cs_handler")
    page = handler.get("/requests/new").get_data(as_text=True)
    assert "不共享类数据资源不能申请（第十七条第（三）项）" in page
    resp = handler.post("/requests/new", application_form(handler, {"salary_detail": ["gh", "sfgz"]},
                                                          purpose="核对工资"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "「教职工工资明细」属于不共享类数据资源，不能申请使用（《管理办法》第十七条第（三）项）" in html
    assert "核对工资" in html  # kept what was typed
    assert handler.get("/api/v1/requests").get_json()["requests"] == []


def test_invalid_application_rerenders_with_messages_and_values(login):
    handler = login("cs_handler")
    resp = handler.post("/requests/new", application_form(handler, {"student_basic": []}, head_phone="abc",
                                                          confidentiality="", purpose="用于教学评估"))
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "请勾选所需字段" in html and "请填写有效的电话号码" in html and "须接受《数据共享保密协议》" in html
    assert "用于教学评估" in html and 'value="abc"' in html


def test_non_candidate_gets_403_on_every_task_url(login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    for outsider in ("me_handler", "student_head", "nic_head", "cac"):
        b = login(outsider)
        assert b.get(f"/tasks/{task_id}").status_code == 403
        assert b.post(f"/tasks/{task_id}", APPROVE).status_code == 403
        assert b.post(f"/tasks/{task_id}/claim").status_code == 403
    other_dept = login("me_handler")
    assert other_dept.get(f"/requests/{rid}").status_code == 403
    assert other_dept.get(f"/api/v1/requests/{rid}").status_code == 403
    # the applicant cannot approve their own request either
    assert handler.post(f"/tasks/{task_id}", APPROVE).status_code == 403
    assert request_json(head, rid)["current_tasks"][0]["title"] == "部门负责人签署承诺"


def test_double_completion_makes_one_transition(login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    first = head.post(f"/tasks/{task_id}", APPROVE)
    second = head.post(f"/tasks/{task_id}", APPROVE, follow_redirects=True)
    assert first.status_code == 302
    assert "已由李主任于" in second.get_data(as_text=True) and "不能重复办理" in second.get_data(as_text=True)
    view = request_json(handler, rid)
    assert [h["step"] for h in view["history"]].count("部门负责人签署承诺") == 1
    assert [t["title"] for t in view["current_tasks"]] == ["网信中心审核"]


def test_claim_hides_shared_task_from_other_candidates_and_release_returns_it(app, login):
    from app.services.people import org

    from ..conftest import wipe

    with app.app_context():
        org.create_user("cs_head2", "李副主任", "college_cs", ["dept_head"], "demo12345", check_policy=False)
    try:
        handler, head, head2 = login("cs_handler"), login("cs_head"), login("cs_head2")
        rid = submit(handler, {"course_schedule": ["kch"]})
        task_id = my_task(head, rid)
        assert head.post(f"/tasks/{task_id}/claim").status_code == 302
        assert head2.get("/api/v1/tasks").get_json()["tasks"] == []
        resp = head2.post(f"/tasks/{task_id}", APPROVE, follow_redirects=True)
        assert "已由李主任签收" in resp.get_data(as_text=True)
        assert request_json(head, rid)["current_tasks"][0]["claimed_by"] == "李主任"
        head.post(f"/tasks/{task_id}/release")
        assert my_task(head2, rid) == task_id
    finally:
        wipe(app, "DELETE FROM user_account WHERE username = 'cs_head2'")


def test_forms_need_csrf_and_pages_need_login(app, login):
    anonymous = app.test_client()
    assert anonymous.get("/inbox").status_code == 302
    assert anonymous.get("/api/v1/tasks").status_code == 401
    handler = login("cs_handler")
    resp = handler.client.post("/requests/new", data=application_form(handler, {"course_schedule": ["kch"]}))
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)


def test_request_page_shows_status_holder_history_and_diagram(login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    html = handler.get(f"/requests/{rid}").get_data(as_text=True)
    assert "办理中" in html and "部门负责人签署承诺" in html and "计算机与通信学院 部门信息化负责人" in html
    assert "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in html
    match = re.search(r'data-xml-url="([^"]+)"', html)
    xml = handler.get(match.group(1))
    assert xml.status_code == 200 and b"share_request" in xml.data
    assert "&#34;fill_application&#34;" in html or '"fill_application"' in html
    assert head.get(f"/requests/{rid}").status_code == 200
    assert handler.get("/static/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js").status_code == 200


def test_request_list_shows_each_process_and_only_what_the_user_may_see(login):
    handler = login("cs_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    html = handler.get("/requests").get_data(as_text=True)
    assert f"#{rid}" in html and "信息化数据资源共享申请" in html and "办理中" in html
    assert f"#{rid}" not in login("me_handler").get("/requests").get_data(as_text=True)
    assert f"#{rid}" in login("supervisor").get("/requests").get_data(as_text=True)
