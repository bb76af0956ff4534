"""The supervisors' page: overdue and due-soon items, by department and step, with an Excel export."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request
from flask_login import current_user, login_required

from ...models.types import CHINA_TZ, utcnow
from ...services.oversight import oversight_charts, supervision
from ..downloads import attachment
from ..paging import list_args

bp = Blueprint("supervision", __name__, url_prefix="/supervision")


@bp.get("/")
@login_required
def index():
    return render_template("supervision/index.html",
                           data=supervision.overview(current_user.id, **list_args("department", "step", "status")))


@bp.get("/export.xlsx")
@login_required
def export():
    args = list_args("department", "step", "status")
    content = oversight_charts.export_xlsx(current_user.id, department=args["department"], step=args["step"],
                                      status=args["status"], q=args["q"])
    name = f"overdue-{utcnow().astimezone(CHINA_TZ):%Y%m%d-%H%M}.xlsx"
    return attachment(content, name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/charts.json")
@login_required
def charts():
    return jsonify(oversight_charts.chart_data(current_user.id))


@bp.get("/report")
@login_required
def report():
    return render_template("supervision/report.html",
                           data=oversight_charts.monthly_report(current_user.id, request.args.get("month", "")[:20]))
