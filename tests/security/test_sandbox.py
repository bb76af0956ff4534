"""Diagram code runs only in the sandbox (issue 8, critical 1): escapes are refused at deploy and at run time,
runaway code is stopped, a failing department expression sends the instance to the error state (never to every
department), and showing a start form runs no diagram code."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.engine import parser, runtime, sandbox
from app.engine.parser import BpmnInvalid, parse_bpmn
from app.engine.script_env import make_script_engine
from app.extensions import db
from app.models import AuditLog, Notification, ProcessInstance, TaskRecord, User

from ..web.journey import act, my_task, request_json

ROOT = Path(__file__).resolve().parents[2]
ACCEPTANCE = (ROOT / "bpmn" / "project_acceptance.bpmn").read_text(encoding="utf-8")
ACCEPT_CONDITION = "check['catalogue_compiled'] == 'yes' and check['platform_connected'] == 'yes'"
PROJECT = {"project_name": "智慧教室管理平台", "catalogue_entries": "教室基本信息，普遍共享",
           "platform_connection": "2026-11-20 已通过数据接口对接"}
REFUSE = {"catalogue_compiled": "no", "platform_connected": "no", "opinion": "均未完成"}


def _marker(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


def escapes(marker: Path) -> dict[str, tuple[str, str]]:
    """Known ways out of a Python sandbox (several from RestrictedPython's own tests); each would create the marker
    file if it ran with real Python."""
    m = str(marker)
    return {
        "import builtin": (f"__import__('os').system('touch {m}')", "eval"),
        "import statement": (f"import os\nos.system('touch {m}')", "exec"),
        "from import": (f"from os import system\nsystem('touch {m}')", "exec"),
        "open": (f"open('{m}', 'w').write('x')", "eval"),
        "subclasses walk": ("[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == 'Popen'][0]"
                            f"(['touch', '{m}'])", "eval"),
        "getattr chain": ("getattr(getattr(0, '__cla' + 'ss__'), '__ba' + 'se__')", "eval"),
        "format attribute walk": ("'{0.__class__.__base__}'.format(0)", "eval"),
        "format_map": ("'{a.__class__}'.format_map({'a': 0})", "eval"),
        "f-string dunder": ("f'{(0).__class__}'", "eval"),
        "generator frame": ("(x for x in ()).gi_frame.f_globals", "eval"),
        "builtins via function": ("len.__self__.open", "eval"),
        "globals": ("globals()['__builtins__']", "eval"),
        "eval": (f"eval(\"__import__('os').system('touch {m}')\")", "eval"),
        "exec": (f"exec(\"open('{m}', 'w')\")", "exec"),
        "compile": ("compile('1', 'x', 'eval')", "eval"),
        "vars": ("vars()", "eval"),
        "type": ("type(0)", "eval"),
        "class definition": ("class X:\n    pass", "exec"),
        "lambda globals": ("(lambda: 0).__globals__", "eval"),
        "traceback frame": ("try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    t = e.__traceback__.tb_frame",
                            "exec"),
        "assign builtins": ("__builtins__ = {}", "exec"),
        "function of the engine": ("notify.__self__.calendar", "eval"),
        "datetime module walk": ("datetime.sys.modules['os']", "eval"),
        "str mro": ("''.mro", "eval"),
    }


@pytest.mark.parametrize("case", sorted(escapes(Path("/tmp/x"))))
def test_escapes_are_refused_at_deploy_and_at_run_time(case, tmp_path):
    marker = _marker(tmp_path)
    source, mode = escapes(marker)[case]
    assert sandbox.problems(source, mode) or case in {"datetime module walk", "str mro"}, case
    engine = make_script_engine()
    data: dict = {}
    with pytest.raises((sandbox.ScriptError, NameError, AttributeError, TypeError, KeyError)):
        if mode == "eval":
            engine.environment.evaluate(source, data)
        else:
            engine.environment.execute(source, data)
    assert not marker.exists()


def test_the_documented_functions_and_plain_python_still_work():
    engine = make_script_engine()
    data = {"application": {"resources": [{"owner_department": "hr", "share_class": "conditional"},
                                          {"owner_department": "student", "share_class": "conditional"},
                                          {"owner_department": "hr", "share_class": "open"}]}}
    engine.environment.execute(
        "forwarded_at = now_iso()\n"
        "provider_departments = sorted({r['owner_department'] for r in application['resources'] "
        "if r['share_class'] == 'conditional'})\n"
        "total = 0\nfor i in range(10):\n    total += i\n"
        "due = add_working_days('2025-09-30T10:00:00+08:00', 5)\n"
        "later = (datetime.datetime(2025, 1, 1) + datetime.timedelta(days=3)).isoformat()\n"
        "label = '%s-%d' % ('x', 3) + 'y' * 3\n"
        "notify('quality', '测试', to_department='nic', to_role='nic_head')\n", data)
    assert data["provider_departments"] == ["hr", "student"]
    assert data["total"] == 45 and data["label"] == "x-3yyy" and data["later"] == "2025-01-04T00:00:00"
    assert data["due"].startswith("2025-10-14T17:30")  # National Day week is not counted
    assert "notify" not in data and "datetime" not in data and "_getattr_" not in data
    notes, _actions = engine.drain()
    assert [n.event for n in notes] == ["quality"]
    assert engine.environment.evaluate("len(provider_departments) > 1 and total ** 2 == 2025", data) is True


RUNAWAY = {
    "endless loop": ("while True:\n    pass", "exec"),
    "endless loop that catches everything": ("while True:\n    try:\n        while True:\n            pass\n"
                                             "    except:\n        pass", "exec"),
    "catch via a failing except clause": ("while True:\n    try:\n        try:\n            while True:\n"
                                          "                pass\n        except NoSuchName:\n            pass\n"
                                          "    except Exception:\n        pass", "exec"),
    "swallowed in finally": ("while True:\n    try:\n        while True:\n            pass\n    finally:\n"
                             "        continue", "exec"),
    "exponential recursion": ("def f(n):\n    return n and f(n - 1) + f(n - 1)\nf(60)", "exec"),
    "exponential lambda": ("f = lambda n: n and f(n - 1) + f(n - 1)\nf(60)", "exec"),
    "billion-element list": ("x = list(range(10 ** 9))", "exec"),
    "list repetition": ("x = [0] * 10 ** 9", "exec"),
    "string repetition": ("x = 'a' * 10 ** 10", "exec"),
    "string doubling": ("s = 'a'\nwhile True:\n    s = s + s", "exec"),
    "list doubling": ("l = [0]\nwhile True:\n    l.extend(l)", "exec"),
    "augmented doubling": ("l = [0]\nwhile True:\n    l += l", "exec"),
    "huge power": ("10 ** 10 ** 10", "eval"),
    "huge shift": ("1 << 10 ** 10", "eval"),
    "padding": ("'x'.ljust(10 ** 10)", "eval"),
    "join": ("''.join(['a' * 100000] * 100000)", "eval"),
    "replace": ("('a' * 100000).replace('a', 'b' * 100000)", "eval"),
    "percent width": ("'%999999999d' % 1", "eval"),
    "nested generator": ("sum(1 for _ in range(10 ** 5) for _ in range(10 ** 5))", "eval"),
    "growing memory": ("l = []\nwhile True:\n    l.append('x' * 999999)", "exec"),
    "recursion": ("def f(n):\n    return f(n + 1)\nf(0)", "exec"),
    "too many notifications": ("for i in range(1000):\n    notify('x', 'y')", "exec"),
    "far deadline": ("add_working_days('2025-01-01', 10 ** 9)", "eval"),
}


@pytest.mark.parametrize("case", sorted(RUNAWAY))
def test_runaway_code_is_stopped_within_its_budget(case):
    source, mode = RUNAWAY[case]
    engine = make_script_engine()
    engine.environment.time_limit = 1.0
    started = time.monotonic()
    with pytest.raises(sandbox.ScriptError):
        if mode == "eval":
            engine.environment.evaluate(source, {})
        else:
            engine.environment.execute(source, {})
    assert time.monotonic() - started < 5, "the budget did not stop it in time"


def test_a_script_cannot_leave_unsaveable_values_in_the_process_data():
    engine = make_script_engine()
    with pytest.raises(sandbox.ScriptError, match="不能保存"):
        engine.environment.execute("g = (x for x in [1, 2])", {})


# --- deploy time -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("snippet", ["__import__('os').system('id')", "().__class__.__base__.__subclasses__()",
                                     "open('/etc/passwd').read()", "getattr(0, '__cla' + 'ss__')"])
def test_deploy_refuses_dangerous_code_with_the_element_highlighted(snippet):
    xml = ACCEPTANCE.replace(ACCEPT_CONDITION, snippet.replace("'", "&apos;")).encode()
    with pytest.raises(BpmnInvalid) as info:
        parse_bpmn(xml, "x.bpmn")
    assert any(p.element_id == "f_accept" and "不能运行" in p.reason for p in info.value.problems), \
        info.value.problems


def test_admin_validation_over_http_names_the_element_and_reason(login):
    admin = login("admin")
    xml = ACCEPTANCE.replace("value=\"'nic'\"", "value=\"__import__(&apos;os&apos;).getcwd()\"")
    resp = admin.client.post("/admin/definitions/validate", json={"xml": xml, "file_name": "x.bpmn"},
                             headers={"X-CSRFToken": admin.csrf})
    assert resp.status_code == 422
    problems = resp.get_json()["problems"]
    assert any(p["element_id"] == "nic_check" and "部门表达式不能运行" in p["reason"] and "__import__" in p["reason"]
               for p in problems), problems


# --- run time, through the application -------------------------------------------------------------------------------

@pytest.fixture()
def unchecked_deploy(app, monkeypatch):
    """Deploy a diagram as if validation had missed its code (an old version, a bug): the run-time guards must
    hold on their own."""
    monkeypatch.setattr(parser, "_check_expressions", lambda *a, **k: [])

    def deploy(xml: str) -> None:
        from app.services.workflow import definitions

        with app.app_context():
            result = definitions.deploy_xml(xml.encode(), "unchecked.bpmn")
            assert result.created
    return deploy


def _start(b) -> int:
    resp = b.post("/processes/project_acceptance/new", PROJECT)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def _instance(app, rid: int) -> ProcessInstance:
    with app.app_context():
        instance = db.session.get(ProcessInstance, rid)
        db.session.expunge(instance)
        return instance


def test_an_escape_in_a_deployed_condition_puts_the_instance_in_error_and_runs_nothing(app, login, tmp_path,
                                                                                   unchecked_deploy):
    marker = _marker(tmp_path)
    unchecked_deploy(ACCEPTANCE.replace(ACCEPT_CONDITION, f"__import__(&apos;os&apos;).system(&apos;touch {marker}"
                                                          f"&apos;) == 0"))
    handler, nic = login("cs_handler"), login("nic_head")
    rid = _start(handler)
    act(nic, rid, {"catalogue_compiled": "yes", "platform_connected": "yes", "opinion": "同意"})
    instance = _instance(app, rid)
    assert instance.status == "error" and instance.error_element == "gw_check"  # the gateway evaluating it
    assert "__import__" in instance.error_message
    assert not marker.exists()
    assert not os.path.exists(marker)


def test_a_runaway_condition_is_stopped_and_the_instance_goes_to_error(app, login, unchecked_deploy, monkeypatch):
    monkeypatch.setattr(sandbox, "TIME_LIMIT", 1.0)
    unchecked_deploy(ACCEPTANCE.replace(ACCEPT_CONDITION, "sum(1 for _ in range(10 ** 5) for _ in range(10 ** 5))"
                                                          " &gt; 0"))
    handler, nic = login("cs_handler"), login("nic_head")
    rid = _start(handler)
    started = time.monotonic()
    act(nic, rid, {"catalogue_compiled": "yes", "platform_connected": "yes", "opinion": "同意"})
    assert time.monotonic() - started < 15
    instance = _instance(app, rid)
    assert instance.status == "error" and instance.error_element == "gw_check"  # the gateway evaluating it
    assert "已被终止" in instance.error_message
    # the approver's decision is kept for the administrator's retry
    with app.app_context():
        done = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                           TaskRecord.element_id == "nic_check")).one()
        assert done.state == "completed" and done.opinion == "同意"


def test_a_department_that_cannot_be_said_goes_to_error_never_to_every_department(app, login):
    """revise_project's department yields None: nobody may hold the task; administrators are told."""
    from app.services.workflow import definitions

    xml = ACCEPTANCE.replace('<spiffworkflow:property name="department" value="initiator_department" />\n'
                             '          <spiffworkflow:property name="resultVariable" value="project" />\n'
                             '        </spiffworkflow:properties>\n      </bpmn:extensionElements>\n'
                             '      <bpmn:incoming>f_refuse',
                             '<spiffworkflow:property name="department" value="check.get(&apos;no_such&apos;)" />\n'
                             '          <spiffworkflow:property name="resultVariable" value="project" />\n'
                             '        </spiffworkflow:properties>\n      </bpmn:extensionElements>\n'
                             '      <bpmn:incoming>f_refuse', 1)
    assert xml != ACCEPTANCE
    with app.app_context():
        definitions.deploy_xml(xml.encode(), "dept.bpmn")
    handler, nic = login("cs_handler"), login("nic_head")
    rid = _start(handler)
    act(nic, rid, REFUSE)
    instance = _instance(app, rid)
    assert instance.status == "error" and instance.error_element == "revise_project"
    assert "没有给出部门" in instance.error_message
    with app.app_context():
        open_tasks = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                                 TaskRecord.state == "ready")).all()
        assert open_tasks == []
        admins = [u.id for u in db.session.scalars(select(User)) if u.has_role("admin")]
        told = db.session.scalars(select(Notification.user_id).where(Notification.instance_id == rid,
                                                                     Notification.event == "error")).all()
        assert set(admins) <= set(told)
        assert db.session.scalar(select(AuditLog.id).where(AuditLog.instance_id == rid,
                                                           AuditLog.action == "error")) is not None
    for name in ("cs_head", "hr_head", "student_head", "nic_head"):
        tasks = login(name).get("/api/v1/tasks").get_json()["tasks"]
        assert not [t for t in tasks if t["instance_id"] == rid], name


def test_showing_a_start_form_runs_no_diagram_code(app, login, monkeypatch):
    calls = []
    real_run = sandbox.run
    monkeypatch.setattr(sandbox, "run", lambda *a, **k: calls.append(a) or real_run(*a, **k))
    handler = login("cs_handler")
    for key in ("project_acceptance", "quality_feedback", "violation_case"):
        resp = handler.get(f"/processes/{key}/new")
        assert resp.status_code == 200, key
    assert handler.get("/processes/security_inspection/new").status_code == 404
    assert calls == []
    rid = _start(handler)  # the POST does run the process
    assert calls
    calls.clear()
    page = handler.get(f"/requests/{rid}")
    assert page.status_code == 200 and calls == []
    nic = login("nic_head")
    assert nic.get(f"/tasks/{my_task(nic, rid)}").status_code == 200
    assert calls == []
    assert request_json(handler, rid)["status"] == "running"


def test_the_engine_refuses_a_ready_task_without_a_department():
    xml = ACCEPTANCE.replace("value=\"'nic'\"", "value=\"None\"").encode()
    parsed = parse_bpmn(xml, "x.bpmn")
    wf = runtime.start_workflow(parsed.spec, parsed.subprocess_specs, {"initiator_department": "college_cs"})
    (first,) = runtime.ready_user_tasks(wf)
    with pytest.raises(runtime.EngineError) as info:
        runtime.complete_user_task(wf, first.task_id, PROJECT)
    assert info.value.element_id == "nic_check"
    assert runtime.ready_user_tasks(wf) == []
    assert runtime.unassignable_tasks(wf)[0][0] == "nic_check"
