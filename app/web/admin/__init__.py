"""Administration: the working-day calendar."""
from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ...engine.parser import MAX_BPMN_BYTES, BpmnInvalid
from ...models.org import Role
from ...models.process import INSTANCE_STATUS_LABELS
from ...models.types import CHINA_TZ, utcnow
from ...services import calendar as calendar_service
from ...services.errors import Conflict, ValidationFailed
from ...services.inputs import parse_id
from ...services.people import org
from ...services.workflow import definitions, instances, task_forms
from ..redirects import back

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def require_admin():
    # login_required lets OPTIONS through anonymously; an anonymous user has no roles
    if not (current_user.is_authenticated and current_user.has_role(Role.admin)):
        abort(403, "只有系统管理员可以访问")


@bp.route("/calendar", methods=["GET", "POST"])
def calendar():
    today = utcnow().astimezone(CHINA_TZ).date()  # the university's date, whatever the server's zone
    year = calendar_service.parse_year(request.values.get("year"), default=today.year + 1)
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


# --- processes: list, versions (diff, open instances, migration), modeler, validate/deploy -------------------------

@bp.get("/processes")
def processes():
    return render_template("admin/processes.html", processes=definitions.list_processes())


@bp.get("/processes/<process_key>")
def versions(process_key: str):
    history = definitions.version_history(process_key, instances.open_counts())
    return render_template("admin/versions.html", process_key=process_key, history=history)


@bp.route("/migrations/<int:from_id>/<int:to_id>", methods=["GET", "POST"])
def migration(from_id: int, to_id: int):
    if request.method == "POST":
        chosen = [parse_id(i) for i in request.form.getlist("instance_id")]
        if None in chosen:
            raise ValidationFailed({"instance_id": "实例编号无效"}, message="要迁移的实例编号无效")
        result = instances.migrate(from_id, to_id, current_user.id, chosen)
        flash(f"已迁移 {len(result['moved'])} 个实例" + (f"，{len(result['skipped'])} 个未迁移" if result["skipped"]
                                                        else ""), "success" if result["moved"] else "error")
        return redirect(url_for("admin.migration", from_id=from_id, to_id=to_id))
    return render_template("admin/migration.html", plan=instances.migration_plan(from_id, to_id, current_user.id))


@bp.get("/modeler")
def modeler():
    definition_id = parse_id(request.args.get("definition_id"))
    return render_template("admin/modeler.html", definition_id=definition_id, form_keys=sorted(task_forms.form_keys()),
                           roles=[r.value for r in Role], departments=org.department_codes())


@bp.post("/definitions/validate")
def validate_definition():
    xml, name = _posted_xml()
    try:
        definitions.validate_xml(xml, name)
    except BpmnInvalid as exc:
        return jsonify({"ok": False, "problems": _problems(exc)}), 422
    return jsonify({"ok": True, "problems": []})


@bp.post("/definitions")
def deploy_definition():
    xml, name = _posted_xml()
    try:
        result = definitions.deploy_xml(xml, name, current_user.id)
    except BpmnInvalid as exc:
        if request.is_json:
            return jsonify({"ok": False, "problems": _problems(exc)}), 422
        for p in exc.problems:
            flash(f"{p.element_id or '流程'}：{p.reason}", "error")
        return redirect(url_for("admin.processes")), 303
    payload = {"ok": True, "process_key": result.process_key, "version": result.version, "created": result.created,
               "definition_id": result.definition_id,
               "versions_url": url_for("admin.versions", process_key=result.process_key)}
    if request.is_json:
        return jsonify(payload), 201 if result.created else 200
    flash(f"{result.process_key} 已部署为第 {result.version} 版" if result.created else "流程没有变化，未生成新版本",
          "success")
    return redirect(url_for("admin.versions", process_key=result.process_key))


def _posted_xml() -> tuple[bytes, str]:
    """The diagram from a JSON body {xml, file_name} or an uploaded .bpmn file; 400 when there is none."""
    if request.is_json:
        body = request.get_json(silent=True)
        xml = body.get("xml") if isinstance(body, dict) else None
        if not isinstance(xml, str) or not xml.strip():
            abort(400, "请求中没有流程图 XML")
        return xml.encode("utf-8"), str(body.get("file_name") or "modeler.bpmn")[:200]
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        abort(400, "请选择 .bpmn 文件")
    return upload.read(MAX_BPMN_BYTES + 1), upload.filename[:200]


def _problems(exc: BpmnInvalid) -> list[dict]:
    return [{"element_id": p.element_id, "reason": p.reason} for p in exc.problems]


# --- instances: suspend, resume, cancel, retry ---------------------------------------------------------------------

@bp.get("/instances")
def instance_list():
    status = request.args.get("status") or None
    return render_template("admin/instances.html", rows=instances.list_instances(current_user.id, status),
                           status=status, labels=INSTANCE_STATUS_LABELS)


@bp.post("/instances/<int:instance_id>/<action>")
def instance_action(instance_id: int, action: str):
    reason = request.form.get("reason", "")
    try:
        if action == "suspend":
            instances.suspend(instance_id, current_user.id, reason)
        elif action == "resume":
            instances.resume(instance_id, current_user.id)
        elif action == "cancel":
            instances.cancel(instance_id, current_user.id, reason)
        elif action == "retry":
            instances.retry(instance_id, current_user.id)
        else:
            abort(404)
        flash("操作成功", "success")
    except (Conflict, ValidationFailed) as exc:
        flash(exc.errors.get("reason", exc.message) if isinstance(exc, ValidationFailed) else exc.message, "error")
    return back("admin.instance_list")


from . import analytics as _analytics  # noqa: E402,F401  (its routes are on bp)
from . import audit as _audit  # noqa: E402,F401  (its routes are on bp)
from . import deliveries as _deliveries  # noqa: E402,F401  (its routes are on bp)
from . import forms as _forms  # noqa: E402,F401  (its routes are on bp)
