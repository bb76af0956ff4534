"""The applicant's side: new request, my requests, the request page with its diagram."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ...models.process import INSTANCE_STATUS_LABELS
from ...services.errors import Conflict, ValidationFailed
from ...services.resources import catalog, grants
from ...services.workflow import processes, task_forms
from ...services.workflow import requests as share_requests
from ...services.workflow.approval_sheet import approval_sheet
from ..downloads import attachment
from ..paging import list_args
from ..pdf import PdfUnavailable, html_to_pdf
from ..uploads import posted

bp = Blueprint("requests", __name__)


@bp.get("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico whatever the page says."""
    return current_app.send_static_file("favicon.svg")


@bp.get("/")
@login_required
def home():
    return redirect(url_for("inbox.index"))


@bp.get("/requests")
@login_required
def index():
    page = share_requests.list_requests(current_user.id, **list_args("status", "department"))
    return render_template("requests/index.html", requests=page.items, page=page,
                           statuses=INSTANCE_STATUS_LABELS)


@bp.route("/requests/new", methods=["GET", "POST"])
@login_required
def new():
    form = task_forms.load_start_form("share_request", share_requests.APPLICATION_FORM)
    values, errors, status = {}, {}, 200
    if request.method == "POST":
        try:
            instance_id = share_requests.submit_share_request(
                current_user.id, task_forms.parse_post(form, posted()))
        except ValidationFailed as exc:
            values, errors, status = exc.values, exc.errors, exc.status  # 413: a file over its max_mb
            flash(exc.message, "error")
        else:
            flash("申请已提交，等待部门负责人签署承诺", "success")
            return redirect(url_for("requests.show", instance_id=instance_id))
    elif not current_user.has_role("handler"):
        flash("只有各部门经办人可以提出数据共享申请", "error")
    return render_template("requests/new.html", form=form, values=values, errors=errors,
                           catalogue=share_requests.catalogue()), status


@bp.route("/processes/<process_key>/new", methods=["GET", "POST"])
@login_required
def start(process_key: str):
    """Start any deployed process whose first task the user may fill (e.g. a violation report)."""
    page = processes.start_form(process_key, current_user.id)
    if not page["allowed"]:
        abort(403, f"您的角色不能发起「{page['name']}」")
    # GET parameters prefill the form, e.g. a violation report from a grant page (Art. 30)
    values, errors, status = {f["name"]: request.args[f["name"]] for f in page["form"]["fields"]
                              if f["name"] in request.args}, {}, 200
    if request.method == "POST":
        try:
            instance_id = processes.start_process(
                process_key, current_user.id, task_forms.parse_post(page["form"], posted()),
                startable_only=True)
        except ValidationFailed as exc:
            values, errors, status = exc.values, exc.errors, exc.status  # 413: a file over its max_mb
            flash(exc.message, "error")
        else:
            flash(f"「{page['name']}」已提交", "success")
            return redirect(url_for("requests.show", instance_id=instance_id))
    catalogue = (share_requests.catalogue() if any(f["type"] == "resources" for f in page["form"]["fields"])
                 else None)  # e.g. the data a project takes from the platform (Art. 14, 19)
    return render_template("requests/start.html", page=page, values=values, errors=errors,
                           catalogue=catalogue), status


@bp.get("/requests/<int:instance_id>")
@login_required
def show(instance_id: int):
    view = share_requests.request_view(instance_id, current_user.id)
    return render_template("requests/show.html", r=view)


@bp.get("/requests/<int:instance_id>/print")
@login_required
def print_sheet(instance_id: int):
    """The 审批单 (附件1 申请表, 附件2 保密协议, every opinion) as an A4 page for the browser's print dialog."""
    return render_template("requests/print.html", s=approval_sheet(instance_id, current_user.id), pdf=False)


@bp.get("/requests/<int:instance_id>/print.pdf")
@login_required
def print_pdf(instance_id: int):
    """The same 审批单 as a PDF download, rendered offline by WeasyPrint."""
    sheet = approval_sheet(instance_id, current_user.id)
    try:
        content = html_to_pdf(render_template("requests/print.html", s=sheet, pdf=True))
    except PdfUnavailable as exc:
        abort(503, exc.message)
    return attachment(content, f"数据资源共享审批单-{sheet['id']}.pdf", mimetype="application/pdf")


@bp.post("/requests/<int:instance_id>/urge")
@login_required
def urge(instance_id: int):
    try:
        count = share_requests.urge(instance_id, current_user.id)
        flash(f"已催办，通知了 {count} 人", "success")
    except Conflict as exc:
        flash(exc.message, "error")
    return redirect(url_for("requests.show", instance_id=instance_id))


@bp.get("/definitions/<int:definition_id>.bpmn")
@login_required
def definition_xml(definition_id: int):
    """The diagram as a download, never rendered inline (its <documentation> may carry SVG/XHTML); bpmn-js reads
    it with fetch(), which ignores Content-Disposition."""
    name, xml = share_requests.definition_file(definition_id, current_user.id)
    return attachment(xml, name)


@bp.get("/grants")
@login_required
def grants_page():
    return render_template("requests/grants.html", grants=grants.list_grants(current_user.id))


@bp.get("/catalogue")
@login_required
def catalogue():
    return render_template("requests/catalogue.html", catalogue=share_requests.catalogue())


@bp.get("/catalogue/mine")
@login_required
def my_catalogue():
    return render_template("requests/my_catalogue.html", resources=catalog.own_resources(current_user.id))


@bp.route("/catalogue/new", methods=["GET", "POST"])
@bp.route("/catalogue/<int:resource_id>/edit", methods=["GET", "POST"])
@login_required
def edit_resource(resource_id: int | None = None):
    page = catalog.edit_page(resource_id, current_user.id)
    errors, status = {}, 200
    if request.method == "POST":
        raw = {**request.form.to_dict(), "delivery_methods": request.form.getlist("delivery_methods")}
        try:
            if resource_id is None:
                resource_id = catalog.create_resource(current_user.id, raw)
                flash("资源已补录到目录", "success")
            else:
                approval = catalog.update_resource(current_user.id, resource_id, raw)
                note = f"；共享类型变更已提交网信中心审核（#{approval}）" if approval else ""
                flash("资源已更新" + note, "success")
            return redirect(url_for("requests.edit_resource", resource_id=resource_id))
        except ValidationFailed as exc:
            page["values"], errors, status = exc.values, exc.errors, 422
            page["duplicates"] = getattr(exc, "duplicates", [])  # 一数一源 (Art. 14)
            flash(exc.message, "error")
        except Conflict as exc:
            flash(exc.message, "error")
    return render_template("requests/edit_resource.html", page=page, errors=errors), status


@bp.post("/catalogue/<int:resource_id>/retire")
@login_required
def retire_resource(resource_id: int):
    try:
        catalog.retire_resource(current_user.id, resource_id, request.form.get("reason", ""))
        flash("资源已从目录中删除", "success")
    except ValidationFailed as exc:
        flash(exc.errors.get("reason", exc.message), "error")
    return redirect(url_for("requests.edit_resource", resource_id=resource_id))


from . import attachments as _attachments  # noqa: E402,F401  (its routes are on bp)
