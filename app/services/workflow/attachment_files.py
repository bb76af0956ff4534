"""Attachment content: what a file field accepts (extension AND content check), safe file names, and the content store
outside the database (<ATTACHMENT_DIR>/ab/cd/<sha256>, written atomically, one copy per content)."""
from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app

DEFAULT_MAX_MB = 20
MAX_FILES = 10  # files in one field of one submission
MAX_NAME = 200  # characters of a stored file name

_OOXML = {".docx": "word/", ".xlsx": "xl/", ".pptx": "ppt/"}
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# extension -> (content type served, description for messages)
KINDS: dict[str, tuple[str, str]] = {
    ".pdf": ("application/pdf", "PDF"),
    ".png": ("image/png", "PNG 图片"),
    ".jpg": ("image/jpeg", "JPEG 图片"),
    ".jpeg": ("image/jpeg", "JPEG 图片"),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "Word 文档"),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "Excel 表格"),
    ".pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "PowerPoint 演示文稿"),
    ".doc": ("application/msword", "Word 97-2003 文档"),
    ".xls": ("application/vnd.ms-excel", "Excel 97-2003 表格"),
}
# Characters never kept in a name: controls, bidirectional overrides/isolates and marks (an RTL override makes
# "报告\u202efdp.exe" look like "报告exe.pdf"), zero-width characters, path separators and characters Windows refuses.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
                     "\ud800-\udfff/\\\\:*?\"<>|]")


@dataclass
class Upload:
    """A file sent with a form, read into memory (at most the field's limit + 1 byte)."""

    filename: str
    data: bytes
    too_large: bool = False

    @property
    def size(self) -> int:
        return len(self.data)


def accepted(field: dict[str, Any]) -> list[str]:
    """The field's allowed extensions, lower case with the dot; a form naming one we cannot check is a form error."""
    out = []
    for ext in field.get("accept") or [".pdf"]:
        ext = str(ext).lower()
        ext = ext if ext.startswith(".") else f".{ext}"
        if ext not in KINDS:
            raise ValueError(f"field {field.get('name')}: cannot check the content of {ext} files")
        out.append(ext)
    if ".jpg" in out and ".jpeg" not in out:
        out.append(".jpeg")  # the same format under its other common name
    return out


def max_bytes(field: dict[str, Any]) -> int:
    return int(float(field.get("max_mb") or DEFAULT_MAX_MB) * 1024 * 1024)


def uploads(field: dict[str, Any], posted: Iterable[Any]) -> list[Upload]:
    """The files a browser posted for a field (werkzeug FileStorage objects; empty file inputs skipped)."""
    limit = max_bytes(field)
    out = []
    for item in posted:
        if not hasattr(item, "stream") or not getattr(item, "filename", None):
            continue
        data = item.stream.read(limit + 1)
        out.append(Upload(item.filename, data, too_large=len(data) > limit))
    return out


def extension(name: str) -> str:
    """".pdf" of "批文.PDF" (also of a bare ".pdf"); "" when the name has none."""
    found = re.search(r"\.[A-Za-z0-9]{1,8}$", re.split(r"[/\\]", name or "")[-1].strip())
    return found.group(0).lower() if found else ""


def content_matches(ext: str, data: bytes) -> bool:
    """The content is what the extension says (magic bytes; Office files are zip archives with their own parts)."""
    if ext == ".pdf":
        return data.startswith(b"%PDF-")
    if ext == ".png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if ext in (".jpg", ".jpeg"):
        return data.startswith(b"\xff\xd8\xff")
    if ext in (".doc", ".xls"):
        return data.startswith(_OLE)
    if ext in _OOXML:
        if not data.startswith(b"PK\x03\x04"):
            return False
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()  # the central directory only: nothing is extracted
        except (zipfile.BadZipFile, ValueError, OSError, EOFError):
            return False
        return "[Content_Types].xml" in names and any(n.startswith(_OOXML[ext]) for n in names)
    return False


def check(field: dict[str, Any], filename: str, size: int, data: bytes | None) -> str | None:
    """Why this file may not go in this field (in Chinese), or None. data None: the content was checked before
    (an API upload being bound) and only the name and size are checked again."""
    label = field.get("label", field.get("name", ""))
    allowed = accepted(field)
    shown = display_name(filename)
    if size > max_bytes(field):
        return f"「{label}」的文件「{shown}」超过 {field.get('max_mb') or DEFAULT_MAX_MB} MB"
    ext = extension(filename)
    if ext not in allowed:
        return f"「{label}」只接受 {'、'.join(allowed)} 文件，「{shown}」不是"
    if size == 0:
        return f"「{label}」的文件「{shown}」是空文件"
    if data is not None and not content_matches(ext, data):
        return f"「{label}」的文件「{shown}」的内容不是{KINDS[ext][1]}（扩展名与内容不符），已拒收"
    return None


def display_name(name: str) -> str:
    """A posted name with the characters that cannot be stored or shown safely removed (for messages, original_name)."""
    return _UNSAFE.sub("", unicodedata.normalize("NFC", name or ""))[:255]


def safe_filename(name: str) -> str:
    """The name a file is shown and downloaded as: no directories, controls, bidi overrides or reserved characters,
    no leading dots, at most MAX_NAME characters with the extension kept; never empty."""
    base = re.split(r"[/\\]", unicodedata.normalize("NFC", name or ""))[-1]  # "../../x.pdf", "C:\\a\\x.pdf" -> x.pdf
    base = re.sub(r"\s+", " ", _UNSAFE.sub("", base)).strip()
    ext = extension(base)
    stem = base[:-len(ext)] if ext else base
    stem = stem.strip(" .")[:MAX_NAME - len(ext)].rstrip(" .") or "附件"
    return stem + ext


# -- the content store ------------------------------------------------------------------------------------------

def root() -> Path:
    configured = current_app.config.get("ATTACHMENT_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "attachments"


def path_for(sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError("not a SHA-256")
    return root() / sha256[:2] / sha256[2:4] / sha256


def store(data: bytes) -> str:
    """Keep the content once under its SHA-256 (temp file + fsync + rename, so a reader never sees half a file).
    Returns the hash; content already stored is not written again."""
    sha = hashlib.sha256(data).hexdigest()
    target = path_for(sha)
    if target.is_file() and target.stat().st_size == len(data):
        os.utime(target)  # in use again now: the cleanup of unreferenced content leaves it alone
        return sha
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha


def stored_hashes() -> Iterable[tuple[str, Path]]:
    """(sha256, path) of every stored content file."""
    base = root()
    if not base.is_dir():
        return
    for path in base.glob("??/??/*"):
        if re.fullmatch(r"[0-9a-f]{64}", path.name):
            yield path.name, path
