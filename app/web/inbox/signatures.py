"""加签 pages: add a signer from the task page, 加签待办 (/signatures), one signature with its request, answer,
cancel; the navigation's count of open 加签待办."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ...services.errors import Conflict, Forbidden, ValidationFailed
from ...services.workflow import approval_actions, countersign, task_forms, tasks
from ...services.workflow import requests as share_requests
from ..paging import flag, list_args
from . import bp

AGREE = {"1": True, "agree": True, "0": False, "disagree": False}


@bp.app_context_processor
def pending_signatures():
    if current_user.is_authenticated:
        return {"pending_signatures": countersign.pending_count(current_user.id)}
    return {"pending_signatures": 0}


@bp.post("/tasks/<int:task_id>/add-signer")
@login_required
def add_signer(task_id: int):
    """前加签 from its own form (position=before); 后加签 from the task form's 「办理并请他人会签」 button, which
    posts the decision here with sign_user / sign_reason."""
    form = request.form
    if form.get("position") == "before":
        try:
            done = countersign.add_signer(task_id, current_user.id, form.get("user"), "before", form.get("reason"))
        except (ValidationFailed, Conflict) as exc:
            flash(exc.message, "error")
        else:
            flash(f"已征求{done['signer']}的意见，答复前本任务暂不能办理", "success")
        return redirect(url_for("inbox.task", task_id=task_id))
    try:
        page = tasks.task_page(task_id, current_user.id)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.index"))
    data = task_forms.parse_post(page["form"], form.to_dict(flat=False))
    try:
        done = countersign.add_signer(task_id, current_user.id, form.get("sign_user"), "after",
                                      form.get("sign_reason"), data)
    except ValidationFailed as exc:
        flash(exc.message, "error")
        # the form's errors come with the values typed (task_forms.validate); the signer's fields' without
        errors = exc.errors if exc.values else {f"sign_{k}": v for k, v in exc.errors.items()}
        page["prefill"] = exc.values or _typed(page["form"], data)
        return render_template("inbox/task.html", page=page, errors=errors, catalogue=page["catalogue"],
                               actions=_actions(task_id), sign_values=form), 422
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.task", task_id=task_id))
    flash(f"已提交，待{done['signer']}会签后生效", "success")
    return redirect(url_for("inbox.task", task_id=task_id))


def _typed(form: dict, data: dict) -> dict:
    """What was typed, to show again (plain text and choices only)."""
    return {f["name"]: data[f["name"]] for f in form["fields"]
            if f["name"] in data and isinstance(data[f["name"]], str | bool)}


def _actions(task_id: int) -> dict:
    return {"transfer_to": approval_actions.transfer_choices(task_id, current_user.id),
            "cc_to": approval_actions.cc_choices(current_user.id),
            "signatures": countersign.task_signatures(task_id, current_user.id)}


@bp.get("/signatures")
@login_required
def signatures():
    """加签待办: pending ones; ?done=1 those answered or cancelled."""
    page = countersign.signature_list(current_user.id, **list_args(), done=flag("done"))
    return render_template("inbox/signatures.html", items=page.items, page=page)


@bp.get("/signatures/<int:signature_id>")
@login_required
def signature(signature_id: int):
    """One signature with the request it is about (the signer may read it), the answer form for the signer."""
    view = countersign.signature_view(signature_id, current_user.id)
    try:
        req = share_requests.request_view(view["instance_id"], current_user.id)
    except Forbidden:
        req = None  # a cancelled signature no longer lets its signer read the request
    return render_template("inbox/signature.html", s=view, r=req)


@bp.post("/signatures/<int:signature_id>/answer")
@login_required
def signature_answer(signature_id: int):
    agree = AGREE.get(request.form.get("agree", ""), request.form.get("agree"))
    try:
        done = countersign.answer(signature_id, current_user.id, agree, request.form.get("opinion"))
    except (ValidationFailed, Conflict) as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.signature", signature_id=signature_id))
    flash(f"已答复{done['requested_by']}：{done['status_label']}", "success")
    return redirect(url_for("inbox.signatures"))


@bp.post("/signatures/<int:signature_id>/cancel")
@login_required
def signature_cancel(signature_id: int):
    try:
        done = countersign.cancel(signature_id, current_user.id)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("inbox.signature", signature_id=signature_id))
    flash(f"已撤销对{done['signer']}的加签", "success")
    return redirect(url_for("inbox.task", task_id=done["task_id"]))
