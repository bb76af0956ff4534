"""GET /attachments/<id>: an attachment of a request, for whoever may see the request page."""
from __future__ import annotations

from flask import send_file
from flask_login import current_user, login_required

from ...services.workflow import attachments
from ..downloads import DOWNLOAD_CSP, content_disposition
from . import bp


@bp.get("/attachments/<int:attachment_id>")
@login_required
def attachment_download(attachment_id: int):
    """Always a download (Content-Disposition: attachment with the UTF-8 name), never rendered inline: nosniff and
    the sandboxing CSP of the diagram downloads. The content type is the one the upload's content check found."""
    row, path = attachments.for_download(attachment_id, current_user.id)
    response = send_file(path, mimetype=row.content_type, conditional=True, max_age=0, etag=row.sha256)
    response.headers["Content-Disposition"] = content_disposition(row.filename)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-cache"
    return response
