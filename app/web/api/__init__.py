"""JSON API /api/v1: session (with X-CSRFToken on writes) or bearer token from `flask users token NAME`."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from flask_login import current_user

from ...extensions import csrf
from ...services.errors import ValidationFailed
from ...services.people import org
from ...services.workflow import approval_actions, tasks
from ...services.workflow import requests as share_requests
from ..errors import error_response
from . import lists

bp = Blueprint("api", __name__)
csrf.exempt(bp)


@bp.before_request
def authenticate():
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        user = org.user_for_token(header.removeprefix("Bearer ").strip())
        if user is None:
            return error_response(401, "API 令牌无效")  # unknown, expired, revoked or of a disabled user
        g.api_user_id = user.id
        g.api_user = user  # a strong reference: the session's identity map is weak, the services get() it again
        return None
    if not current_user.is_authenticated:
        return error_response(401, "请先登录或提供 Bearer 令牌")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        csrf.protect()  # a session-authenticated write needs the X-CSRFToken header
    g.api_user_id = current_user.id
    return None


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed({"_body": "请求体必须是 JSON 对象"}, message="请求体必须是 JSON 对象")
    return body


@bp.get("/catalog")
def catalog():
    return jsonify({"resources": share_requests.catalogue()})


@bp.post("/requests")
def submit():
    instance_id = share_requests.submit_share_request(g.api_user_id, _json_body())
    return jsonify(_plain(share_requests.request_view(instance_id, g.api_user_id))), 201


@bp.get("/requests")
def list_requests():
    """?scope=mine (我发起的) | involved (applied, acted or copied); absent: every request the user may see."""
    page = lists.requests_page(g.api_user_id)
    return jsonify({"requests": [_plain(r) for r in page.items], **page.meta()})


@bp.get("/requests/<int:instance_id>")
def get_request(instance_id: int):
    return jsonify(_plain(share_requests.request_view(instance_id, g.api_user_id)))


@bp.get("/tasks")
def my_tasks():
    """?scope=todo (default, 我的待办) | done (我已办)."""
    page = lists.tasks_page(g.api_user_id)
    return jsonify({"tasks": [_plain(t) for t in page.items], **page.meta()})


@bp.post("/tasks/<int:task_id>/claim")
def claim(task_id: int):
    tasks.claim(task_id, g.api_user_id)
    return jsonify({"task_id": task_id, "claimed": True})


@bp.post("/tasks/<int:task_id>/complete")
def complete(task_id: int):
    body = _json_body()
    instance_id = tasks.complete_task(task_id, g.api_user_id, body, withdraw=body.get("_action") == "withdraw")
    return jsonify(_plain(share_requests.request_view(instance_id, g.api_user_id, completed_by_user=True)))


@bp.post("/tasks/<int:task_id>/transfer")
def transfer(task_id: int):
    body = _json_body()
    return jsonify(approval_actions.transfer(task_id, g.api_user_id, body.get("user"), body.get("reason")))


@bp.post("/tasks/<int:task_id>/cc")
def cc(task_id: int):
    body = _json_body()
    count = approval_actions.cc(task_id, g.api_user_id, body.get("users"), body.get("note"))
    return jsonify({"task_id": task_id, "copied": count}), 201


@bp.get("/cc")
def cc_list():
    page = lists.cc_page(g.api_user_id)
    return jsonify({"cc": [_plain(c) for c in page.items], **page.meta()})


@bp.post("/cc/read")
def cc_read():
    return jsonify({"marked_read": approval_actions.mark_cc_read(g.api_user_id)})


@bp.post("/tasks/batch")
def batch():
    """批量审批: {"task_ids": [...], "decision": "approve"|"return", "opinion": "..."}; 200 with each task's result."""
    body = _json_body()
    results = tasks.complete_many(body.get("task_ids"), g.api_user_id, body)
    done = sum(r["ok"] for r in results)
    return jsonify({"results": results, "completed": done, "failed": len(results) - done})


def _plain(value):
    """Datetimes to ISO 8601 for JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value



from . import attachments as _attachments  # noqa: E402,F401  (its routes are on bp)
from . import countersign as _countersign  # noqa: E402,F401  (its routes are on bp)
from . import delegations as _delegations  # noqa: E402,F401  (its routes are on bp)
from . import rollback as _rollback  # noqa: E402,F401  (退回/撤回/收回: its routes are on bp)
