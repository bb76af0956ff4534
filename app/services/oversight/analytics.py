"""Process analytics (issue 12): per user step of a process version, how many passed, median and p90 duration in
working days, open and overdue now, the share of returns and refusals; and how often each sequence flow was taken.

Completed steps and flows come from two aggregate tables that refresh() fills from the instances changed since its
last run (a scheduler job): it reads each changed instance's task rows, the decisions in its audit rows and its
engine task tree once (progress.load, read only), so completing a task costs nothing extra. Open and overdue steps
are read live from the task table (its open-task index). Filters: request date range (the date it was submitted,
Beijing time), applicant department, providing department (a department that held a step of the request) and
process version."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from lxml import etree
from sqlalchemy import and_, case, delete, exists, func, insert, or_, select

from ...engine.paths import BPMN_NS, sequence_flows, taken_transitions, working_days_between
from ...extensions import db
from ...models import (
    AnalyticsFlow,
    AnalyticsRefresh,
    AnalyticsStep,
    AuditLog,
    Department,
    ProcessDefinition,
    ProcessInstance,
    TaskRecord,
)
from ...models.task import TaskState
from ...models.types import CHINA_TZ, utcnow
from ..calendar import current_calendar
from ..errors import NotFound, ValidationFailed

log = logging.getLogger(__name__)

NEGATIVE_DECISIONS = frozenset({"return", "refuse", "reject"})  # 退回, 不同意提供, 不予批准
NEGATIVE_ACTIONS = frozenset({"return_to", "return", "reject", "refuse"})  # steps sent back by an action of their own
REFRESH_CHUNK = 200  # instances per transaction of the refresh job
REFRESH_LIMIT = 5000  # instances per run; the next run goes on where this one stopped
SETTLE = timedelta(seconds=5)  # an instance changed less than this long ago waits for the next run (commit lag)
HEAT_LEVELS = 5
MAX_RANGE_DAYS = 3660


@dataclass(frozen=True)
class Filters:
    definition_ids: tuple[int, ...]
    version: int | None
    date_from: date | None
    date_to: date | None
    applicant: str | None  # department code
    provider: str | None  # department code

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None, "applicant": self.applicant,
                "provider": self.provider}


# ---------------------------------------------------------------------------------------------------------- refresh

def refresh(limit: int = REFRESH_LIMIT) -> int:
    """Count the completed steps and the flows taken of the instances changed since the last run (at most `limit`
    of them, oldest change first, one short transaction per chunk). Returns the number of instances counted."""
    state = db.session.get(AnalyticsRefresh, 1)
    if state is None:
        state = AnalyticsRefresh(id=1, changed_to=None, last_id=0)
        db.session.add(state)
        db.session.flush()
    now = utcnow()
    query = (select(ProcessInstance.id, ProcessInstance.updated_at)
             .where(ProcessInstance.updated_at < now - SETTLE)
             .order_by(ProcessInstance.updated_at, ProcessInstance.id).limit(limit))
    if state.changed_to is not None:
        query = query.where(or_(ProcessInstance.updated_at > state.changed_to,
                                and_(ProcessInstance.updated_at == state.changed_to,
                                     ProcessInstance.id > state.last_id)))
    changed = db.session.execute(query).all()
    counted = 0
    for start in range(0, len(changed), REFRESH_CHUNK):
        chunk = changed[start:start + REFRESH_CHUNK]
        _count_instances([row.id for row in chunk])
        state.changed_to, state.last_id = chunk[-1].updated_at, chunk[-1].id
        state.refreshed_at = now
        db.session.commit()
        counted += len(chunk)
    if not changed:
        state.refreshed_at = now
        db.session.commit()
    return counted


def _count_instances(ids: list[int]) -> None:
    """Replace the analytics rows of these instances with what their tasks, audit rows and task trees say."""
    from ..workflow import progress  # the one place that loads engine progress

    instances = list(db.session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids))))
    by_id = {i.id: i for i in instances}
    negative = {row.task_id for row in db.session.execute(
        select(AuditLog.task_id, AuditLog.action, AuditLog.detail)
        .where(AuditLog.instance_id.in_(ids), AuditLog.task_id.is_not(None),
               AuditLog.action.in_(("complete", *NEGATIVE_ACTIONS))))
        if row.action in NEGATIVE_ACTIONS or _is_negative(row.detail)}
    calendar = current_calendar()
    steps = []
    for task in db.session.execute(
            select(TaskRecord.id, TaskRecord.instance_id, TaskRecord.element_id, TaskRecord.created_at,
                   TaskRecord.completed_at)
            .where(TaskRecord.instance_id.in_(ids), TaskRecord.state == TaskState.completed,
                   TaskRecord.completed_at.is_not(None))):
        instance = by_id[task.instance_id]
        steps.append({"task_id": task.id, "instance_id": instance.id, "definition_id": instance.definition_id,
                      "applicant_department_id": instance.applicant_department_id,
                      "submitted_at": instance.created_at, "element_id": task.element_id,
                      "working_days": working_days_between(calendar, task.created_at, task.completed_at),
                      "negative": task.id in negative})
    flows = []
    for instance in instances:
        try:
            workflow = progress.load(instance)
        except Exception:  # an unreadable instance is left out of the flows, never stops the job
            log.warning("analytics: cannot load instance %s", instance.id, exc_info=True)
            continue
        names = _flow_ids(instance.definition_id)
        taken: dict[str, int] = {}
        for pair, count in taken_transitions(workflow).items():
            flow_id = names.get(pair)
            if flow_id is not None:
                taken[flow_id] = taken.get(flow_id, 0) + count
        flows += [{"instance_id": instance.id, "flow_id": flow_id, "definition_id": instance.definition_id,
                   "applicant_department_id": instance.applicant_department_id,
                   "submitted_at": instance.created_at, "taken": count} for flow_id, count in taken.items()]
    db.session.execute(delete(AnalyticsStep).where(AnalyticsStep.instance_id.in_(ids)))
    db.session.execute(delete(AnalyticsFlow).where(AnalyticsFlow.instance_id.in_(ids)))
    if steps:
        db.session.execute(insert(AnalyticsStep), steps)
    if flows:
        db.session.execute(insert(AnalyticsFlow), flows)


def _is_negative(detail: Any) -> bool:
    result = detail.get("result") if isinstance(detail, dict) else None
    return isinstance(result, dict) and result.get("decision") in NEGATIVE_DECISIONS


def _flow_ids(definition_id: int) -> dict[tuple[str, str], str]:
    return _diagram(definition_id)["flows"]


def _diagram(definition_id: int) -> dict[str, Any]:
    """The version's sequence flows and user steps (definition rows never change, so this is cached)."""
    xml = db.session.scalar(select(ProcessDefinition.bpmn_xml).where(ProcessDefinition.id == definition_id))
    return _parse_diagram(definition_id, xml)


@lru_cache(maxsize=64)
def _parse_diagram(definition_id: int, xml: str) -> dict[str, Any]:
    root = etree.fromstring(xml.encode(), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    steps = {el.get("id"): (el.get("name") or el.get("id")) for el in root.iter(f"{{{BPMN_NS}}}userTask")}
    flows = sequence_flows(xml)
    return {"flows": flows, "steps": steps, "ends": {flow_id: pair for pair, flow_id in flows.items()}}


# ---------------------------------------------------------------------------------------------------------- figures

def parse_filters(process_key: str, args: dict[str, Any]) -> Filters:
    """Filters from query arguments: version (number), from / to (YYYY-MM-DD, Beijing dates of submission),
    applicant / provider (department codes). NotFound for an unknown process, ValidationFailed (422) otherwise."""
    versions = dict(db.session.execute(select(ProcessDefinition.version, ProcessDefinition.id)
                                       .where(ProcessDefinition.process_key == process_key)).all())
    if not versions:
        raise NotFound(f"流程 {process_key} 不存在")
    errors: dict[str, str] = {}
    version = None
    raw_version = _arg(args, "version")
    if raw_version:
        if not raw_version.isdigit() or int(raw_version) not in versions:
            errors["version"] = "没有这个流程版本"
        else:
            version = int(raw_version)
    dates: dict[str, date | None] = {}
    for name, label in (("from", "开始日期"), ("to", "结束日期")):
        raw = _arg(args, name)
        dates[name] = None
        if raw:
            try:
                dates[name] = date.fromisoformat(raw) if len(raw) == 10 else None
            except ValueError:
                pass
            if dates[name] is None:
                errors[name] = f"{label}应为 YYYY-MM-DD 格式的日期"
    if dates["from"] and dates["to"]:
        if dates["from"] > dates["to"]:
            errors["to"] = "结束日期不能早于开始日期"
        elif (dates["to"] - dates["from"]).days > MAX_RANGE_DAYS:
            errors["to"] = "日期范围不能超过十年"
    departments: dict[str, str | None] = {}
    codes = {d for d in (_arg(args, "applicant"), _arg(args, "provider")) if d}
    known = set(db.session.scalars(select(Department.code).where(Department.code.in_(codes)))) if codes else set()
    for name, label in (("applicant", "申请部门"), ("provider", "提供部门")):
        raw = _arg(args, name)
        departments[name] = raw or None
        if raw and raw not in known:
            errors[name] = f"没有这个{label}"
    if errors:
        raise ValidationFailed(errors)
    ids = (versions[version],) if version is not None else tuple(sorted(versions.values()))
    return Filters(ids, version, dates["from"], dates["to"], departments["applicant"], departments["provider"])


def _arg(args: dict[str, Any], name: str) -> str:
    value = args.get(name)
    return value.strip() if isinstance(value, str) else ""


def figures(process_key: str, filters: Filters, now: datetime | None = None) -> dict[str, Any]:
    """Per-step and per-flow figures of the process under the filters (see the module docstring)."""
    now = now or utcnow()
    applicant_id = None
    if filters.applicant:
        applicant_id = db.session.scalar(select(Department.id).where(Department.code == filters.applicant))
    diagrams = [_diagram(i) for i in filters.definition_ids]
    names: dict[str, str] = {}
    ends: dict[str, tuple[str, str]] = {}
    for diagram in diagrams:
        names.update(diagram["steps"])
        ends.update(diagram["ends"])

    def scoped(table, instance_column):
        conditions = [table.definition_id.in_(filters.definition_ids)]
        start, end = _bounds(filters)
        if start is not None:
            conditions.append(table.submitted_at >= start)
        if end is not None:
            conditions.append(table.submitted_at < end)
        if applicant_id is not None:
            conditions.append(table.applicant_department_id == applicant_id)
        if filters.provider:
            conditions.append(_held_by(instance_column, filters.provider))
        return conditions

    step_rows = {row.element_id: row for row in db.session.execute(
        select(AnalyticsStep.element_id, func.count().label("passed"),
               func.sum(case((AnalyticsStep.negative, 1), else_=0)).label("negative"))
        .where(*scoped(AnalyticsStep, AnalyticsStep.instance_id)).group_by(AnalyticsStep.element_id))}
    percentiles = _percentiles(scoped(AnalyticsStep, AnalyticsStep.instance_id))
    open_rows = {row.element_id: row for row in db.session.execute(_open_query(filters, applicant_id, now))}
    flow_rows = db.session.execute(
        select(AnalyticsFlow.flow_id, func.sum(AnalyticsFlow.taken).label("taken"))
        .where(*scoped(AnalyticsFlow, AnalyticsFlow.instance_id)).group_by(AnalyticsFlow.flow_id)).all()
    requests = db.session.scalar(_requests_query(filters, applicant_id))

    steps = []
    for element_id in list(names) + sorted((set(step_rows) | set(open_rows)) - set(names)):
        done, still = step_rows.get(element_id), open_rows.get(element_id)
        passed = int(done.passed) if done else 0
        median, p90 = percentiles.get(element_id, (None, None))
        steps.append({"element_id": element_id, "name": names.get(element_id, element_id), "passed": passed,
                      "median_days": median, "p90_days": p90,
                      "open": int(still.open) if still else 0, "overdue": int(still.overdue or 0) if still else 0,
                      "negative": int(done.negative or 0) if done else 0,
                      "negative_share": round(int(done.negative or 0) / passed, 4) if passed else None})
    slowest = max((s["median_days"] or 0 for s in steps), default=0)
    for step in steps:
        step["heat"] = _level(step["median_days"], slowest) if step["passed"] else 0
    most = max((int(r.taken) for r in flow_rows), default=0)
    flows = [{"flow_id": r.flow_id, "source": ends.get(r.flow_id, ("", ""))[0],
              "target": ends.get(r.flow_id, ("", ""))[1], "taken": int(r.taken), "level": _level(int(r.taken), most)}
             for r in sorted(flow_rows, key=lambda r: (-int(r.taken), r.flow_id))]
    state = db.session.get(AnalyticsRefresh, 1)
    return {"process_key": process_key, "filters": filters.as_dict(), "definition_ids": list(filters.definition_ids),
            "requests": int(requests or 0), "steps": steps, "flows": flows,
            "refreshed_at": state.refreshed_at.isoformat(timespec="seconds") if state and state.refreshed_at else None,
            "now": now.isoformat(timespec="seconds")}


def _bounds(filters: Filters) -> tuple[datetime | None, datetime | None]:
    start = datetime.combine(filters.date_from, time(), tzinfo=CHINA_TZ) if filters.date_from else None
    end = (datetime.combine(filters.date_to + timedelta(days=1), time(), tzinfo=CHINA_TZ)
           if filters.date_to else None)
    return start, end


def _held_by(instance_column, code: str):
    """The request had a step held by this department (its providing department, for a share request)."""
    other = TaskRecord.__table__.alias("provider_task")
    return exists(select(1).select_from(other).where(other.c.instance_id == instance_column,
                                                     other.c.department_code == code))


def _instance_conditions(filters: Filters, applicant_id: int | None) -> list:
    conditions = [ProcessInstance.definition_id.in_(filters.definition_ids)]
    start, end = _bounds(filters)
    if start is not None:
        conditions.append(ProcessInstance.created_at >= start)
    if end is not None:
        conditions.append(ProcessInstance.created_at < end)
    if applicant_id is not None:
        conditions.append(ProcessInstance.applicant_department_id == applicant_id)
    if filters.provider:
        conditions.append(_held_by(ProcessInstance.id, filters.provider))
    return conditions


def _open_query(filters: Filters, applicant_id: int | None, now: datetime):
    return (select(TaskRecord.element_id, func.count().label("open"),
                   func.sum(case((TaskRecord.due_at < now, 1), else_=0)).label("overdue"))
            .join(ProcessInstance, ProcessInstance.id == TaskRecord.instance_id)
            .where(TaskRecord.state == TaskState.ready, *_instance_conditions(filters, applicant_id))
            .group_by(TaskRecord.element_id))


def _requests_query(filters: Filters, applicant_id: int | None):
    return select(func.count()).select_from(ProcessInstance).where(*_instance_conditions(filters, applicant_id))


def _percentiles(conditions: list) -> dict[str, tuple[float, float]]:
    """{element id: (median, p90)} of the working days, interpolated as PostgreSQL's percentile_cont does."""
    if db.session.get_bind().dialect.name == "postgresql":
        rows = db.session.execute(
            select(AnalyticsStep.element_id,
                   func.percentile_cont(0.5).within_group(AnalyticsStep.working_days),
                   func.percentile_cont(0.9).within_group(AnalyticsStep.working_days))
            .where(*conditions).group_by(AnalyticsStep.element_id))
        return {e: (round(float(m), 2), round(float(p), 2)) for e, m, p in rows}
    values: dict[str, list[float]] = {}
    for element_id, days in db.session.execute(
            select(AnalyticsStep.element_id, AnalyticsStep.working_days).where(*conditions)
            .order_by(AnalyticsStep.element_id, AnalyticsStep.working_days)):
        values.setdefault(element_id, []).append(days)
    return {e: (round(_percentile(v, 0.5), 2), round(_percentile(v, 0.9), 2)) for e, v in values.items()}


def _percentile(ordered: list[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _level(value: float | None, top: float) -> int:
    """1..HEAT_LEVELS relative to the largest value (0: no value)."""
    if value is None:
        return 0
    if value <= 0 or top <= 0:
        return 1
    return int(max(1, min(HEAT_LEVELS, -(-value * HEAT_LEVELS // top))))


def filter_options(process_key: str) -> dict[str, Any]:
    """Versions and departments for the filter form."""
    versions = [{"version": v, "id": i} for v, i in db.session.execute(
        select(ProcessDefinition.version, ProcessDefinition.id).where(ProcessDefinition.process_key == process_key)
        .order_by(ProcessDefinition.version.desc()))]
    name = db.session.scalar(select(ProcessDefinition.name).where(ProcessDefinition.process_key == process_key)
                             .order_by(ProcessDefinition.version.desc()).limit(1))
    departments = [{"code": c, "name": n} for c, n in db.session.execute(
        select(Department.code, Department.name).order_by(Department.id))]
    return {"versions": versions, "departments": departments, "name": name or process_key}
