"""HTML to PDF with WeasyPrint, offline: the only resources it may load are this app's static files, read from disk."""
from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import current_app, url_for
from werkzeug.security import safe_join

# The document's base URL: a name that resolves nowhere, so every relative URL becomes one the fetcher recognises.
BASE_URL = "http://print.invalid/"


class PdfUnavailable(Exception):
    """WeasyPrint cannot be loaded here (e.g. the Pango libraries are missing)."""

    message = "PDF 生成组件不可用（缺少 WeasyPrint 或其系统库 Pango、中文字体），请先使用「打印」页面打印或联系管理员"


def static_file(url: str, static_folder: str, static_prefix: str = "/static/") -> tuple[bytes, str]:
    """(content, MIME type) of BASE_URL + static_prefix + a file in `static_folder`; ValueError for every other URL
    (other hosts, file:, data:, directory escapes, missing files)."""
    parts, base = urlsplit(url), urlsplit(BASE_URL)
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or not parts.path.startswith(static_prefix):
        raise ValueError(f"refused to fetch {url[:200]!r}: only this application's static files are loaded")
    path = safe_join(static_folder, unquote(parts.path[len(static_prefix):]))
    if path is None or not Path(path).is_file():
        raise ValueError(f"no static file {parts.path[:200]!r}")
    return Path(path).read_bytes(), mimetypes.guess_type(path)[0] or "application/octet-stream"


def _offline_fetcher(urls: Any, static_folder: str, static_prefix: str) -> Any:
    """A WeasyPrint URLFetcher that never opens a connection: it answers from static_file() or raises."""

    class OfflineFetcher(urls.URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            content, mime_type = static_file(url, static_folder, static_prefix)
            return urls.URLFetcherResponse(url, content, {"Content-Type": mime_type})

    return OfflineFetcher(allowed_protocols=("http",))


def html_to_pdf(html: str) -> bytes:
    """The PDF of an HTML document whose links point at this app's static files (url_for('static', ...)); needs a
    request context."""
    try:  # lazily: WeasyPrint loads Pango through cffi, which may be missing on a server
        import weasyprint
        from weasyprint import urls
    except (ImportError, OSError) as exc:
        current_app.logger.warning("WeasyPrint unavailable: %s", exc)
        raise PdfUnavailable(str(exc)) from exc
    fetcher = _offline_fetcher(urls, current_app.static_folder or "", url_for("static", filename=""))
    return weasyprint.HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).write_pdf()
