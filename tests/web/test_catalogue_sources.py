"""一数一源 (Art. 14) and coding standards (Art. 13) in the catalogue, the project acceptance form (Art. 19) and
quality feedback: real database, Flask test client."""
from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, DataResource, ProcessInstance
from app.services.resources.catalog import field_line, parse_field_line

from .journey import act, my_task

AWARDS = {"code": "staff_training", "name": "教职工培训记录", "description": "校内外培训", "domain_id": "2",
          "share_class": "conditional", "fields": "pxbh:培训编号\npxmc:培训名称", "delivery_methods": ["interface"],
          "update_frequency": "monthly"}


def _resource(app, code: str) -> DataResource | None:
    with app.app_context():
        resource = db.session.scalar(select(DataResource).where(DataResource.code == code))
        if resource is not None:
            db.session.expunge(resource)
        return resource


def _source_logs(app) -> list[AuditLog]:
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "catalog_duplicate_source")
                                  .order_by(AuditLog.id)).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def test_a_field_another_department_provides_needs_a_justification_that_is_logged(app, login):
    hr = login("hr_head")
    # 学号 by code (student_basic.xh, 学生处) and 手机号 by name (staff_basic is hr's own: not a duplicate)
    data = {**AWARDS, "code": "student_assistants", "name": "学生助管信息",
            "fields": "xh:学号\nlxdh:手机号\ngw:岗位"}
    resp = hr.post("/catalogue/new", data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert 'id="duplicate-sources"' in html and "一数一源（第十四条）" in html
    table = html[html.index('id="duplicate-sources"'):]
    assert "学生基本信息" in table and "学生处" in table and "<code>xh</code> 学号" in table
    assert "<code>sjh</code> 手机号" in table and "教职工基本信息" not in table  # hr's own resource is no duplicate
    assert 'value="学生助管信息"' in html  # what was typed is kept
    assert _resource(app, "student_assistants") is None and _source_logs(app) == []
    # a too-short reason is refused as well
    assert hr.post("/catalogue/new", {**data, "source_reason": "需要"}).status_code == 422
    assert _resource(app, "student_assistants") is None
    resp = hr.post("/catalogue/new", {**data, "source_reason": "助管聘用合同以学号登记，学号仅作关联键，从平台获取"})
    assert resp.status_code == 302
    saved = _resource(app, "student_assistants")
    assert saved is not None and [f["name"] for f in saved.fields] == ["xh", "lxdh", "gw"]
    [log] = _source_logs(app)
    assert log.detail["article"] == "第十四条" and log.detail["resource_id"] == saved.id
    assert log.opinion == log.detail["justification"] == "助管聘用合同以学号登记，学号仅作关联键，从平台获取"
    sources = {(d["resource_code"], d["field"], d["department"]) for d in log.detail["duplicates"]}
    assert ("student_basic", "xh", "学生处") in sources
    assert ("student_basic", "sjh", "学生处") in sources  # 手机号: same name, other department
    assert not any(d["resource_code"] == "staff_basic" for d in log.detail["duplicates"])  # own department
    page = hr.get(f"/catalogue/{saved.id}/edit").get_data(as_text=True)
    assert "一数一源说明" in page and "助管聘用合同以学号登记" in page  # in the operation log (Art. 16)


def test_extending_a_resource_asks_only_about_the_new_duplicates(app, login):
    hr = login("hr_head")
    assert hr.post("/catalogue/new", AWARDS).status_code == 302  # 培训编号/培训名称: no other department has them
    saved = _resource(app, "staff_training")
    assert _source_logs(app) == []
    # adding 课程名 (course_schedule.kcm of 教务处) by name, with another code
    extended = {**AWARDS, "fields": AWARDS["fields"] + "\npxkc:课程名"}
    resp = hr.post(f"/catalogue/{saved.id}/edit", extended)
    assert resp.status_code == 422 and "课程表" in resp.get_data(as_text=True)
    assert [f["name"] for f in _resource(app, "staff_training").fields] == ["pxbh", "pxmc"]
    resp = hr.post(f"/catalogue/{saved.id}/edit", {**extended, "source_reason": "培训课程不在教务课程表中"})
    assert resp.status_code == 302
    [log] = _source_logs(app)
    assert log.detail["article"] == "第十四条"
    assert [(d["resource_code"], d["field"], d["match"]) for d in log.detail["duplicates"]] == \
        [("course_schedule", "kcm", "label")]
    # saving again without change (or another attribute) asks nothing more
    assert hr.post(f"/catalogue/{saved.id}/edit", {**extended, "description": "校内外培训与进修"}).status_code == 302
    assert len(_source_logs(app)) == 1
    # a retired source no longer counts
    with app.app_context():
        db.session.execute(db.update(DataResource).where(DataResource.code == "research_projects")
                           .values(retired=True))
        db.session.commit()
    assert hr.post(f"/catalogue/{saved.id}/edit",
                   {**extended, "fields": extended["fields"] + "\nxmmc:项目名称"}).status_code == 302
    assert len(_source_logs(app)) == 1


def test_fields_name_their_coding_standard_everywhere_they_are_shown(app, login):
    student, handler = login("student_head"), login("cs_handler")
    data = {**AWARDS, "code": "student_origin", "name": "学生生源信息", "domain_id": "3",
            "fields": "xh:学号\njg:籍贯:GB/T 2260\nxbdm：性别代码：GB/T 2261.1\nmz:民族: 校标 LUT-2019 "}
    resp = student.post("/catalogue/new", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    saved = _resource(app, "student_origin")
    assert saved.fields == [{"name": "xh", "label": "学号"}, {"name": "jg", "label": "籍贯", "standard": "GB/T 2260"},
                            {"name": "xbdm", "label": "性别代码", "standard": "GB/T 2261.1"},
                            {"name": "mz", "label": "民族", "standard": "校标 LUT-2019"}]
    page = student.get(f"/catalogue/{saved.id}/edit").get_data(as_text=True)
    assert "xh:学号\njg:籍贯:GB/T 2260\nxbdm:性别代码:GB/T 2261.1\nmz:民族:校标 LUT-2019</textarea>" in page
    assert "GB/T 2261.1" in page and 'id="standard-help"' in page
    catalogue = handler.get("/catalogue").get_data(as_text=True)
    assert "籍贯<span class=\"muted standard\" title=\"编码标准（第十三条）\">（GB/T 2260）</span>" in catalogue
    assert "（GB/T 2260）" in student.get("/catalogue/mine").get_data(as_text=True)
    form = handler.get("/requests/new").get_data(as_text=True)
    assert re.search(r'value="jg"[^>]*>\s*籍贯<span class="muted standard"[^>]*>（GB/T 2260）', form)
    api = {r["code"]: r for r in handler.get("/api/v1/catalog").get_json()["resources"]}
    assert {"name": "jg", "label": "籍贯", "standard": "GB/T 2260"} in api["student_origin"]["fields"]
    # a malformed standard is refused, nothing changes
    for bad in ("jg:籍贯:GB\x07", "jg:籍贯:" + "G" * 61, ":籍贯:GB/T 2260", "jg::GB/T 2260"):
        resp = student.post(f"/catalogue/{saved.id}/edit", {**data, "fields": bad})
        assert resp.status_code == 422 and "字段代码:字段名称:编码标准" in resp.get_data(as_text=True)
    assert _resource(app, "student_origin").fields == saved.fields


def test_field_lines_round_trip_old_labels_with_colons():
    for field in ({"name": "a", "label": "备注"}, {"name": "b", "label": "时间:上午", "standard": ""},
                  {"name": "c", "label": "比例：百分比", "standard": "校标"},
                  {"name": "d", "label": "区划", "standard": "GB/T 2260"}):
        parsed = parse_field_line(field_line(field))
        assert parsed == {k: v for k, v in field.items() if v}, field
    assert field_line({"name": "b", "label": "时间:上午"}) == "b:时间:上午:"
    assert parse_field_line("xh:学号") == {"name": "xh", "label": "学号"}
    assert parse_field_line("1x:学号") is None and parse_field_line("xh") is None


def _instances(app) -> int:
    with app.app_context():
        return db.session.scalar(select(db.func.count(ProcessInstance.id)))


def _start(b, key: str, data: dict) -> int:
    resp = b.post(f"/processes/{key}/new", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


PROJECT = {"project_name": "学院考勤管理系统",
           "catalogue_entries": "学生考勤记录（学号、考勤时间、考勤状态），有条件共享",
           "platform_connection": "2026-11-20 已通过数据接口对接"}


def test_project_acceptance_lists_platform_data_and_flags_data_collected_again(app, login):
    handler, nic = login("cs_handler"), login("nic_head")
    catalog = {r["code"]: r["id"] for r in handler.get("/api/v1/catalog").get_json()["resources"]}
    sid = catalog["student_basic"]
    form = handler.get("/processes/project_acceptance/new").get_data(as_text=True)
    assert f'name="platform_data" value="{sid}"' in form and '<textarea name="collected_data"' in form
    # hostile or oversized lists are refused, nothing started
    before = _instances(app)
    for bad in ("\n".join(f"x{n}" for n in range(201)), "考" * 41, "学号\x07"):
        resp = handler.post("/processes/project_acceptance/new", {**PROJECT, "collected_data": bad})
        assert resp.status_code == 422, bad[:20]
    resp = handler.post("/processes/project_acceptance/new", {**PROJECT, "platform_data": ["999999"]})
    assert resp.status_code == 422 and "不存在" in resp.get_data(as_text=True)
    assert _instances(app) == before
    rid = _start(handler, "project_acceptance", {**PROJECT, "platform_data": [str(sid)], f"fields_{sid}": ["xh", "xm"],
                                                 "collected_data": "学号\nkqsj、考勤时间\nsjh\n学号"})
    task = nic.get(f"/tasks/{my_task(nic, rid)}").get_data(as_text=True)
    summary = task[task.index('id="start-summary"'):]
    assert "从公共数据平台获取的数据（第十四条）" in summary and "学生基本信息：学号、姓名" in summary
    assert "学号、kqsj、考勤时间、sjh；【重复采集，平台已有（第十四条）】" in summary
    assert "学号：学生处「学生基本信息」的 xh:学号" in summary
    assert "sjh：人事处「教职工基本信息」的 sjh:手机号" in summary
    assert "sjh：学生处「学生基本信息」的 sjh:手机号" in summary
    assert "kqsj：" not in summary and "考勤时间：" not in summary  # not in the catalogue: not flagged
    assert "标为「重复采集」的数据项平台已有" in task  # the check form says what to look at
    view = handler.get(f"/requests/{rid}").get_data(as_text=True)
    assert "【重复采集，平台已有（第十四条）】" in view and "学号：学生处「学生基本信息」的 xh:学号" in view
    # sent back: the resubmission form comes prefilled with both lists
    act(nic, rid, {"catalogue_compiled": "yes", "platform_connected": "no",
                   "opinion": "学号、手机号应通过平台对接获取，请对接后重新提交"})
    page = handler.get(f"/tasks/{my_task(handler, rid)}").get_data(as_text=True)
    assert re.search(rf'name="platform_data" value="{sid}"[^>]*\s+checked', page)
    assert "学号\nkqsj\n考勤时间\nsjh</textarea>" in page
    act(handler, rid, {**PROJECT, "platform_data": [str(sid)], f"fields_{sid}": ["xh", "xm", "sjh"],
                       "collected_data": "kqsj:考勤时间"})
    assert my_task(nic, rid)  # resubmitted: 网信中心 checks again


def test_quality_feedback_cites_a_field_not_conforming_to_its_standard(app, login):
    student, handler, nic = login("student_head"), login("cs_handler"), login("nic_staff")
    catalog = {r["code"]: r for r in handler.get("/api/v1/catalog").get_json()["resources"]}
    sid, lid = catalog["student_basic"]["id"], catalog["library_loans"]["id"]
    lines = "\n".join(f"{f['name']}:{f['label']}" + (":GB/T 2261.1" if f["name"] == "xb" else "")
                      for f in catalog["student_basic"]["fields"])
    resp = student.post(f"/catalogue/{sid}/edit", {"name": "学生基本信息", "description": "在校本科生基本信息",
                                                  "domain_id": "3", "share_class": "conditional", "fields": lines,
                                                  "delivery_methods": ["interface"], "update_frequency": "daily"})
    assert resp.status_code == 302 and _source_logs(app) == []  # a standard added: no new field, nothing to justify
    form = handler.get("/processes/quality_feedback/new").get_data(as_text=True)
    assert "不符合编码标准" in form and f'<option value="{sid}:xb" >学生基本信息 · 性别（GB/T 2261.1）</option>' in form
    assert f'value="{sid}:xm"' not in form  # only fields with a standard can be cited
    base = {"resource": str(sid), "problem": "standard", "description": "性别代码出现 M/F，应为 GB/T 2261.1 的 1/2"}
    before = _instances(app)
    for field, message in (("", "请选择「不符合编码标准的数据项（第十三条）」"),
                           (f"{sid}:xm", "未在目录中登记编码标准"),
                           (f"{lid}:xb", "不属于所选数据资源"), (f"{sid}:nope", "没有该数据项"),
                           ("x:y:z", "不属于所选数据资源")):
        resp = handler.post("/processes/quality_feedback/new", {**base, "field": field})
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), field
    assert _instances(app) == before
    rid = _start(handler, "quality_feedback", {**base, "field": f"{sid}:xb"})
    view = handler.get(f"/requests/{rid}").get_data(as_text=True)
    assert "不符合编码标准" in view and "性别（xb，应符合 GB/T 2261.1）" in view
    assert "性别（xb，应符合 GB/T 2261.1）" in nic.get(f"/tasks/{my_task(nic, rid)}").get_data(as_text=True)
    # the other problem types still need no field
    assert _start(handler, "quality_feedback", {**base, "problem": "error"}) > rid
