"""Comparing process versions, moving running instances between them, and retrying failed steps."""
from __future__ import annotations

import copy
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from .parser import BPMN_NS, SPIFF_NS, ParsedProcess
from .runtime import EngineError, check_assignments
from .serializer import dump_workflow, load_workflow, registry

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
_FIELDS = {"name": "名称", "type": "类型", "properties": "扩展属性", "condition": "条件", "script": "脚本",
           "timer": "定时器", "flow": "连线", "attached": "附着任务", "loop": "多实例"}


@dataclass(frozen=True)
class ElementChange:
    element_id: str
    kind: str  # added | removed | changed
    element_type: str
    name: str
    fields: tuple[str, ...] = ()


def diff_elements(old_xml: str | bytes, new_xml: str | bytes) -> list[ElementChange]:
    """Elements added, removed and changed between two diagrams (the process model, not the layout)."""
    old, new = _signatures(old_xml), _signatures(new_xml)
    changes: list[ElementChange] = []
    for element_id in sorted(new.keys() - old.keys()):
        changes.append(ElementChange(element_id, "added", new[element_id]["type"], new[element_id]["name"]))
    for element_id in sorted(old.keys() - new.keys()):
        changes.append(ElementChange(element_id, "removed", old[element_id]["type"], old[element_id]["name"]))
    for element_id in sorted(old.keys() & new.keys()):
        fields = tuple(_FIELDS[k] for k in _FIELDS if old[element_id].get(k) != new[element_id].get(k))
        if fields:
            changes.append(ElementChange(element_id, "changed", new[element_id]["type"], new[element_id]["name"],
                                         fields))
    return changes


def _signatures(xml: str | bytes) -> dict[str, dict]:
    root = etree.fromstring(xml.encode("utf-8") if isinstance(xml, str) else xml,
                            parser=etree.XMLParser(resolve_entities=False, no_network=True))
    out: dict[str, dict] = {}
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for el in process.iter():
            if not isinstance(el.tag, str) or not el.tag.startswith(f"{{{BPMN_NS}}}") or not el.get("id"):
                continue
            local = etree.QName(el).localname
            if local in {"laneSet", "multiInstanceLoopCharacteristics", "timerEventDefinition", "inputDataItem",
                         "outputDataItem"} or el.getparent().tag == f"{{{BPMN_NS}}}timerEventDefinition":
                continue
            out[el.get("id")] = {
                "type": local, "name": el.get("name") or "",
                "properties": tuple(sorted((p.get("name"), p.get("value"))
                                           for p in el.iter(f"{{{SPIFF_NS}}}property"))),
                "condition": _text(el, "conditionExpression"), "script": _text(el, "script"),
                "timer": tuple(_text(el, k) for k in ("timeDate", "timeDuration", "timeCycle")),
                "flow": (el.get("sourceRef"), el.get("targetRef")), "attached": el.get("attachedToRef"),
                "loop": _text(el, "loopDataInputRef"),
            }
    return out


def _text(el, local: str) -> str | None:
    found = el.find(f".//{{{BPMN_NS}}}{local}")
    return (found.text or "").strip() if found is not None else None


@dataclass(frozen=True)
class MigrationCheck:
    can_migrate: bool
    reason: str


def check_migration(workflow: BpmnWorkflow, target: ParsedProcess) -> MigrationCheck:
    """Whether a running workflow can move to the target version: every step it is at must still exist."""
    if workflow.spec.name != target.spec.name:
        return MigrationCheck(False, f"目标版本是另一个流程（{target.spec.name}）")
    top, subs = diff_workflow(registry(), workflow, target.spec, target.subprocess_specs)
    if any(d is None for d in subs.values()):
        return MigrationCheck(False, "目标版本缺少正在运行的子流程")
    active = _names(t.task_spec for t in top.removed if t.state & ACTIVE)
    if active:
        return MigrationCheck(False, f"当前所在环节在新版本中已删除：{active}")
    done = _names(t.task_spec for t in top.removed if t.state & TaskState.COMPLETED)
    if done:
        return MigrationCheck(False, f"已办理的环节在新版本中已删除，历史无法对应：{done}")
    try:  # the dry run really migrates a copy and round-trips it through the serializer
        trial = load_workflow(dump_workflow(workflow), spec=(workflow.spec, workflow.subprocess_specs))
        migrate(trial, target)
        load_workflow(dump_workflow(trial), spec=(target.spec, target.subprocess_specs))
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot move", with the reason shown
        return MigrationCheck(False, f"迁移预演失败：{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    changed = _names(top.alignment.get(t) or t.task_spec for t in top.changed if t.state & ACTIVE)
    return MigrationCheck(True, f"当前环节将采用新版本定义：{changed}" if changed else "可以迁移")


def _names(specs) -> str:
    return "、".join(sorted({spec.bpmn_name or spec.name for spec in specs}))


def migrate(workflow: BpmnWorkflow, target: ParsedProcess) -> None:
    """Move the workflow onto the target version (check_migration first) and run the engine on."""
    top, subs = diff_workflow(registry(), workflow, target.spec, target.subprocess_specs)
    # migrate_workflow resets ready tasks to their parent's data: a multi-instance child would lose its item
    # (e.g. provider_department) and with it the department that holds it; ready steps keep the data they had
    ready_data = {t.id: copy.deepcopy(t.data) for t in workflow.get_tasks(state=TaskState.READY)}
    try:
        migrate_workflow(top, workflow, target.spec)
        for sp_id, sub_diff in subs.items():
            sub = workflow.subprocesses[sp_id]
            migrate_workflow(sub_diff, sub, target.subprocess_specs[sub.spec.name])
        for task in workflow.get_tasks(state=TaskState.READY):
            if task.id in ready_data:
                task.data = ready_data[task.id]
        workflow.subprocess_specs = dict(target.subprocess_specs)  # migrate_workflow moves only the top spec
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        raise EngineError(None, str(exc).splitlines()[0]) from exc
    check_assignments(workflow)


def retry_failed(workflow: BpmnWorkflow) -> int:
    """Run the failed steps again (after a fix); raises EngineError if one fails again. Returns how many."""
    failed = workflow.get_tasks(state=TaskState.ERROR)
    for task in failed:
        workflow.reset_from_task_id(task.id)
    try:
        workflow.do_engine_steps()
    except SpiffWorkflowException as exc:
        task = getattr(exc, "task", None)
        raise EngineError(getattr(getattr(task, "task_spec", None), "bpmn_id", None),
                          str(exc).splitlines()[0]) from exc
    check_assignments(workflow)
    return len(failed)
