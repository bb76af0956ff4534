"""Catalogue maintenance (Art. 15-18): departments keep their own resources; a share-class change needs
网信中心's approval; every supplement, correction, update and deletion is logged with who and when. A field may name
the coding standard it follows (Art. 13); a field another department already provides needs a justification
(一数一源, Art. 14)."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from ...extensions import db
from ...models import AuditLog, DataDomain, DataResource, ProcessInstance
from ...models.catalog import DELIVERY_LABELS, FREQUENCY_LABELS, SHARE_CLASS_LABELS, ShareClass
from ...models.org import Role
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..inputs import parse_id
from ..people.access import get_user
from ..security import audit
from ..workflow import script_actions
from ..workflow.processes import start_process

EDITOR_ROLES = (Role.handler, Role.dept_head)
ATTRIBUTE_LABELS = {"name": "名称", "description": "说明", "domain_id": "数据域", "share_class": "共享类型",
                    "fields": "数据项", "delivery_methods": "提供方式", "update_frequency": "更新频率"}
_FIELD_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,39}")
_STANDARD = re.compile(r"[^:：\x00-\x1f\x7f]{1,60}")
# common coding standards offered on the edit page (Art. 13); any national or school standard may be typed
STANDARD_SUGGESTIONS = {"GB/T 2260": "中华人民共和国行政区划代码", "GB/T 2261.1": "人的性别代码",
                        "GB/T 3304": "中国各民族名称的罗马字母拼写法和代码", "GB/T 4658": "学历代码",
                        "GB/T 2659": "世界各国和地区名称代码", "GB 11643": "公民身份号码",
                        "GB/T 8561": "专业技术职务代码", "JY/T 1001": "教育管理信息 教育管理基础代码",
                        "校标": "兰州理工大学管理信息数据编码规范"}
ARTICLE_14 = "第十四条"


def _editor(user_id: int):
    user = get_user(user_id)
    if not user.has_role(*EDITOR_ROLES):
        raise Forbidden("只有各部门经办人和负责人可以维护本部门的资源目录")
    return user


def _own(resource_id: int, user) -> DataResource:
    resource = db.session.get(DataResource, resource_id)
    if resource is None:
        raise NotFound("数据资源不存在")
    if resource.owner_department_id != user.department_id:
        raise Forbidden("只能维护本部门的数据资源（谁产生数据，谁负责管理，第八条）")
    return resource


def own_resources(user_id: int) -> list[dict[str, Any]]:
    user = _editor(user_id)
    rows = db.session.scalars(select(DataResource).where(DataResource.owner_department_id == user.department_id)
                              .order_by(DataResource.retired, DataResource.name))
    return [snapshot(r) | {"id": r.id, "retired": r.retired} for r in rows]


def snapshot(resource: DataResource) -> dict[str, Any]:
    """The maintained attributes of a resource, as logged before and after each change."""
    return {"code": resource.code, "name": resource.name, "description": resource.description,
            "domain_id": resource.domain_id, "share_class": resource.share_class,
            "fields": [dict(f) for f in resource.fields], "delivery_methods": list(resource.delivery_methods),
            "update_frequency": resource.update_frequency}


def edit_page(resource_id: int | None, user_id: int) -> dict[str, Any]:
    user = _editor(user_id)
    resource = _own(resource_id, user) if resource_id else None
    history = []
    if resource is not None:
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action.like("catalog_%"))
                                  .order_by(AuditLog.at.desc(), AuditLog.id.desc()))
        history = [{"at": r.at, "user": r.user.display_name if r.user else "系统", "step": r.step,
                    "summary": r.detail.get("summary", "")} for r in rows if r.detail.get("resource_id") == resource.id]
    return {"resource": resource, "values": form_values(resource) if resource else {},
            "domains": [(d.id, d.name) for d in db.session.scalars(select(DataDomain).order_by(DataDomain.id))],
            "history": history, "standards": STANDARD_SUGGESTIONS, "duplicates": []}


def form_values(resource: DataResource) -> dict[str, Any]:
    return {"code": resource.code, "name": resource.name, "description": resource.description,
            "domain_id": str(resource.domain_id), "share_class": resource.share_class,
            "fields": "\n".join(field_line(f) for f in resource.fields),
            "delivery_methods": list(resource.delivery_methods), "update_frequency": resource.update_frequency}


def field_line(field: dict[str, Any]) -> str:
    """One field as a line of the edit page's textarea; parse_field_line reads it back unchanged."""
    label, standard = field.get("label", ""), field.get("standard", "")
    if standard or ":" in label or "：" in label:  # a label with a colon keeps an (empty) standard part after it
        return f"{field['name']}:{label}:{standard}"
    return f"{field['name']}:{label}"


def parse_field_line(line: str) -> dict[str, str] | None:
    """「代码:名称」 or 「代码:名称:编码标准」 (Art. 13); the standard is what follows the last colon, so an old
    label containing a colon still round-trips with a trailing colon. None when the line is malformed."""
    parts = re.split(r"[:：]", line.strip(), maxsplit=1)
    if len(parts) != 2 or not _FIELD_CODE.fullmatch(parts[0].strip()):
        return None
    rest, standard = parts[1], ""
    cut = max(rest.rfind(":"), rest.rfind("："))
    if cut >= 0:
        rest, standard = rest[:cut], rest[cut + 1:].strip()
        if standard and not _STANDARD.fullmatch(standard):
            return None
    label = rest.strip()
    if not label or len(label) > 40 or any(ord(c) < 32 for c in label):
        return None
    field = {"name": parts[0].strip(), "label": label}
    return field | {"standard": standard} if standard else field


def _clean(raw: dict[str, Any], creating: bool) -> dict[str, Any]:
    errors: dict[str, str] = {}
    name = str(raw.get("name", "")).strip()
    if not name or len(name) > 120:
        errors["name"] = "请填写资源名称（不超过 120 字）"
    code = str(raw.get("code", "")).strip()
    if creating and not re.fullmatch(r"[a-z][a-z0-9_]{1,59}", code):
        errors["code"] = "资源代码应为小写字母开头的字母、数字、下划线（2–60 位）"
    elif creating and db.session.scalar(select(DataResource.id).where(DataResource.code == code)):
        errors["code"] = "资源代码已存在"
    domain = parse_id(raw.get("domain_id"))
    if domain is None or db.session.get(DataDomain, domain) is None:
        errors["domain_id"] = "请选择数据域（附件3）"
    share_class = str(raw.get("share_class", ""))
    if share_class not in {c.value for c in ShareClass}:
        errors["share_class"] = "请选择共享类型（第十七条）"
    fields, seen = [], set()
    for number, line in enumerate(str(raw.get("fields", "")).splitlines(), start=1):
        if not line.strip():
            continue
        field = parse_field_line(line)
        if field is None or field["name"] in seen:
            errors["fields"] = (f"第 {number} 行应为「字段代码:字段名称」或「字段代码:字段名称:编码标准」且代码不重复，"
                                "如 xh:学号 或 xzqh:籍贯:GB/T 2260")
            break
        seen.add(field["name"])
        fields.append(field)
    if not fields and "fields" not in errors:
        errors["fields"] = "请至少列出一个数据项"
    methods = [m for m in raw.get("delivery_methods", []) if isinstance(m, str) and m in DELIVERY_LABELS]
    if not methods:
        errors["delivery_methods"] = "请至少选择一种提供方式（第十二条）"
    frequency = str(raw.get("update_frequency", ""))
    if frequency not in FREQUENCY_LABELS:
        errors["update_frequency"] = "请选择更新频率"
    if errors:
        raise ValidationFailed(errors, values=raw)
    return {"code": code, "name": name, "description": str(raw.get("description", "")).strip()[:2000],
            "domain_id": domain, "share_class": share_class, "fields": fields, "delivery_methods": methods,
            "update_frequency": frequency}


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def provided_elsewhere(items: list[dict[str, str]],
                       exclude_department_id: int | None = None) -> list[dict[str, Any]]:
    """Catalogue fields (of resources still in the catalogue, other than the excluded department's) with the same
    code or the same name as one of items ({"name", "label"}; either may be empty): one row per match, naming the
    source (一数一源, Art. 14)."""
    wanted_codes = {_norm(i["name"]): i for i in items if i.get("name")}
    wanted_labels = {_norm(i["label"]): i for i in items if i.get("label")}
    if not wanted_codes and not wanted_labels:
        return []
    query = select(DataResource).where(DataResource.retired.is_(False)).order_by(DataResource.id)
    if exclude_department_id is not None:
        query = query.where(DataResource.owner_department_id != exclude_department_id)
    rows = []
    for resource in db.session.scalars(query):
        for field in resource.fields:
            item = wanted_codes.get(_norm(field["name"])) or wanted_labels.get(_norm(field["label"]))
            if item is None:
                continue
            rows.append({"item": item.get("label") or item.get("name"), "item_code": item.get("name", ""),
                         "resource_id": resource.id, "resource": resource.name, "resource_code": resource.code,
                         "department": resource.owner_department.name, "field": field["name"],
                         "field_label": field["label"],
                         "match": "code" if _norm(field["name"]) in wanted_codes else "label"})
    return rows


class DuplicateSources(ValidationFailed):
    """New fields another department already provides, and no justification given (Art. 14)."""

    def __init__(self, duplicates: list[dict[str, Any]], values: dict[str, Any]):
        listed = "；".join(f"「{d['item']}」已由{d['department']}的「{d['resource']}」提供"
                          f"（{d['field']}:{d['field_label']}）" for d in duplicates[:20])
        super().__init__({"source_reason": f"一数一源（第十四条）：{listed}。请说明仍需由本部门提供的理由"},
                         values=values, message="以下数据项其他部门已提供，请说明理由后再保存（第十四条）")
        self.duplicates = duplicates


def _check_sources(user, resource: DataResource | None, fields: list[dict[str, str]],
                   raw: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The duplicates among the fields this save adds or renames, and the justification; DuplicateSources when a
    duplicate has no justification. Fields already justified (unchanged since) are not asked about again."""
    before = {(f["name"], f["label"]) for f in resource.fields} if resource is not None else set()
    added = [f for f in fields if (f["name"], f["label"]) not in before]
    duplicates = provided_elsewhere(added, exclude_department_id=user.department_id)
    reason = raw.get("source_reason")
    reason = reason.strip()[:2000] if isinstance(reason, str) else ""
    if duplicates and len(reason) < 5:
        raise DuplicateSources(duplicates, values=raw)
    return duplicates, reason


def _record_sources(user, resource: DataResource, duplicates: list[dict[str, Any]], reason: str) -> None:
    if duplicates:
        audit.record("catalog_duplicate_source", user_id=user.id, step=f"一数一源说明「{resource.name}」",
                     opinion=reason,
                     detail={"article": ARTICLE_14, "resource_id": resource.id, "justification": reason,
                             "duplicates": duplicates,
                             "summary": "其他部门已提供："
                                        + "、".join(f"{d['item']}（{d['department']}「{d['resource']}」）"
                                                   for d in duplicates) + f"；理由：{reason}"})


def create_resource(user_id: int, raw: dict[str, Any]) -> int:
    """补录: a new resource of the user's department."""
    user = _editor(user_id)
    clean = _clean(raw, creating=True)
    duplicates, reason = _check_sources(user, None, clean["fields"], raw)
    resource = DataResource(owner_department_id=user.department_id, **clean)
    db.session.add(resource)
    db.session.flush()
    audit.record("catalog_create", user_id=user.id, step=f"补录资源「{resource.name}」",
                 detail={"resource_id": resource.id, "summary": "新增资源", "after": snapshot(resource)})
    _record_sources(user, resource, duplicates, reason)
    db.session.commit()
    return resource.id


def update_resource(user_id: int, resource_id: int, raw: dict[str, Any]) -> int | None:
    """修正/更新 a resource. A share-class change is not applied here: it starts the 网信中心 approval process.
    Returns the id of that approval instance, if one was started."""
    user = _editor(user_id)
    resource = _own(resource_id, user)
    if resource.retired:
        raise Conflict("该资源已删除，不能修改")
    clean = _clean(raw | {"code": resource.code}, creating=False)
    requested_class = clean.pop("share_class")
    clean.pop("code")
    duplicates, reason = _check_sources(user, resource, clean["fields"], raw)
    before = snapshot(resource)
    for key, value in clean.items():
        setattr(resource, key, value)
    after = snapshot(resource)
    changed = [k for k in after if after[k] != before[k]]
    if changed:
        audit.record("catalog_update", user_id=user.id, step=f"更新资源「{resource.name}」",
                     detail={"resource_id": resource.id,
                             "summary": "修改：" + "、".join(ATTRIBUTE_LABELS.get(k, k) for k in changed),
                             "before": before, "after": after})
    _record_sources(user, resource, duplicates, reason)
    approval = None
    if requested_class != resource.share_class:
        approval = start_process("catalogue_class_change", user.id, {
            "resource_id": str(resource.id), "resource_name": resource.name, "current_class": resource.share_class,
            "requested_class": requested_class, "reason": str(raw.get("class_reason", "")).strip()}, commit=False)
        audit.record("catalog_class_requested", user_id=user.id, step=f"申请变更「{resource.name}」的共享类型",
                     detail={"resource_id": resource.id, "instance_id": approval,
                             "summary": f"{SHARE_CLASS_LABELS[ShareClass(resource.share_class)]} → "
                                        f"{SHARE_CLASS_LABELS[ShareClass(requested_class)]}"
                                        f"（待网信中心审核 #{approval}）"})
    db.session.commit()
    return approval


def retire_resource(user_id: int, resource_id: int, reason: str) -> None:
    """删除: the resource leaves the catalogue (kept for existing grants and the history)."""
    user = _editor(user_id)
    resource = _own(resource_id, user)
    if not reason.strip():
        raise ValidationFailed({"reason": "请填写删除原因"})
    resource.retired = True
    audit.record("catalog_retire", user_id=user.id, step=f"删除资源「{resource.name}」", opinion=reason.strip(),
                 detail={"resource_id": resource.id, "summary": f"删除：{reason.strip()}",
                         "before": snapshot(resource)})
    db.session.commit()


@script_actions.handles("apply_share_class")
def _apply_from_script(instance: ProcessInstance, data: dict[str, Any], _open: dict[str, list[str]]) -> None:
    apply_share_class(data["resource_id"], data["share_class"], instance)


def apply_share_class(resource_id: int, share_class: str, instance: ProcessInstance) -> None:
    """Called when 网信中心 approved a share-class change (from the process's script). Callers commit."""
    resource = db.session.get(DataResource, resource_id)
    if resource is None or share_class not in {c.value for c in ShareClass}:
        raise ValueError(f"cannot apply share class {share_class!r} to resource {resource_id}")
    if resource.owner_department_id != instance.applicant_department_id:
        raise ValueError("only the owning department's request may change a resource's share class")
    before = snapshot(resource)
    resource.share_class = share_class
    audit.record("catalog_class_changed", instance_id=instance.id, step=f"变更「{resource.name}」的共享类型",
                 detail={"resource_id": resource.id, "before": before, "after": snapshot(resource),
                         "summary": f"{SHARE_CLASS_LABELS[ShareClass(before['share_class'])]} → "
                                    f"{SHARE_CLASS_LABELS[ShareClass(share_class)]}（经网信中心同意 #{instance.id}）"})
