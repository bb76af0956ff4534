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
import threading
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
from ...models.analytics import AnalyticsFlowDay, AnalyticsStepDay
from ...models.process import OPEN_STATUSES
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
FIRST_YEAR, LAST_YEAR = 1900, 2999  # dates of submission a filter may name
CACHE_SIZE = 64  # filter combinations whose counted figures are kept per process

_cache_lock = threading.Lock()
_cache: dict[tuple, tuple] = {}


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

def refresh(limit: int = REFRESH_LIMIT, settle: timedelta = SETTLE) -> int:
    """Count the completed steps and the flows taken of the instances changed since the last run (at most `limit`
    of them, oldest change first, one short transaction per chunk). Instances changed within `settle` wait for the
    next run (a transaction may commit a little after its timestamp). Returns the number of instances counted."""
    state = db.session.get(AnalyticsRefresh, 1)
    if state is None:
        state = AnalyticsRefresh(id=1, changed_to=None, last_id=0)
        db.session.add(state)
        db.session.flush()
    now = utcnow()
    query = (select(ProcessInstance.id, ProcessInstance.updated_at)
             .where(ProcessInstance.updated_at < now - settle)
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
    negative, sent_back = set(), set()  # sent back: a step ended by its own return action (退回), not completed
    for row in db.session.execute(
            select(AuditLog.task_id, AuditLog.action, AuditLog.detail)
            .where(AuditLog.instance_id.in_(ids), AuditLog.task_id.is_not(None),
                   AuditLog.action.in_(("complete", *NEGATIVE_ACTIONS)))):
        if row.action in NEGATIVE_ACTIONS:
            sent_back.add(row.task_id)
        if row.action in NEGATIVE_ACTIONS or _is_negative(row.detail):
            negative.add(row.task_id)
    calendar = current_calendar()
    steps = []
    for task in db.session.execute(
            select(TaskRecord.id, TaskRecord.instance_id, TaskRecord.element_id, TaskRecord.created_at,
                   TaskRecord.completed_at, TaskRecord.state)
            .where(TaskRecord.instance_id.in_(ids), TaskRecord.state.in_((TaskState.completed, TaskState.cancelled)),
                   TaskRecord.completed_at.is_not(None))):
        if task.state == TaskState.cancelled and task.id not in sent_back:
            continue  # dropped by the process (a withdrawal, a timer, a cancellation): nobody decided it
        instance = by_id[task.instance_id]
        steps.append({"task_id": task.id, "instance_id": instance.id, "definition_id": instance.definition_id,
                      "applicant_department_id": instance.applicant_department_id,
                      "submitted_at": instance.created_at, "day": _day(instance), "element_id": task.element_id,
                      "working_days": round(working_days_between(calendar, task.created_at, task.completed_at), 2),
                      "negative": task.id in negative})
    flows = []
    flow_ids: dict[int, dict[tuple[str, str], str]] = {}  # per version, read once per chunk
    for instance in instances:
        try:
            workflow = progress.load(instance)
        except Exception:  # an unreadable instance is left out of the flows, never stops the job
            log.warning("analytics: cannot load instance %s", instance.id, exc_info=True)
            continue
        if instance.definition_id not in flow_ids:
            flow_ids[instance.definition_id] = _diagram(instance.definition_id)["flows"]
        names = flow_ids[instance.definition_id]
        taken: dict[str, int] = {}
        for pair, count in taken_transitions(workflow).items():
            flow_id = names.get(pair)
            if flow_id is not None:
                taken[flow_id] = taken.get(flow_id, 0) + count
        flows += [{"instance_id": instance.id, "flow_id": flow_id, "definition_id": instance.definition_id,
                   "applicant_department_id": instance.applicant_department_id,
                   "submitted_at": instance.created_at, "day": _day(instance), "taken": count}
                  for flow_id, count in taken.items()]
    days = {(i.definition_id, _day(i)) for i in instances}  # the daily sums to rebuild: now and before
    for table in (AnalyticsStep, AnalyticsFlow):
        days |= {(row[0], row[1]) for row in db.session.execute(
            select(table.definition_id, table.day).where(table.instance_id.in_(ids)).distinct())}
    db.session.execute(delete(AnalyticsStep).where(AnalyticsStep.instance_id.in_(ids)))
    db.session.execute(delete(AnalyticsFlow).where(AnalyticsFlow.instance_id.in_(ids)))
    if steps:
        db.session.execute(insert(AnalyticsStep), steps)
    if flows:
        db.session.execute(insert(AnalyticsFlow), flows)
    for definition_id, day in sorted(days):
        _rebuild_day(definition_id, day)


def _day(instance: ProcessInstance) -> date:
    return instance.created_at.astimezone(CHINA_TZ).date()


def _rebuild_day(definition_id: int, day: date) -> None:
    """Sum one version's day of analytics_step and analytics_flow into the daily tables."""
    db.session.execute(delete(AnalyticsStepDay).where(AnalyticsStepDay.definition_id == definition_id,
                                                      AnalyticsStepDay.day == day))
    db.session.execute(delete(AnalyticsFlowDay).where(AnalyticsFlowDay.definition_id == definition_id,
                                                      AnalyticsFlowDay.day == day))
    step_keys = (AnalyticsStep.definition_id, AnalyticsStep.day, AnalyticsStep.applicant_department_id,
                 AnalyticsStep.element_id, AnalyticsStep.working_days, AnalyticsStep.negative)
    db.session.execute(insert(AnalyticsStepDay).from_select(
        ["definition_id", "day", "applicant_department_id", "element_id", "working_days", "negative", "passed"],
        select(*step_keys, func.count()).where(AnalyticsStep.definition_id == definition_id,
                                               AnalyticsStep.day == day).group_by(*step_keys)))
    flow_keys = (AnalyticsFlow.definition_id, AnalyticsFlow.day, AnalyticsFlow.applicant_department_id,
                 AnalyticsFlow.flow_id)
    db.session.execute(insert(AnalyticsFlowDay).from_select(
        ["definition_id", "day", "applicant_department_id", "flow_id", "taken"],
        select(*flow_keys, func.sum(AnalyticsFlow.taken)).where(AnalyticsFlow.definition_id == definition_id,
                                                                AnalyticsFlow.day == day).group_by(*flow_keys)))


def _is_negative(detail: Any) -> bool:
    result = detail.get("result") if isinstance(detail, dict) else None
    return isinstance(result, dict) and result.get("decision") in NEGATIVE_DECISIONS


def _diagram(definition_id: int) -> dict[str, Any]:
    """The version's sequence flows and user steps (definition rows never change, so this is cached)."""
    xml = db.session.scalar(select(ProcessDefinition.bpmn_xml).where(ProcessDefinition.id == definition_id))
    return _parse_diagram(definition_id, xml)


@lru_cache(maxsize=64)
def _parse_diagram(definition_id: int, xml: str) -> dict[str, Any]:
    root = etree.fromstring(xml.encode(), parser=etree.XMLParser(resolve_entities=False, no_network=True))
    steps = {el.get("id"): (el.get("name") or el.get("id")) for el in root.iter(f"{{{BPMN_NS}}}userTask")}
    labels = {el.get("id"): el.get("name") for el in root.iter() if el.get("id") and el.get("name")}
    flows = sequence_flows(xml)
    return {"flows": flows, "steps": steps, "labels": labels,
            "ends": {flow_id: pair for pair, flow_id in flows.items()}}


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
        if not (raw_version.isascii() and raw_version.isdigit()) or int(raw_version) not in versions:  # "²"
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
            elif not FIRST_YEAR <= dates[name].year <= LAST_YEAR:  # 0001-01-01 / 9999-12-31 overflow in UTC
                errors[name] = f"{label}应在 {FIRST_YEAR} 至 {LAST_YEAR} 年之间"
                dates[name] = None
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
    labels: dict[str, str] = {}
    ends: dict[str, tuple[str, str]] = {}
    for diagram in diagrams:
        names.update(diagram["steps"])
        labels.update(diagram["labels"])
        ends.update(diagram["ends"])

    def scoped(table):
        conditions = [table.definition_id.in_(filters.definition_ids)]
        if filters.date_from is not None:
            conditions.append(table.day >= filters.date_from)
        if filters.date_to is not None:
            conditions.append(table.day <= filters.date_to)
        if applicant_id is not None:
            conditions.append(table.applicant_department_id == applicant_id)
        if filters.provider:
            conditions.append(_held_by(table.instance_id, filters.provider))
        return conditions

    state = db.session.get(AnalyticsRefresh, 1)
    generation = (state.changed_to, state.last_id) if state is not None else None
    key = (process_key, filters, generation)
    with _cache_lock:
        counted = _cache.get(key)
    if counted is None:  # what the refresh job counted changes only when it runs: computed once per generation
        # per instance when a providing department is chosen, else the daily sums
        steps, flows = (AnalyticsStep, AnalyticsFlow) if filters.provider else (AnalyticsStepDay, AnalyticsFlowDay)
        counted = (_step_figures(steps, scoped(steps)),
                   db.session.execute(select(flows.flow_id, func.sum(flows.taken).label("taken"))
                                      .where(*scoped(flows)).group_by(flows.flow_id)).all(),
                   db.session.scalar(_requests_query(filters, applicant_id)))
        with _cache_lock:
            if len(_cache) >= CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            _cache[key] = counted
    step_rows, flow_rows, requests = counted
    open_rows = {row.element_id: row for row in db.session.execute(_open_query(filters, applicant_id, now))}

    steps = []
    for element_id in list(names) + sorted((set(step_rows) | set(open_rows)) - set(names)):
        passed, negative, median, p90 = step_rows.get(element_id, (0, 0, None, None))
        still = open_rows.get(element_id)
        steps.append({"element_id": element_id, "name": names.get(element_id, element_id), "passed": passed,
                      "median_days": median, "p90_days": p90,
                      "open": int(still.open) if still else 0, "overdue": int(still.overdue or 0) if still else 0,
                      "negative": negative, "negative_share": round(negative / passed, 4) if passed else None})
    slowest = max((s["median_days"] or 0 for s in steps), default=0)
    for step in steps:
        step["heat"] = _level(step["median_days"], slowest) if step["passed"] else 0
    most = max((int(r.taken) for r in flow_rows), default=0)
    flows = []
    for row in sorted(flow_rows, key=lambda r: (-int(r.taken), r.flow_id)):
        source, target = ends.get(row.flow_id, ("", ""))
        flows.append({"flow_id": row.flow_id, "name": labels.get(row.flow_id, ""), "source": source,
                      "target": target, "source_name": labels.get(source, source),
                      "target_name": labels.get(target, target), "taken": int(row.taken),
                      "level": _level(int(row.taken), most)})
    return {"process_key": process_key, "filters": filters.as_dict(), "definition_ids": list(filters.definition_ids),
            "requests": int(requests or 0), "steps": steps, "flows": flows,
            "refreshed_at": state.refreshed_at.isoformat(timespec="seconds") if state and state.refreshed_at else None,
            "now": now.isoformat(timespec="seconds")}


def clear_cache() -> None:
    """Forget the counted figures (tests that rewrite the aggregate tables)."""
    with _cache_lock:
        _cache.clear()


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
            # open instances only (their status index keeps this to the open few at any size)
            .where(TaskRecord.state == TaskState.ready, ProcessInstance.status.in_(OPEN_STATUSES),
                   *_instance_conditions(filters, applicant_id))
            .group_by(TaskRecord.element_id))


def _requests_query(filters: Filters, applicant_id: int | None):
    return select(func.count()).select_from(ProcessInstance).where(*_instance_conditions(filters, applicant_id))


def _step_figures(table, conditions: list) -> dict[str, tuple[int, int, float, float]]:
    """{element id: (passed, returned or refused, median, p90 working days)} from analytics_step or its daily sums.
    Durations are stored to 0.01 working day, so one grouped pass (element, duration, decision) gives exact
    percentiles, interpolated as PostgreSQL's percentile_cont does, without sorting every row."""
    groups: dict[str, list[tuple[float, int]]] = {}
    negatives: dict[str, int] = {}
    how_many = func.sum(table.passed) if table is AnalyticsStepDay else func.count()
    for element_id, days, negative, count in db.session.execute(
            select(table.element_id, table.working_days, table.negative, how_many).where(*conditions)
            .group_by(table.element_id, table.working_days, table.negative)):
        groups.setdefault(element_id, []).append((days, int(count)))
        negatives[element_id] = negatives.get(element_id, 0) + (int(count) if negative else 0)
    out = {}
    for element_id, counted in groups.items():
        counted.sort()
        total = sum(c for _, c in counted)
        out[element_id] = (total, negatives[element_id], round(_weighted_percentile(counted, total, 0.5), 2),
                           round(_weighted_percentile(counted, total, 0.9), 2))
    return out


def _weighted_percentile(counted: list[tuple[float, int]], total: int, q: float) -> float:
    """percentile_cont over values given as sorted (value, how many) pairs."""
    position = q * (total - 1)
    low, high = int(position), min(int(position) + 1, total - 1)
    at_low = at_high = None
    seen = 0
    for value, count in counted:
        if at_low is None and low < seen + count:
            at_low = value
        if high < seen + count:
            at_high = value
            break
        seen += count
    return at_low + (at_high - at_low) * (position - low)


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
