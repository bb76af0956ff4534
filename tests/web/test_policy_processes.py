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
