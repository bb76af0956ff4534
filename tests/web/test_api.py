"""The JSON API under /api/v1 with bearer tokens (and sessions with X-CSRFToken)."""
from __future__ import annotations

from .journey import resource_ids


def _application(catalog, wanted):
    return {"purpose": "科研统计分析使用", "head_name": "李主任", "head_phone": "13900000000",
            "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True,
            "resources": [{"resource_id": catalog[c]["id"], "fields": f} for c, f in wanted.items()]}


def test_full_conditional_journey_over_the_api(client, login, token_for):
    catalog = resource_ids(login("cs_handler"))
    h, head, nic_head, prov, nic_staff = (token_for(u) for u in
                                          ("cs_handler", "cs_head", "nic_head", "science_head", "nic_staff"))
    resp = client.get("/api/v1/catalog", headers=h)
    assert resp.status_code == 200
    assert {r["share_class"] for r in resp.get_json()["resources"]} == {"unconditional", "conditional", "not_shared"}
    resp = client.post("/api/v1/requests", json=_application(catalog, {"research_projects": ["xmbh", "xmmc"]}),
                       headers=h)
    assert resp.status_code == 201, resp.get_json()
    rid = resp.get_json()["id"]
    for headers, body in [(head, {"decision": "approve"}), (nic_head, {"decision": "approve"}),
                          (prov, {"decision": "approve", "opinion": "同意"}),
                          (nic_staff, {"method": "interface", "note": "接口已开通"})]:
        tasks = [t for t in client.get("/api/v1/tasks", headers=headers).get_json()["tasks"] if t["instance_id"] == rid]
        assert len(tasks) == 1
        resp = client.post(f"/api/v1/tasks/{tasks[0]['task_id']}/complete", json=body, headers=headers)
        assert resp.status_code == 200, resp.get_json()
    view = client.get(f"/api/v1/requests/{rid}", headers=h).get_json()
    assert view["status"] == "completed" and view["status_label"] == "数据已提供"
    assert [x["action"] for x in view["history"]] == ["submit", "complete", "complete", "complete", "complete", "grant",
                                                     "end"]
    assert view["history"][3]["opinion"] == "同意" and view["history"][3]["department"] == "科学技术处"


def test_api_errors_are_json_with_the_right_status(client, login, token_for):
    catalog = resource_ids(login("cs_handler"))
    h, outsider = token_for("cs_handler"), token_for("me_handler")
    assert client.get("/api/v1/tasks").status_code == 401
    resp = client.get("/api/v1/tasks", headers={"Authorization": "Bearer wrong"})
    assert resp.status_code == 401 and resp.get_json()["error"] == "API 令牌无效"
    resp = client.post("/api/v1/requests", data="not json", headers=h)
    assert resp.status_code == 422 and "JSON" in resp.get_json()["error"]
    resp = client.post("/api/v1/requests", json=_application(catalog, {"salary_detail": ["gh"]}), headers=h)
    assert resp.status_code == 422 and "第十七条第（三）项" in resp.get_json()["errors"]["resources"]
    rid = client.post("/api/v1/requests", json=_application(catalog, {"org_units": ["jgdm"]}),
                      headers=h).get_json()["id"]
    assert client.get(f"/api/v1/requests/{rid}", headers=outsider).status_code == 403
    assert client.get("/api/v1/requests/99999", headers=h).get_json()["error"] == "申请不存在"
    head = token_for("cs_head")
    task_id = client.get("/api/v1/tasks", headers=head).get_json()["tasks"][0]["task_id"]
    resp = client.post(f"/api/v1/tasks/{task_id}/complete", json={"decision": "maybe"}, headers=head)
    assert resp.status_code == 422 and resp.get_json()["errors"]["decision"] == "「负责人意见」的选项无效"
    assert client.post(f"/api/v1/tasks/{task_id}/complete", json={"decision": "approve"}, headers=outsider
                       ).status_code == 403
    assert client.post(f"/api/v1/tasks/{task_id}/complete", json={"decision": "approve"}, headers=head
                       ).status_code == 200
    resp = client.post(f"/api/v1/tasks/{task_id}/complete", json={"decision": "approve"}, headers=head)
    assert resp.status_code == 409 and "不能重复办理" in resp.get_json()["error"]


def test_session_writes_need_the_csrf_header(login):
    handler = login("cs_handler")
    catalog = resource_ids(handler)
    body = _application(catalog, {"org_units": ["jgdm"]})
    assert handler.client.post("/api/v1/requests", json=body).status_code == 400
    resp = handler.client.post("/api/v1/requests", json=body, headers={"X-CSRFToken": handler.csrf})
    assert resp.status_code == 201
