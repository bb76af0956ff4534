"""退回 on the task page, 撤回申请 and 收回 on the request page (issue 11): app/services/workflow/rollback.py."""
from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from ...services.errors import Conflict, ValidationFailed
from ...services.workflow import rollback
from . import bp, hand_on


@bp.post("/tasks/<int:task_id>/return")
@login_required
def return_task(task_id: int):
    """退回: send this task back to the earlier step picked on the task page."""
    form = request.form
    return hand_on(task_id,
                   lambda: rollback.return_to(task_id, current_user.id, form.get("target"), form.get("reason")),
                   lambda done: f"已退回至「{done['returned_to_title']}」")


@bp.post("/requests/<int:instance_id>/withdraw")
@login_required
def withdraw(instance_id: int):
    """撤回申请: the applicant, while nobody has acted since the submission."""
    try:
        rollback.withdraw(instance_id, current_user.id, request.form.get("reason"))
        flash("申请已撤回", "success")
    except (ValidationFailed, Conflict) as exc:
        flash(exc.message, "error")
    return redirect(url_for("requests.show", instance_id=instance_id))


@bp.post("/tasks/<int:task_id>/recall")
@login_required
def recall(task_id: int):
    """收回: take back my decision while the next step is untouched; its task is mine again."""
    try:
        done = rollback.recall(task_id, current_user.id, request.form.get("reason"))
    except (ValidationFailed, Conflict) as exc:
        flash(exc.message, "error")
        instance_id = request.form.get("instance_id", type=int)
        return redirect(url_for("requests.show", instance_id=instance_id) if instance_id else url_for("inbox.index"))
    flash("已收回，可重新办理", "success")
    return redirect(url_for("inbox.task", task_id=done["new_task_id"]) if done["new_task_id"]
                    else url_for("requests.show", instance_id=done["instance_id"]))
