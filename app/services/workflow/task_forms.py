"""Task forms as data (stored versions, see form_definitions; defaults in forms/<form_key>.json): loading, parsing a
POST, validating server-side."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...models import DataResource, Department, ShareClass
from ..errors import NotFound, ValidationFailed
from ..inputs import parse_id
from . import attachments as attachment_values
from . import form_definitions
from .attachment_files import uploads as posted_files

FIELD_TYPES = {"text", "tel", "textarea", "radio", "select", "checkbox", "resources", "department", "resource",
               "resource_field", "collected_items", "file"}
NOT_SHARED_MESSAGE = "「{name}」属于不共享类数据资源，不能申请使用（《管理办法》第十七条第（三）项）"
MAX_RESOURCES = 100  # resources in one application (also bounds the IN list of the lookup)
MAX_COLLECTED = 200  # data items a project lists as collected by itself (Art. 14, 19)
_TRUE = {"1", "true", "on", "yes"}


def form_keys() -> set[str]:
    """Every stored form key (forms are data: form_definitions, issue 12)."""
    return set(form_definitions.latest_versions())


def load_form(form_key: str, definition_id: int | None = None, *, instance_id: int | None = None) -> dict[str, Any]:
    """The form definition for a key (department fields become a select of the departments); NotFound if unknown.
    definition_id (or instance_id): the process version (instance) the task belongs to, whose pinned form version is
    rendered (else the latest)."""
    return prepare(_load(form_key, definition_id, instance_id=instance_id))


def prepare(form: dict[str, Any]) -> dict[str, Any]:
    """A definition as the templates render it: department, resource and resource_field fields get their options."""
    if not any(f["type"] in {"department", "resource", "resource_field"} for f in form["fields"]):
        return form
    departments = [{"value": code, "label": name} for code, name in
                   db.session.execute(select(Department.code, Department.name).order_by(Department.id))]
    resources = [{"value": str(r.id), "label": f"{r.name}（{r.owner_department.name}）"} for r in
                 db.session.scalars(select(DataResource).where(DataResource.share_class != ShareClass.not_shared,
                                                               DataResource.retired.is_(False))
                                    .order_by(DataResource.domain_id, DataResource.name))]
    fields = [{**f, "type": "select", "options": departments} if f["type"] == "department" else
              {**f, "options": resources} if f["type"] == "resource" else
              {**f, "options": _standard_field_options()} if f["type"] == "resource_field" else f
              for f in form["fields"]]
    return {**form, "fields": fields}


def load_start_form(process_key: str, form_key: str) -> dict[str, Any]:
    """A form as the latest version of a process pins it (what a request started now is validated against)."""
    return load_form(form_key, form_definitions.latest_process_version(process_key))


def _load(form_key: str, definition_id: int | None = None, *, instance_id: int | None = None) -> dict[str, Any]:
    if not re.fullmatch(r"[a-z0-9_]+", form_key or ""):
        raise NotFound(f"表单 {form_key!r} 不存在")
    form = form_definitions.resolve(form_key, definition_id, instance_id=instance_id)
    for f in form["fields"]:
        if f["type"] not in FIELD_TYPES:
            raise ValueError(f"form {form_key}: field {f['name']} has unknown type {f['type']}")
    return form


def parse_post(form: dict[str, Any], multi: dict[str, list[str]]) -> dict[str, Any]:
    """Turn an HTML POST (MultiDict.to_dict(flat=False)) into the JSON shape the API takes."""
    raw: dict[str, Any] = {}
    for f in form["fields"]:
        name = f["name"]
        if f["type"] == "resources":
            raw[name] = [{"resource_id": rid, "fields": multi.get(f"fields_{rid}", [])}
                         for rid in _chosen_resources(name, multi)]
        elif f["type"] == "file":  # the files posted for it (the route merges request.files in)
            raw[name] = posted_files(f, multi.get(name, [])) + multi.get(f"{name}__keep", [])  # + ids kept
        elif f["type"] == "checkbox":
            raw[name] = any(v not in ("", "0", "false") for v in multi.get(name, []))
        else:
            raw[name] = (multi.get(name) or [""])[0]
    return raw


def _chosen_resources(name: str, multi: dict[str, list[str]]) -> list[str]:
    """Resource ids of a resources field: the ticked rows, then every resource with a ticked field (ticking a field
    chooses its resource, also without the row's checkbox or JavaScript)."""
    ids = list(dict.fromkeys(multi.get(name, [])))
    for key, values in multi.items():
        rid = key.removeprefix("fields_")
        if key.startswith("fields_") and rid.isascii() and rid.isdigit() and any(values) and rid not in ids:
            ids.append(rid)
    return ids


def validate(form: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """Clean values by the form definition; raise ValidationFailed(errors, values) keeping what was typed."""
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    too_large: set[str] = set()
    for f in form["fields"]:
        name, ftype = f["name"], f["type"]
        value = raw.get(name)
        required = f.get("required", False) or _required_if(f, raw)
        if ftype == "file":  # checked here, stored only when the whole form is valid (attachments.bind_values)
            clean[name] = attachment_values.validate_field(value, errors, f, required, too_large)
            continue
        if ftype == "resources":
            clean[name] = _validate_resources(value, errors, name, required)
            continue
        if ftype == "resource":
            clean[name] = _validate_resource(value, errors, f, required)
            continue
        if ftype == "resource_field":
            clean[name] = _validate_resource_field(value, errors, f, required, clean.get(f.get("resource_field", "")))
            continue
        if ftype == "collected_items":
            clean[name] = _validate_collected(value, errors, f, required)
            continue
        if ftype == "checkbox":
            checked = _checked(value)
            if checked is None:
                errors[name] = f"「{f['label']}」应为是或否"
            elif required and not checked:
                errors[name] = f.get("required_message", f"请勾选「{f['label']}」")
            clean[name] = bool(checked)
            continue
        text = _text(value)
        if text is None:
            errors[name] = f"「{f['label']}」应为文本"
            clean[name] = ""
            continue
        if not text and f.get("default") is not None:
            text = str(f["default"])
        if not text:
            if required:
                errors[name] = f"请填写「{f['label']}」"
            clean[name] = ""
            continue
        if ftype in {"radio", "select"} and text not in {o["value"] for o in f["options"]}:
            errors[name] = f"「{f['label']}」的选项无效"
        elif len(text) > f.get("max_length", 2000):
            errors[name] = f"「{f['label']}」不能超过 {f.get('max_length', 2000)} 个字"
        elif len(text) < f.get("min_length", 0):
            errors[name] = f"「{f['label']}」至少 {f['min_length']} 个字"
        elif f.get("pattern") and not re.fullmatch(f["pattern"], text):
            errors[name] = f.get("pattern_message", f"「{f['label']}」格式不正确")
        clean[name] = text
    if errors:
        failure = ValidationFailed(errors, values=_echo(form, raw))
        if too_large:
            failure.status = 413  # a file over the field's max_mb
        raise failure
    return clean


def _text(value: Any) -> str | None:
    """A text or choice value: a string, or an integer (API clients send phone numbers as numbers); None for any
    other JSON type (objects, lists, booleans, floats)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**20:
        return str(value)
    return None


def _checked(value: Any) -> bool | None:
    """A checkbox: a boolean, or a form-style string/number ("1", "on", "true"); None for other types."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return value.strip().lower() in _TRUE
    if isinstance(value, int):
        return value == 1
    return None


def _required_if(field: dict[str, Any], raw: dict[str, Any]) -> bool:
    cond = field.get("required_if")
    return bool(cond) and all(str(raw.get(k, "")) in (v if isinstance(v, list) else [v]) for k, v in cond.items())


def _validate_resource(value: Any, errors: dict[str, str], field: dict[str, Any], required: bool) -> dict | None:
    """One shared catalogue resource, with its providing department (e.g. for data-quality feedback)."""
    if isinstance(value, dict):
        value = value.get("resource_id")
    if value is None or value == "" or (isinstance(value, str) and not value.strip()):
        if required:
            errors[field["name"]] = f"请选择「{field['label']}」"
        return None
    resource_id = parse_id(value)
    resource = db.session.get(DataResource, resource_id) if resource_id is not None else None
    if resource is None or resource.retired or resource.share_class == ShareClass.not_shared:
        errors[field["name"]] = f"「{field['label']}」的选项无效"
        return None
    return {"resource_id": resource.id, "name": resource.name, "owner_department": resource.owner_department.code,
            "owner_department_name": resource.owner_department.name}


def _standard_field_options() -> list[dict[str, str]]:
    """Catalogue fields that name a coding standard (Art. 13), as "resource id:field code" options."""
    rows = db.session.scalars(select(DataResource).where(DataResource.share_class != ShareClass.not_shared,
                                                         DataResource.retired.is_(False))
                              .order_by(DataResource.domain_id, DataResource.name))
    return [{"value": f"{r.id}:{fld['name']}", "label": f"{r.name} · {fld['label']}（{fld['standard']}）"}
            for r in rows for fld in r.fields if fld.get("standard")]


def _validate_resource_field(value: Any, errors: dict[str, str], field: dict[str, Any], required: bool,
                             resource: dict | None) -> dict | None:
    """A field of the resource chosen in the form's field["resource_field"] that names a coding standard, cited as
    not conforming to it (Art. 13). Takes "resource id:field code", a field code, or {"resource_id", "name"}."""
    name, label = field["name"], field["label"]
    if isinstance(value, dict):
        value = f"{_scalar(value.get('resource_id'))}:{_scalar(value.get('name'))}"
    text = _text(value)
    if text is None:
        errors[name] = f"「{label}」应为数据项代码"
        return None
    if not text:
        if required:
            errors[name] = f"请选择「{label}」"
        return None
    if resource is None:  # the resource itself is missing or invalid: its own error says so
        return None
    rid, _, code = text.rpartition(":")
    if rid and parse_id(rid) != resource["resource_id"]:
        errors[name] = f"「{label}」不属于所选数据资源「{resource['name']}」"
        return None
    row = db.session.get(DataResource, resource["resource_id"])
    chosen = next((fld for fld in row.fields if fld["name"] == code.strip()), None)
    if chosen is None:
        errors[name] = f"「{resource['name']}」没有该数据项"
        return None
    if not chosen.get("standard"):
        errors[name] = f"数据项「{chosen['label']}」未在目录中登记编码标准（第十三条），请选择登记了编码标准的数据项"
        return None
    return {"resource_id": row.id, "name": chosen["name"], "label": chosen["label"], "standard": chosen["standard"]}


def _validate_collected(value: Any, errors: dict[str, str], field: dict[str, Any],
                        required: bool) -> dict[str, list]:
    """Data items a project collects itself (one per line, or a list), each flagged when the catalogue already
    provides an item of that code or name (一数一源, Art. 14: take it from the platform instead)."""
    from ..resources.catalog import provided_elsewhere

    name, label = field["name"], field["label"]
    if isinstance(value, list) and all(isinstance(x, str) for x in value):
        parts = value
    elif (text := _text(value)) is not None:
        parts = re.split(r"[\n\r,，、;；]+", text)
    else:
        errors[name] = f"「{label}」应为数据项名称的列表"
        return {"items": [], "duplicates": []}
    items = list(dict.fromkeys(p.strip() for p in parts if p.strip()))
    if len(items) > MAX_COLLECTED:
        errors[name] = f"「{label}」最多列出 {MAX_COLLECTED} 项"
    elif any(len(x) > 40 or any(ord(c) < 32 for c in x) for x in items):
        errors[name] = f"「{label}」每项不超过 40 个字"
    elif required and not items:
        errors[name] = f"请填写「{label}」"
    if name in errors:
        return {"items": [], "duplicates": []}
    return {"items": items, "duplicates": provided_elsewhere([{"name": x, "label": x} for x in items])}


def _validate_resources(value: Any, errors: dict[str, str], name: str, required: bool) -> list[dict[str, Any]]:
    """Catalogue resources and the fields asked for (minimisation, Art. 4(6)); not_shared is refused (Art. 17(3))."""
    if value is not None and not isinstance(value, list):
        errors[name] = "申请内容应为数据资源的列表"
        return []
    items = value or []
    if not items:
        if required:
            errors[name] = "请至少选择一项数据资源，并勾选所需字段"
        return []
    if len(items) > MAX_RESOURCES:
        errors[name] = f"一次最多申请 {MAX_RESOURCES} 项数据资源"
        return []
    ids: list[int] = []
    for item in items:
        rid = parse_id(item.get("resource_id")) if isinstance(item, dict) else None
        if rid is None:
            errors[name] = "数据资源编号无效"
            return []
        asked = item.get("fields")
        if asked is not None and not (isinstance(asked, list) and all(isinstance(x, str) for x in asked)):
            errors[name] = "所需字段应为字段代码（文本）的列表"
            return []
        ids.append(rid)
    resources = {r.id: r for r in db.session.scalars(select(DataResource).where(DataResource.id.in_(ids)))}
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    for item, rid in zip(items, ids, strict=True):
        resource = resources.get(rid)
        if resource is None or resource.retired:
            problems.append(f"数据资源 {rid} 不存在或已从目录中删除")
            continue
        if resource.share_class == ShareClass.not_shared:
            problems.append(NOT_SHARED_MESSAGE.format(name=resource.name))
            continue
        asked = item.get("fields") or []
        known = {fld["name"]: fld["label"] for fld in resource.fields}
        unknown = [x for x in asked if x not in known]
        if not asked:
            problems.append(f"「{resource.name}」请勾选所需字段（最小够用原则，第四条第（六）项）")
        elif unknown:
            problems.append(f"「{resource.name}」没有字段：{', '.join(unknown)}")
        else:
            chosen = [x for x in known if x in asked]  # catalogue order, no duplicates
            out.append({"resource_id": resource.id, "code": resource.code, "name": resource.name,
                        "share_class": resource.share_class, "owner_department": resource.owner_department.code,
                        "owner_department_name": resource.owner_department.name,
                        "fields": chosen, "field_labels": [known[x] for x in chosen]})
    if len({r["resource_id"] for r in out}) != len(out):
        problems.append("同一数据资源不能重复选择")
    if problems:
        errors[name] = "；".join(problems)
    return out


def _echo(form: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """What the user typed, in the shape the templates re-render."""
    values: dict[str, Any] = {}
    for f in form["fields"]:
        value = raw.get(f["name"])
        if f["type"] == "file":  # browsers cannot keep a file input: the names, to say 请重新选择文件
            values[f["name"]] = attachment_values.echo(value)
            continue
        if f["type"] == "resources":
            chosen = value if isinstance(value, list) else []
            values[f["name"]] = {_scalar(i.get("resource_id")): [_scalar(x) for x in _list(i.get("fields"))]
                                 for i in chosen if isinstance(i, dict)}
        elif f["type"] == "resource" and isinstance(value, dict):
            values[f["name"]] = _scalar(value.get("resource_id"))
        elif f["type"] == "resource_field" and isinstance(value, dict):
            values[f["name"]] = f"{_scalar(value.get('resource_id'))}:{_scalar(value.get('name'))}"
        elif f["type"] == "collected_items" and isinstance(value, dict | list):
            items = value.get("items") if isinstance(value, dict) else value
            values[f["name"]] = "\n".join(_scalar(x) for x in _list(items))
        else:
            values[f["name"]] = value if value is None or isinstance(value, str | int | float) else ""
    return values


def _scalar(value: Any) -> str:
    """A submitted scalar as text to show again; anything structured (a hostile body) shows as nothing."""
    return str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else ""


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def summary(form: dict[str, Any], clean: dict[str, Any]) -> str:
    """The chosen options of a form, in words (e.g. 同意提供)."""
    parts = []
    for f in form["fields"]:
        if f["type"] in {"radio", "select"}:
            label = next((o["label"] for o in f["options"] if o["value"] == clean.get(f["name"])), "")
            if label:
                parts.append(label)
    return "；".join(parts)


def describe_values(form: dict[str, Any], result: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value in words) for each filled field of a form result, for summaries and history."""
    rows = []
    for f in form["fields"]:
        value = result.get(f["name"])
        if value in (None, "", [], False):
            continue
        if f["type"] in {"radio", "select"}:
            value = next((o["label"] for o in f["options"] if o["value"] == value), value)
        elif f["type"] == "checkbox":
            value = "是" if f.get("check_label") else "已接受"
        elif f["type"] == "resources":
            value = "；".join(f"{r['name']}：{'、'.join(r['field_labels'])}" for r in value)
        elif f["type"] == "resource":
            value = f"{value['name']}（{value['owner_department_name']}）"
        elif f["type"] == "resource_field":
            value = f"{value['label']}（{value['name']}，应符合 {value['standard']}）"
        elif f["type"] == "file":
            value = attachment_values.describe(value)
            if not value:
                continue
        elif f["type"] == "collected_items":
            value = describe_collected(value)
            if not value:
                continue
        rows.append((f["label"], str(value)))
    return rows


def describe_collected(value: dict[str, Any]) -> str:
    """A project's own collected items in words, flagging those the platform already provides (Art. 14, 19)."""
    text = "、".join(value.get("items", []))
    flagged = value.get("duplicates", [])
    if flagged:
        text += ("；【重复采集，平台已有（第十四条）】"
                 + "；".join(f"{d['item']}：{d['department']}「{d['resource']}」的 {d['field']}:{d['field_label']}"
                            for d in flagged))
    return text


def values_for_render(form: dict[str, Any], clean: dict[str, Any]) -> dict[str, Any]:
    """Stored (clean) values in the shape the templates render, e.g. to prefill a returned application."""
    return _echo(form, clean)


BATCH_DECISIONS = ("approve", "return")


def batch_fields(form_key: str | None, definition_id: int | None = None, *,
                 instance_id: int | None = None) -> tuple[str, str] | None:
    """(decision field, opinion field) when a step with this form may be decided in a batch (批量审批); else None.
    definition_id / instance_id: the task's process version (its pinned form version); see batch_fields_of."""
    try:
        form = _load(form_key or "", definition_id, instance_id=instance_id)
    except NotFound:
        return None
    return batch_fields_of(form)


def batch_fields_of(form: dict[str, Any]) -> tuple[str, str] | None:
    """A form qualifies only when it says `"batchable": true` and its fields are exactly a required radio whose options
    are approve and return, then an optional textarea (its opinion_field) that at most a return requires: one decision
    and one opinion then fill the whole form of every task in the batch. Reads the definition only."""
    if form.get("batchable") is not True or form.get("allow_withdraw") or form.get("startable"):
        return None
    if len(form["fields"]) != 2:
        return None
    decision, opinion = form["fields"]
    plain_decision = (decision["type"] == "radio" and decision.get("required") is True
                      and not decision.get("required_if")
                      and sorted(o["value"] for o in decision.get("options", [])) == sorted(BATCH_DECISIONS))
    return_only = {decision["name"]: "return"}
    plain_opinion = (opinion["type"] == "textarea" and opinion["name"] == form.get("opinion_field")
                     and not opinion.get("required") and opinion.get("required_if", return_only) == return_only
                     and not opinion.get("min_length") and not opinion.get("pattern"))
    return (decision["name"], opinion["name"]) if plain_decision and plain_opinion else None
