"""Steps of a share request over HTTP, as the people in it would take them."""
from __future__ import annotations

APPLICATION = {"purpose": "用于学院学生综合测评系统，核对学生身份", "head_name": "李主任", "head_phone": "0931-2973000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": "1", "confidentiality": "1"}


def resource_ids(b) -> dict[str, dict]:
    return {r["code"]: r for r in b.get("/api/v1/catalog").get_json()["resources"]}


def application_form(b, wanted: dict[str, list[str]], **overrides) -> dict:
    """Form data for the 申请表: {resource code: [field names]}."""
    catalog = resource_ids(b)
    data: dict = {**APPLICATION, **overrides, "resources": [str(catalog[c]["id"]) for c in wanted]}
    for code, fields in wanted.items():
        data[f"fields_{catalog[code]['id']}"] = fields
    return data


def submit(b, wanted: dict[str, list[str]], **overrides) -> int:
    resp = b.post("/requests/new", application_form(b, wanted, **overrides))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def my_task(b, instance_id: int, form_key: str | None = None) -> int:
    tasks = [t for t in b.get("/api/v1/tasks").get_json()["tasks"] if t["instance_id"] == instance_id
             and (form_key is None or t["form_key"] == form_key)]
    assert len(tasks) == 1, f"{b.username} has {len(tasks)} tasks on #{instance_id}: {tasks}"
    return tasks[0]["task_id"]


def act(b, instance_id: int, data: dict, form_key: str | None = None) -> int:
    task_id = my_task(b, instance_id, form_key)
    resp = b.post(f"/tasks/{task_id}", data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]
    assert resp.headers["Location"].endswith(f"/requests/{instance_id}")
    return task_id


def request_json(b, instance_id: int) -> dict:
    resp = b.get(f"/api/v1/requests/{instance_id}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()
