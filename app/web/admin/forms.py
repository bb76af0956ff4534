"""Administration: the form designer (issue 12) — forms as versioned data, edited, previewed, exported, imported."""
from __future__ import annotations

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from ...services.errors import NotFound, ValidationFailed
from ...services.inputs import parse_id
from ...services.workflow import form_definitions, form_designer
from . import bp


@bp.get("/forms")
def forms():
    return render_template("admin/forms.html", forms=form_definitions.list_forms())


@bp.route("/forms/new", methods=["GET", "POST"])
def form_new():
    if request.method == "POST":
        return _save(None)
    return render_template("admin/form_edit.html", **form_designer.editor(None), problems=[])


@bp.route("/forms/<key>", methods=["GET", "POST"])
def form_edit(key: str):
    if request.method == "POST":
        return _save(key)
    raw = request.args.get("version")
    version = parse_id(raw) if raw else None
    if raw and version is None:
        raise NotFound("版本号无效")
    return render_template("admin/form_edit.html", **form_designer.editor(key, version), problems=[])


def _save(key: str | None):
    text = request.form.get("definition", "")
    try:
        form = form_definitions.parse_text(text)
        result = form_definitions.create(form, current_user.id) if key is None else \
            form_definitions.save(form, current_user.id, key=key)
    except ValidationFailed as exc:
        problems = exc.errors.get("definition", exc.message).split("\n")
        flash(exc.message, "error")
        page = form_designer.editor(key) if key else form_designer.editor(None)
        return render_template("admin/form_edit.html", **{**page, "text": text}, problems=problems), 422
    flash(f"表单 {result.key} 已保存为第 {result.version} 版" if result.created else result.note, "success")
    return redirect(url_for("admin.form_edit", key=result.key), 303)


@bp.post("/forms/preview")
def form_preview():
    """The draft rendered by the macros users see; 422 with the problems (each naming its field) when invalid."""
    body = request.get_json(silent=True) if request.is_json else None
    draft = body.get("definition") if isinstance(body, dict) else request.form.get("definition", "")
    try:
        page = form_designer.preview(draft)
    except ValidationFailed as exc:
        return jsonify({"ok": False, "problems": exc.errors.get("definition", exc.message).split("\n")}), 422
    return jsonify({"ok": True, "problems": [],
                    "html": render_template("admin/_form_preview.html", form=page["form"],
                                            catalogue=page["catalogue"])})


@bp.get("/forms/<key>/export")
def form_export(key: str):
    raw = request.args.get("version")
    version = parse_id(raw) if raw else None
    if raw and version is None:
        raise NotFound("版本号无效")
    text = form_definitions.export_text(key, version)
    name = f"{key}.json" if version is None else f"{key}-v{version}.json"
    return Response(text, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.post("/forms/import")
def form_import():
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        abort(400, "请选择要导入的表单 JSON 文件")
    try:
        result = form_definitions.import_upload(upload.read(form_definitions.MAX_FORM_BYTES + 1), current_user.id)
    except ValidationFailed as exc:
        for line in exc.errors.get("definition", exc.message).split("\n")[:20]:
            flash(f"导入失败：{line}", "error")
        return render_template("admin/forms.html", forms=form_definitions.list_forms()), 422
    flash(f"已导入表单 {result.key} 第 {result.version} 版" if result.created else result.note, "success")
    return redirect(url_for("admin.form_edit", key=result.key), 303)


@bp.get("/modeler/options.json")
def modeler_options():
    """Forms, candidate roles and departments (with Chinese names) for the modeler's pickers."""
    return jsonify(form_designer.modeler_options())
