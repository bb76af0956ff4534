"""Workflow <-> JSON, with the serializer version stored beside it.

An instance is stored without its spec: the spec belongs to the instance's definition version and is attached on
load (`spec=`), so the ~20 KB spec is not repeated in every instance and not rebuilt on every load. JSON written
before (with an embedded 'spec') still loads; `dump_workflow(..., with_spec=True)` writes that format again.
SpiffWorkflow's own converters, version key and version migrations are used unchanged.

The stored text is that JSON, or above COMPRESS_ABOVE characters "zlib:" + base64 of the zlib-compressed JSON
(a mid-journey share request: ~13 KB of JSON, ~3 KB stored); decode() gives the JSON back.
"""
from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .calendar import WorkingCalendar
from .script_env import make_script_engine

SpecPair = tuple[BpmnProcessSpec, dict[str, BpmnProcessSpec]]


class _SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    """BpmnWorkflow without 'spec' and 'subprocess_specs'; from_dict is SpiffWorkflow's (a spec object placed in
    the dictionary passes the registry's restore unchanged)."""

    def to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


_SERIALIZER = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
SERIALIZER_VERSION: str = _SERIALIZER.VERSION
_VERSION_KEY = BpmnWorkflowSerializer.VERSION_KEY
# Dumping uses registries of its own that stay in SpiffWorkflow's encoder mode: the shared registry's mode flag
# is never toggled, so a diff or a load in another thread never sees it switched.
_DUMP = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(
    {**SPIFF_CONFIG, BpmnWorkflow: _SpecFreeWorkflowConverter}))
_DUMP_FULL = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
for _serializer in (_DUMP, _DUMP_FULL):
    _serializer.registry._encoder_mode = True


COMPRESS_ABOVE = 4096
_ZLIB = "zlib:"


def encode(json_text: str) -> str:
    if len(json_text) <= COMPRESS_ABOVE:
        return json_text
    return _ZLIB + base64.b64encode(zlib.compress(json_text.encode("utf-8"), 6)).decode("ascii")


def decode(stored: str) -> str:
    """The JSON of a stored workflow (plain or compressed)."""
    if stored.startswith(_ZLIB):
        return zlib.decompress(base64.b64decode(stored[len(_ZLIB):])).decode("utf-8")
    return stored


def registry():
    """The serializer's converter registry (SpiffWorkflow's diff functions need it)."""
    return _SERIALIZER.registry


def dump_workflow(workflow: BpmnWorkflow, *, with_spec: bool = False) -> str:
    """Compact JSON, UTF-8 text as is (not \\u-escaped); without the spec unless asked."""
    serializer = _DUMP_FULL if with_spec else _DUMP
    dct = serializer.to_dict(workflow)
    dct[_VERSION_KEY] = SERIALIZER_VERSION
    return encode(json.dumps(dct, cls=serializer._encoder_cls, ensure_ascii=False, separators=(",", ":")))


def load_workflow(data: str, calendar: WorkingCalendar | None = None, *, spec: SpecPair | None = None
                  ) -> BpmnWorkflow:
    """Deserialize and re-attach our script engine (it is not serialized).

    Stored without its spec, the workflow gets `spec` (the version's process spec and subprocess specs, shared
    read-only); with an embedded spec (older rows), that one is used and `spec` is ignored."""
    dct = json.loads(decode(data))
    if "spec" not in dct:
        if spec is None:
            raise ValueError("the workflow was stored without its spec: pass the definition's spec")
        dct["spec"], dct["subprocess_specs"] = spec[0], dict(spec[1])
    _SERIALIZER.migrate(dct)
    workflow = _SERIALIZER.from_dict(dct)
    workflow.script_engine = make_script_engine(calendar)
    return workflow


def embedded_spec(data: str) -> dict[str, Any] | None:
    """The 'spec' and 'subprocess_specs' of a row written with its spec, else None."""
    dct = json.loads(decode(data))
    if "spec" not in dct:
        return None
    return {"spec": dct["spec"], "subprocess_specs": dct.get("subprocess_specs", {})}


def spec_dicts(spec: SpecPair) -> dict[str, Any]:
    """A spec as the serializer embeds it (to compare with or restore an embedded one)."""
    return json.loads(json.dumps({"spec": _SERIALIZER.registry.convert(spec[0]),
                                  "subprocess_specs": {k: _SERIALIZER.registry.convert(v)
                                                       for k, v in spec[1].items()}}))


def strip_spec(data: str) -> str:
    """A stored workflow without its embedded spec, re-dumped compact and unescaped (compressed when large)."""
    dct = json.loads(decode(data))
    dct.pop("spec", None)
    dct.pop("subprocess_specs", None)
    return encode(json.dumps(dct, ensure_ascii=False, separators=(",", ":")))


def embed_spec(data: str, spec: dict[str, Any]) -> str:
    """The reverse of strip_spec: the old format (plain JSON) with the spec inside."""
    dct = json.loads(decode(data))
    dct.update(spec)
    return json.dumps(dct)


def warm(spec: SpecPair) -> None:
    """Make a spec safe to share between threads: a multi-instance task connects its merge callback on first use
    (check-then-connect, which two threads could both do); connect it once here."""
    for process in (spec[0], *spec[1].values()):
        for task_spec in process.task_specs.values():
            child_name = getattr(task_spec, "task_spec", None)
            merge = getattr(task_spec, "merge_child", None)
            if isinstance(child_name, str) and merge is not None and child_name in process.task_specs:
                event = process.task_specs[child_name].completed_event
                if not event.is_connected(merge):
                    event.connect(merge)
