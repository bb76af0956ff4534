"""退回, 撤回, 收回 over /api/v1 (issue 11): the routes call app/services/workflow/rollback.py."""
from __future__ import annotations

from flask import g, jsonify

from ...services.workflow import rollback
from . import _json_body, _plain, bp


@bp.get("/tasks/<int:task_id>/return-targets")
def return_targets(task_id: int):
    """The earlier steps the holder may send this task back to, each with who completed it and when."""
    return jsonify({"task_id": task_id, "targets": _plain(rollback.return_targets(task_id, g.api_user_id))})


@bp.post("/tasks/<int:task_id>/return")
def return_task(task_id: int):
    """{"target": engine task id or step id from return-targets, "reason": text}."""
    body = _json_body()
    return jsonify(rollback.return_to(task_id, g.api_user_id, body.get("target"), body.get("reason")))


@bp.post("/requests/<int:instance_id>/withdraw")
def withdraw(instance_id: int):
    """{"reason": text}: the applicant withdraws while nobody has acted since submission (409 otherwise)."""
    return jsonify(rollback.withdraw(instance_id, g.api_user_id, _json_body().get("reason")))


@bp.post("/tasks/<int:task_id>/recall")
def recall(task_id: int):
    """{"reason": text}: take back the task I completed while the next steps are ready and unclaimed."""
    return jsonify(rollback.recall(task_id, g.api_user_id, _json_body().get("reason")))
