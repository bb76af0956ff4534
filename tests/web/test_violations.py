"""Violation handling (Art. 32, 33) over HTTP: every branch, the articles recorded, and the case the system opens
when a provider misses its deadline."""
from __future__ import annotations

from datetime import datetime

import time_machine

from app.models.types import CHINA_TZ

from .journey import act, my_task, request_json


def report(b, **overrides) -> int:
    data = {"accused_department": "hr", "kind": "misuse", "facts": "人事处将共享的学生数据提供给校外培训机构",
            "related": "", **overrides}
    resp = b.post("/processes/violation_case/new", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def investigate(b, rid, **data):
    act(b, rid, {"opinion": "经调查核实", **data})


def test_report_form_validates_and_only_reporters_may_open_cases(login):
    handler = login("cs_handler")
    page = handler.get("/processes/violation_case/new").get_data(as_text=True)
    assert "（五）擅自将共享数据用于履职以外" in page and '<option value="hr"' in page
    resp = handler.post("/processes/violation_case/new", {"accused_department": "nowhere", "facts": "短"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "「涉事单位、部门」的选项无效" in html and "请填写「违规情形（第三十二条）」" in html
    assert "至少 5 个字" in html
    assert login("supervisor").get("/processes/violation_case/new").status_code == 403
    rid = report(handler)
    assert login("me_handler").get(f"/requests/{rid}").status_code == 403
    view = request_json(handler, rid)
    assert ("违规情形（第三十二条）", "（五）擅自将共享数据用于履职以外、转让第三方或开展经营性活动") in [
        tuple(x) for x in view["start_summary"]]


def test_no_violation_is_dismissed(login):
    handler, nic = login("cs_handler"), login("nic_head")
    rid = report(handler)
    investigate(nic, rid, finding="no_violation")
    assert request_json(handler, rid)["status_label"] == "不构成违规"


def test_art33_matters_are_referred_to_the_authorities(login):
    handler, nic, cac = login("cs_handler"), login("nic_head"), login("cac")
    rid = report(handler, kind="lost_control")
    resp = nic.post(f"/tasks/{my_task(nic, rid)}", {"finding": "art33", "opinion": "涉嫌泄露"})
    assert resp.status_code == 422 and "请填写「移送机关（第三十三条）」" in resp.get_data(as_text=True)
    investigate(nic, rid, finding="art33", referred_to="police")
    view = request_json(handler, rid)
    assert view["status_label"] == "已移送有关机关"
    assert "违规事项已移送有关机关依法处理（第三十三条）" in cac.get("/notifications").get_data(as_text=True)
    assert any("第三十三条" in h["basis"] for h in view["history"] if h["action"] == "complete")


def test_corrected_in_time_closes_the_case(login):
    handler, nic, hr = login("cs_handler"), login("nic_head"), login("hr_head")
    rid = report(handler)
    resp = nic.post(f"/tasks/{my_task(nic, rid)}", {"finding": "violation", "opinion": "构成违规"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "请填写「情节」" in html and "请填写「整改期限（工作日）」" in html
    investigate(nic, rid, finding="violation", severity="correction_only", correction_days="5")
    assert "网信中心责令限期改正（第三十二条）" in hr.get("/notifications").get_data(as_text=True)
    task = request_json(handler, rid)["current_tasks"][0]
    assert task["title"] == "涉事部门整改并报告" and task["department"] == "人事处" and task["due_at"]
    act(hr, rid, {"report": "已收回数据并完成内部通报"})
    act(nic, rid, {"corrected": "yes", "opinion": "整改到位"})
    assert request_json(handler, rid)["status_label"] == "已整改，结案"


def test_minor_matter_goes_to_cac_office_for_an_interview(login):
    handler, nic, hr, cac = login("cs_handler"), login("nic_head"), login("hr_head"), login("cac")
    rid = report(handler)
    investigate(nic, rid, finding="violation", severity="minor", correction_days="3")
    act(hr, rid, {"report": "已整改并完成内部通报"})
    act(nic, rid, {"corrected": "yes", "opinion": "已整改，情节较轻，报网信办"})
    act(cac, rid, {"decision": "interview", "opinion": "约谈人事处负责人"})
    view = request_json(handler, rid)
    assert view["status_label"] == "网信办已作出处理决定"
    decisions = [h for h in view["history"] if h["step"] == "网信办作出处理决定"]
    assert decisions[0]["summary"] == "约谈（情节较轻）" and decisions[0]["basis"] == "第三十二条"


def test_missed_correction_deadline_escalates_to_accountability(login):
    bj = lambda *a: datetime(*a, tzinfo=CHINA_TZ)  # noqa: E731
    with time_machine.travel(bj(2026, 3, 2, 10, 0), tick=False):  # sessions are signed with the (moved) time
        handler, nic = login("cs_handler"), login("nic_head")
        rid = report(handler)
        investigate(nic, rid, finding="violation", severity="serious", correction_days="2")
        assert request_json(handler, rid)["current_tasks"][0]["due_at"].startswith("2026-03-04T09:30")
    with time_machine.travel(bj(2026, 3, 4, 18, 0), tick=False):
        from app.services.workflow import timers

        handler, nic, cac = login("cs_handler"), login("nic_head"), login("cac")
        with nic.client.application.app_context():
            assert timers.fire_due_timers() == 1
        view = request_json(handler, rid)
        assert [t["title"] for t in view["current_tasks"]] == ["网信中心核验整改"]
        assert "涉事部门逾期未报告整改情况" in nic.get("/notifications").get_data(as_text=True)
        act(nic, rid, {"corrected": "no", "opinion": "逾期未整改"})
        act(cac, rid, {"decision": "accountability", "opinion": "提请学校追责"})
        assert request_json(handler, rid)["status_label"] == "网信办已作出处理决定"
