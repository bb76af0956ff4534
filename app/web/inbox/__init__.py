"""The approver's inbox: list, claim/release, the task form."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ...services import notify, task_forms, tasks
from ...services.errors import Conflict, ValidationFailed
from ..paging import flag, list_args
from ..redirects import back

bp = Blueprint("inbox", __name__)


@bp.get("/inbox")
@login_required
def index():
    args = list_args()
    page = tasks.inbox(current_user.id, **args, overdue=flag("overdue"))
    return render_template("inbox/index.html", tasks=page.items, page=page)


@bp.get("/notifications")
@login_required
def notifications():
    items = notify.inbox_notifications(current_user.id)
    return render_template("inbox/notifications.html", notifications=items)


@bp.post("/notifications/read")
@login_required
def notifications_read():
    notify.mark_all_read(current_user.id)
    return redirect(url_for("inbox.notifications"))


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int):
    try:
        page = tasks.task_page(task_id, current_user.id)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.index"))
    errors, status = {}, 200
    if request.method == "POST":
        withdraw = request.form.get("_action") == "withdraw"
        try:
            instance_id = tasks.complete_task(task_id, current_user.id,
                                              task_forms.parse_post(page["form"], request.form.to_dict(flat=False)),
                                              withdraw=withdraw)
        except ValidationFailed as exc:
            page["prefill"], errors, status = exc.values, exc.errors, 422
            flash(exc.message, "error")
        except Conflict as exc:
            flash(exc.message, "error")
            return redirect(url_for("inbox.index"))
        else:
            flash(f"「{page['task']['title']}」已办理", "success")
            return redirect(url_for("requests.show", instance_id=instance_id))
    return render_template("inbox/task.html", page=page, errors=errors, catalogue=page["catalogue"]), status


@bp.post("/tasks/<int:task_id>/claim")
@login_required
def claim(task_id: int):
    try:
        tasks.claim(task_id, current_user.id)
        flash("已签收，其他办理人将不再看到该任务", "success")
    except Conflict as exc:
        flash(exc.message, "error")
    return back("inbox.index")


@bp.post("/tasks/<int:task_id>/release")
@login_required
def release(task_id: int):
    try:
        tasks.release(task_id, current_user.id)
        flash("已退回任务池", "success")
    except Conflict as exc:
        flash(exc.message, "error")
    return redirect(url_for("inbox.index"))
