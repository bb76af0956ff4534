"""Administration: 企业微信 / 钉钉 deliveries that failed, with the error, and putting one back in the queue."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from ...services.messaging import channels
from . import bp


@bp.get("/deliveries")
def deliveries():
    return render_template("admin/deliveries.html", **channels.delivery_overview())


@bp.post("/deliveries/<int:delivery_id>/retry")
def delivery_retry(delivery_id: int):
    if channels.retry_failed(delivery_id, current_user.id):
        flash("已重新排队发送", "success")
    else:
        flash("该消息不是发送失败状态", "error")
    return redirect(url_for("admin.deliveries"), 303)
