"""Catalogue maintenance (Art. 15-18): departments keep their own resources; a share-class change needs
网信中心's approval; every supplement, correction, update and deletion is logged with who and when."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..models import AuditLog, DataDomain, DataResource, ProcessInstance
from ..models.catalog import DELIVERY_LABELS, FREQUENCY_LABELS, SHARE_CLASS_LABELS, ShareClass
from ..models.org import Role
from . import audit
from .access import get_user
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .inputs import parse_id

EDITOR_ROLES = (Role.handler, Role.dept_head)
ATTRIBUTE_LABELS = {"name": "名称", "description": "说明", "domain_id": "数据域", "share_class": "共享类型",
                    "fields": "数据项", "delivery_methods": "提供方式", "update_frequency": "更新频率"}
_FIELD_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_]{0,39})\s*[:：]\s*(\S.{0,39})$")


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
            "history": history}


def form_values(resource: DataResource) -> dict[str, Any]:
    return {"code": resource.code, "name": resource.name, "description": resource.description,
            "domain_id": str(resource.domain_id), "share_class": resource.share_class,
            "fields": "\n".join(f"{f['name']}:{f['label']}" for f in resource.fields),
            "delivery_methods": list(resource.delivery_methods), "update_frequency": resource.update_frequency}


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
        match = _FIELD_LINE.match(line.strip())
        if not match or match.group(1) in seen:
            errors["fields"] = f"第 {number} 行应为「字段代码:字段名称」且代码不重复，如 xh:学号"
            break
        seen.add(match.group(1))
        fields.append({"name": match.group(1), "label": match.group(2).strip()})
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


def create_resource(user_id: int, raw: dict[str, Any]) -> int:
    """补录: a new resource of the user's department."""
    user = _editor(user_id)
    clean = _clean(raw, creating=True)
    resource = DataResource(owner_department_id=user.department_id, **clean)
    db.session.add(resource)
    db.session.flush()
    audit.record("catalog_create", user_id=user.id, step=f"补录资源「{resource.name}」",
                 detail={"resource_id": resource.id, "summary": "新增资源", "after": snapshot(resource)})
    db.session.commit()
    return resource.id


def update_resource(user_id: int, resource_id: int, raw: dict[str, Any]) -> int | None:
    """修正/更新 a resource. A share-class change is not applied here: it starts the 网信中心 approval process.
    Returns the id of that approval instance, if one was started."""
    from .processes import start_process

    user = _editor(user_id)
    resource = _own(resource_id, user)
    if resource.retired:
        raise Conflict("该资源已删除，不能修改")
    clean = _clean(raw | {"code": resource.code}, creating=False)
    requested_class = clean.pop("share_class")
    clean.pop("code")
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
