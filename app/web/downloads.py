"""Files handed to the browser as downloads (diagrams, Excel exports), never rendered inline."""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from flask import Response

# A download is never a document of this site: should a browser render it anyway, nothing in it may run.
DOWNLOAD_CSP = "default-src 'none'; sandbox"


def attachment(content: bytes | str, filename: str, mimetype: str = "application/octet-stream") -> Response:
    """A response the browser saves as `filename` (Content-Disposition: attachment, RFC 6266/5987 file name)."""
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["Content-Security-Policy"] = DOWNLOAD_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def content_disposition(filename: str) -> str:
    """`attachment; filename="ascii"` plus `filename*=UTF-8''...` when the name is not plain ASCII."""
    filename = re.sub(r"[\x00-\x1f\x7f/\\]+", "_", filename)  # no control characters, no directories
    stem, dot, suffix = filename.rpartition(".")
    if not dot or not re.fullmatch(r"[A-Za-z0-9]{1,10}", suffix):
        stem, suffix = filename, ""
    ascii_name = (_ascii(stem) or "download") + (f".{suffix}" if suffix else "")
    value = f'attachment; filename="{ascii_name}"'
    if ascii_name != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _ascii(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9_-]+", "_", plain).strip("_-")
