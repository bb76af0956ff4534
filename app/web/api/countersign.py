"""加签 over /api/v1: add a signer to my task, answer or cancel a signature, list mine."""
from __future__ import annotations

from flask import g, jsonify

from ...services.workflow import countersign
from ..paging import flag, list_args
from . import _json_body, _plain, bp


@bp.post("/tasks/<int:task_id>/add-signer")
def add_signer(task_id: int):
    """{"user": username, "position": "before"|"after", "reason": text, "data": {form values} (after only)}."""
    body = _json_body()
    signature = countersign.add_signer(task_id, g.api_user_id, body.get("user"), body.get("position"),
                                       body.get("reason"), body.get("data"))
    return jsonify(_plain(signature)), 201


@bp.get("/tasks/<int:task_id>/signatures")
def task_signatures(task_id: int):
    return jsonify({"signatures": _plain(countersign.task_signatures(task_id, g.api_user_id))})


@bp.get("/signatures")
def signatures():
    """加签待办: pending ones; ?done=1 the answered or cancelled ones."""
    page = countersign.signature_list(g.api_user_id, **list_args(), done=flag("done"))
    return jsonify({"signatures": [_plain(s) for s in page.items], **page.meta()})


@bp.get("/signatures/<int:signature_id>")
def signature(signature_id: int):
    return jsonify(_plain(countersign.signature_view(signature_id, g.api_user_id)))


@bp.post("/signatures/<int:signature_id>/answer")
def answer(signature_id: int):
    """{"agree": true|false, "opinion": text}."""
    body = _json_body()
    return jsonify(_plain(countersign.answer(signature_id, g.api_user_id, body.get("agree"), body.get("opinion"))))


@bp.post("/signatures/<int:signature_id>/cancel")
def cancel(signature_id: int):
    return jsonify(_plain(countersign.cancel(signature_id, g.api_user_id)))
