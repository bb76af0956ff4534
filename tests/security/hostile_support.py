"""Shared by the hostile-input tests: real users, real tokens, and the rows a rejected request must not change."""
from __future__ import annotations

from sqlalchemy import text

from app.extensions import db

from ..web.journey import submit

WATCHED_TABLES = ("process_instance", "task", "audit_log", "data_resource", "notification", "calendar_year",
                  # this session's features: 附件, 加签, 委托, 抄送, forms as data
                  "attachment", "added_signer", "delegation", "carbon_copy", "form_definition")
BIG = "99999999999999999999"
INT32_OVERFLOW = str(2**31)


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        counts = {t: db.session.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in WATCHED_TABLES}
        db.session.remove()
        return counts


def issue_token(app, username: str) -> dict[str, str]:
    result = app.test_cli_runner().invoke(args=["users", "token", username])
    assert result.exit_code == 0, result.output
    return {"Authorization": f"Bearer {result.output.strip().splitlines()[-1].strip()}"}


def catalogue_ids(browser) -> dict[str, int]:
    return {r["code"]: r["id"] for r in browser.get("/api/v1/catalog").get_json()["resources"]}


def open_head_task(handler, head) -> tuple[int, int]:
    """A submitted share request and its ready 部门负责人 task: (instance id, task id)."""
    instance_id = submit(handler, {"org_units": ["jgdm"]})
    tasks = [t for t in head.get("/api/v1/tasks").get_json()["tasks"] if t["instance_id"] == instance_id]
    assert len(tasks) == 1
    return instance_id, tasks[0]["task_id"]


def api_application(catalog: dict[str, int], **overrides) -> dict:
    return {"purpose": "科研统计分析使用", "head_name": "李主任", "head_phone": "13900000000",
            "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True,
            "resources": [{"resource_id": catalog["org_units"], "fields": ["jgdm"]}], **overrides}


APPROVE = {"decision": "approve", "opinion": "同意"}
COSIGNER = "academic_head"  # 陈处长（教务处）: no business with a 计算机学院 request


def _api(b, method: str, url: str, body=None, *, raw: bytes | None = None, csrf: bool = True):
    """A session-authenticated API call (X-CSRFToken unless csrf=False)."""
    headers = {"X-CSRFToken": b.csrf} if csrf else {}
    if raw is not None:
        return b.client.open(url, method=method, data=raw, content_type="application/json", headers=headers)
    return b.client.open(url, method=method, json=body, headers=headers)


def build_scene(login) -> dict:
    """A submitted request with cs_head's ready task, a completed one of cs_head on a second request (recallable),
    and a pending 前加签 signature for academic_head on a third: the ids the new routes take."""
    handler, head = login("cs_handler"), login("cs_head")
    rid, task_id = open_head_task(handler, head)
    done_rid, done_task = open_head_task(handler, head)
    assert head.post(f"/tasks/{done_task}", APPROVE).status_code == 302
    sign_rid, sign_task = open_head_task(handler, head)
    resp = _api(head, "POST", f"/api/v1/tasks/{sign_task}/add-signer",
                {"user": COSIGNER, "position": "before", "reason": "请提意见"})
    assert resp.status_code == 201, resp.get_json()
    return {"handler": handler, "head": head, "rid": rid, "task": task_id, "done_task": done_task,
            "done_rid": done_rid, "sign_task": sign_task, "signature": resp.get_json()["id"], "sign_rid": sign_rid}
