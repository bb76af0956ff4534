"""Administrators: validation and deployment over HTTP (malformed input never crashes, nothing is stored),
versions with diffs, migration (dry run first), suspend / resume / cancel, and retry after an error."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import ProcessDefinition

from .journey import act, my_task, request_json, submit

ROOT = Path(__file__).resolve().parents[2]
SHARE_XML = (ROOT / "bpmn" / "share_request.bpmn").read_text(encoding="utf-8")
APPROVE = {"decision": "approve"}


def _versions(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ProcessDefinition.id)))


@pytest.fixture()
def admin(login):
    b = login("admin")
    b.json = lambda url, body: b.client.post(url, json=body, headers={"X-CSRFToken": b.csrf})
    return b


BROKEN = {
    "random XML": ("<hello><world/></hello>", None, "根元素不是 BPMN 2.0"),
    "not XML": ("%PDF-1.4 binary", None, "不是合法的 XML"),
    "other tool": ((ROOT / "tests/data/camunda_other_tool.bpmn").read_text(encoding="utf-8"), "cg",
                   "本系统的流程引擎不支持这种 BPMN 元素"),
    "no start event": (SHARE_XML.replace('<bpmn:startEvent id="start" name="提出申请">', '<bpmn:task id="start">')
                       .replace("</bpmn:startEvent>", "</bpmn:task>"), None, "没有开始事件"),
    "unknown role": (SHARE_XML.replace('value="nic_reviewer"', 'value="nic_revewer"'), "deliver", "候选角色不存在"),
    "unknown department": (SHARE_XML.replace("value=\"'cac_office'\"", "value=\"'cac'\""), "cac_decide",
                           "部门 cac 不存在"),
    "bad timer": (SHARE_XML.replace("add_working_days(forwarded_at, 5)", "add_working_days(forwarded_at, 5"),
                  "deadline_timer", "定时器表达式有 Python 语法错误"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_diagrams_get_the_element_and_reason_and_nothing_is_stored(app, admin, case):
    xml, element, reason = BROKEN[case]
    before = _versions(app)
    for url in ("/admin/definitions/validate", "/admin/definitions"):
        resp = admin.json(url, {"xml": xml, "file_name": "x.bpmn"})
        assert resp.status_code == 422, resp.get_data(as_text=True)
        problems = resp.get_json()["problems"]
        assert any(reason in p["reason"] and (element is None or p["element_id"] == element) for p in problems), \
            problems
    assert _versions(app) == before


def test_uploads_too_large_or_missing_are_refused_cleanly(app, admin):
    before = _versions(app)
    big = b"<x>" + b"a" * (20 * 1024 * 1024) + b"</x>"
    resp = admin.post("/admin/definitions", {"file": (__import__("io").BytesIO(big), "big.bpmn")},
                      content_type="multipart/form-data", follow_redirects=True)
    assert resp.status_code == 200 and "文件过大" in resp.get_data(as_text=True)
    resp = admin.client.post("/admin/definitions", data=b"x" * (30 * 1024 * 1024),
                             headers={"X-CSRFToken": admin.csrf, "Content-Type": "application/octet-stream"})
    assert resp.status_code == 413
    assert admin.json("/admin/definitions", {"xml": ""}).status_code == 400
    assert _versions(app) == before


def test_only_administrators_reach_the_admin_pages(login):
    for username in ("cs_handler", "nic_head", "supervisor"):
        b = login(username)
        for url in ("/admin/processes", "/admin/modeler", "/admin/instances", "/admin/processes/share_request"):
            assert b.get(url).status_code == 403
        assert b.client.post("/admin/definitions", json={"xml": SHARE_XML},
                             headers={"X-CSRFToken": b.csrf}).status_code == 403


def test_upload_deploys_a_new_version_with_a_diff_and_migration_moves_instances(app, admin, login):
    handler = login("cs_handler")
    at_nic = submit(handler, {"course_schedule": ["kch"]})
    act(login("cs_head"), at_nic, APPROVE)
    at_head = submit(handler, {"course_schedule": ["kch"]})
    # version 2 drops the 网信中心审核 step: an approved application goes straight on to determine_providers
    changed = _edit(SHARE_XML.replace('name="部门负责人签署承诺"', 'name="部门负责人签署承诺（第二版）"'),
                    {"nic_review", "gw_nic", "f_nic", "f_nic_return", "f_nic_ok"}, {"f_head_ok": "determine_providers"})
    resp = admin.post("/admin/definitions", {"file": (__import__("io").BytesIO(changed.encode()), "v2.bpmn")},
                      content_type="multipart/form-data", follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert "share_request 已部署为第 2 版" in html
    assert "删除 <code>nic_review</code> 网信中心审核" in html and "删除 <code>gw_nic</code>" in html
    assert "修改 <code>dept_head_sign</code> 部门负责人签署承诺（第二版）（名称）" in html
    assert "修改 <code>f_head_ok</code> 同意（连线）" in html
    with app.app_context():
        v1, v2 = db.session.scalars(select(ProcessDefinition.id).where(
            ProcessDefinition.process_key == "share_request").order_by(ProcessDefinition.version)).all()
    plan = admin.get(f"/admin/migrations/{v1}/{v2}").get_data(as_text=True)
    assert "当前环节将采用新版本定义：部门负责人签署承诺（第二版）" in plan
    assert "当前所在环节在新版本中已删除：网信中心审核" in plan
    resp = admin.post(f"/admin/migrations/{v1}/{v2}", {"instance_id": [str(at_nic), str(at_head)]},
                      follow_redirects=True)
    assert "已迁移 1 个实例，1 个未迁移" in resp.get_data(as_text=True)
    moved = request_json(handler, at_head)
    assert moved["process"]["version"] == 2 and moved["current_tasks"][0]["title"] == "部门负责人签署承诺（第二版）"
    assert "migrate" in [h["action"] for h in moved["history"]]
    assert request_json(handler, at_nic)["process"]["version"] == 1
    act(login("cs_head"), at_head, APPROVE)  # version 2: no 网信中心审核 step any more
    assert [t["title"] for t in request_json(handler, at_head)["current_tasks"]] == ["网信中心提供数据"]
    act(login("nic_staff"), at_head, {"method": "interface", "note": "接口"})
    assert request_json(handler, at_head)["status_label"] == "数据已提供"
    act(login("nic_head"), at_nic, APPROVE)  # version 1 keeps its step
    assert [t["title"] for t in request_json(handler, at_nic)["current_tasks"]] == ["网信中心提供数据"]
    download = admin.get(f"/definitions/{v2}.bpmn?download=1")
    assert download.headers["Content-Disposition"] == 'attachment; filename="share_request-v2.bpmn"'


def _edit(xml: str, remove: set[str], retarget: dict[str, str]) -> str:
    """A changed diagram: elements removed (with their lane entries, flow references and layout) and flows moved."""
    from lxml import etree

    ns = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL", "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI"}
    root = etree.fromstring(xml.encode())
    for el in list(root.iter()):
        if not isinstance(el.tag, str) or el.getparent() is None:
            continue
        local = etree.QName(el).localname
        if el.get("id") in remove or el.get("bpmnElement") in remove or (
                local in {"flowNodeRef", "incoming", "outgoing"} and (el.text or "").strip() in remove):
            el.getparent().remove(el)
    for flow_id, target in retarget.items():
        root.xpath(f"//bpmn:sequenceFlow[@id='{flow_id}']", namespaces=ns)[0].set("targetRef", target)
        incoming = etree.Element(f"{{{ns['bpmn']}}}incoming")
        incoming.text = flow_id
        root.xpath(f"//*[@id='{target}']", namespaces=ns)[0].insert(0, incoming)
    return etree.tostring(root, encoding="unicode")


def test_suspend_resume_and_cancel(admin, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    resp = admin.post(f"/admin/instances/{rid}/suspend", {"reason": ""}, follow_redirects=True)
    assert "请填写暂停原因" in resp.get_data(as_text=True)
    admin.post(f"/admin/instances/{rid}/suspend", {"reason": "核实申请部门资质"})
    assert request_json(handler, rid)["status_label"] == "已暂停"
    assert head.get("/api/v1/tasks").get_json()["tasks"] == []
    resp = head.post(f"/tasks/{task_id}", APPROVE, follow_redirects=True)
    assert "当前状态为「已暂停」，不能办理" in resp.get_data(as_text=True)
    admin.post(f"/admin/instances/{rid}/resume")
    act(head, rid, APPROVE)
    admin.post(f"/admin/instances/{rid}/cancel", {"reason": "申请部门撤销需求"})
    view = request_json(handler, rid)
    assert view["status_label"] == "已取消" and view["current_tasks"] == []
    assert view["status_reason"] == "申请部门撤销需求"
    assert [h["action"] for h in view["history"]][-3:] == ["resume", "complete", "cancel"]
    resp = admin.post(f"/admin/instances/{rid}/resume", follow_redirects=True)
    assert "只能恢复已暂停的流程" in resp.get_data(as_text=True)


def test_failed_step_is_fixed_by_a_new_version_migration_and_retry(app, admin, login):
    broken = SHARE_XML.replace("dept_head_opinion['decision'] != 'approve'", "dept_head_opinion['missing'] == 1")
    assert admin.json("/admin/definitions", {"xml": broken}).status_code == 201
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    resp = head.post(f"/tasks/{my_task(head, rid)}", {"decision": "approve", "opinion": "同意"},
                     follow_redirects=True)
    assert resp.status_code == 200  # never a 500 page
    view = request_json(handler, rid)
    assert view["status"] == "error" and view["error_element"] == "gw_head"
    html = admin.get("/admin/instances?status=error").get_data(as_text=True)
    assert f"#{rid}" in html and "gw_head" in html
    resp = admin.post(f"/admin/instances/{rid}/retry", follow_redirects=True)
    assert "重试仍然失败" in resp.get_data(as_text=True)
    fixed = admin.json("/admin/definitions", {"xml": SHARE_XML.replace("提出申请", "提出申请（修正）")})
    assert fixed.status_code == 201 and fixed.get_json()["version"] == 3
    with app.app_context():
        v2, v3 = db.session.scalars(select(ProcessDefinition.id).where(
            ProcessDefinition.version > 1, ProcessDefinition.process_key == "share_request")
            .order_by(ProcessDefinition.version)).all()
    admin.post(f"/admin/migrations/{v2}/{v3}", {"instance_id": [str(rid)]})
    resp = admin.post(f"/admin/instances/{rid}/retry", follow_redirects=True)
    assert "操作成功" in resp.get_data(as_text=True)
    view = request_json(handler, rid)
    assert view["status"] == "running" and view["current_tasks"][0]["title"] == "网信中心审核"
    assert [h["opinion"] for h in view["history"] if h["action"] == "complete"] == ["同意"]


def test_modeler_page_serves_the_local_modeler_and_the_four_lane_template(admin):
    html = admin.get("/admin/modeler").get_data(as_text=True)
    assert "vendor/bpmn-js/bpmn-modeler.production.min.js" in html and "modeler/new-process.bpmn" in html
    assert '"share_application"' in html and '"nic_reviewer"' in html  # form keys and roles for the panel
    assert admin.get("/static/vendor/bpmn-js/bpmn-modeler.production.min.js").status_code == 200
    template = admin.get("/static/modeler/new-process.bpmn").get_data(as_text=True)
    assert all(lane in template for lane in ("申请部门", "网信中心", "数据提供部门", "网信办"))
    edit = admin.get("/admin/modeler?definition_id=1").get_data(as_text=True)
    assert "/definitions/1.bpmn" in edit
