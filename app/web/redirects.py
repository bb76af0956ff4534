"""Going back to the page a form was posted from, without ever leaving the site."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import redirect, request, url_for
from werkzeug.wrappers import Response

from .auth import safe_next


def back(default_endpoint: str, **values: str | int) -> Response:
    """Redirect to the Referer when it is a page of this site, else to `default_endpoint` (a forged Referer such as
    `javascript:` or `//evil.example/` never becomes a Location)."""
    parts = urlsplit(request.referrer or "")
    target = None
    if parts.scheme in ("http", "https") and parts.netloc == request.host:
        target = safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))
    return redirect(target or url_for(default_endpoint, **values))
