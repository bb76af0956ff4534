"""The printable 审批单: the policy's 附件1 (申请表) and 附件2 (保密协议) filled from one request, with every opinion.

Plain data built from requests.request_view (same authorization, no further queries); the web layer renders it as
an A4 HTML page and as a PDF.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ...models.catalog import SHARE_CLASS_LABELS, ShareClass
from ...models.types import utcnow
from . import requests as share_requests
from . import task_forms

# Which box of 附件1 a completed step's opinion goes in, by the step's name in the diagram (first match wins).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("部门负责人", "commitment"),  # 部门负责人签署承诺
    ("网信中心提供数据", "delivery"),
    ("网信中心", "nic"),  # 网信中心审核 / 协调处理 / 处理逾期未答复
    ("数据提供部门", "provider"),
    ("申请部门处理", "objection"),  # 持有异议 (Art. 22 §3)
    ("网信办", "cac"),
)


def approval_sheet(instance_id: int, user_id: int) -> dict[str, Any]:
    """The 审批单 of a request the user may see (NotFound / Forbidden exactly as the request page)."""
    return sheet_from_view(share_requests.request_view(instance_id, user_id))


def sheet_from_view(view: dict[str, Any]) -> dict[str, Any]:
    """The 审批单 from a request view: the application, the opinions by box, the agreement and the full record."""
    share = view["process"]["key"] == share_requests.SHARE_PROCESS_KEY
    record = [h for h in view["history"] if not h["action"].startswith("notify_")]
    boxes: dict[str, list[dict[str, Any]]] = {key: [] for _, key in SECTIONS}
    for h in record:
        if h["action"] not in ("complete", "sign_answer"):  # 加签: the signer's opinion in the same box
            continue
        key = next((k for prefix, k in SECTIONS if (h["step"] or "").startswith(prefix)), None)
        if key is not None:
            boxes[key].append(_opinion(h))
    sheet: dict[str, Any] = {
        "id": view["id"], "title": view["title"], "process_name": view["process"]["name"],
        "process_version": view["process"]["version"], "is_share_request": share,
        "status_label": view["status_label"], "applicant_department": view["applicant_department"],
        "initiator": view["initiator"], "created_at": view["created_at"], "printed_at": utcnow(),
        "start_summary": view["start_summary"], "boxes": boxes,
        "record": [_opinion(h) | {"action_label": h["action_label"], "summary": h["summary"],
                                   "attachments": [a["name"] for a in h.get("attachments") or []]}  # names
                   for h in record],
    }
    if share:
        form = task_forms.load_form(share_requests.APPLICATION_FORM, view["process"]["definition_id"])
        texts = {f["name"]: f.get("text", "") for f in form["fields"]}
        sheet["application"] = _application(view, texts.get("commitment", ""))
        sheet["agreement"] = _agreement(texts.get("confidentiality", ""), view["applicant_department"])
        sheet["form_basis"] = form.get("basis", "")
    return sheet


def _opinion(h: dict[str, Any]) -> dict[str, Any]:
    return {"step": h["step"], "user": h["user"], "department": h["department"], "at": h["at"],
            "opinion": h["opinion"] or "", "basis": h["basis"], "legal_basis": h["legal_basis"],
            "summary": h["summary"]}


def _application(view: dict[str, Any], commitment_text: str) -> dict[str, Any]:
    a = view["application"] or {}
    submitted = a.get("submitted_at") or a.get("at") or view["created_at"]
    if isinstance(submitted, str):
        try:
            submitted = datetime.fromisoformat(submitted)
        except ValueError:
            submitted = view["created_at"]
    resources = []
    for r in a.get("resources") or []:
        try:
            share_class = SHARE_CLASS_LABELS[ShareClass(r.get("share_class"))]
        except ValueError:
            share_class = ""
        resources.append({"name": r.get("name", ""), "owner": r.get("owner_department_name", ""),
                          "share_class": share_class, "fields": "、".join(r.get("field_labels") or [])})
    return {"submitted_at": submitted, "resources": resources, "purpose": a.get("purpose", ""),
            "head_name": a.get("head_name", ""), "head_phone": a.get("head_phone", ""),
            "handler_name": a.get("handler_name", ""), "handler_phone": a.get("handler_phone", ""),
            "commitment_text": commitment_text, "commitment": bool(a.get("commitment")),
            "confidentiality": bool(a.get("confidentiality")),
            "conditional": any(r.get("share_class") == ShareClass.conditional for r in a.get("resources") or [])}


def _agreement(text: str, department: str) -> dict[str, Any]:
    """附件2 as its title and paragraphs, 乙方 filled with the applicant department."""
    lines = [line for line in text.replace("{applicant_department}", department).splitlines() if line.strip()]
    return {"title": lines[0] if lines else "兰州理工大学数据共享保密协议", "paragraphs": lines[1:]}
