"""退回/收回 in the engine alone (app/engine/rollback.py): SpiffWorkflow's reset_from_task_id over the share-request
diagram (a multi-instance review with boundary timers) and a parallel block; no Flask, no database."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.engine import rollback, runtime
from app.engine.parser import parse_bpmn
from app.engine.serializer import dump_workflow, load_workflow

ROOT = Path(__file__).resolve().parents[2]
TWO_PROVIDERS = [{"owner_department": "student", "share_class": "conditional"},
                 {"owner_department": "hr", "share_class": "conditional"}]


@pytest.fixture(scope="module")
def share():
    return parse_bpmn((ROOT / "bpmn" / "share_request.bpmn").read_bytes(), "share_request.bpmn")


def _user_task(element_id: str) -> str:
    return (f'<bpmn:userTask id="{element_id}" name="{element_id.upper()}"><bpmn:extensionElements>'
            '<spiffworkflow:properties><spiffworkflow:property name="formKey" value="dept_head_commitment" />'
            '<spiffworkflow:property name="candidateRoles" value="dept_head" />'
            '<spiffworkflow:property name="department" value="\'college_cs\'" />'
            '</spiffworkflow:properties></bpmn:extensionElements></bpmn:userTask>')


def _flows(*pairs: tuple[str, str]) -> str:
    return "".join(f'<bpmn:sequenceFlow id="f_{a}_{b}" sourceRef="{a}" targetRef="{b}" />' for a, b in pairs)


PARALLEL = ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
            'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="defs" '
            'targetNamespace="http://bpmn.io/schema/bpmn"><bpmn:process id="par" name="并行" isExecutable="true">'
            '<bpmn:startEvent id="start" />' + "".join(_user_task(t) for t in ("a", "b", "b2", "c", "d"))
            + '<bpmn:parallelGateway id="split" /><bpmn:parallelGateway id="join" /><bpmn:endEvent id="end" />'
            + _flows(("start", "a"), ("a", "split"), ("split", "b"), ("b", "b2"), ("split", "c"), ("b2", "join"),
                     ("c", "join"), ("join", "d"), ("d", "end"))
            + "</bpmn:process></bpmn:definitions>")


def _ready(wf) -> list[str]:
    return sorted(v.element_id for v in runtime.ready_user_tasks(wf))


def _id(wf, element_id: str, department: str | None = None) -> str:
    (view,) = [v for v in runtime.ready_user_tasks(wf) if v.element_id == element_id
               and (department is None or v.department == department)]
    return view.task_id


def _do(wf, element_id: str, result: dict, department: str | None = None) -> str:
    task_id = _id(wf, element_id, department)
    runtime.complete_user_task(wf, task_id, result)
    return task_id


def _at_reviews(share):
    wf = runtime.start_workflow(share.spec, share.subprocess_specs, {"applicant_department": "college_cs"})
    _do(wf, "fill_application", {"action": "submit", "resources": TWO_PROVIDERS})
    _do(wf, "dept_head_sign", {"decision": "approve"})
    _do(wf, "nic_review", {"decision": "approve"})
    return wf


def test_targets_are_the_completed_steps_of_the_path_nearest_first(share):
    wf = _at_reviews(share)
    review = _id(wf, "provider_review", "student")
    assert [s.element_id for s in rollback.return_targets(wf, review)] == [
        "nic_review", "dept_head_sign", "fill_application"]
    with pytest.raises(runtime.TaskNotReady):
        rollback.return_targets(wf, rollback.return_targets(wf, review)[0].task_id)  # not a ready task


def test_reset_from_a_review_to_before_the_block_drops_siblings_and_timers_and_survives_a_save(share):
    wf = _at_reviews(share)
    _do(wf, "provider_review", {"decision": "approve"}, "hr")  # one review done, one open
    assert len(runtime.pending_timers(wf)) == 2
    head = rollback.return_targets(wf, _id(wf, "provider_review", "student"))[1]
    assert head.element_id == "dept_head_sign"
    dropped = rollback.reset(wf, head.task_id)
    assert dropped and _ready(wf) == ["dept_head_sign"] and runtime.pending_timers(wf) == []
    assert _id(wf, "dept_head_sign") == head.task_id  # the step is reopened under its own id
    wf = load_workflow(dump_workflow(wf, with_spec=True))
    _do(wf, "dept_head_sign", {"decision": "approve"})
    _do(wf, "nic_review", {"decision": "approve"})
    assert sorted(v.department for v in runtime.ready_user_tasks(wf)) == ["hr", "student"]
    assert len(runtime.pending_timers(wf)) == 2  # armed again for the new block
    assert runtime.workflow_data(wf)["provider_opinions"] == []


def test_reset_to_the_start_form_keeps_what_was_submitted(share):
    wf = _at_reviews(share)
    start = rollback.return_targets(wf, _id(wf, "provider_review", "hr"))[-1]
    rollback.reset(wf, start.task_id)
    (view,) = runtime.ready_user_tasks(wf)
    assert view.element_id == "fill_application" and view.data["application"]["resources"] == TWO_PROVIDERS


def test_followers_and_multi_instance_children(share):
    wf = _at_reviews(share)
    nic = rollback.return_targets(wf, _id(wf, "provider_review", "hr"))[0]
    assert [f.ready for f in rollback.followers(wf, nic.task_id)] == [True, True]
    done = _do(wf, "provider_review", {"decision": "approve"}, "hr")
    assert rollback.in_multi_instance(wf, done) and not rollback.in_multi_instance(wf, nic.task_id)
    assert sorted(f.ready for f in rollback.followers(wf, nic.task_id)) == [False, True]


def test_cancel_ends_the_workflow_without_an_end_event(share):
    wf = _at_reviews(share)
    rollback.cancel(wf)
    assert runtime.ready_user_tasks(wf) == [] and runtime.pending_timers(wf) == []
    assert runtime.end_event(wf) is None
    assert runtime.ready_user_tasks(load_workflow(dump_workflow(wf, with_spec=True))) == []


def test_parallel_branches_never_offer_the_other_branch_and_reset_joins_again():
    parsed = parse_bpmn(PARALLEL.encode(), "par.bpmn")
    wf = runtime.start_workflow(parsed.spec, parsed.subprocess_specs, {})
    _do(wf, "a", {})
    _do(wf, "b", {})
    assert _ready(wf) == ["b2", "c"]
    assert [s.element_id for s in rollback.return_targets(wf, _id(wf, "b2"))] == ["b", "a"]
    assert [s.element_id for s in rollback.return_targets(wf, _id(wf, "c"))] == ["a"]  # not b: still running
    rollback.reset(wf, rollback.return_targets(wf, _id(wf, "b2"))[0].task_id)  # within its own branch
    assert _ready(wf) == ["b", "c"]
    _do(wf, "b", {})
    _do(wf, "b2", {})
    _do(wf, "c", {})
    assert _ready(wf) == ["d"]
    targets = {s.element_id: s.task_id for s in rollback.return_targets(wf, _id(wf, "d"))}
    again = load_workflow(dump_workflow(wf, with_spec=True))
    rollback.reset(again, targets["a"])  # before the block: both branches run again
    _do(again, "a", {})
    assert _ready(again) == ["b", "c"]


TIMED = ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
         'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
         'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
         'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" '
         'targetNamespace="http://bpmn.io/schema/bpmn"><bpmn:process id="timed" name="限时" isExecutable="true">'
         '<bpmn:startEvent id="start" />' + "".join(_user_task(t) for t in ("a", "b", "c"))
         + '<bpmn:boundaryEvent id="b_due" name="期限" cancelActivity="true" attachedToRef="b">'
           '<bpmn:timerEventDefinition><bpmn:timeDate xsi:type="bpmn:tFormalExpression">due</bpmn:timeDate>'
           '</bpmn:timerEventDefinition></bpmn:boundaryEvent>'
           '<bpmn:endEvent id="end" /><bpmn:endEvent id="late" />'
         + _flows(("start", "a"), ("a", "b"), ("b", "c"), ("c", "end"), ("b_due", "late"))
         + "</bpmn:process></bpmn:definitions>")


def test_returning_to_a_step_with_a_deadline_arms_its_boundary_timer_again():
    parsed = parse_bpmn(TIMED.encode(), "timed.bpmn")
    wf = runtime.start_workflow(parsed.spec, parsed.subprocess_specs, {"due": "2030-01-02T09:00:00+08:00"})
    _do(wf, "a", {})
    b = _id(wf, "b")
    (timer,) = runtime.pending_timers(wf)
    runtime.complete_user_task(wf, b, {})
    assert runtime.pending_timers(wf) == []  # b done: its deadline is gone
    (target,) = [s for s in rollback.return_targets(wf, _id(wf, "c")) if s.element_id == "b"]
    rollback.reset(wf, target.task_id)
    wf = load_workflow(dump_workflow(wf, with_spec=True))
    assert _ready(wf) == ["b"]
    (again,) = runtime.pending_timers(wf)
    assert (again.element_id, again.task_id, again.due_at) == ("b_due", timer.task_id, timer.due_at)
    _do(wf, "b", {})
    _do(wf, "c", {})
    assert runtime.end_event(wf) == ("end", "end")
