"""POST /api/v1/attachments: upload one file for a file field; a submission then names it by id."""
from __future__ import annotations

from flask import g, jsonify, request

from ...services.errors import ValidationFailed
from ...services.workflow import attachment_files, attachments
from . import _plain, bp


@bp.post("/attachments")
def upload_attachment():
    """multipart/form-data: "file" (one file) and "field" (the form field's name; optional "form": its form key).
    201 {"id", "name", "size", "sha256", ...}: owned by the uploader, unbound until a completion or submission
    gives the field as a list of such ids; unused uploads are deleted after 24 hours."""
    files = request.files.getlist("file")
    if len(files) > 1:
        raise ValidationFailed({"file": "一次只能上传一个文件"}, message="一次只能上传一个文件")
    field = request.form.get("field", "")
    form_key = request.form.get("form") or None
    chosen = None
    if files and files[0].filename:
        limit = {"max_mb": 200}  # read at most this; the field's own max_mb is checked by the service
        found = attachment_files.uploads(limit, files)
        chosen = found[0] if found else None
    return jsonify(_plain(attachments.upload(g.api_user_id, field, chosen, form_key))), 201
