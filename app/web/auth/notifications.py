"""The own notification channels (/account/notifications)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ...services.messaging import channel_prefs
from . import bp


@bp.route("/account/notifications", methods=["GET", "POST"])
@login_required
def notification_settings():
    if request.method == "POST":
        channel_prefs.set_preferences(current_user.id, request.form.getlist("channel"))
        flash("通知方式已保存", "success")
        return redirect(url_for("auth.notification_settings"), 303)
    return render_template("auth/notifications.html", **channel_prefs.preferences(current_user.id))
