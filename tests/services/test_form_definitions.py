"""Forms as versioned data (issue 12): the JSON Schema with Chinese messages naming the field, the checks a schema
cannot make, saving versions, importing forms/*.json (never over a designer's version), pinning at deploy."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, FormDefinition, ProcessDefinition
from app.services.errors import ValidationFailed
from app.services.workflow import definitions, form_definitions, task_forms

ROOT = Path(__file__).resolve().parents[2]
FORM_FILES = sorted((ROOT / "forms").glob("*.json"))
SIMPLE = {"key": "reason_form", "title": "申请理由", "basis": "第二十二条", "opinion_field": "opinion",
          "fields": [{"name": "decision", "label": "意见", "type": "radio", "required": True,
                      "options": [{"value": "approve", "label": "同意"}, {"value": "return", "label": "退回"}]},
                     {"name": "opinion", "label": "审批意见", "type": "textarea",
                      "required_if": {"decision": "return"}},
                     {"name": "reason", "label": "申请理由", "type": "text", "pattern": "[\\w]+", "max_length": 50},
                     {"name": "scan", "label": "扫描件", "type": "file", "required": True, "accept": [".pdf", ".jpg"],
                      "max_mb": 20, "multiple": True, "help": "盖章的申请表"}]}


@pytest.mark.parametrize("path", FORM_FILES, ids=[p.stem for p in FORM_FILES])
def test_every_shipped_form_is_valid(path):
    form = json.loads(path.read_text(encoding="utf-8"))
    assert form_definitions.problems(form) == []
    assert form["key"] == path.stem


def test_the_schema_covers_every_type_the_renderer_supports_plus_file():
    types = set(form_definitions.schema()["$defs"]["field"]["properties"]["type"]["enum"])
    assert task_forms.FIELD_TYPES <= types and "file" in types
    assert form_definitions.problems(SIMPLE) == []


def _broken(mutate) -> list[str]:
    form = copy.deepcopy(SIMPLE)
    mutate(form)
    return form_definitions.problems(form)


@pytest.mark.parametrize("mutate, expected", [
    (lambda f: f["fields"][2].pop("label"), "第 3 个字段「reason」：缺少 label"),
    (lambda f: f["fields"][2].update(label=""), "第 3 个字段「reason」：label 不能为空"),
    (lambda f: f["fields"][2].update(type="number"), "第 3 个字段「申请理由」：不支持的字段类型 'number'"),
    (lambda f: f["fields"][2].update(requird=True), "第 3 个字段「申请理由」：不认识的属性 requird"),
    (lambda f: f["fields"][2].update(max_length="50"), "第 3 个字段「申请理由」：max_length 应为整数"),
    (lambda f: f["fields"][2].update(name="Reason"), "第 3 个字段「申请理由」：name 「Reason」应以小写字母开头"),
    (lambda f: f["fields"][2].update(name="decision"), "第 3 个字段「申请理由」：字段名 decision 与第 1 个字段重复"),
    (lambda f: f["fields"][1].update(required_if={"verdict": "return"}),
     "第 2 个字段「审批意见」：required_if 引用的字段 verdict 不存在"),
    (lambda f: f["fields"][1].update(required_if={"decision": "refuse"}),
     "第 2 个字段「审批意见」：required_if 中字段 decision 没有选项 refuse"),
    (lambda f: f["fields"][0].pop("options"), "第 1 个字段「意见」：单选字段须列出选项（options）"),
    (lambda f: f["fields"][0].update(options=[]), "第 1 个字段「意见」：options 不能为空"),
    (lambda f: f["fields"][0]["options"][1].pop("label"), "第 1 个字段「意见」：options 第 2 项 缺少 label"),
    (lambda f: f["fields"][2].update(pattern="(unclosed"), "第 3 个字段「申请理由」：pattern 不是有效的正则表达式"),
    (lambda f: f["fields"][3].update(accept=["pdf"]), "第 4 个字段「扫描件」：accept 第 1 项 格式不正确"),
    (lambda f: f["fields"][3].update(max_mb=0), "第 4 个字段「扫描件」：max_mb 应不小于 1"),
    (lambda f: f["fields"][2].update(accept=[".pdf"]), "第 3 个字段「申请理由」：accept、max_mb、multiple 只用于附件"),
    (lambda f: f.pop("title"), "表单：缺少 title"),
    (lambda f: f.update(opinion_field="note"), "表单：意见字段（opinion_field）note 不是表单中的字段"),
    (lambda f: f.update(fields=[]), "表单：fields 不能为空"),
    (lambda f: f.update(batchable="yes"), "表单：batchable 应为是/否"),
])
def test_broken_definitions_are_refused_naming_the_field(mutate, expected):
    found = _broken(mutate)
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", '"x"', "null", "1e999999", "[" * 5000 + "]" * 5000,
                                  '{"key": "x", "title": "t", "fields": [{"name": {"$ne": 1}}]}',
                                  json.dumps({"key": "a" * 5000, "title": "t", "fields": "nope"})])
def test_hostile_json_is_refused_with_a_validation_error(text):
    with pytest.raises(ValidationFailed) as info:
        form_definitions.check(form_definitions.parse_text(text))
    assert info.value.errors["definition"]


def test_saving_makes_versions_and_audits(app, ctx):
    admin_id = _admin_id()
    first = form_definitions.create(copy.deepcopy(SIMPLE), admin_id)
    assert (first.version, first.created) == (1, True)
    same = form_definitions.save(copy.deepcopy(SIMPLE), admin_id, key="reason_form")
    assert (same.version, same.created) == (1, False)
    changed = copy.deepcopy(SIMPLE)
    changed["fields"][2]["label"] = "理由"
    second = form_definitions.save(changed, admin_id, key="reason_form")
    assert (second.version, second.created) == (2, True)
    with pytest.raises(ValidationFailed, match="key 应为 other"):
        form_definitions.save(changed, admin_id, key="other")
    with pytest.raises(ValidationFailed, match="已存在"):
        form_definitions.create(copy.deepcopy(SIMPLE), admin_id)
    history = form_definitions.history("reason_form")
    assert [h["version"] for h in history] == [2, 1] and "理由（单行文本）" in history[0]["fields"]
    assert form_definitions.get("reason_form", 1)["fields"][2]["label"] == "申请理由"
    assert task_forms.load_form("reason_form")["fields"][2]["label"] == "理由"  # the latest when not pinned
    actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action.in_(["form_create", "form_save"]))
                                 .order_by(AuditLog.id)).all()
    assert actions == ["form_create", "form_save"]


def test_import_adds_changed_files_and_never_replaces_a_browser_version(app, ctx, tmp_path):
    admin_id = _admin_id()
    (tmp_path / "reason_form.json").write_text(json.dumps(SIMPLE, ensure_ascii=False), encoding="utf-8")
    [created] = form_definitions.import_directory(tmp_path)
    assert (created.status, created.version) == ("created", 1)
    [again] = form_definitions.import_directory(tmp_path)
    assert (again.status, again.version) == ("unchanged", 1)
    file_v2 = copy.deepcopy(SIMPLE)
    file_v2["title"] = "申请理由（文件第二版）"
    (tmp_path / "reason_form.json").write_text(json.dumps(file_v2, ensure_ascii=False), encoding="utf-8")
    [newer] = form_definitions.import_directory(tmp_path)
    assert (newer.status, newer.version) == ("created", 2)
    browser = copy.deepcopy(SIMPLE)
    browser["title"] = "设计器里改的"
    assert form_definitions.save(browser, admin_id, key="reason_form").version == 3
    file_v3 = copy.deepcopy(SIMPLE)
    file_v3["title"] = "文件第三版"
    (tmp_path / "reason_form.json").write_text(json.dumps(file_v3, ensure_ascii=False), encoding="utf-8")
    [skipped] = form_definitions.import_directory(tmp_path)
    assert skipped.status == "skipped" and "表单设计器" in skipped.message
    assert form_definitions.get("reason_form")["title"] == "设计器里改的"
    # a file equal to an older stored version is no new version either
    (tmp_path / "reason_form.json").write_text(json.dumps(SIMPLE, ensure_ascii=False), encoding="utf-8")
    [old] = form_definitions.import_directory(tmp_path)
    assert (old.status, old.version) == ("unchanged", 1)
    (tmp_path / "reason_form.json").write_text('{"key": "reason_form", "title": "x", "fields": []}', encoding="utf-8")
    with pytest.raises(ValidationFailed, match=r"reason_form\.json：表单：fields 不能为空"):
        form_definitions.import_directory(tmp_path)


def test_the_shipped_forms_are_stored_once_and_a_second_deploy_adds_nothing(app, ctx):
    assert set(task_forms.form_keys()) == {p.stem for p in FORM_FILES}
    before = db.session.scalar(select(func.count(FormDefinition.id)))
    definitions.deploy_directory()
    assert db.session.scalar(select(func.count(FormDefinition.id))) == before == len(FORM_FILES)


def test_deploy_pins_the_latest_form_versions_and_a_redeploy_picks_up_newer_ones(app, ctx):
    xml = (ROOT / "bpmn" / "share_request.bpmn").read_bytes()
    v1 = definitions.latest_definition_id("share_request")
    pinned = form_definitions.pinned_versions(v1)
    assert set(pinned) >= {"share_application", "dept_head_commitment", "nic_review", "provider_review"}
    assert {v for v, _sha in pinned.values()} == {1}
    unchanged = definitions.deploy_xml(xml, "share_request.bpmn")
    assert not unchanged.created  # same diagram, same forms: no new version
    form = form_definitions.get("nic_review")
    form["fields"][1]["label"] = "网信中心审批意见"
    form_definitions.save(form, _admin_id(), key="nic_review")
    redeployed = definitions.deploy_xml(xml, "share_request.bpmn")
    assert redeployed.created and redeployed.version == 2  # the newer form makes a new version
    assert form_definitions.pinned_versions(redeployed.definition_id)["nic_review"][0] == 2
    assert task_forms.load_form("nic_review", v1)["fields"][1]["label"] == "审批意见"
    assert task_forms.load_form("nic_review", redeployed.definition_id)["fields"][1]["label"] == "网信中心审批意见"
    # the bpmn/ defaults never make a version for a form change (flask deploy keeps what is deployed)
    assert not definitions.deploy_xml(xml, "share_request.bpmn", skip_if_deployed_before=True).created
    assert db.session.scalar(select(func.count(ProcessDefinition.id))
                             .where(ProcessDefinition.process_key == "share_request")) == 2


def _admin_id() -> int:
    from app.models import User
    return db.session.scalar(select(User.id).where(User.username == "admin"))


def test_flask_deploy_prints_what_it_imported_and_skipped(app, tmp_path):
    with app.app_context():
        admin_id = _admin_id()
        form_definitions.save({**copy.deepcopy(SIMPLE), "title": "设计器版本"}, admin_id)
    (tmp_path / "reason_form.json").write_text(json.dumps(SIMPLE, ensure_ascii=False), encoding="utf-8")
    (tmp_path / "other_form.json").write_text(json.dumps({**SIMPLE, "key": "other_form"}, ensure_ascii=False),
                                              encoding="utf-8")
    before = app.config["FORMS_DIR"]
    app.config["FORMS_DIR"] = str(tmp_path)
    try:
        result = app.test_cli_runner().invoke(args=["deploy"])
        assert result.exit_code == 0, result.output
        assert "other_form.json 导入为第 1 版" in result.output
        assert "reason_form.json 未导入：reason_form 的最新版本（第 1 版）是在表单设计器中保存的" in result.output
        (tmp_path / "other_form.json").write_text('{"key": "other_form"}', encoding="utf-8")
        result = app.test_cli_runner().invoke(args=["deploy"])
        assert result.exit_code == 1 and "other_form.json：表单：缺少 title、fields" in result.output
    finally:
        app.config["FORMS_DIR"] = before
