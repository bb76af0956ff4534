"""The supervisors' page: overdue and due-soon items, by department and step, with an Excel export."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required

from ...models.types import CHINA_TZ, utcnow
from ...services import supervision
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
    content = supervision.export_xlsx(current_user.id, department=args["department"], step=args["step"],
                                      status=args["status"], q=args["q"])
    name = f"overdue-{utcnow().astimezone(CHINA_TZ):%Y%m%d-%H%M}.xlsx"
    return attachment(content, name, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
