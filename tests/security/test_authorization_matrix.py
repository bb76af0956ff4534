"""Authorization of this session's state-changing endpoints (委托, 加签, 退回/撤回/收回, 转办/抄送, 附件, the form
designer, analytics): a user with no business is refused — 403 with a Chinese message, or 404 where the request is
not theirs to know about —, an unauthenticated API call is 401, an anonymous page is sent to the login, and no
watched row changes."""
from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest

from app.services.people.delegations import today

from ..web.journey import application_form
from .hostile_support import COSIGNER, _api, build_scene, issue_token, row_counts

OUTSIDER = "me_handler"  # 赵经办（机械学院）: nothing to do with a 计算机学院 request
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
CHINESE = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture()
def matrix(app, login):
    scene = build_scene(login)
    handler = scene["handler"]
    form = {**application_form(handler, {"student_basic": ["xh"]}), "approval_doc": (io.BytesIO(PDF), "批文.pdf")}
    resp = handler.post("/requests/new", form, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    rid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    [attachment] = handler.get(f"/api/v1/requests/{rid}").get_json()["attachments"]
    principal = login("library_head")  # a scheduled delegation (from tomorrow: no one acts for anyone meanwhile)
    start = (today() + timedelta(days=1)).isoformat()
    resp = _api(principal, "POST", "/api/v1/delegations", {"deputy": "hr_head", "starts_on": start, "ends_on": start,
                                                            "reason": "出差"})
    assert resp.status_code == 201, resp.get_json()
    return {**scene, "attachment": attachment["id"], "delegation": resp.get_json()["id"]}


# (who, method, url template, JSON body): each is refused for `who`, who has no business there
API_REFUSALS = [
    (OUTSIDER, "POST", "/api/v1/tasks/{task}/add-signer", {"user": COSIGNER, "position": "before", "reason": "x"}),
    ("cs_handler", "POST", "/api/v1/tasks/{task}/add-signer", {"user": COSIGNER, "position": "before", "reason": "x"}),
    (OUTSIDER, "GET", "/api/v1/tasks/{task}/return-targets", None),
    (OUTSIDER, "POST", "/api/v1/tasks/{task}/return", {"target": "fill_application", "reason": "x"}),
    ("cs_handler", "POST", "/api/v1/tasks/{task}/return", {"target": "fill_application", "reason": "x"}),
    (OUTSIDER, "POST", "/api/v1/tasks/{done_task}/recall", {"reason": "x"}),
    ("nic_head", "POST", "/api/v1/tasks/{done_task}/recall", {"reason": "x"}),
    (OUTSIDER, "POST", "/api/v1/requests/{rid}/withdraw", {"reason": "x"}),
    ("cs_head", "POST", "/api/v1/requests/{rid}/withdraw", {"reason": "x"}),
    (OUTSIDER, "GET", "/api/v1/signatures/{signature}", None),
    (OUTSIDER, "POST", "/api/v1/signatures/{signature}/answer", {"agree": True, "opinion": "x"}),
    ("cs_head", "POST", "/api/v1/signatures/{signature}/answer", {"agree": True, "opinion": "x"}),
    (OUTSIDER, "POST", "/api/v1/signatures/{signature}/cancel", {}),
    (COSIGNER, "POST", "/api/v1/signatures/{signature}/cancel", {}),
    (OUTSIDER, "DELETE", "/api/v1/delegations/{delegation}", None),
    ("hr_head", "DELETE", "/api/v1/delegations/{delegation}", None),  # the deputy cannot revoke it
    (OUTSIDER, "POST", "/api/v1/tasks/{task}/transfer", {"user": "cs_handler", "reason": "x"}),
    (OUTSIDER, "POST", "/api/v1/tasks/{task}/cc", {"users": ["cs_handler"], "note": "x"}),
    (OUTSIDER, "GET", "/api/v1/tasks/{task}/signatures", None),
]
WEB_REFUSALS = [
    (OUTSIDER, "/tasks/{task}/add-signer", {"position": "before", "user": COSIGNER, "reason": "x"}),
    (OUTSIDER, "/tasks/{task}/add-signer", {"position": "after", "sign_user": COSIGNER, "sign_reason": "x",
                                            "decision": "approve"}),
    (OUTSIDER, "/tasks/{task}/return", {"target": "fill_application", "reason": "x"}),
    (OUTSIDER, "/tasks/{done_task}/recall", {"reason": "x"}),
    (OUTSIDER, "/requests/{rid}/withdraw", {"reason": "x"}),
    ("cs_head", "/requests/{rid}/withdraw", {"reason": "x"}),
    (OUTSIDER, "/signatures/{signature}/answer", {"agree": "1", "opinion": "x"}),
    (OUTSIDER, "/signatures/{signature}/cancel", {}),
    (OUTSIDER, "/account/delegations/{delegation}/revoke", {}),
    ("hr_head", "/account/delegations/{delegation}/revoke", {}),
    (OUTSIDER, "/tasks/{task}/transfer", {"user": "cs_handler", "reason": "x"}),
    (OUTSIDER, "/tasks/{task}/cc", {"users": "cs_handler", "note": "x"}),
    (OUTSIDER, "/tasks/{task}/release", {}),
]
ADMIN_ONLY = [("GET", "/admin/forms", None), ("GET", "/admin/forms/new", None),
              ("POST", "/admin/forms/new", {"definition": "{}"}), ("GET", "/admin/forms/share_application", None),
              ("POST", "/admin/forms/share_application", {"definition": "{}"}),
              ("GET", "/admin/forms/share_application/export", None),
              ("POST", "/admin/forms/preview", {"definition": "{}"}),
              ("POST", "/admin/forms/import", {"file": (io.BytesIO(b"{}"), "a.json")}),
              ("GET", "/admin/modeler/options.json", None), ("GET", "/admin/analytics/share_request", None),
              ("GET", "/admin/analytics/share_request.json", None)]


def test_a_user_with_no_business_gets_403_or_404_from_the_api_and_nothing_changes(app, matrix):
    tokens = {who: issue_token(app, who) for who, *_ in API_REFUSALS}  # issuing one is audited: before counting
    before = row_counts(app)
    for who, method, template, body in API_REFUSALS:
        url = template.format(**matrix)
        resp = app.test_client().open(url, method=method, json=body, headers=tokens[who])
        assert resp.status_code in (403, 404), (who, method, url, resp.status_code, resp.get_data(as_text=True)[:200])
        assert CHINESE.search(resp.get_json()["error"]), (url, resp.get_json())
    assert row_counts(app) == before


def test_a_batch_of_someone_elses_task_completes_nothing(app, matrix):
    headers = issue_token(app, OUTSIDER)
    before = row_counts(app)
    resp = app.test_client().post("/api/v1/tasks/batch", json={"task_ids": [matrix["task"], matrix["sign_task"]],
                                                               "decision": "approve"}, headers=headers)
    assert resp.status_code in (200, 403, 422)
    if resp.status_code == 200:
        assert resp.get_json()["completed"] == 0 and all(not r["ok"] for r in resp.get_json()["results"])
    assert row_counts(app) == before


def test_a_user_with_no_business_gets_403_or_404_from_the_pages_and_nothing_changes(app, login, matrix):
    people = {who: login(who) for who, _url, _data in WEB_REFUSALS}
    before = row_counts(app)
    for who, template, data in WEB_REFUSALS:
        url = template.format(**matrix)
        resp = people[who].post(url, data)
        assert resp.status_code in (403, 404), (who, url, resp.status_code)
        assert CHINESE.search(resp.get_data(as_text=True))
    assert row_counts(app) == before
    for url in (f"/attachments/{matrix['attachment']}", f"/signatures/{matrix['signature']}"):
        assert people[OUTSIDER].get(url).status_code in (403, 404), url


def test_the_attachment_is_downloadable_by_those_who_see_the_request_only(app, login, matrix):
    url = f"/attachments/{matrix['attachment']}"
    assert login("cs_handler").get(url).status_code == 200
    assert login("cs_head").get(url).status_code == 200
    token = issue_token(app, OUTSIDER)
    assert app.test_client().get(url, headers=token).status_code in (302, 401, 403, 404)  # the page is no API
    assert login(OUTSIDER).get(url).status_code in (403, 404)


@pytest.mark.parametrize("who", ["cs_handler", "cs_head", "nic_head", "supervisor"])
def test_the_form_designer_and_analytics_are_for_administrators_only(app, login, who):
    browser = login(who)
    before = row_counts(app)
    for method, url, data in ADMIN_ONLY:
        if data and "file" in data:
            data = {"file": (io.BytesIO(b"{}"), "a.json")}
        resp = browser.get(url) if method == "GET" else browser.post(url, data, content_type="multipart/form-data")
        assert resp.status_code == 403, (who, method, url, resp.status_code)
        assert CHINESE.search(resp.get_data(as_text=True))
    assert row_counts(app) == before


def _api_routes(app) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        url = rule.build({a: 1 for a in rule.arguments})[1]
        out += [(m, url) for m in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def test_every_api_call_without_credentials_is_401_and_changes_nothing(app, matrix):
    client = app.test_client()
    before = row_counts(app)
    routes = _api_routes(app)
    assert any("add-signer" in u for _, u in routes) and any("delegations" in u for _, u in routes)
    for method, url in routes:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YWRtaW46ZGVtbzEyMzQ1"}):
            resp = client.open(url, method=method, json={"reason": "x"}, headers=headers)
            assert resp.status_code == 401, (method, url, headers, resp.status_code)
            assert CHINESE.search(resp.get_json()["error"])
    assert row_counts(app) == before


def test_anonymous_posts_to_the_new_pages_change_nothing(app, matrix):
    client = app.test_client()
    before = row_counts(app)
    for _who, template, data in WEB_REFUSALS:
        url = template.format(**matrix)
        resp = client.post(url, data=data)
        assert resp.status_code in (302, 400, 401), (url, resp.status_code)
        if resp.status_code == 302:
            assert "/login" in resp.headers["Location"]
    for url in ("/account/delegations", "/signatures", "/inbox/done", "/inbox/mine", "/cc",
                f"/attachments/{matrix['attachment']}", "/admin/forms", "/admin/analytics/share_request"):
        resp = client.get(url)
        assert resp.status_code in (302, 401) and "/login" in resp.headers.get("Location", "/login"), url
    assert row_counts(app) == before


def _real_ids(rule, matrix: dict) -> dict:
    """The rule's arguments filled from the scene: a real task, request, signature, attachment, delegation."""
    by_name = {"task_id": matrix["task"], "instance_id": matrix["rid"], "signature_id": matrix["signature"],
               "attachment_id": matrix["attachment"], "delegation_id": matrix["delegation"],
               "process_key": "share_request", "key": "share_application", "filename": "css/app.css",
               "definition_id": 1, "from_id": 1, "to_id": 1, "resource_id": 1, "delivery_id": 1}
    return {a: by_name.get(a, 1) for a in rule.arguments}


@pytest.mark.parametrize("who", ["cs_head", "cs_handler", COSIGNER, OUTSIDER, "admin", "supervisor"])
def test_every_page_and_api_read_with_real_ids_is_never_a_server_error(app, login, matrix, who):
    """Each role reads every GET route (pages, API, exports) about a request with a pending 加签, a completed step,
    an attachment and a delegation: allowed or refused, never a 5xx, and reading changes no row."""
    browser = login(who)
    token = issue_token(app, who)
    before = row_counts(app)
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in ("auth.logout", "auth.cas_login", "auth.cas_callback"):
            continue
        url = rule.build(_real_ids(rule, matrix))[1]
        resp = browser.client.get(url, headers=token if url.startswith("/api/") else {})
        assert resp.status_code < 500, (who, url, resp.status_code)
        for method in ("HEAD", "OPTIONS"):
            assert browser.client.open(url, method=method).status_code < 500, (who, method, url)
    assert row_counts(app) == before
