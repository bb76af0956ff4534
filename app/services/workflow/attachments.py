"""Attachments of task and start forms (file fields): checking what was sent, binding it to the instance in the
completion's transaction, API uploads that wait to be named in a submission, downloads with the request page's
access, and the daily cleanup of uploads never used.

A file field's value in task data is a small list of {"id", "name", "size", "sha256"}; the content lives outside
the database (attachment_files). A form is validated completely before anything is stored: a refused submission
writes neither a row nor a file."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import current_app, has_request_context, url_for
from sqlalchemy import delete, select, update
from sqlalchemy.orm.attributes import set_committed_value

from ...extensions import db
from ...models import Attachment
from ...models.types import utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..inputs import parse_id
from ..people.access import get_user, get_viewable_instance
from ..security import audit
from . import attachment_files as files
from .attachment_files import Upload

UNBOUND_HOURS = 24  # an API upload not named in a submission within this time is deleted by the cleanup
RESELECT = "请重新选择文件"


@dataclass(frozen=True)
class Ref:
    """An attachment id sent by an API client for a file field (checked and bound in the completion)."""

    id: int


def file_fields(form: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in form["fields"] if f["type"] == "file"]


# -- validation (no database, nothing stored) -------------------------------------------------------------------

def validate_field(value: Any, errors: dict[str, str], field: dict[str, Any], required: bool,
                   too_large: set[str]) -> list[Upload | Ref]:
    """A file field's value: files posted by a browser (Upload) or attachment ids from the API (Ref, also
    {"id": ...} as the API shows them). The files' names, sizes and content are checked here; ids when bound."""
    name, label = field["name"], field["label"]
    items = value if isinstance(value, list) else [] if value in (None, "") else None
    if items is None:
        errors[name] = f"「{label}」应为附件编号的列表"
        return []
    out: list[Upload | Ref] = []
    for item in items:
        if isinstance(item, Upload):
            problem = files.check(field, item.filename, item.size, item.data)
            if problem:
                errors[name] = problem
                if item.too_large:
                    too_large.add(name)
                return []
            out.append(item)
            continue
        ref = parse_id(item.get("id") if isinstance(item, dict) else item)
        if ref is None:
            errors[name] = f"「{label}」应为附件编号的列表"
            return []
        if Ref(ref) not in out:
            out.append(Ref(ref))
    if len(out) > (files.MAX_FILES if field.get("multiple") else 1):
        errors[name] = (f"「{label}」最多 {files.MAX_FILES} 个文件" if field.get("multiple")
                        else f"「{label}」只能上传一个文件")
        return []
    if required and not out:
        errors[name] = f"请上传「{label}」"
    return out


def echo(value: Any) -> dict[str, list]:
    """A file field to render again: "reselect", the names of files a refused submission carried (browsers cannot
    keep a file input: the page asks to choose them again), and "kept", attachments already on the request (a
    returned form's earlier files, or those ticked to keep) offered as ticked boxes named <field>__keep."""
    items = value if isinstance(value, list) else []
    reselect = [files.display_name(v.filename) for v in items if isinstance(v, Upload)]
    kept = [{**a, "size_label": human_size(a["size"])} for a in values_in(items)]
    ids = [v.id for v in items if isinstance(v, Ref)] + [i for v in items if isinstance(v, str) and (i := parse_id(v))]
    for row in db.session.scalars(select(Attachment).where(Attachment.id.in_(ids))) if ids else []:
        kept.append({**row.value(), "size_label": human_size(row.size)})
    return {"reselect": reselect, "kept": kept}


def describe(value: Any) -> str:
    """An attachment list in words (names and sizes)."""
    return "、".join(f"{a['name']}（{human_size(a['size'])}）" for a in values_in(value))


def human_size(size: Any) -> str:
    size = size if isinstance(size, int) else 0
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.0f} KB"
    return f"{size} B"


def values_in(value: Any) -> list[dict[str, Any]]:
    """The stored attachment values in a field value ({"id", "name", "size", "sha256"} each), else []."""
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, dict) and isinstance(v.get("id"), int)
            and isinstance(v.get("name"), str) and isinstance(v.get("sha256"), str) and "size" in v]


def in_result(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every attachment named in a step's result (for the history and the request page; no query)."""
    if not isinstance(result, dict):
        return []
    return [{**a, "field": key, "size_label": human_size(a["size"]), "url": download_url(a["id"])}
            for key, value in result.items() for a in values_in(value)]


def listed(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every attachment of a request, from its history rows (each with the step, who and when; no query)."""
    seen: set[int] = set()
    out = []
    for h in history:
        for a in h.get("attachments") or []:
            if a["id"] not in seen:
                seen.add(a["id"])
                out.append({**a, "step": h["step"], "by": h["user"], "at": h["at"]})
    return out


def download_url(attachment_id: int) -> str:
    if has_request_context():
        return url_for("requests.attachment_download", attachment_id=attachment_id)
    return f"/attachments/{attachment_id}"


# -- binding, in the caller's transaction -----------------------------------------------------------------------

def bind_values(form: dict[str, Any], values: dict[str, Any], user_id: int | None, *,
                instance_id: int | None = None) -> tuple[dict[str, Any], list[Attachment]]:
    """Store the files of a validated form and check the ids it names; returns the values with each file field as
    its list of {"id", "name", "size", "sha256"} and the rows to attach() once the instance is known.

    Ids must be the user's own unbound uploads for the same field, or attachments of this same instance and field
    (a returned form submitted again keeps them). Raises ValidationFailed naming the field otherwise."""
    fields = file_fields(form)
    if not fields:
        return values, []
    out = dict(values)
    rows: list[Attachment] = []
    errors: dict[str, str] = {}
    now = utcnow()
    for field in fields:
        name = field["name"]
        items = values.get(name) or []
        if user_id is None:  # the system starts processes without files
            out[name] = []
            continue
        kept: list[dict[str, Any]] = []
        for item in items:
            if isinstance(item, Upload):
                kind = files.KINDS[files.extension(item.filename)][0]
                row = Attachment(sha256=files.store(item.data), size=item.size,
                                 filename=files.safe_filename(item.filename),
                                 original_name=files.display_name(item.filename), content_type=kind,
                                 instance_id=None, task_id=None, field=name, uploaded_by_id=user_id, uploaded_at=now)
                db.session.add(row)
                rows.append(row)
            elif isinstance(item, Ref):
                row = db.session.get(Attachment, item.id)
                mine = row is not None and row.instance_id is None and row.uploaded_by_id == user_id
                same = row is not None and instance_id is not None and row.instance_id == instance_id
                if not (mine or same) or row.field != name:
                    errors[name] = f"附件 {item.id} 不存在、不是您上传的、不属于「{field['label']}」或已被使用"
                    continue
                problem = files.check(field, row.filename, row.size, None)
                if problem:
                    errors[name] = problem
                    continue
                if mine:
                    rows.append(row)
                kept.append(row)
                continue
            else:
                continue
            kept.append(row)
        if kept:
            db.session.flush()  # the new rows' ids
        out[name] = [r.value() for r in kept]
    if errors:
        raise ValidationFailed(errors, message="附件有误：" + "；".join(errors.values()))
    return out, rows


def attach(rows: list[Attachment], instance_id: int, task_id: int | None = None) -> None:
    """Bind the rows bind_values() returned to the instance (and task); an API upload used by a concurrent
    submission meanwhile is a Conflict (the caller's transaction is rolled back)."""
    if not rows:
        return
    ids = [r.id for r in rows]
    done = db.session.execute(update(Attachment).where(Attachment.id.in_(ids), Attachment.instance_id.is_(None))
                              .values(instance_id=instance_id, task_id=task_id),
                              execution_options={"synchronize_session": False})
    if done.rowcount != len(ids):
        raise Conflict("附件已被另一次提交使用，请重新上传")
    for row in rows:  # as written, without a second UPDATE at the next flush
        set_committed_value(row, "instance_id", instance_id)
        set_committed_value(row, "task_id", task_id)


# -- API uploads ---------------------------------------------------------------------------------------------------

def upload(user_id: int, field_name: Any, upload_file: Upload | None, form_key: Any = None) -> dict[str, Any]:
    """POST /api/v1/attachments: one file for a file field (of `form_key`, or of any form with a file field of
    that name), checked like a form's file, stored and owned by the uploader, unbound until a submission names it."""
    from . import task_forms

    user = get_user(user_id)
    name = field_name if isinstance(field_name, str) else ""
    candidates = [f for key in sorted(task_forms.form_keys()) if not form_key or key == form_key
                  for f in file_fields(task_forms.load_form(key)) if f["name"] == name]
    if not candidates:
        raise ValidationFailed({"field": f"没有名为「{files.display_name(name)[:64]}」的附件字段"},
                               message="附件字段不存在")
    if upload_file is None:
        raise ValidationFailed({"file": "请选择要上传的文件"}, message="请选择要上传的文件")
    problems = [files.check(f, upload_file.filename, upload_file.size, upload_file.data) for f in candidates]
    if all(problems):
        exc = ValidationFailed({name: problems[0]}, message=problems[0])
        if upload_file.too_large or upload_file.size > max(files.max_bytes(f) for f in candidates):
            exc.status = 413
        raise exc
    row = Attachment(sha256=files.store(upload_file.data), size=upload_file.size,
                     filename=files.safe_filename(upload_file.filename),
                     original_name=files.display_name(upload_file.filename),
                     content_type=files.KINDS[files.extension(upload_file.filename)][0], field=name,
                     uploaded_by_id=user.id, uploaded_at=utcnow())
    db.session.add(row)
    db.session.flush()
    audit.record("attachment_upload", user_id=user.id,
                 detail={"attachment_id": row.id, "field": name, "name": row.filename, "size": row.size,
                         "sha256": row.sha256})
    db.session.commit()
    return view(row)


def view(row: Attachment) -> dict[str, Any]:
    return {**row.value(), "original_name": row.original_name, "content_type": row.content_type, "field": row.field,
            "bound": row.instance_id is not None, "instance_id": row.instance_id, "task_id": row.task_id,
            "uploaded_at": row.uploaded_at, "size_label": human_size(row.size), "url": download_url(row.id)}


# -- downloads -----------------------------------------------------------------------------------------------------

def for_download(attachment_id: int, user_id: int) -> tuple[Attachment, Path]:
    """The attachment and its content file, for whoever may see its request (exactly the request page's check);
    an unbound upload only for its uploader."""
    user = get_user(user_id)
    row = db.session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound("附件不存在")
    if row.instance_id is None:
        if row.uploaded_by_id != user.id:
            raise Forbidden("您无权下载该附件")
    else:
        get_viewable_instance(row.instance_id, user)
    path = files.path_for(row.sha256)
    if not path.is_file():
        current_app.logger.error("attachment %s: content %s is missing", row.id, row.sha256)
        raise NotFound("附件内容已丢失，请联系管理员")
    return row, path


# -- cleanup -------------------------------------------------------------------------------------------------------

def cleanup_unbound(hours: int = UNBOUND_HOURS) -> dict[str, int]:
    """Delete API uploads never bound within `hours`, then content files no row names (older than `hours`, so a
    submission storing them right now is not disturbed). The scheduler runs this daily."""
    cutoff = utcnow() - timedelta(hours=hours)
    stale = db.session.execute(select(Attachment.id, Attachment.sha256).where(
        Attachment.instance_id.is_(None), Attachment.uploaded_at < cutoff)).all()
    if stale:
        db.session.execute(delete(Attachment).where(Attachment.id.in_([r[0] for r in stale]),
                                                    Attachment.instance_id.is_(None)))
        audit.record("attachment_cleanup", detail={"deleted": len(stale), "ids": [r[0] for r in stale][:100]})
    db.session.commit()
    used = set(db.session.scalars(select(Attachment.sha256).distinct()))
    removed = 0
    for sha, path in list(files.stored_hashes()):
        if sha in used:
            continue
        try:
            if path.stat().st_mtime < cutoff.timestamp():
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return {"rows": len(stale), "files": removed}
