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
