"""Task forms as versioned data (issue 12): the JSON Schema check, saving a new version, importing forms/*.json,
pinning the versions a process version uses, and the lookups task_forms renders from.

A form version never changes once stored: an edit in the designer is a new version. A process version records, when
it is deployed, the latest version of every form its user tasks use (process_form_version); its tasks render that
version, so running instances keep their fields and a new deploy picks up newer forms.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flask import current_app
from jsonschema import Draft202012Validator
from sqlalchemy import func, select
from sqlalchemy.orm import undefer

from ...extensions import db
from ...models import ProcessDefinition, ProcessInstance, User
from ...models.forms import FormDefinition, FormSource, ProcessFormVersion
from ..errors import NotFound, ValidationFailed
from ..inputs import UnsafeInput, check_value, safe_name
from ..security import audit

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("form_schema.json")
MAX_FORM_BYTES = 200_000  # a form definition's JSON text (the largest shipped one is ~3 KB)
KEY_RE = re.compile(r"[a-z][a-z0-9_]{1,79}")
CHOICE_TYPES = {"radio", "select"}
TYPE_LABELS = {"text": "单行文本", "tel": "电话", "textarea": "多行文本", "radio": "单选", "select": "下拉选择",
               "checkbox": "勾选确认", "resources": "数据资源及字段", "department": "部门", "resource": "单个数据资源",
               "resource_field": "数据项（编码标准）", "collected_items": "自行采集的数据项", "file": "附件"}
_JSON_TYPES = {"string": "文本", "integer": "整数", "number": "数字", "boolean": "是/否（true/false）",
               "array": "列表", "object": "对象"}

_parsed: dict[str, dict[str, Any]] = {}  # by sha256 of the canonical JSON: content-addressed, never stale
_parsed_lock = threading.Lock()
_LATEST = "form_latest"  # db.session.info memo keys (one request = one session)
_PINS = "form_pins"


# --- the format: JSON Schema plus what a schema cannot say ----------------------------------------------------------

@cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


def parse_text(text: str | bytes) -> Any:
    """JSON text from an upload or a textarea; ValidationFailed (Chinese, with the line) when it is not JSON."""
    if isinstance(text, bytes):
        if len(text) > MAX_FORM_BYTES:
            raise _invalid([f"表单定义过大（{len(text)} 字节，上限 {MAX_FORM_BYTES} 字节）"])
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _invalid(["表单定义文件应为 UTF-8 编码的 JSON"]) from exc
    if len(text.encode("utf-8")) > MAX_FORM_BYTES:
        raise _invalid([f"表单定义过大（上限 {MAX_FORM_BYTES} 字节）"])
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _invalid([f"不是有效的 JSON：第 {exc.lineno} 行第 {exc.colno} 列，{_json_reason(exc.msg)}"]) from exc
    except (ValueError, RecursionError) as exc:
        raise _invalid(["不是有效的 JSON（嵌套过深或数值无效）"]) from exc
    try:  # a \u0000 or lone \ud800 escape decodes to what no page or database can hold
        check_value(value)
    except UnsafeInput as exc:
        raise _invalid([f"{safe_name(exc.field)}：{exc.reason}"]) from exc
    return value


def _json_reason(msg: str) -> str:
    known = {"Expecting value": "缺少值", "Expecting ',' delimiter": "缺少逗号", "Extra data": "多余的内容",
             "Expecting property name enclosed in double quotes": "属性名须用双引号",
             "Unterminated string starting at": "字符串没有结束", "Expecting ':' delimiter": "缺少冒号"}
    return next((v for k, v in known.items() if msg.startswith(k)), msg)


def problems(form: Any) -> list[str]:
    """Every problem of a form definition, in Chinese, each naming the field (第 3 个字段「申请理由」：缺少 label)."""
    out: list[str] = []
    try:
        errors = sorted(_validator().iter_errors(form), key=lambda e: [str(p) for p in e.absolute_path])
    except RecursionError:
        return ["表单定义嵌套过深"]
    for error in errors:
        out.append(_describe(form, error))
    if out or not isinstance(form, dict):
        return list(dict.fromkeys(out))
    return _semantic_problems(form)


def check(form: Any) -> dict[str, Any]:
    """The definition when it is valid; ValidationFailed listing every problem otherwise."""
    found = problems(form)
    if found:
        raise _invalid(found)
    return form


def _invalid(found: list[str]) -> ValidationFailed:
    message = found[0] if len(found) == 1 else f"表单定义有 {len(found)} 处问题：{found[0]}"
    return ValidationFailed({"definition": "\n".join(found)}, message=message)


def _where(form: Any, path: list[Any]) -> tuple[str, list[Any]]:
    """'第 3 个字段「申请理由」：' for a path inside fields[2], '表单：' otherwise; and the rest of the path."""
    if len(path) >= 2 and path[0] == "fields" and isinstance(path[1], int):
        field = form["fields"][path[1]]
        name = ""
        if isinstance(field, dict):
            label, key = field.get("label"), field.get("name")
            name = label if isinstance(label, str) and label else key if isinstance(key, str) else ""
        return f"第 {path[1] + 1} 个字段" + (f"「{name[:40]}」" if name else "") + "：", path[2:]
    return "表单：", path


def _describe(form: Any, error: Any) -> str:
    prefix, rest = _where(form, list(error.absolute_path))
    what = ""
    for p in rest:
        what += f" 第 {p + 1} 项" if isinstance(p, int) else ("的 " if what else "") + str(p)
    what = what.strip()
    subject = what or ("该字段" if prefix.startswith("第") else "表单定义")
    kind, value, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [p for p in value if isinstance(instance, dict) and p not in instance]
        return prefix + (f"{what} " if what else "") + f"缺少 {'、'.join(missing)}"
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = [str(k) for k in instance if k not in allowed] if isinstance(instance, dict) else []
        return prefix + f"不认识的属性 {'、'.join(extra)}（拼写错误？）"
    if kind == "type":
        names = value if isinstance(value, list) else [value]
        return prefix + f"{subject} 应为{'或'.join(_JSON_TYPES.get(n, n) for n in names)}"
    if kind == "enum":
        if rest == ["type"]:
            return prefix + f"不支持的字段类型 {str(instance)[:40]!r}（可用：{'、'.join(TYPE_LABELS)}）"
        return prefix + f"{subject} 的取值无效"
    if kind == "pattern":
        if (rest and rest[-1] in ("name", "opinion_field", "resource_field")) or rest == ["key"]:
            return prefix + f"{subject} 「{str(instance)[:40]}」应以小写字母开头，只含小写字母、数字和下划线"
        return prefix + f"{subject} 格式不正确"
    if kind == "minLength":
        return prefix + (f"{subject} 不能为空" if value == 1 else f"{subject} 至少 {value} 个字")
    if kind == "maxLength":
        return prefix + f"{subject} 不能超过 {value} 个字"
    if kind == "minItems":
        return prefix + (f"{subject} 至少要有 {value} 项" if value > 1 else f"{subject} 不能为空")
    if kind == "maxItems":
        return prefix + f"{subject} 最多 {value} 项"
    if kind in ("minimum", "maximum"):
        return prefix + f"{subject} 应{'不小于' if kind == 'minimum' else '不大于'} {value}"
    if kind in ("minProperties", "maxProperties"):
        return prefix + f"{subject} 应有 {'至少' if kind == 'minProperties' else '至多'} {value} 个条件"
    if kind == "propertyNames":
        return prefix + f"{subject} 引用的字段名格式不正确"
    if kind == "anyOf":
        return prefix + f"{subject} 应为选项值（文本）或选项值的列表"
    return prefix + f"{subject} 不符合表单格式（{kind}）"


def _semantic_problems(form: dict[str, Any]) -> list[str]:
    """What the schema cannot say: unique names, references to existing fields, options of choices, regexes."""
    out: list[str] = []
    fields = form["fields"]
    by_name: dict[str, tuple[int, dict[str, Any]]] = {}
    for i, f in enumerate(fields):
        prefix = f"第 {i + 1} 个字段「{f['label'][:40]}」："
        if f["name"] in by_name:
            out.append(prefix + f"字段名 {f['name']} 与第 {by_name[f['name']][0] + 1} 个字段重复")
        else:
            by_name[f["name"]] = (i, f)
        if f["type"] in CHOICE_TYPES:
            values = [o["value"] for o in f.get("options", [])]
            if not values:
                out.append(prefix + f"{TYPE_LABELS[f['type']]}字段须列出选项（options）")
            elif len(set(values)) != len(values):
                out.append(prefix + "选项的值（value）不能重复")
        if f.get("pattern"):
            try:
                re.compile(f["pattern"])
            except re.error as exc:
                out.append(prefix + f"pattern 不是有效的正则表达式（{exc.msg}）")
        if f.get("min_length") is not None and f.get("max_length") is not None and f["min_length"] > f["max_length"]:
            out.append(prefix + "min_length 不能大于 max_length")
        if f["type"] != "file" and any(k in f for k in ("accept", "max_mb", "multiple")):
            out.append(prefix + "accept、max_mb、multiple 只用于附件（file）字段")
    for i, f in enumerate(fields):
        prefix = f"第 {i + 1} 个字段「{f['label'][:40]}」："
        for other, wanted in (f.get("required_if") or {}).items():
            target = by_name.get(other)
            if target is None:
                out.append(prefix + f"required_if 引用的字段 {other} 不存在")
                continue
            if other == f["name"]:
                out.append(prefix + "required_if 不能引用字段自身")
                continue
            target_field = target[1]
            if target_field["type"] in CHOICE_TYPES:
                known = {o["value"] for o in target_field.get("options", [])}
                unknown = [w for w in (wanted if isinstance(wanted, list) else [wanted]) if w not in known]
                if unknown:
                    out.append(prefix + f"required_if 中字段 {other} 没有选项 {'、'.join(unknown)}")
        if f["type"] == "resource_field":
            ref = by_name.get(f.get("resource_field", ""))
            if ref is None or ref[1]["type"] != "resource" or ref[0] > i:
                out.append(prefix + "resource_field 须指明排在它前面的「单个数据资源」字段")
    opinion = form.get("opinion_field")
    if opinion and opinion not in by_name:
        out.append(f"表单：意见字段（opinion_field）{opinion} 不是表单中的字段")
    elif opinion and by_name[opinion][1]["type"] not in {"textarea", "text"}:
        out.append(f"表单：意见字段（opinion_field）{opinion} 应为文本字段")
    return out


def canonical(form: dict[str, Any]) -> str:
    return json.dumps(form, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def digest(form: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(form).encode("utf-8")).hexdigest()


# --- saving, importing ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SaveResult:
    key: str
    version: int
    created: bool
    note: str = ""


def save(form: Any, user_id: int | None, *, key: str | None = None, action: str = "form_save") -> SaveResult:
    """Store a checked definition as the next version of its key (made in the browser); unchanged content makes no
    version. `key`: the form being edited (the definition's key must match it)."""
    form = check(form)
    if key is not None and form["key"] != key:
        raise _invalid([f"表单：key 应为 {key}（改 key 请新建表单）"])
    latest = _latest_row(form["key"])
    if latest is not None and latest.sha256 == digest(form):
        return SaveResult(form["key"], latest.version, created=False, note="表单没有变化，未生成新版本")
    row = _store(form, FormSource.browser, user_id, (latest.version if latest else 0) + 1)
    audit.record(action, user_id=user_id, detail={"form_key": row.key, "version": row.version,
                                                  "title": row.title, "fields": len(form["fields"])})
    db.session.commit()
    return SaveResult(row.key, row.version, created=True)


def create(form: Any, user_id: int | None) -> SaveResult:
    """A new form key (version 1); Conflict-like 422 when the key exists."""
    form = check(form)
    if _latest_row(form["key"]) is not None:
        raise _invalid([f"表单：key {form['key']} 已存在，请换一个或编辑已有表单"])
    return save(form, user_id, action="form_create")


def import_upload(data: bytes, user_id: int | None) -> SaveResult:
    """An uploaded JSON file from the designer: checked, then a new version (or a new form) made in the browser."""
    return save(parse_text(data), user_id, action="form_import")


@dataclass(frozen=True)
class ImportResult:
    key: str
    version: int | None
    status: str  # created | unchanged | skipped
    message: str


def import_directory(directory: Path | None = None) -> list[ImportResult]:
    """forms/*.json, the defaults: a file becomes a new version only if its content differs from every stored version
    of its key and the latest version was not made in the browser (a designer's version is never replaced by the
    file; that is logged). An invalid file raises ValidationFailed naming it."""
    directory = Path(directory or current_app.config["FORMS_DIR"])
    out: list[ImportResult] = []
    for path in sorted(directory.glob("*.json")):
        try:
            form = check(parse_text(path.read_bytes()))
        except ValidationFailed as exc:
            raise ValidationFailed(exc.errors, message=f"{path.name}：{exc.message}") from exc
        if form["key"] != path.stem:
            raise ValidationFailed({"definition": "key"}, message=f"{path.name}：key 应为 {path.stem}")
        sha = digest(form)
        known = db.session.execute(select(FormDefinition.version).where(
            FormDefinition.key == form["key"], FormDefinition.sha256 == sha).limit(1)).scalar()
        if known is not None:
            out.append(ImportResult(form["key"], known, "unchanged", f"{path.name} 与第 {known} 版相同"))
            continue
        latest = _latest_row(form["key"])
        if latest is not None and latest.source == FormSource.browser:
            message = (f"{path.name} 未导入：{form['key']} 的最新版本（第 {latest.version} 版）是在表单设计器中保存的，"
                       "文件不覆盖它")
            log.warning(message)
            out.append(ImportResult(form["key"], latest.version, "skipped", message))
            continue
        row = _store(form, FormSource.file, None, (latest.version if latest else 0) + 1)
        audit.record("form_import", detail={"form_key": row.key, "version": row.version, "source_file": path.name})
        out.append(ImportResult(row.key, row.version, "created", f"{path.name} 导入为第 {row.version} 版"))
    db.session.commit()
    return out


def _store(form: dict[str, Any], source: str, user_id: int | None, version: int) -> FormDefinition:
    row = FormDefinition(key=form["key"], version=version, title=form["title"],
                         definition=json.dumps(form, ensure_ascii=False, indent=2), sha256=digest(form),
                         source=source, created_by_id=user_id)
    db.session.add(row)
    db.session.flush()
    forget()
    return row


def forget() -> None:
    """Drop this session's memo of latest versions and pins (after a save, import or deploy)."""
    db.session.info.pop(_LATEST, None)
    db.session.info.pop(_PINS, None)


# --- pinning ----------------------------------------------------------------------------------------------------------

def form_keys_of(spec: Any, subprocess_specs: dict[str, Any] | None = None) -> set[str]:
    """The form keys of a parsed process's user tasks (call activities' processes included)."""
    keys: set[str] = set()
    for s in [spec, *(subprocess_specs or {}).values()]:
        for task_spec in s.task_specs.values():
            props = (getattr(task_spec, "extensions", None) or {}).get("properties") or {}
            if props.get("formKey"):
                keys.add(props["formKey"])
    return keys


def pin(definition_id: int, keys: set[str]) -> dict[str, int]:
    """Record the latest version of each form key for a process version (in the caller's transaction)."""
    latest = latest_versions()
    pins = {k: latest[k][0] for k in sorted(keys) if k in latest}
    for key, version in pins.items():
        db.session.add(ProcessFormVersion(definition_id=definition_id, form_key=key, form_version=version))
    db.session.flush()
    forget()
    return pins


# --- lookups for rendering --------------------------------------------------------------------------------------------

def latest_versions() -> dict[str, tuple[int, str]]:
    """{form key: (latest version, sha256)}, one query per session."""
    memo = db.session.info.get(_LATEST)
    if memo is None:
        newest = (select(FormDefinition.key, func.max(FormDefinition.version).label("version"))
                  .group_by(FormDefinition.key).subquery())
        rows = db.session.execute(select(FormDefinition.key, FormDefinition.version, FormDefinition.sha256)
                                  .join(newest, (newest.c.key == FormDefinition.key)
                                        & (newest.c.version == FormDefinition.version)))
        memo = db.session.info[_LATEST] = {k: (v, s) for k, v, s in rows}
    return memo


def pinned_versions(definition_id: int | None = None, *, instance_id: int | None = None) -> dict[str, tuple[int, str]]:
    """{form key: (version, sha256)} a process version pinned (or the version an instance runs), one query per
    session and version/instance."""
    memo = db.session.info.setdefault(_PINS, {})
    memo_key = ("definition", definition_id) if instance_id is None else ("instance", instance_id)
    if memo_key not in memo:
        query = (select(ProcessFormVersion.definition_id, ProcessFormVersion.form_key, FormDefinition.version,
                        FormDefinition.sha256)
                 .join(FormDefinition, (FormDefinition.key == ProcessFormVersion.form_key)
                       & (FormDefinition.version == ProcessFormVersion.form_version)))
        if instance_id is None:
            query = query.where(ProcessFormVersion.definition_id == definition_id)
        else:
            query = query.join(ProcessInstance, ProcessInstance.definition_id == ProcessFormVersion.definition_id) \
                .where(ProcessInstance.id == instance_id)
        rows = db.session.execute(query).all()
        memo[memo_key] = {k: (v, s) for _d, k, v, s in rows}
        if rows:  # the same pins serve the request view's lookups by version
            memo[("definition", rows[0][0])] = memo[memo_key]
    return memo[memo_key]


def latest_process_version(process_key: str) -> int | None:
    """The id of a process's latest deployed version (None when it was never deployed)."""
    return db.session.scalar(select(ProcessDefinition.id).where(ProcessDefinition.process_key == process_key)
                             .order_by(ProcessDefinition.version.desc()).limit(1))


def resolve(form_key: str, definition_id: int | None = None, *, instance_id: int | None = None) -> dict[str, Any]:
    """The form definition a task of this process version (or instance) renders: its pinned version, else the
    latest. The returned dict is shared (cached by content): callers must not change it."""
    found = None
    if definition_id is not None or instance_id is not None:
        found = pinned_versions(definition_id, instance_id=instance_id).get(form_key)
    if found is None:
        found = latest_versions().get(form_key)
    if found is None:
        raise NotFound(f"表单 {form_key} 不存在")
    version, sha = found
    with _parsed_lock:
        cached = _parsed.get(sha)
    if cached is not None:
        return cached
    text = db.session.scalar(select(FormDefinition.definition).where(FormDefinition.key == form_key,
                                                                     FormDefinition.version == version))
    if text is None:
        raise NotFound(f"表单 {form_key} 第 {version} 版不存在")
    form = json.loads(text)
    with _parsed_lock:
        return _parsed.setdefault(sha, form)


# --- the designer's views ---------------------------------------------------------------------------------------------

def _latest_row(key: str) -> FormDefinition | None:
    return db.session.scalar(select(FormDefinition).where(FormDefinition.key == key)
                             .order_by(FormDefinition.version.desc()).limit(1))


def _usage() -> dict[tuple[str, int], list[dict[str, Any]]]:
    """{(form key, form version): [{process_key, version, name}]} for every pinned process version."""
    rows = db.session.execute(select(ProcessFormVersion.form_key, ProcessFormVersion.form_version,
                                     ProcessDefinition.process_key, ProcessDefinition.version, ProcessDefinition.name)
                              .join(ProcessDefinition, ProcessDefinition.id == ProcessFormVersion.definition_id)
                              .order_by(ProcessDefinition.process_key, ProcessDefinition.version))
    out: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for key, form_version, process_key, version, name in rows:
        out.setdefault((key, form_version), []).append({"process_key": process_key, "version": version, "name": name})
    return out


def list_forms() -> list[dict[str, Any]]:
    """Every form key with its latest version, who made it and the process versions that use any version of it."""
    rows = db.session.scalars(select(FormDefinition).order_by(FormDefinition.key, FormDefinition.version.desc()))
    users = _user_names()
    usage = _usage()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        item = out.get(row.key)
        if item is None:
            item = out[row.key] = {"key": row.key, "title": row.title, "latest_version": row.version,
                                   "source": row.source, "created_at": row.created_at,
                                   "created_by": users.get(row.created_by_id, "系统（文件导入）"), "used_by": []}
        item["used_by"] += [{**u, "form_version": row.version} for u in usage.get((row.key, row.version), [])]
    for item in out.values():
        item["used_by"].sort(key=lambda u: (u["process_key"], u["version"]))
    return list(out.values())


def options() -> list[dict[str, str]]:
    """(key, title) of every form's latest version, for the modeler's picker."""
    rows = db.session.execute(select(FormDefinition.key, FormDefinition.title, FormDefinition.version)
                              .order_by(FormDefinition.key, FormDefinition.version.desc()))
    seen: dict[str, dict[str, str]] = {}
    for key, title, _version in rows:
        seen.setdefault(key, {"key": key, "title": title})
    return list(seen.values())


def history(key: str) -> list[dict[str, Any]]:
    """Every version of a form, newest first, with who made it, how and which process versions pinned it."""
    rows = db.session.scalars(select(FormDefinition).where(FormDefinition.key == key)
                              .options(undefer(FormDefinition.definition))
                              .order_by(FormDefinition.version.desc())).all()
    if not rows:
        raise NotFound(f"表单 {key} 不存在")
    users = _user_names()
    usage = _usage()
    return [{"version": r.version, "title": r.title, "source": r.source, "created_at": r.created_at,
             "created_by": users.get(r.created_by_id, "系统（文件导入）"),
             "fields": [f"{f['label']}（{TYPE_LABELS.get(f['type'], f['type'])}）"
                        for f in json.loads(r.definition)["fields"]],
             "used_by": usage.get((r.key, r.version), [])} for r in rows]


def get(key: str, version: int | None = None) -> dict[str, Any]:
    """A stored definition (the latest when version is None), as a new dict the caller may change."""
    if not KEY_RE.fullmatch(key or ""):
        raise NotFound(f"表单 {key} 不存在")
    query = select(FormDefinition.definition).where(FormDefinition.key == key)
    query = query.where(FormDefinition.version == version) if version is not None else \
        query.order_by(FormDefinition.version.desc()).limit(1)
    text = db.session.scalar(query)
    if text is None:
        raise NotFound(f"表单 {key}" + (f" 第 {version} 版" if version is not None else "") + " 不存在")
    return json.loads(text)


def export_text(key: str, version: int | None = None) -> str:
    return json.dumps(get(key, version), ensure_ascii=False, indent=2) + "\n"


def _user_names() -> dict[int | None, str]:
    """Names of the users who made a form version."""
    made = select(FormDefinition.created_by_id).where(FormDefinition.created_by_id.is_not(None))
    return dict(db.session.execute(select(User.id, User.display_name).where(User.id.in_(made))).all())
