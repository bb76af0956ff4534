"""委托/代理 over the API: POST/GET /api/v1/delegations, DELETE /api/v1/delegations/<id> (the principal revokes)."""
from __future__ import annotations

from flask import g, jsonify

from ...services.people import delegations
from . import _json_body, _plain, bp


@bp.post("/delegations")
def create_delegation():
    """{"deputy": username, "starts_on": "YYYY-MM-DD", "ends_on": "YYYY-MM-DD", "reason": "..."} (China dates,
    inclusive): 201 with the delegation; 422 for bad input, 409 when it overlaps one of the principal's own."""
    body = _json_body()
    view = delegations.create_delegation(g.api_user_id, body.get("deputy"), body.get("starts_on"),
                                         body.get("ends_on"), body.get("reason"))
    return jsonify(_plain(view)), 201


@bp.get("/delegations")
def list_delegations():
    return jsonify(_plain(delegations.list_delegations(g.api_user_id)))


@bp.delete("/delegations/<int:delegation_id>")
def revoke_delegation(delegation_id: int):
    return jsonify(_plain(delegations.revoke_delegation(delegation_id, g.api_user_id)))
