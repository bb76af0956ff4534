"""Services against the real database: submission, exactly-once completion under concurrency, versions, audit."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import AuditLog, ProcessDefinition, ProcessInstance, TaskRecord, User
from app.services.errors import Conflict, Forbidden, ValidationFailed
from app.services.workflow import definitions, requests, tasks

APPLICATION = {"purpose": "用于学院教学评估", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True}


def _uid(name: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == name))


def _resource(code: str) -> int:
    return next(r["id"] for r in requests.catalogue() if r["code"] == code)


def _submit(*codes: str) -> int:
    catalogue = {r["code"]: r for r in requests.catalogue()}
    resources = [{"resource_id": catalogue[c]["id"], "fields": [catalogue[c]["fields"][0]["name"]]} for c in codes]
    return requests.submit_share_request(_uid("cs_handler"), {**APPLICATION, "resources": resources})


def _ready(instance_id: int) -> list[TaskRecord]:
    return db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == instance_id,
                                                       TaskRecord.state == "ready")).all()


def test_submission_projects_the_first_approval_task(ctx):
    rid = _submit("course_schedule")
    (task,) = _ready(rid)
    assert (task.element_id, task.candidate_role, task.department_code) == ("dept_head_sign", "dept_head", "college_cs")
    instance = db.session.get(ProcessInstance, rid)
    assert instance.serializer_version and instance.status == "running"
    version = instance.lock_version
    tasks.complete_task(task.id, _uid("cs_head"), {"decision": "approve"})
    assert db.session.get(ProcessInstance, rid).lock_version == version + 1  # one save per transition


def test_only_handlers_submit_and_not_shared_is_refused(ctx):
    with pytest.raises(Forbidden):
        requests.submit_share_request(_uid("cs_head"), {**APPLICATION, "resources": []})
    with pytest.raises(ValidationFailed) as info:
        requests.submit_share_request(_uid("cs_handler"), {**APPLICATION, "resources": [
            {"resource_id": _resource("salary_detail"), "fields": ["gh"]}]})
    assert "第十七条第（三）项" in info.value.errors["resources"]
    assert db.session.scalar(select(db.func.count(ProcessInstance.id))) == 0


def test_concurrent_approvals_make_exactly_one_transition(app, ctx):
    rid = _submit("course_schedule")
    (task,) = _ready(rid)
    head = _uid("cs_head")
    version = db.session.get(ProcessInstance, rid).lock_version
    task_id = task.id
    db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def approve():
        with app.app_context():
            barrier.wait()
            try:
                tasks.complete_task(task_id, head, {"decision": "approve", "opinion": "同意"})
                outcomes.append("ok")
            except Conflict:
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=approve) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["conflict", "ok"]
    db.session.expire_all()
    completions = db.session.scalars(select(AuditLog).where(AuditLog.instance_id == rid,
                                                            AuditLog.action == "complete")).all()
    assert len(completions) == 1
    assert [t.element_id for t in _ready(rid)] == ["nic_review"]
    assert db.session.get(ProcessInstance, rid).lock_version == version + 1


def test_a_completion_under_the_instance_lock_works_on_the_instance_as_now_stored(app, ctx):
    rid = _submit("course_schedule")
    (task,) = _ready(rid)
    db.session.commit()
    assert task.instance.workflow_json  # this session now holds the instance as read
    # another process advances the instance behind this session's back
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE process_instance SET lock_version = lock_version + 1 WHERE id = :id"), {"id": rid})
        bumped = conn.execute(text("SELECT lock_version FROM process_instance WHERE id = :id"), {"id": rid}).scalar()
    # the lock re-reads the instance: the completion applies to the current version instead of overwriting it
    tasks.complete_task(task.id, _uid("cs_head"), {"decision": "approve"})
    db.session.expire_all()
    assert [t.element_id for t in _ready(rid)] == ["nic_review"]
    assert db.session.get(ProcessInstance, rid).lock_version == bumped + 1


def test_redeploy_makes_a_new_version_and_running_instances_stay_on_theirs(app, ctx):
    rid = _submit("course_schedule")
    v1 = db.session.get(ProcessInstance, rid).definition_id
    xml = (app.config["BPMN_DIR"] / "share_request.bpmn").read_bytes()
    assert not definitions.deploy_xml(xml, "share_request.bpmn").created  # unchanged: no new version
    changed = xml.replace("网信中心审核".encode(), "网信中心审核（第二版）".encode())
    result = definitions.deploy_xml(changed, "share_request.bpmn")
    assert result.created and result.version == 2
    for user, data in [("cs_head", {"decision": "approve"}), ("nic_head", {"decision": "approve"})]:
        (task,) = _ready(rid)
        if user == "nic_head":
            assert task.title == "网信中心审核"  # still version 1's label
        tasks.complete_task(task.id, _uid(user), data)
    assert db.session.get(ProcessInstance, rid).definition_id == v1
    new_rid = _submit("course_schedule")
    assert db.session.get(ProcessInstance, new_rid).definition_id == result.definition_id
    # `flask deploy` of the unchanged default file does not replace the administrator's version 2
    defaults = definitions.deploy_directory()
    assert len(defaults) == len(list(app.config["BPMN_DIR"].glob("*.bpmn"))) and not any(r.created for r in defaults)
    assert definitions.latest_definition_id("share_request") == result.definition_id
    versions = db.session.scalars(select(ProcessDefinition.version).where(
        ProcessDefinition.process_key == "share_request").order_by(ProcessDefinition.version)).all()
    assert versions == [1, 2]


def test_audit_log_is_append_only(ctx):
    rid = _submit("course_schedule")
    row = db.session.scalar(select(AuditLog).where(AuditLog.instance_id == rid))
    row.opinion = "篡改"
    with pytest.raises(PermissionError):
        db.session.flush()
    db.session.rollback()
    db.session.delete(db.session.scalar(select(AuditLog).where(AuditLog.instance_id == rid)))
    with pytest.raises(PermissionError):
        db.session.flush()
    db.session.rollback()


def test_migrations_match_the_models(app, ctx):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "include_object": lambda o, name, type_, r, c: not (type_ == "table" and name == "apscheduler_jobs")})
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_a_runtime_failure_keeps_the_users_step_and_puts_the_instance_in_error(app, ctx):
    xml = (app.config["BPMN_DIR"] / "share_request.bpmn").read_bytes()
    broken = xml.replace(b"dept_head_opinion['decision'] != 'approve'", b"dept_head_opinion['missing'] == 1")
    definitions.deploy_xml(broken, "share_request.bpmn")
    rid = _submit("course_schedule")
    (task,) = _ready(rid)
    tasks.complete_task(task.id, _uid("cs_head"), {"decision": "approve", "opinion": "同意"})
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, rid)
    assert (instance.status, instance.error_element) == ("error", "gw_head")
    assert "missing" in instance.error_message
    assert _ready(rid) == []
    view = requests.request_view(rid, _uid("cs_handler"))
    assert view["status_label"] == "流程出错（待管理员处理）"
    assert [h["opinion"] for h in view["history"] if h["action"] == "complete"] == ["同意"]  # nothing lost


def test_a_process_that_fails_at_its_start_saves_nothing_and_says_so(app, ctx):
    from app.services.errors import ProcessDefinitionBroken

    xml = (app.config["BPMN_DIR"] / "share_request.bpmn").read_bytes()
    definitions.deploy_xml(xml.replace(b"application.get('action') == 'withdraw'", b"application['missing']"),
                           "share_request.bpmn")
    with pytest.raises(ProcessDefinitionBroken) as info:
        _submit("course_schedule")
    assert "gw_fill" in info.value.message and "未保存" in info.value.message
    assert db.session.scalar(select(db.func.count(ProcessInstance.id))) == 0
