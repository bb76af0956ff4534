"""Engine storage and step cost: instances stored without their spec, versions kept, the stored-format migration,
the calendar cache, one workflow load per request and the statement count of one completion."""
from __future__ import annotations

import importlib.util
import json
from datetime import datetime
from pathlib import Path

from alembic.migration import MigrationContext
from alembic.operations import Operations
from flask import g
from sqlalchemy import event, select, text

from app.engine import serializer
from app.extensions import db
from app.models import ProcessInstance, TaskRecord, User
from app.models.types import CHINA_TZ
from app.services import calendar as calendar_service
from app.services.people import org
from app.services.workflow import definitions, instances, progress, requests, tasks

ROOT = Path(__file__).resolve().parents[2]
APPLICATION = {"purpose": "用于学院教学评估与学生发展研究的数据分析", "head_name": "李主任",
               "head_phone": "13900000000", "handler_name": "王经办", "handler_phone": "13800000000",
               "commitment": True, "confidentiality": True}


def _uid(name: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == name))


def _submit(*codes: str) -> int:
    catalogue = {r["code"]: r for r in requests.catalogue()}
    resources = [{"resource_id": catalogue[c]["id"], "fields": [f["name"] for f in catalogue[c]["fields"]]}
                 for c in codes]
    return requests.submit_share_request(_uid("cs_handler"), {**APPLICATION, "resources": resources})


def _complete(rid: int, user: str, data: dict, element: str | None = None) -> None:
    person = db.session.get(User, _uid(user))
    query = select(TaskRecord).where(TaskRecord.instance_id == rid, TaskRecord.state == "ready")
    if element:
        query = query.where(TaskRecord.element_id == element)
    record = next(r for r in db.session.scalars(query) if person.has_role(*r.candidate_roles)
                  and r.department_code in (None, person.department.code))
    tasks.complete_task(record.id, person.id, data)


def _raw(rid: int) -> str:
    return db.session.scalar(select(ProcessInstance.workflow_json).where(ProcessInstance.id == rid))


def _stored(rid: int) -> str:
    """The stored workflow's JSON."""
    return serializer.decode(_raw(rid))


def test_a_share_request_mid_journey_is_stored_without_its_spec_in_under_10_kb(ctx):
    rid = _submit("student_basic", "staff_basic")
    _complete(rid, "cs_head", {"decision": "approve"})
    _complete(rid, "nic_head", {"decision": "approve"})  # now at the two provider reviews
    stored = _stored(rid)
    raw = _raw(rid)
    data = json.loads(stored)
    assert "spec" not in data and "subprocess_specs" not in data
    assert data["serializer_version"] == serializer.SERIALIZER_VERSION
    assert "李主任" in stored and "\\u" not in stored  # UTF-8 as is, not escaped
    assert len(raw.encode("utf-8")) <= 10 * 1024, len(raw.encode("utf-8"))
    # and it runs on: both providers, then the delivery, to the end
    _complete(rid, "student_head", {"decision": "approve"})
    _complete(rid, "hr_head", {"decision": "approve"})
    _complete(rid, "nic_staff", {"method": "interface", "note": "接口"})
    db.session.expire_all()
    assert db.session.get(ProcessInstance, rid).status == "completed"
    assert len(_raw(rid).encode("utf-8")) <= 10 * 1024


def test_an_instance_keeps_its_version_after_a_redeploy_and_migrates_to_the_new_one(app, ctx):
    rid = _submit("student_basic")
    v1 = db.session.get(ProcessInstance, rid).definition_id
    xml = (app.config["BPMN_DIR"] / "share_request.bpmn").read_bytes()
    v2 = definitions.deploy_xml(xml.replace("网信中心审核".encode(), "网信中心复核".encode()), "share_request.bpmn")
    assert v2.created
    _complete(rid, "cs_head", {"decision": "approve"})
    (nic,) = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid, TaskRecord.state == "ready"))
    assert nic.title == "网信中心审核"  # version 1's step, although version 2 is deployed
    assert "spec" not in json.loads(_stored(rid))
    result = instances.migrate(v1, v2.definition_id, _uid("admin"))
    assert result["moved"] == [rid]
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, rid)
    assert instance.definition_id == v2.definition_id and "spec" not in json.loads(_stored(rid))
    (nic,) = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid, TaskRecord.state == "ready"))
    assert nic.title == "网信中心复核"  # loaded with version 2's spec now
    assert progress.load(instance).spec is definitions.definition_spec(v2.definition_id)[0]
    _complete(rid, "nic_head", {"decision": "approve"})
    _complete(rid, "student_head", {"decision": "approve"})
    _complete(rid, "nic_staff", {"method": "interface", "note": "接口"})
    db.session.expire_all()
    assert db.session.get(ProcessInstance, rid).status == "completed"


def _migration():
    path = ROOT / "migrations" / "versions" / "5ec0d4perf01_spec_storage.py"
    spec = importlib.util.spec_from_file_location("spec_storage_migration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(step: str) -> None:
    with db.engine.begin() as conn, Operations.context(MigrationContext.configure(conn)):
        getattr(_migration(), step)()


def test_the_migration_strips_embedded_specs_and_the_instance_runs_on(ctx):
    rid = _submit("student_basic")
    definition_id = db.session.get(ProcessInstance, rid).definition_id
    spec = serializer.spec_dicts(definitions.definition_spec(definition_id))
    old_format = json.dumps({**json.loads(_stored(rid)), **spec})  # as the serializer wrote rows before
    assert len(old_format) > 2 * len(_stored(rid))  # really embedded
    other = _submit("course_schedule")  # a row whose embedded spec is not its version's: keeps it
    foreign = json.loads(_stored(other))
    foreign.update(spec)
    foreign["spec"] = {**foreign["spec"], "description": "另一个规格"}
    db.session.execute(text("UPDATE process_instance SET workflow_json = :j WHERE id = :id"),
                       [{"j": old_format, "id": rid}, {"j": json.dumps(foreign), "id": other}])
    db.session.commit()
    # the old format loads as it is (its embedded spec)
    db.session.expire_all()
    assert progress.load(db.session.get(ProcessInstance, rid)).spec is not definitions.definition_spec(
        definition_id)[0]

    _run("upgrade")
    db.session.expire_all()
    stripped = _stored(rid)
    assert "spec" not in json.loads(stripped) and len(_raw(rid)) < len(old_format) // 2
    assert "spec" in json.loads(_stored(other))  # kept: not the version's spec
    _complete(rid, "cs_head", {"decision": "approve"})
    _complete(rid, "nic_head", {"decision": "approve"})
    _complete(other, "cs_head", {"decision": "approve"})
    db.session.expire_all()
    assert {t.element_id for t in db.session.scalars(select(TaskRecord).where(
        TaskRecord.instance_id == rid, TaskRecord.state == "ready"))} == {"provider_review"}
    assert "spec" in json.loads(_stored(other))  # still on its own spec after a step

    _run("downgrade")  # the old code's format again: the version's spec embedded, every row plain JSON
    db.session.expire_all()
    assert _raw(other).startswith("{")
    assert json.loads(_stored(rid))["spec"] == spec["spec"]
    assert _raw(rid).startswith("{")  # plain JSON, as the old code reads it
    assert serializer.load_workflow(_raw(rid)).spec.name == "share_request"  # loads without a given spec
    _run("upgrade")
    db.session.expire_all()
    assert "spec" not in json.loads(_stored(rid))


def test_a_deadline_after_an_administrator_changes_the_calendar_uses_the_new_calendar(app, ctx):
    start = datetime(2027, 1, 1, 9, 0, tzinfo=CHINA_TZ)  # 2027: provisional, 1 January off
    before = calendar_service.due(start, 1).at
    assert calendar_service.current_calendar() is calendar_service.current_calendar()  # cached
    calendar_service.set_year_arrangement(2027, "2027-01-01~2027-01-04 元旦 休\n", _uid("admin"))
    after = calendar_service.due(start, 1).at
    assert after > before and after.astimezone(CHINA_TZ).date().isoformat() == "2027-01-05"
    # a change made by another process is seen by this process's next application context (request)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE calendar_year SET arrangement_text = :t, updated_at = :u WHERE year = 2027"),
                     {"t": "2027-01-01~2027-01-01 元旦 休\n", "u": datetime(2030, 1, 1, tzinfo=CHINA_TZ)})
    with app.app_context():
        assert calendar_service.due(start, 1).at.astimezone(CHINA_TZ).date().isoformat() == "2027-01-04"


def test_one_api_completion_loads_the_workflow_once_in_few_statements(app, ctx, monkeypatch):
    rid = _submit("student_basic", "staff_basic")
    _complete(rid, "cs_head", {"decision": "approve"})
    token = org.issue_api_token("nic_head")
    (task_id,) = db.session.scalars(select(TaskRecord.id).where(TaskRecord.instance_id == rid,
                                                                TaskRecord.state == "ready"))
    db.session.commit()
    g.pop("workflows_handed_over", None)  # the request below runs in this test's app context: start it empty
    loads = []
    real = serializer.load_workflow
    monkeypatch.setattr(progress, "load_workflow", lambda *a, **k: loads.append(1) or real(*a, **k))
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    client = app.test_client()
    client.get("/api/v1/catalog", headers={"Authorization": f"Bearer {token}"})  # warm: token last-used stamp
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        resp = client.post(f"/api/v1/tasks/{task_id}/complete", json={"decision": "approve"},
                           headers={"Authorization": f"Bearer {token}"})
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert resp.status_code == 200, resp.get_json()
    assert {t["title"] for t in resp.get_json()["current_tasks"]} == {"数据提供部门审核（5个工作日内答复）"}
    assert len(loads) == 1  # complete_task's load; the response view reuses it
    assert len(statements) <= 34, "\n".join(statements)  # 38 before; see the report for what remains
    # the stored workflow is read once (by progress.load), never by a lazy load of the instance
    assert sum("workflow_json" in s and s.lstrip().upper().startswith("SELECT") for s in statements) == 1
