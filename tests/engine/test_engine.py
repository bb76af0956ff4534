"""The engine wrapper on its own: no Flask, no database."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.engine import runtime
from app.engine.parser import BpmnInvalid, parse_bpmn
from app.engine.serializer import SERIALIZER_VERSION, dump_workflow, load_workflow

ROOT = Path(__file__).resolve().parents[2]
SHARE_XML = (ROOT / "bpmn" / "share_request.bpmn").read_bytes()
FORM_KEYS = {p.stem for p in (ROOT / "forms").glob("*.json")}


@pytest.fixture(scope="module")
def parsed():
    return parse_bpmn(SHARE_XML, "share_request.bpmn", known_form_keys=FORM_KEYS)


def _start(parsed, resources):
    wf = runtime.start_workflow(parsed.spec, parsed.subprocess_specs, {"applicant_department": "college_cs"})
    (first,) = runtime.ready_user_tasks(wf)
    runtime.complete_user_task(wf, first.task_id, {"action": "submit", "resources": resources})
    return wf


def _do(wf, element_id, result, department=None):
    views = [v for v in runtime.ready_user_tasks(wf) if v.element_id == element_id
             and (department is None or v.department == department)]
    assert len(views) == 1, [(v.element_id, v.department) for v in runtime.ready_user_tasks(wf)]
    runtime.complete_user_task(wf, views[0].task_id, result)


COND = [{"owner_department": "student", "share_class": "conditional"},
        {"owner_department": "hr", "share_class": "conditional"},
        {"owner_department": "student", "share_class": "conditional"},
        {"owner_department": "academic", "share_class": "unconditional"}]


def test_share_process_parses_with_lanes_and_properties(parsed):
    assert parsed.process_id == "share_request"
    lanes = {s.lane for s in parsed.spec.task_specs.values() if getattr(s, "lane", None)}
    assert lanes == {"申请部门", "网信中心", "数据提供部门", "网信办"}


def test_first_task_resolves_department_from_instance_data(parsed):
    wf = runtime.start_workflow(parsed.spec, parsed.subprocess_specs, {"applicant_department": "college_cs"})
    (view,) = runtime.ready_user_tasks(wf)
    assert (view.element_id, view.form_key, view.candidate_roles, view.department, view.lane) == (
        "fill_application", "share_application", ("handler",), "college_cs", "申请部门")


def test_conditional_resources_give_one_provider_review_per_department(parsed):
    wf = _start(parsed, COND)
    _do(wf, "dept_head_sign", {"decision": "approve"})
    _do(wf, "nic_review", {"decision": "approve"})
    reviews = runtime.ready_user_tasks(wf)
    assert sorted(v.department for v in reviews) == ["hr", "student"]
    assert all(v.result_variable == "provider_opinion" for v in reviews)
    _do(wf, "provider_review", {"decision": "approve"}, department="hr")
    _do(wf, "provider_review", {"decision": "approve"}, department="student")
    assert [v.element_id for v in runtime.ready_user_tasks(wf)] == ["deliver"]
    _do(wf, "deliver", {"method": "interface"})
    assert runtime.end_event(wf) == ("end_delivered", "数据已提供")


def test_unconditional_resources_skip_provider_review(parsed):
    wf = _start(parsed, [COND[3]])
    _do(wf, "dept_head_sign", {"decision": "approve"})
    _do(wf, "nic_review", {"decision": "approve"})
    assert [v.element_id for v in runtime.ready_user_tasks(wf)] == ["deliver"]


def test_one_refusal_goes_to_the_applicant_and_uphold_ends_refused(parsed):
    wf = _start(parsed, COND)
    _do(wf, "dept_head_sign", {"decision": "approve"})
    _do(wf, "nic_review", {"decision": "approve"})
    _do(wf, "provider_review", {"decision": "refuse"}, department="hr")
    _do(wf, "provider_review", {"decision": "approve"}, department="student")
    assert [v.element_id for v in runtime.ready_user_tasks(wf)] == ["handle_refusal"]
    _do(wf, "handle_refusal", {"action": "object"})
    _do(wf, "nic_coordinate", {"conclusion": "uphold"})
    assert runtime.end_event(wf) == ("end_refused", "不予提供")


def test_cac_office_decides_a_referred_dispute(parsed):
    wf = _start(parsed, COND[:1])
    for element, result in [("dept_head_sign", {"decision": "approve"}), ("nic_review", {"decision": "approve"}),
                            ("provider_review", {"decision": "refuse"}), ("handle_refusal", {"action": "object"}),
                            ("nic_coordinate", {"conclusion": "refer"})]:
        _do(wf, element, result)
    (view,) = runtime.ready_user_tasks(wf)
    assert (view.element_id, view.department, view.lane) == ("cac_decide", "cac_office", "网信办")
    _do(wf, "cac_decide", {"decision": "not_provide"})
    assert runtime.end_event(wf)[0] == "end_refused"


def test_revised_request_gets_fresh_provider_opinions(parsed):
    wf = _start(parsed, COND[:1])
    _do(wf, "dept_head_sign", {"decision": "approve"})
    _do(wf, "nic_review", {"decision": "approve"})
    _do(wf, "provider_review", {"decision": "refuse"})
    _do(wf, "handle_refusal", {"action": "revise"})
    _do(wf, "fill_application", {"action": "submit", "resources": COND[:1]})
    _do(wf, "dept_head_sign", {"decision": "approve"})
    _do(wf, "nic_review", {"decision": "approve"})
    _do(wf, "provider_review", {"decision": "approve"})
    assert [v.element_id for v in runtime.ready_user_tasks(wf)] == ["deliver"]


def test_completing_a_task_twice_is_refused(parsed):
    wf = _start(parsed, COND[:1])
    (view,) = runtime.ready_user_tasks(wf)
    runtime.complete_user_task(wf, view.task_id, {"decision": "approve"})
    with pytest.raises(runtime.TaskNotReady):
        runtime.complete_user_task(wf, view.task_id, {"decision": "approve"})
    with pytest.raises(runtime.TaskNotReady):
        runtime.complete_user_task(wf, "not-a-uuid", {})


def test_serializer_round_trip_keeps_state_and_script_engine(parsed):
    wf = _start(parsed, COND[:2])
    _do(wf, "dept_head_sign", {"decision": "approve"})
    restored = load_workflow(dump_workflow(wf), spec=(parsed.spec, parsed.subprocess_specs))
    assert SERIALIZER_VERSION
    assert [v.task_id for v in runtime.ready_user_tasks(restored)] == [v.task_id for v in runtime.ready_user_tasks(wf)]
    _do(restored, "nic_review", {"decision": "approve"})  # runs the script task with the re-attached engine
    assert len(runtime.ready_user_tasks(restored)) == 2


def test_element_states_mark_completed_and_active(parsed):
    wf = _start(parsed, COND[:1])
    states = runtime.element_states(wf)
    assert "fill_application" in states["completed"] and states["active"] == ["dept_head_sign"]


def _renamed(xml: bytes, element_id: str, local_name: str) -> bytes:
    """The diagram with one element's tag misspelt."""
    from lxml import etree

    root = etree.fromstring(xml)
    element = root.xpath(f"//*[@id='{element_id}']")[0]
    element.tag = f"{{{etree.QName(element).namespace}}}{local_name}"
    return etree.tostring(root)


BROKEN = {
    "not xml": (b"this is not xml", "不是合法的 XML"),
    "not bpmn": (b"<root/>", "根元素不是 BPMN 2.0"),
    "bad condition": (SHARE_XML.replace(b"len(provider_departments) &gt; 0", b"len(provider_departments &gt; 0"),
                      "条件表达式有 Python 语法错误"),
    "bad script": (SHARE_XML.replace(b"provider_opinions = []", b"provider_opinions = ["), "脚本有 Python 语法错误"),
    "unknown form": (SHARE_XML.replace(b'value="nic_review"', b'value="no_such_form"'), "表单 no_such_form 不存在"),
    "no form key": (SHARE_XML.replace(b'name="formKey" value="data_delivery"', b'name="other" value="x"'),
                    "缺少扩展属性 formKey"),
    "misspelt element": (_renamed(SHARE_XML, "deliver", "userTaks"), "流程定义校验失败"),
    "too big": (SHARE_XML + b"<!--" + b"x" * (3 * 1024 * 1024) + b"-->", "文件过大"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_diagrams_are_refused_with_element_and_reason(case):
    xml, reason = BROKEN[case]
    with pytest.raises(BpmnInvalid) as info:
        parse_bpmn(xml, "x.bpmn", known_form_keys=FORM_KEYS)
    assert any(reason in p.reason for p in info.value.problems), info.value.problems
    if case in {"bad condition", "bad script", "unknown form", "no form key"}:
        expected = {"bad condition": "f_class_cond", "bad script": "determine_providers",
                    "unknown form": "nic_review", "no form key": "deliver"}[case]
        assert expected in {p.element_id for p in info.value.problems}


def test_engine_package_imports_no_flask_and_no_models():
    import ast

    for path in (ROOT / "app" / "engine").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("flask", "app.models", "models")), f"{path.name} imports {name}"


def test_a_failing_gateway_condition_raises_engine_error_naming_the_element():
    xml = SHARE_XML.replace(b"dept_head_opinion['decision'] != 'approve'", b"dept_head_opinion['missing'] == 1")
    parsed = parse_bpmn(xml, "x.bpmn", known_form_keys=FORM_KEYS)
    wf = _start(parsed, COND[:1])
    (view,) = runtime.ready_user_tasks(wf)
    with pytest.raises(runtime.EngineError) as info:
        runtime.complete_user_task(wf, view.task_id, {"decision": "approve"})
    assert info.value.element_id == "gw_head"


def test_the_modeler_template_for_new_diagrams_is_deployable():
    xml = (ROOT / "app" / "static" / "modeler" / "new-process.bpmn").read_bytes()
    parsed = parse_bpmn(xml, "new-process.bpmn", known_form_keys=FORM_KEYS, known_roles={"handler", "nic_head"},
                        known_departments={"nic"})
    lanes = {s.lane for s in parsed.spec.task_specs.values() if getattr(s, "lane", None)}
    assert parsed.process_id == "new_process" and lanes <= {"申请部门", "网信中心", "数据提供部门", "网信办"}
    assert b"lane_provider" in xml and b"lane_cac" in xml


def test_migrating_during_the_provider_reviews_keeps_each_review_with_its_department(parsed):
    """SpiffWorkflow's migration resets ready tasks to their parent's data; a multi-instance review would lose
    provider_department and with it who may hold it."""
    from app.engine import versions

    wf = _start(parsed, COND)
    _do(wf, "dept_head_sign", {"decision": "approve"})
    _do(wf, "nic_review", {"decision": "approve"})
    target = parse_bpmn(SHARE_XML.replace("网信中心提供数据".encode(), "网信中心提供数据（二）".encode()), "v2.bpmn")
    assert versions.check_migration(wf, target).can_migrate
    versions.migrate(wf, target)
    assert sorted(v.department for v in runtime.ready_user_tasks(wf)) == ["hr", "student"]
    assert runtime.unassignable_tasks(wf) == []
