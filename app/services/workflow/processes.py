"""Starting process instances: the first user task of a process is its start form (e.g. the 申请表)."""
from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from sqlalchemy import select

from ...engine import runtime
from ...engine.serializer import SERIALIZER_VERSION
from ...extensions import db
from ...models import Department, ProcessInstance, TaskRecord, User
from ...models.task import TaskState
from ...models.types import utcnow
from ..calendar import current_calendar
from ..errors import Forbidden, NotFound, ProcessDefinitionBroken
from ..messaging import notify
from ..people.access import get_user, is_candidate
from ..resources.reference_data import NIC
from ..security import audit
from . import attachments, definitions, progress, script_actions, task_forms, timers

SYSTEM_DEPARTMENT = NIC  # cases the system opens itself (e.g. a missed deadline) are opened in 网信中心's name

Describe = Callable[[dict[str, Any]], tuple[str, str, dict[str, Any]]]
MAX_NESTED_STARTS = 3  # a script's start_process() may start a process whose script starts another, this deep
_nesting: ContextVar[int] = ContextVar("process_start_nesting", default=0)


def _initial_data(department: Department, user: User | None) -> dict[str, Any]:
    return {"applicant_department": department.code, "applicant_department_name": department.name,
            "initiator_department": department.code, "initiator": user.username if user else "system",
            "initiator_name": user.display_name if user else "系统"}


def start_form(process_key: str, user_id: int) -> dict[str, Any]:
    """The form of the process's first user task, and whether the user may start the process here. Only start
    forms marked "startable" are offered (others are started by their own pages or by the system)."""
    user = get_user(user_id)
    definition_id = definitions.latest_definition_id(process_key)
    parsed = definitions.parsed_definition(definition_id)
    # read from the definition alone: showing a form runs no diagram code
    steps = runtime.first_user_tasks(parsed.spec)
    form = task_forms.load_form(steps[0].form_key, definition_id) if len(steps) == 1 else None
    if form is None or not form.get("startable"):
        raise NotFound(f"「{parsed.name}」不能在此发起")
    return {"process_key": process_key, "name": parsed.name, "form": form,
            "allowed": bool(user.roles & set(steps[0].candidate_roles))}


def start_process(process_key: str, user_id: int | None, raw: dict[str, Any], *, describe: Describe | None = None,
                  extra: dict[str, Any] | None = None, commit: bool = True, startable_only: bool = False) -> int:
    """Start an instance and complete its first task with the validated form. user_id None: the system starts it
    (in 网信中心's name), e.g. a violation case opened when a provider misses its deadline. Returns the id."""
    depth = _nesting.get()
    if depth >= MAX_NESTED_STARTS:
        raise ProcessDefinitionBroken(f"流程脚本自动发起的流程嵌套超过 {MAX_NESTED_STARTS} 层（{process_key}），"
                                      "请联系管理员修正流程")
    token = _nesting.set(depth + 1)
    try:
        return _start_process(process_key, user_id, raw, describe=describe, extra=extra, commit=commit,
                              startable_only=startable_only)
    finally:
        _nesting.reset(token)


def _start_process(process_key: str, user_id: int | None, raw: dict[str, Any], *, describe: Describe | None,
                   extra: dict[str, Any] | None, commit: bool, startable_only: bool) -> int:
    user = get_user(user_id) if user_id is not None else None
    department = user.department if user else _system_department()
    definition_id, parsed, workflow = _start(process_key, department, user, extra or {})
    first = _first_task(workflow)
    form = task_forms.load_form(first.form_key, definition_id)
    if startable_only and not form.get("startable"):
        raise NotFound(f"「{parsed.name}」不能在此发起")
    now = utcnow()
    record = TaskRecord(engine_task_id=first.task_id, element_id=first.element_id, title=first.title,
                        lane=first.lane, form_key=first.form_key,
                        candidate_role=first.candidate_roles[0] if first.candidate_roles else "",
                        candidate_roles=list(first.candidate_roles), department_code=first.department,
                        state=TaskState.completed, completed_by_id=user.id if user else None, completed_at=now)
    if user is not None and not is_candidate(user, record, delegated=False):
        raise Forbidden(f"您的角色或部门不能发起「{parsed.name}」")
    clean = task_forms.validate(form, raw)
    clean, attached = attachments.bind_values(form, clean, user.id if user else None)  # files stored now
    title, summary, additions = describe(clean) if describe else (f"{department.name}：{parsed.name}",
                                                                  task_forms.summary(form, clean), {})
    result = {**clean, **additions, "basis": form.get("basis", ""), "by": user.username if user else "system",
              "at": now.isoformat(timespec="seconds")}
    try:
        runtime.complete_user_task(workflow, first.task_id, result)
    except runtime.EngineError as exc:
        db.session.rollback()
        raise ProcessDefinitionBroken(f"「{parsed.name}」的流程定义在「{exc.element_id}」出错：{exc.reason}。"
                                      "本次提交未保存，请联系管理员修正流程后重试") from exc
    instance = _new_instance(definition_id, title, user, department)
    attachments.attach(attached, instance.id)
    record.instance_id = instance.id
    record.opinion = clean.get(form.get("opinion_field", ""), None) or None
    db.session.add(record)
    db.session.flush()
    rescheduled = progress.persist(instance, workflow, actor_id=user.id if user else None, action="submit",
                                   step=first.title, task_id=record.id, detail={"summary": summary, "result": result})
    if commit:
        _commit(rescheduled)
    return instance.id


@script_actions.handles("start_process")
def _start_from_script(instance: ProcessInstance, data: dict[str, Any], open_departments: dict[str, list[str]]) -> None:
    """A script's start_process(): one new instance, or one per department holding an open task of `for_open`
    (e.g. a violation case per provider that missed its deadline), in the caller's transaction."""
    key, for_open = data["process_key"], data["for_open"]
    for department in open_departments.get(for_open, []) if for_open else [None]:
        start_data = {**data["data"], "related": f"#{instance.id} {instance.title}"[:200]}
        if department is not None:
            start_data["accused_department"] = department
        new_id = start_process(key, None, start_data, commit=False)
        audit.record("process_started", instance_id=instance.id, step=f"自动发起 #{new_id}",
                     detail={"summary": f"自动发起 {key} #{new_id}", "process_key": key, "instance_id": new_id,
                             "department": department})


def start_round(process_key: str, title: str, data: dict[str, Any]) -> int:
    """Start an instance the system runs on a schedule (no start form), e.g. a security inspection round."""
    department = _system_department()
    definition_id, _parsed, workflow = _start(process_key, department, None, data)
    instance = _new_instance(definition_id, title, None, department)
    _commit(progress.persist(instance, workflow, actor_id=None, action="start", step=title))
    return instance.id


def _system_department() -> Department:
    return db.session.scalar(select(Department).where(Department.code == SYSTEM_DEPARTMENT))


def _start(process_key: str, department: Department, user: User | None, data: dict[str, Any]):
    """(definition id, parsed process, workflow run up to its first wait) for the latest version."""
    definition_id = definitions.latest_definition_id(process_key)
    parsed = definitions.parsed_definition(definition_id)
    try:
        workflow = runtime.start_workflow(parsed.spec, parsed.subprocess_specs,
                                          {**_initial_data(department, user), **data}, current_calendar())
    except runtime.EngineError as exc:
        raise ProcessDefinitionBroken(f"「{parsed.name}」的流程定义在「{exc.element_id}」出错：{exc.reason}。"
                                      "没有保存任何内容，请联系管理员修正流程") from exc
    return definition_id, parsed, workflow


def _new_instance(definition_id: int, title: str, user: User | None, department: Department) -> ProcessInstance:
    instance = ProcessInstance(definition_id=definition_id, title=title[:200], initiator_id=user.id if user else None,
                               applicant_department_id=department.id, workflow_json="",
                               serializer_version=SERIALIZER_VERSION)
    db.session.add(instance)
    db.session.flush()  # the id, for the task rows persist() writes
    return instance


def _commit(rescheduled: bool) -> None:
    db.session.commit()
    notify.send_pending_emails()
    if rescheduled:
        timers.changed()


def _first_task(workflow) -> runtime.UserTaskView:
    views = runtime.ready_user_tasks(workflow)
    if len(views) != 1:
        raise RuntimeError("流程开始后应当恰有一个用户任务（发起表单）")
    return views[0]
