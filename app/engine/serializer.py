"""Workflow <-> JSON, with the serializer version stored beside it."""
from __future__ import annotations

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .calendar import WorkingCalendar
from .script_env import make_script_engine

_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
SERIALIZER_VERSION: str = _SERIALIZER.VERSION


def registry():
    """The serializer's converter registry (SpiffWorkflow's diff functions need it)."""
    return _SERIALIZER.registry


def dump_workflow(workflow: BpmnWorkflow) -> str:
    return _SERIALIZER.serialize_json(workflow)


def load_workflow(data: str, calendar: WorkingCalendar | None = None) -> BpmnWorkflow:
    """Deserialize and re-attach our script engine (it is not serialized)."""
    workflow = _SERIALIZER.deserialize_json(data)
    workflow.script_engine = make_script_engine(calendar)
    return workflow
