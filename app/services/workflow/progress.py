"""The one place that loads and persists engine progress: saves the workflow, projects ready tasks and armed
timers, turns the scripts' notify() requests and new tasks into notifications, writes audit rows."""
from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from flask import g
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from sqlalchemy import func, insert, literal, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload

from ...engine import runtime
from ...engine.script_env import NotificationRequest, make_script_engine
from ...engine.serializer import SERIALIZER_VERSION, dump_workflow, load_workflow
from ...extensions import db
from ...models import Department, ProcessDefinition, ProcessInstance, TaskRecord, TimerRecord, User
from ...models.involvement import InstanceDepartment
from ...models.org import Role
from ...models.process import INSTANCE_STATUS_LABELS, InstanceStatus
from ...models.task import TaskState
from ...models.timer import TimerState
from ...models.types import UTCDateTime, utcnow
from ..calendar import checked_calendar, current_calendar, revision_columns
from ..errors import Conflict
from ..messaging import notify
from ..people.access import is_candidate
from ..security import audit
from . import definitions, script_actions


def load(instance: ProcessInstance) -> BpmnWorkflow:
    """The instance's workflow with the current working-day calendar attached, on its version's spec.

    The stored JSON is read here (the column is deferred everywhere else), always from the database: under the
    instance's lock that is the committed state. A workflow this app context has just saved and committed at the
    instance's current lock_version (remember()) is handed over instead of being read and deserialized again."""
    handed = _handed_over().pop((instance.id, instance.lock_version), None)
    if handed is not None:  # with a fresh script engine, as a load gives (the calendar may have changed since)
        handed.script_engine = make_script_engine(current_calendar())
        return handed
    # one query: the JSON, and the version's digest and the calendar's marker when not yet read in this context
    digest = definitions.known_digest(instance.definition_id)
    calendar = checked_calendar()
    # and whether a timer row of the instance is pending (persist skips reading the timer rows when none is pending
    # before the step and none after it)
    # and the departments recorded as involved (persist adds only new ones)
    columns = [ProcessInstance.workflow_json, select(TimerRecord.id).where(
        TimerRecord.instance_id == instance.id, TimerRecord.state == TimerState.pending).exists(),
        select(func.aggregate_strings(InstanceDepartment.department_code, ",")).where(
            InstanceDepartment.instance_id == instance.id).scalar_subquery()]
    if digest is None:
        columns.append(select(ProcessDefinition.sha256).where(ProcessDefinition.id == instance.definition_id)
                       .scalar_subquery())
    if calendar is None:
        columns += revision_columns()
    row = db.session.execute(select(*columns).where(ProcessInstance.id == instance.id)).one()
    rest = list(row[3:])
    if digest is None:
        digest = rest.pop(0)
    if calendar is None:
        calendar = current_calendar(tuple(rest))
    workflow = load_workflow(row[0], calendar, spec=definitions.definition_spec(instance.definition_id, digest))
    _timer_rows_pending[workflow] = bool(row[1])
    _departments_recorded[workflow] = set(row[2].split(",")) if row[2] else set()
    return workflow


# workflow -> whether the instance had a pending timer row when it was loaded (or saved) under the lock
_timer_rows_pending: WeakKeyDictionary[BpmnWorkflow, bool] = WeakKeyDictionary()
# workflow -> the instance's departments in instance_department when it was loaded (or saved) under the lock
_departments_recorded: WeakKeyDictionary[BpmnWorkflow, set[str]] = WeakKeyDictionary()


def remember(instance_id: int, lock_version: int, workflow: BpmnWorkflow) -> None:
    """Keep a workflow that was saved and committed at `lock_version` for the next load() of the instance in this
    app context (e.g. the response view after a completion). Taken at most once: the next load owns it."""
    cache = _handed_over()
    if len(cache) >= 8:
        cache.clear()
    cache[(instance_id, lock_version)] = workflow


def _handed_over() -> dict[tuple[int, int], BpmnWorkflow]:
    if "workflows_handed_over" not in g:
        g.workflows_handed_over = {}
    return g.workflows_handed_over


def persist(instance: ProcessInstance, workflow: BpmnWorkflow, *, actor_id: int | None, action: str,
            step: str = "", task_id: int | None = None, opinion: str | None = None,
            detail: dict[str, Any] | None = None, claim_for: dict[str, User] | None = None) -> bool:
    """Save the workflow on the instance and bring tasks, timers and notifications in line. Callers commit.

    claim_for: engine task id -> the user a new task is claimed for (a 退回/收回 reopens a step for whoever did it
    before); the caller tells them, so no 新待办 goes out for those tasks.
    Returns True when a timer was armed or moved (the scheduler should sync after the commit)."""
    views = runtime.ready_user_tasks(workflow)
    view_ids = {v.task_id: v for v in views}
    existing = {r.engine_task_id: r for r in db.session.scalars(
        select(TaskRecord).where(TaskRecord.instance_id == instance.id, TaskRecord.state == TaskState.ready))}
    requests, actions = runtime.drain_requests(workflow)
    recipients = [(req, _recipients(req, existing.values())) for req in requests]
    # departments holding the open tasks a start_process() names, read before the tasks are brought up to date
    open_departments = {a.data["for_open"]: sorted({r.department_code for r in existing.values()
                                                    if r.element_id == a.data["for_open"] and r.department_code})
                        for a in actions if a.action == "start_process" and a.data["for_open"]}
    now = utcnow()
    for engine_id, record in existing.items():
        if engine_id not in view_ids:
            record.state = TaskState.cancelled
            record.completed_at = now
        else:  # a migration or a calendar change may have changed the step's definition or deadline
            _refresh(record, view_ids[engine_id])
    new_records = []
    for view in views:
        if view.task_id not in existing:
            record = TaskRecord(instance_id=instance.id, engine_task_id=view.task_id)
            _refresh(record, view)
            if claim_for and view.task_id in claim_for:
                record.claimed_by = claim_for[view.task_id]
            db.session.add(record)
            new_records.append(record)
    schedule_changed = _project_timers(instance, workflow, now)
    # set the instance's columns after the queries above, so the commit writes it once (one lock_version step)
    # stored without the spec when the workflow runs on its version's shared spec (always, except rows written
    # with an embedded spec that differs from the version's, which keep theirs)
    instance.workflow_json = dump_workflow(
        workflow, with_spec=workflow.spec is not definitions.definition_spec(instance.definition_id)[0])
    instance.serializer_version = SERIALIZER_VERSION
    ended = runtime.end_event(workflow)
    if ended is not None:
        instance.status = InstanceStatus.completed
        instance.outcome, instance.current_step = ended
        instance.completed_at = now
    else:
        instance.current_step = "、".join(dict.fromkeys(v.title for v in views))[:300]
    audit.record(action, user_id=actor_id, instance_id=instance.id, task_id=task_id, step=step, opinion=opinion,
                 detail=detail)
    # departments now holding a task of the instance for the first time (those recorded when it was loaded and
    # those of the tasks that were open are there already); the first save of an instance records every department
    # of its rows (the start step's too)
    first_save = instance.lock_version == 1
    recorded = _departments_recorded.get(workflow)
    involved = {r.department_code for r in new_records if r.department_code} - (recorded or set()) - {
        r.department_code for r in existing.values()}
    if recorded is not None:
        _departments_recorded[workflow] = recorded | involved
    db.session.flush()  # ids for the new tasks
    if involved or first_save:
        _record_involvement(instance, None if first_save else involved)
    deputies: dict[int, int] = {}  # 委托: holder id -> deputy id, read with the holders
    holders = _new_task_holders(new_records, deputies)
    told = {r.id: holders[r.id] for r in new_records if not (claim_for and r.engine_task_id in claim_for)}
    on_behalf = notify.deputy_notices(told, deputies)
    for record in new_records:
        if record.id not in told:
            continue
        message = f"新待办：{record.title}（#{instance.id} {instance.title}）"
        notify.add(holders[record.id], "new_task", message, instance_id=instance.id, task_id=record.id)
        for deputy, principal in on_behalf.get(record.id, ()):  # the deputy, once per task, while it runs
            notify.add([deputy], "new_task", f"代 {principal.display_name}：{message}", instance_id=instance.id,
                       task_id=record.id)
    for req, users in recipients:
        notify.add(users, req.event, f"{req.message}（#{instance.id} {instance.title}）", instance_id=instance.id)
        audit.record(f"notify_{req.event}", instance_id=instance.id, step=req.message,
                     detail={"recipients": sorted(u.username for u in users)})
    for action in actions:
        script_actions.perform(instance, action.action, action.data, open_departments)
    if ended is not None:
        audit.record("end", instance_id=instance.id, step=ended[1], detail={"end_event": ended[0]})
        notify.add([u for u in (instance.initiator,) if u], "end",
                   f"申请已办结：{ended[1]}（#{instance.id} {instance.title}）", instance_id=instance.id)
    return schedule_changed


def record_failure(instance: ProcessInstance, workflow: BpmnWorkflow, error: runtime.EngineError, *,
                   actor_id: int | None, action: str, step: str = "", task_id: int | None = None,
                   opinion: str | None = None, detail: dict[str, Any] | None = None) -> None:
    """Save what was done up to a failing step (nothing the user submitted is lost) and put the instance into the
    error state for an administrator. Callers commit."""
    persist(instance, workflow, actor_id=actor_id, action=action, step=step, task_id=task_id, opinion=opinion,
            detail=detail)
    instance.status = InstanceStatus.error
    instance.error_element = error.element_id
    instance.error_message = error.reason[:2000]
    audit.record("error", instance_id=instance.id, step=f"{error.element_id}: {error.reason}"[:200],
                 detail={"element": error.element_id, "reason": error.reason})
    message = f"流程出错：{error.element_id}：{error.reason}（#{instance.id} {instance.title}）"
    notify.add(notify.users_for(None, [Role.admin.value]), "error", message, instance_id=instance.id)


def require_running(instance: ProcessInstance) -> None:
    """Tasks and timers act only on running instances."""
    if instance.status != InstanceStatus.running:
        label = INSTANCE_STATUS_LABELS.get(instance.status, instance.status)
        raise Conflict(f"该申请当前状态为「{label}」，不能办理")


def _refresh(record: TaskRecord, view: runtime.UserTaskView) -> None:
    """Copy what the engine says about a ready step onto its task row (only the columns that changed)."""
    values = {"element_id": view.element_id, "title": view.title, "lane": view.lane, "form_key": view.form_key,
              "candidate_role": view.candidate_roles[0] if view.candidate_roles else "",
              "candidate_roles": list(view.candidate_roles), "department_code": view.department,
              # a deadline that has fired (e.g. a notifying timer) stays the task's deadline
              "due_at": view.due_at if view.due_at is not None else record.due_at}
    for key, value in values.items():
        if getattr(record, key) != value:
            setattr(record, key, value)


def _record_involvement(instance: ProcessInstance, codes: set[str] | None) -> None:
    """instance_department gets the departments `codes` (None: every department of the instance's task rows) with
    the instance's creation time: one statement, pairs already there left alone."""
    dialect = db.session.get_bind().dialect.name
    upsert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    if codes is None:
        rows = (select(TaskRecord.instance_id, TaskRecord.department_code,
                       literal(instance.created_at, UTCDateTime()))
                .where(TaskRecord.instance_id == instance.id, TaskRecord.department_code.is_not(None)).distinct())
        statement = upsert(InstanceDepartment).from_select(["instance_id", "department_code", "created_at"], rows)
    else:
        statement = upsert(InstanceDepartment).values([
            {"instance_id": instance.id, "department_code": code, "created_at": instance.created_at}
            for code in sorted(codes)])
    db.session.execute(statement.on_conflict_do_nothing())


def _new_task_holders(records: list[TaskRecord], deputies: dict[int, int]) -> dict[int, list[User]]:
    """notify.task_holders() of new (unclaimed) tasks, with one query for all of them (a step that opens the
    provider reviews opens one task per department); `deputies` gets each holder's running delegation's deputy
    (委托), read in the same statement."""
    if len(records) < 2:
        return {r.id: notify.task_holders(r, deputies=deputies) for r in records}
    codes = {r.department_code for r in records}
    query = (select(User, notify.active_deputy()).where(User.active.is_(True))
             .options(joinedload(User.department)))
    if None not in codes:
        query = query.join(User.department).where(Department.code.in_(codes))
    users = []
    for user, deputy_id in db.session.execute(query).unique():
        users.append(user)
        if deputy_id is not None:
            deputies[user.id] = deputy_id
    return {r.id: [u for u in users
                   if u.roles & set(r.candidate_roles or []) and is_candidate(u, r, delegated=False)]
            for r in records}


def _recipients(req: NotificationRequest, open_records) -> list[User]:
    users: list[User] = []
    if req.to_open:
        for record in open_records:
            if record.element_id == req.to_open:
                users += notify.task_holders(record)
    if req.to_department or req.to_role:
        users += _users_for(req.to_department, [req.to_role] if req.to_role else _all_roles())
    if req.cc:
        users += _users_for(req.cc, ["nic_head", "nic_reviewer"] if req.cc == "nic" else _all_roles())
    return users


def _users_for(department_code: str | None, roles: list[str]) -> list[User]:
    """notify.users_for, read once per transaction for the same department and roles (a batch of timers fired in
    one transaction sends the same reminder to the same office many times)."""
    transaction = db.session().get_transaction()
    cached = db.session.info.get("progress_users_for")
    if transaction is None or cached is None or cached[0] is not transaction:
        cached = (transaction, {})
        db.session.info["progress_users_for"] = cached
    key = (department_code, tuple(sorted(roles)))
    if key not in cached[1]:
        cached[1][key] = notify.users_for(department_code, roles)
    return cached[1][key]


def _all_roles() -> list[str]:
    return [r.value for r in Role]


def _project_timers(instance: ProcessInstance, workflow: BpmnWorkflow, now) -> bool:
    pending = {t.task_id: t for t in runtime.pending_timers(workflow)}
    had_pending = _timer_rows_pending.get(workflow, True)
    _timer_rows_pending[workflow] = bool(pending)  # as saved now (a remember()ed workflow is loaded like this)
    if not had_pending:  # no pending row to cancel or mark fired: write the armed timers without reading the rows
        if not pending:
            return False
        # a timer armed again under its engine id (a step reopened) has a row already: pending again, new due time
        upsert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = upsert(TimerRecord).values([
            {"instance_id": instance.id, "engine_task_id": engine_id, "element_id": timer.element_id,
             "title": timer.title, "interrupting": timer.interrupting, "due_at": timer.due_at,
             "state": TimerState.pending, "created_at": now} for engine_id, timer in pending.items()])
        db.session.execute(statement.on_conflict_do_update(
            index_elements=[TimerRecord.instance_id, TimerRecord.engine_task_id],
            set_={"state": TimerState.pending, "due_at": statement.excluded.due_at, "fired_at": None}))
        return True
    rows = {r.engine_task_id: r for r in db.session.scalars(
        select(TimerRecord).where(TimerRecord.instance_id == instance.id))}
    changed = False
    for engine_id, row in rows.items():
        timer = pending.get(engine_id)
        if timer is None:
            if row.state == TimerState.pending:
                fired = row.due_at <= now
                row.state = TimerState.fired if fired else TimerState.cancelled
                row.fired_at = now if fired else None
        elif row.state != TimerState.pending or row.due_at != timer.due_at:
            row.state, row.due_at, row.fired_at = TimerState.pending, timer.due_at, None
            changed = True
    new_rows = [{"instance_id": instance.id, "engine_task_id": engine_id, "element_id": timer.element_id,
                 "title": timer.title, "interrupting": timer.interrupting, "due_at": timer.due_at,
                 "state": TimerState.pending, "created_at": now}
                for engine_id, timer in pending.items() if engine_id not in rows]
    if new_rows:  # one statement for all of them (nothing here needs their ids)
        db.session.execute(insert(TimerRecord), new_rows)
        changed = True
    return changed
