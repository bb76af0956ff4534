"""The form designer over HTTP (issue 12): administrators only, 422 naming the field, no 500 on hostile JSON,
versions, export/import, the preview rendered by the task macros, the modeler's pickers, and pinning seen by users:
an instance started before a form edit keeps its fields, one started after a redeploy gets the new ones."""
from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog

from .journey import act, my_task, submit

ROOT = Path(__file__).resolve().parents[2]
NEW_FORM = {"key": "usage_report", "title": "数据使用情况报告", "basis": "第二十三条", "opinion_field": "opinion",
            "fields": [{"name": "summary", "label": "使用情况", "type": "textarea", "required": True},
                       {"name": "opinion", "label": "审批意见", "type": "textarea"}]}


@pytest.fixture()
def admin(login):
    b = login("admin")
    b.json = lambda url, body: b.client.post(url, json=body, headers={"X-CSRFToken": b.csrf})
    return b


def test_only_administrators_reach_the_designer(login):
    handler = login("cs_handler")
    for url in ("/admin/forms", "/admin/forms/new", "/admin/forms/nic_review", "/admin/forms/nic_review/export",
                "/admin/modeler/options.json"):
        resp = handler.get(url)
        assert resp.status_code == 403 and "管理员" in resp.get_data(as_text=True), url
    assert handler.post("/admin/forms/new", {"definition": json.dumps(NEW_FORM)}).status_code == 403
    assert handler.post("/admin/forms/preview", {"definition": json.dumps(NEW_FORM)}).status_code == 403


def test_list_create_edit_history_export_and_audit(app, admin):
    page = admin.get("/admin/forms").get_data(as_text=True)
    assert "网络与信息中心意见" in page and "nic_review" in page and "兰州理工大学数据资源共享审批" not in page
    assert "数据资源共享审批" in page or "share_request" in page or "未被流程使用" in page
    assert admin.get("/admin/forms/new").status_code == 200
    resp = admin.post("/admin/forms/new", {"definition": json.dumps(NEW_FORM, ensure_ascii=False)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/forms/usage_report")
    edited = copy.deepcopy(NEW_FORM)
    edited["fields"].insert(1, {"name": "period", "label": "报告期", "type": "text", "required": True})
    resp = admin.post("/admin/forms/usage_report", {"definition": json.dumps(edited, ensure_ascii=False)})
    assert resp.status_code == 303
    page = admin.get("/admin/forms/usage_report").get_data(as_text=True)
    assert "第 2 版" in page and "第 1 版" in page and "报告期" in page
    exported = admin.get("/admin/forms/usage_report/export?version=1")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert json.loads(exported.get_data(as_text=True)) == NEW_FORM
    assert admin.get("/admin/forms/usage_report/export?version=9").status_code == 404
    assert admin.get("/admin/forms/no_such_form").status_code == 404
    with app.app_context():
        actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action.in_(
            ["form_create", "form_save", "form_import"])).order_by(AuditLog.id)).all()
    assert actions == ["form_create", "form_save"]


def test_invalid_definitions_get_422_naming_the_field(admin):
    broken = copy.deepcopy(NEW_FORM)
    broken["fields"].insert(2, {"name": "reason", "type": "text", "label": "申请理由", "required_if": {"x": "1"}})
    broken["fields"][0].pop("label")
    resp = admin.post("/admin/forms/new", {"definition": json.dumps(broken, ensure_ascii=False)})
    text = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "第 1 个字段「summary」：缺少 label" in text
    resp = admin.json("/admin/forms/preview", {"definition": broken})
    assert resp.status_code == 422
    broken["fields"][0]["label"] = "使用情况"
    resp = admin.json("/admin/forms/preview", {"definition": broken})
    assert resp.status_code == 422
    assert resp.get_json()["problems"] == ["第 3 个字段「申请理由」：required_if 引用的字段 x 不存在"]


@pytest.mark.parametrize("body", [None, [], "not json", {"definition": None}, {"definition": 1},
                                  {"definition": "{"}, {"definition": [1]}, {"definition": {"fields": {"a": 1}}},
                                  {"definition": {"key": "k", "title": "t", "fields": [None, 1, "x", []]}},
                                  {"definition": {"key": "k", "title": "t", "fields": [{"name": ["x"], "label": {},
                                                                                        "type": None}]}},
                                  {"definition": json.loads("[" * 900 + "]" * 900)},
                                  {"definition": "[" * 20000 + "]" * 20000},
                                  {"definition": {"key": "k", "title": "t", "fields": [
                                      {"name": "a", "label": "a", "type": "radio", "options": [{"value": 1}]}]}}])
def test_hostile_json_never_gives_500(admin, body):
    resp = admin.json("/admin/forms/preview", body)
    assert resp.status_code in (400, 422), resp.get_data(as_text=True)[:500]  # 400: JSON too deep for the parser
    form_post = admin.post("/admin/forms/new", {"definition": json.dumps(body)})
    assert form_post.status_code == 422


def test_preview_renders_the_task_macros(admin):
    resp = admin.json("/admin/forms/preview", {"definition": NEW_FORM})
    assert resp.status_code == 200
    html = resp.get_json()["html"]
    assert 'name="summary"' in html and "使用情况" in html and "<script" not in html
    share = admin.get("/admin/forms/share_application/export").get_json()
    html = admin.json("/admin/forms/preview", {"definition": share}).get_json()["html"]
    assert 'class="resources"' in html and 'name="head_phone"' in html  # the catalogue, as on the 申请表


def test_import_upload_validates(admin):
    good = io.BytesIO(json.dumps({**NEW_FORM, "title": "导入的表单"}, ensure_ascii=False).encode("utf-8"))
    resp = admin.client.post("/admin/forms/import", content_type="multipart/form-data",
                             data={"file": (good, "usage_report.json"), "csrf_token": admin.csrf})
    assert resp.status_code == 303
    bad = io.BytesIO(b'{"key": "usage_report", "title": "x", "fields": [{"name": "a", "type": "text"}]}')
    resp = admin.client.post("/admin/forms/import", data={"file": (bad, "x.json"), "csrf_token": admin.csrf},
                             content_type="multipart/form-data")
    assert resp.status_code == 422 and "第 1 个字段「a」：缺少 label" in resp.get_data(as_text=True)
    binary = io.BytesIO(b"\xff\xfe\x00garbage")
    resp = admin.client.post("/admin/forms/import", data={"file": (binary, "x.json"), "csrf_token": admin.csrf},
                             content_type="multipart/form-data")
    assert resp.status_code == 422
    none = admin.client.post("/admin/forms/import", data={"csrf_token": admin.csrf})
    assert none.status_code == 400


def test_modeler_options_name_forms_roles_and_departments_in_chinese(admin):
    body = admin.get("/admin/modeler/options.json").get_json()
    assert {"key": "nic_review", "title": "网络与信息中心意见"} in body["forms"]
    assert {"value": "dept_head", "label": "部门信息化负责人"} in body["roles"]
    assert any(d["value"] == "nic" and d["label"] for d in body["departments"])


def test_an_open_request_keeps_its_form_version_and_a_redeployed_process_uses_the_new_one(app, admin, login):
    handler, head = login("cs_handler"), login("cs_head")
    old = submit(handler, {"student_basic": ["xh"]})
    form = admin.get("/admin/forms/dept_head_commitment/export").get_json()
    form["fields"].append({"name": "contact_note", "label": "部门联系人备注", "type": "text", "max_length": 100})
    resp = admin.post("/admin/forms/dept_head_commitment", {"definition": json.dumps(form, ensure_ascii=False)})
    assert resp.status_code == 303
    page = head.get(f"/tasks/{my_task(head, old)}").get_data(as_text=True)
    assert 'name="contact_note"' not in page  # the old instance's process version pinned version 1
    xml = (ROOT / "bpmn" / "share_request.bpmn").read_text(encoding="utf-8")
    deployed = admin.json("/admin/definitions", {"xml": xml, "file_name": "share_request.bpmn"})
    assert deployed.status_code == 201 and deployed.get_json()["version"] == 2, deployed.get_json()
    new = submit(handler, {"student_basic": ["xh"]})
    page = head.get(f"/tasks/{my_task(head, new)}").get_data(as_text=True)
    assert 'name="contact_note"' in page and "部门联系人备注" in page
    page = head.get(f"/tasks/{my_task(head, old)}").get_data(as_text=True)
    assert 'name="contact_note"' not in page
    act(head, old, {"decision": "approve"})  # each completes against its own version
    act(head, new, {"decision": "approve", "contact_note": "张老师"})
    listing = admin.get("/admin/forms").get_data(as_text=True)
    assert "表单第 2 版" in listing
