"""Administration: the working-day calendar."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ...models.org import Role
from ...services import calendar as calendar_service
from ...services.errors import ValidationFailed

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def require_admin():
    if not current_user.has_role(Role.admin):
        abort(403, "只有系统管理员可以访问")


@bp.route("/calendar", methods=["GET", "POST"])
def calendar():
    today = date.today()
    year = request.values.get("year", type=int) or today.year + 1
    errors, text, status = {}, None, 200
    if request.method == "POST":
        upload = request.files.get("file")
        text = upload.read().decode("utf-8", errors="replace") if upload and upload.filename else \
            request.form.get("text", "")
        try:
            result = calendar_service.set_year_arrangement(year, text, current_user.id)
        except ValidationFailed as exc:
            errors, status = exc.errors, 422
            flash(exc.message, "error")
        else:
            flash(f"{year} 年放假安排已保存：放假 {result['days_off']} 天，调休上班 {result['make_up_days']} 天；"
                  f"{result['moved']} 个在办申请的期限已重新计算", "success")
            return redirect(url_for("admin.calendar", year=year))
    years = [calendar_service.year_overview(y) for y in (today.year, today.year + 1)]
    selected = calendar_service.year_overview(year)
    return render_template("admin/calendar.html", years=years, selected=selected, year=year, errors=errors,
                           text=text if text is not None else selected["text"],
                           warning=calendar_service.provisional_warning()), status
