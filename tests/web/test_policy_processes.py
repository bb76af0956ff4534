"""The other processes of the policy over HTTP: project acceptance gate (Art. 19), data-quality feedback
(Art. 24-26), granted access (Art. 22, 30)."""
from __future__ import annotations

from .journey import act, my_task, request_json


def start(b, key: str, data: dict) -> int:
    resp = b.post(f"/processes/{key}/new", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


PROJECT = {"project_name": "智慧教室管理平台", "catalogue_entries": "教室基本信息（教室编号、容量），普遍共享",
           "platform_connection": "尚未对接，计划下月完成"}


def test_project_acceptance_is_refused_while_the_platform_is_not_connected(login):
    handler, nic = login("cs_handler"), login("nic_head")
    rid = start(handler, "project_acceptance", PROJECT)
    act(nic, rid, {"catalogue_compiled": "yes", "platform_connected": "no",
                   "opinion": "尚未对接公共数据平台，不予验收"})
    view = request_json(handler, rid)
    assert view["current_tasks"][0]["title"] == "补充目录编制或平台对接后重新提交"
    page = handler.get(f"/tasks/{my_task(handler, rid)}").get_data(as_text=True)
    assert "智慧教室管理平台" in page and "不予验收" in page  # refilled, reason in the history
    act(handler, rid, {**PROJECT, "platform_connection": "2026-11-20 已通过数据接口对接"})
    act(nic, rid, {"catalogue_compiled": "yes", "platform_connected": "yes", "opinion": "准予验收"})
    view = request_json(handler, rid)
    assert view["status_label"] == "准予进入验收"
    checks = [h for h in view["history"] if h["step"] == "网信中心核查目录编制与平台对接"]
    assert [c["basis"] for c in checks] == ["第十九条", "第十九条"]


def test_project_acceptance_can_be_withdrawn(login):
    handler, nic = login("cs_handler"), login("nic_head")
    rid = start(handler, "project_acceptance", PROJECT)
    act(nic, rid, {"catalogue_compiled": "no", "platform_connected": "no", "opinion": "均未完成"})
    assert handler.post(f"/tasks/{my_task(handler, rid)}", {"_action": "withdraw"}).status_code == 302
    assert request_json(handler, rid)["status_label"] == "已撤回"


def test_quality_feedback_is_corrected_reopened_confirmed_and_counted(login):
    from datetime import datetime

    import time_machine
    from openpyxl import load_workbook

    from app.models.types import CHINA_TZ

    bj = lambda *a: datetime(*a, tzinfo=CHINA_TZ)  # noqa: E731
    with time_machine.travel(bj(2026, 3, 2, 10, 0), tick=False):
        handler, nic, student = login("cs_handler"), login("nic_staff"), login("student_head")
        catalog = {r["code"]: r["id"] for r in handler.get("/api/v1/catalog").get_json()["resources"]}
        page = handler.get("/processes/quality_feedback/new").get_data(as_text=True)
        assert "学生基本信息（学生处）" in page and "教职工工资明细" not in page  # only shared resources
        rid = start(handler, "quality_feedback", {"resource": str(catalog["student_basic"]), "problem": "error",
                                                  "description": "学号 2021001 的专业与教务系统不一致"})
        act(nic, rid, {"action": "forward", "days": "2", "opinion": "请学生处校核"})
        task = request_json(handler, rid)["current_tasks"][0]
        assert task["department"] == "学生处" and task["due_at"].startswith("2026-03-04T09:30")
        act(student, rid, {"result": "corrected", "answer": "已修正专业字段"})
        act(handler, rid, {"result": "reopen", "comment": "班级字段仍不一致"})
    with time_machine.travel(bj(2026, 3, 9, 10, 0), tick=False):  # the reopened round was due on Mar 4
        handler, student, supervisor = login("cs_handler"), login("student_head"), login("supervisor")
        act(student, rid, {"result": "corrected", "answer": "已修正班级字段"})
        act(handler, rid, {"result": "confirm"})
        assert request_json(handler, rid)["status_label"] == "已确认，结案"
        html = supervisor.get("/supervision/").get_data(as_text=True)
        assert "数据质量反馈（按数据提供部门" in html
        book = load_workbook(__import__("io").BytesIO(supervisor.get("/supervision/export.xlsx").data))
        rows = list(book["数据质量反馈"].iter_rows(values_only=True))
        assert rows[1] == ("学生处", 1, 2, 1, 1, 0, 0)  # one case, asked twice: once on time, once late


def test_delivery_records_grants_that_remind_expire_and_lead_to_a_violation_report(app, login):
    import re
    from datetime import datetime

    import time_machine

    from app.models.types import CHINA_TZ
    from app.services.resources import grants

    from .journey import submit

    bj = lambda *a: datetime(*a, tzinfo=CHINA_TZ)  # noqa: E731
    with time_machine.travel(bj(2026, 1, 15, 10, 0), tick=False):
        handler = login("cs_handler")
        rid = submit(handler, {"course_schedule": ["kch", "kcm"], "org_units": ["jgdm"]})
        act(login("cs_head"), rid, {"decision": "approve"})
        act(login("nic_head"), rid, {"decision": "approve"})
        nic_staff = login("nic_staff")
        resp = nic_staff.post(f"/tasks/{my_task(nic_staff, rid)}", {"method": "interface", "note": "接口",
                                                                    "valid_months": "99"})
        assert resp.status_code == 422 and "授权期限应为 1 至 36 个月" in resp.get_data(as_text=True)
        act(nic_staff, rid, {"method": "interface", "note": "接口", "valid_months": "6"})
        page = handler.get("/grants").get_data(as_text=True)
        assert page.count('class="active"') == 2 and "2026-07-15" in page and "课程号、课程名" in page
        assert "grant" in [h["action"] for h in request_json(handler, rid)["history"]]
        assert "课程表" in login("academic_head").get("/grants").get_data(as_text=True)  # the provider sees it
        assert "暂无数据使用授权" in login("me_handler").get("/grants").get_data(as_text=True)
    with app.app_context(), time_machine.travel(bj(2026, 6, 20, 10, 0), tick=False):
        assert grants.remind_expiring() == 2
        assert grants.remind_expiring() == 0  # once
    with time_machine.travel(bj(2026, 6, 20, 10, 0), tick=False):
        handler = login("cs_handler")
        assert "的数据使用授权将于 2026-07-15 到期" in handler.get("/notifications").get_data(as_text=True)
        assert handler.get("/grants").get_data(as_text=True).count("即将到期") == 2
    with time_machine.travel(bj(2026, 7, 16, 10, 0), tick=False):
        nic = login("nic_head")
        page = nic.get("/grants").get_data(as_text=True)
        assert page.count("已过期") == 2
        link = re.search(r'class="report-misuse" href="([^"]+)"', page).group(1).replace("&amp;", "&")
        form = nic.get(link).get_data(as_text=True)
        assert 'value="misuse" checked' in form and '<option value="college_cs" selected' in form
        assert f"（申请 #{rid}）" in form


def test_quarterly_security_inspection_round_with_overdue_records(app, login):
    from datetime import datetime

    import time_machine

    from app.models.types import CHINA_TZ
    from app.services.oversight import inspections
    from app.services.workflow import timers

    bj = lambda *a: datetime(*a, tzinfo=CHINA_TZ)  # noqa: E731
    with app.app_context(), time_machine.travel(bj(2026, 3, 2, 9, 0), tick=False):
        assert inspections.start_due_round() is None  # March is not an inspection month
    with app.app_context(), time_machine.travel(bj(2026, 4, 1, 9, 0), tick=False):
        rid = inspections.start_due_round()
        assert rid is not None and inspections.start_due_round() is None  # one round per quarter
    with time_machine.travel(bj(2026, 4, 2, 9, 0), tick=False):
        nic, student, supervisor = login("nic_head"), login("student_head"), login("supervisor")
        view = request_json(nic, rid)
        assert view["title"] == "2026 年第 2 季度数据安全检查"
        holders = sorted(t["department"] for t in view["current_tasks"])
        assert "学生处" in holders and "网络安全与信息化领导小组办公室" not in holders
        assert {t["due_at"][:10] for t in view["current_tasks"]} == {"2026-04-16"}  # 10 working days
        page = student.get(f"/tasks/{my_task(student, rid)}").get_data(as_text=True)
        assert "已核查数据备份，并抽查恢复" in page
        act(student, rid, {"backup_verified": "1", "logs_reviewed": "1", "issues": "none",
                           "record": "2026年4月2日检查学生信息库，未发现问题"})
    with app.app_context(), time_machine.travel(bj(2026, 4, 16, 18, 0), tick=False):
        assert timers.fire_due_timers() == 1
    with time_machine.travel(bj(2026, 4, 17, 9, 0), tick=False):
        supervisor, hr = login("supervisor"), login("hr_head")
        html = supervisor.get("/supervision/").get_data(as_text=True)
        assert "部门开展数据安全检查并记录" in html and "已逾期 1 个工作日" in html
        assert "本轮数据安全检查已到期，请尽快提交检查记录" in hr.get("/notifications").get_data(as_text=True)
        assert "本轮数据安全检查已到期" not in login("student_head").get("/notifications").get_data(as_text=True)
        history = request_json(login("nic_head"), rid)["history"]
        record = next(h for h in history if h["user"] == "张处长（学生处）")
        assert record["opinion"] == "2026年4月2日检查学生信息库，未发现问题" and record["basis"] == "第三十一条"


RESOURCE = {"code": "student_awards", "name": "学生奖励信息", "description": "奖学金与荣誉称号", "domain_id": "3",
            "share_class": "unconditional", "fields": "xh:学号\njxmc:奖项名称", "delivery_methods": ["interface"],
            "update_frequency": "monthly"}


def test_catalogue_maintenance_is_logged_and_share_class_changes_need_nic_approval(login):
    student, nic, hr = login("student_head"), login("nic_head"), login("hr_head")
    resp = student.post("/catalogue/new", {**RESOURCE, "fields": "xh 学号", "delivery_methods": []})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "第 1 行应为「字段代码:字段名称」" in html and "请至少选择一种提供方式" in html
    assert 'value="学生奖励信息"' in html  # kept
    resp = student.post("/catalogue/new", RESOURCE)
    assert resp.status_code == 302
    rid = int(resp.headers["Location"].split("/")[-2])
    assert "学生奖励信息" in student.get("/catalogue").get_data(as_text=True)
    # another department can neither see the edit page nor change it
    assert hr.get(f"/catalogue/{rid}/edit").status_code == 403
    assert hr.post(f"/catalogue/{rid}/edit", RESOURCE).status_code == 403
    assert login("cac").get("/catalogue/mine").status_code == 403
    # an update applies at once; the share-class change waits for 网信中心
    resp = student.post(f"/catalogue/{rid}/edit", {**RESOURCE, "fields": "xh:学号\njxmc:奖项名称\njb:级别",
                                                  "share_class": "conditional", "class_reason": "含个人敏感信息"},
                        follow_redirects=True)
    html = resp.get_data(as_text=True)
    approval = int(__import__("re").search(r"共享类型变更已提交网信中心审核（#(\d+)）", html).group(1))
    assert "修改：数据项" in html and 'value="unconditional" checked' in html
    act(nic, approval, {"decision": "approve", "opinion": "同意调整为有条件共享"})
    assert request_json(student, approval)["status_label"] == "共享类型已变更"
    page = student.get(f"/catalogue/{rid}/edit").get_data(as_text=True)
    assert 'value="conditional" checked' in page and "普遍共享类 → 有条件共享类（经网信中心同意" in page
    resp = student.post(f"/catalogue/{rid}/retire", {"reason": "数据并入学生基本信息"}, follow_redirects=True)
    assert "删除：数据并入学生基本信息" in resp.get_data(as_text=True)
    assert "学生奖励信息" not in student.get("/catalogue").get_data(as_text=True)
    logged = [h["step"] for h in request_json(student, approval)["history"]]
    assert "网信中心审核共享类型" in logged


def test_quality_feedback_closed_by_nic_and_share_class_change_rejected(login):
    handler, nic_staff, nic, student = login("cs_handler"), login("nic_staff"), login("nic_head"), login("student_head")
    catalog = {r["code"]: r for r in handler.get("/api/v1/catalog").get_json()["resources"]}
    rid = start(handler, "quality_feedback", {"resource": str(catalog["student_basic"]["id"]), "problem": "doubt",
                                              "description": "学号位数与说明不符"})
    resp = nic_staff.post(f"/tasks/{my_task(nic_staff, rid)}", {"action": "forward", "opinion": "转办"})
    assert resp.status_code == 422 and "请填写「答复期限（工作日）」" in resp.get_data(as_text=True)
    act(nic_staff, rid, {"action": "close", "opinion": "学号位数已在目录说明中注明，无需校核"})
    assert request_json(handler, rid)["status_label"] == "无需校核，结案"
    created = student.post("/catalogue/new", {**RESOURCE, "share_class": "conditional"})
    resource_id = int(created.headers["Location"].split("/")[-2])
    resp = student.post(f"/catalogue/{resource_id}/edit", {**RESOURCE, "share_class": "unconditional",
                                                          "class_reason": "希望普遍共享"}, follow_redirects=True)
    approval = int(__import__("re").search(r"审核（#(\d+)）", resp.get_data(as_text=True)).group(1))
    act(nic, approval, {"decision": "reject", "opinion": "含个人奖励信息，维持有条件共享"})
    assert request_json(student, approval)["status_label"] == "维持原共享类型"
    catalog = {r["code"]: r for r in handler.get("/api/v1/catalog").get_json()["resources"]}
    assert catalog["student_awards"]["share_class"] == "conditional"


def test_only_startable_processes_can_be_started_by_url(login):
    handler = login("cs_handler")
    for key in ("catalogue_class_change", "security_inspection", "share_request"):
        assert handler.get(f"/processes/{key}/new").status_code == 404
        assert handler.post(f"/processes/{key}/new", {"resource_id": "1", "resource_name": "x",
                                                       "current_class": "conditional",
                                                       "requested_class": "unconditional",
                                                       "reason": "想改别人的资源"}).status_code == 404
    assert handler.get("/processes/no_such_process/new").status_code == 404
