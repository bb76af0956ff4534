"""工作委托 (/account/delegations): name a deputy for a date range, see the delegations given and received, revoke."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ...services.errors import Conflict, NotFound, ValidationFailed
from ...services.people import delegations as delegation_service
from . import bp


@bp.get("/account/delegations")
@login_required
def delegations():
    return render_template("auth/delegations.html", errors={}, values={},
                           **delegation_service.delegation_page(current_user.id))


@bp.post("/account/delegations")
@login_required
def delegations_create():
    form = request.form
    try:
        view = delegation_service.create_delegation(current_user.id, form.get("deputy"), form.get("starts_on"),
                                             form.get("ends_on"), form.get("reason"))
    except ValidationFailed as exc:
        return render_template("auth/delegations.html", errors=exc.errors, values=exc.values,
                               **delegation_service.delegation_page(current_user.id)), 422
    except Conflict as exc:
        flash(exc.message, "error")
        return render_template("auth/delegations.html", errors={}, values=dict(form),
                               **delegation_service.delegation_page(current_user.id)), 409
    flash(f"已委托{view['deputy_name']}在 {view['starts_on']} 至 {view['ends_on']} 代为办理您的待办事项", "success")
    return redirect(url_for("auth.delegations"), 303)


@bp.post("/account/delegations/<int:delegation_id>/revoke")
@login_required
def delegations_revoke(delegation_id: int):
    try:
        view = delegation_service.revoke_delegation(delegation_id, current_user.id)
    except (Conflict, NotFound) as exc:  # Forbidden (not the principal): the 403 page
        flash(exc.message, "error")
    else:
        flash(f"已撤销对{view['deputy_name']}的委托", "success")
    return redirect(url_for("auth.delegations"), 303)
