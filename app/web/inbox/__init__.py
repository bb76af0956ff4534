"""The approver's inbox: list, claim/release, the task form."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ...services.errors import Conflict, ValidationFailed
from ...services.messaging import notify
from ...services.workflow import approval_actions, countersign, task_forms, tasks
from ...services.workflow import rollback as rollback_actions
from ..redirects import back
from ..uploads import posted

bp = Blueprint("inbox", __name__)


@bp.get("/inbox")
@login_required
def index():
    """我的待办, the first tab of the lists (lists.py)."""
    return lists.render_tab("todo", batch={})


@bp.post("/inbox/batch")
@login_required
def batch():
    """批量审批 from the inbox: the ticked rows, one decision and one opinion; a summary and each failure flashed."""
    chosen = request.form.getlist("task_id")
    try:
        results = tasks.complete_many(chosen, current_user.id, {"decision": request.form.get("decision"),
                                                                "opinion": request.form.get("opinion")})
    except ValidationFailed as exc:
        flash(exc.message, "error")
        batch = {**exc.values, "chosen": set(chosen)}
        return lists.render_tab("todo", lists.task_lists.todo(current_user.id), batch=batch), 422
    done = [r for r in results if r["ok"]]
    if done:
        flash(f"已批量办理 {len(done)} 项", "success")
    for r in results:
        if not r["ok"]:
            flash(f"任务 {r['task_id']} 未办理：{r['error']}", "error")
    return redirect(url_for("inbox.index"))


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
                                              task_forms.parse_post(page["form"], posted()),
                                              withdraw=withdraw)
        except ValidationFailed as exc:
            page["prefill"], errors, status = exc.values, exc.errors, exc.status  # 413: a file too large
            flash(exc.message, "error")
        except Conflict as exc:
            flash(exc.message, "error")
            return redirect(url_for("inbox.index"))
        else:
            flash(f"「{page['task']['title']}」已办理", "success")
            return redirect(url_for("requests.show", instance_id=instance_id))
    actions = {"transfer_to": approval_actions.transfer_choices(task_id, current_user.id),
               "cc_to": approval_actions.cc_choices(current_user.id),
               "signatures": countersign.task_signatures(task_id, current_user.id)}  # 加签
    actions["return_to"] = rollback_actions.return_choices(task_id, current_user.id)  # 退回
    return render_template("inbox/task.html", page=page, errors=errors, catalogue=page["catalogue"],
                           actions=actions), status


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


def hand_on(task_id: int, act: Callable[[], dict[str, Any]], message: Callable[[dict[str, Any]], str]):
    """转办 and 退回: the task leaves the user. Done: the request page; a bad form: back to the task; the task is no
    longer theirs to act on: the inbox."""
    try:
        done = act()
    except ValidationFailed as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.task", task_id=task_id))
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.index"))
    flash(message(done), "success")
    return redirect(url_for("requests.show", instance_id=done["instance_id"]))


@bp.post("/tasks/<int:task_id>/transfer")
@login_required
def transfer(task_id: int):
    """转办: the task goes to the chosen colleague."""
    form = request.form
    return hand_on(task_id, lambda: approval_actions.transfer(task_id, current_user.id, form.get("user"),
                                                              form.get("reason")),
                   lambda done: f"已转办给{done['claimed_by_name']}")


@bp.post("/tasks/<int:task_id>/cc")
@login_required
def cc(task_id: int):
    """抄送: copy the chosen people on this step."""
    try:
        count = approval_actions.cc(task_id, current_user.id, request.form.getlist("users"), request.form.get("note"))
        flash(f"已抄送 {count} 人", "success")
    except (ValidationFailed, Conflict) as exc:
        flash(exc.message, "error")
    return back("inbox.task", task_id=task_id)


@bp.get("/cc")
@login_required
def cc_list():
    """抄送我的, the last tab of the lists (lists.py)."""
    return lists.render_tab("cc")


@bp.post("/cc/read")
@login_required
def cc_read():
    approval_actions.mark_cc_read(current_user.id)
    return redirect(url_for("inbox.cc_list"))


from . import lists  # noqa: E402  (its routes are on bp)
from . import rollback as _rollback  # noqa: E402,F401  (退回/撤回/收回: its routes are on bp)
from . import signatures as _signatures  # noqa: E402,F401  (加签: its routes are on bp)
