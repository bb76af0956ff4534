"""No 500 on hostile input (issue 8): each payload from the review, named, gets a clear 4xx and stores nothing."""
from __future__ import annotations

import io
import json

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from app.extensions import db
from app.models import Department
from app.services.workflow import requests as share_requests
from app.services.workflow import task_lists

from ..web.journey import application_form
from .hostile_support import (
    APPROVE,
    BIG,
    COSIGNER,
    INT32_OVERFLOW,
    _api,
    api_application,
    build_scene,
    catalogue_ids,
    issue_token,
    open_head_task,
    row_counts,
)

# --- ids beyond the database's integer range in URLs: the app-wide `int` converter makes them 404 ----------------

URL_IDS = [BIG, INT32_OVERFLOW, "2147483647", "-1", "0x10", "１", "²", "1.0", "00000000000000000001"]
URL_TEMPLATES = [("GET", "/requests/{}"), ("GET", "/api/v1/requests/{}"), ("GET", "/tasks/{}"),
                 ("POST", "/api/v1/tasks/{}/claim"), ("POST", "/api/v1/tasks/{}/complete"),
                 ("POST", "/tasks/{}/claim"), ("POST", "/requests/{}/urge"), ("GET", "/definitions/{}.bpmn"),
                 ("GET", "/catalogue/{}/edit"), ("GET", "/admin/migrations/{}/1"),
                 ("POST", "/admin/instances/{}/suspend")]


@pytest.mark.parametrize("raw_id", URL_IDS)
def test_out_of_range_and_odd_ids_in_urls_are_404(app, login, raw_id):
    admin, handler = login("admin"), login("science_head")
    token = issue_token(app, "science_head")
    before = row_counts(app)
    for method, template in URL_TEMPLATES:
        url = template.format(raw_id)
        if url.startswith("/api/"):
            resp = handler.client.open(url, method=method, headers=token, json={"decision": "approve"})
            assert resp.status_code == 404 and resp.is_json, (url, resp.status_code)
        else:
            browser = admin if url.startswith("/admin/") else handler
            resp = browser.get(url) if method == "GET" else browser.post(url, {"reason": "测试"})
            assert resp.status_code == 404, (url, resp.status_code)
            assert "页面或数据不存在" in resp.get_data(as_text=True) or "不存在" in resp.get_data(as_text=True)
    assert row_counts(app) == before


def test_the_largest_int32_id_is_routed_and_answers_not_found(app, login):
    handler = login("cs_handler")
    resp = handler.get("/api/v1/requests/2147483647")
    assert resp.status_code == 404 and resp.get_json()["error"] == "申请不存在"


# --- ids in bodies: the validation layer answers 422 with field errors ---------------------------------------------

BAD_RESOURCE_IDS = [10**20, 2**31, -1, 0, "²", "２", "٣", " 1e3", 1.5, 1e300, True, None, "abc", {"id": 1}, [1]]


@pytest.mark.parametrize("bad_id", BAD_RESOURCE_IDS, ids=repr)
def test_resource_ids_out_of_range_or_of_the_wrong_type_in_the_api_are_422(app, login, bad_id):
    handler = login("cs_handler")
    token = issue_token(app, "cs_handler")
    before = row_counts(app)
    body = api_application(catalogue_ids(handler), resources=[{"resource_id": bad_id, "fields": ["jgdm"]}])
    resp = handler.client.post("/api/v1/requests", json=body, headers=token)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert resp.get_json()["errors"]["resources"] == "数据资源编号无效"
    assert row_counts(app) == before


@pytest.mark.parametrize("bad_id", [BIG, INT32_OVERFLOW, "²", "-1", "２"])
def test_resource_ids_out_of_range_in_the_form_post_are_422(app, login, bad_id):
    handler = login("cs_handler")
    before = row_counts(app)
    data = application_form(handler, {"org_units": ["jgdm"]})
    data["resources"] = [bad_id]
    data[f"fields_{bad_id}"] = ["jgdm"]
    resp = handler.post("/requests/new", data)
    assert resp.status_code == 422
    assert "数据资源编号无效" in resp.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("bad_id", [BIG, INT32_OVERFLOW, "²", "-1"])
def test_a_single_resource_field_with_an_odd_id_is_422(app, login, bad_id):
    handler = login("cs_handler")
    before = row_counts(app)
    resp = handler.post("/processes/quality_feedback/new",
                        {"resource": bad_id, "problem": "error", "description": "数据与实际不符，需要核对"})
    assert resp.status_code == 422, resp.status_code
    assert "的选项无效" in resp.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("bad_id", [BIG, INT32_OVERFLOW, "²", "", "abc"])
def test_catalogue_edit_with_an_odd_domain_id_is_422(app, login, bad_id):
    head = login("science_head")
    rid = catalogue_ids(head)["research_projects"]
    before = row_counts(app)
    resp = head.post(f"/catalogue/{rid}/edit", {"name": "科研项目信息", "domain_id": bad_id,
                                                "share_class": "conditional", "fields": "xmbh:项目编号",
                                                "delivery_methods": ["interface"], "update_frequency": "daily"})
    assert resp.status_code == 422
    assert "请选择数据域" in resp.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("bad_id", ["abc", BIG, "1.5", "²", ""])
def test_a_non_integer_instance_id_in_the_migration_form_is_422(app, login, bad_id):
    admin = login("admin")
    before = row_counts(app)
    resp = admin.post("/admin/migrations/1/1", {"instance_id": ["1", bad_id]})
    assert resp.status_code == 422
    assert "实例编号无效" in resp.get_data(as_text=True)
    assert row_counts(app) == before


# --- wrong JSON types where the forms expect something else --------------------------------------------------------

WRONG_TYPES = [
    ({"resources": True}, "resources"), ({"resources": 5}, "resources"), ({"resources": "org_units"}, "resources"),
    ({"resources": {"resource_id": 1}}, "resources"),
    ({"resources": [{"resource_id": "ORG", "fields": True}]}, "resources"),
    ({"fields": True}, "resources"), ({"fields": 5}, "resources"), ({"fields": "jgdm"}, "resources"),
    ({"fields": [1, 2]}, "resources"), ({"fields": [{"a": 1}]}, "resources"), ({"fields": [None]}, "resources"),
    ({"purpose": {"text": "科研统计分析使用"}}, "purpose"), ({"purpose": ["科研统计分析使用"]}, "purpose"),
    ({"purpose": True}, "purpose"), ({"purpose": 1.5}, "purpose"),
    ({"head_phone": 13900000000.0}, "head_phone"), ({"head_phone": 10**30}, "head_phone"),
    ({"commitment": [True]}, "commitment"), ({"commitment": {"x": 1}}, "commitment"),
    ({"commitment": 1.0}, "commitment"),
    ({"commitment": False}, "commitment"), ({"purpose": "x" * 100_000}, "purpose"),
]


@pytest.mark.parametrize(("override", "field"), WRONG_TYPES, ids=[repr(o)[:60] for o, _ in WRONG_TYPES])
def test_wrong_json_types_are_422_with_the_field_named(app, login, override, field):
    handler = login("cs_handler")
    token = issue_token(app, "cs_handler")
    catalog = catalogue_ids(handler)
    body = api_application(catalog)
    if "fields" in override:
        body["resources"] = [{"resource_id": catalog["org_units"], "fields": override["fields"]}]
    elif "resources" in override and isinstance(override["resources"], list):
        body["resources"] = [{**override["resources"][0], "resource_id": catalog["org_units"]}]
    else:
        body.update(override)
    before = row_counts(app)
    resp = handler.client.post("/api/v1/requests", json=body, headers=token)
    assert resp.status_code == 422, resp.get_data(as_text=True)
    assert field in resp.get_json()["errors"], resp.get_json()
    assert row_counts(app) == before


@pytest.mark.parametrize("number", [b"1e999", b"-1e999", b"1e308", b"12345678901234567890123456789", b"1.0"])
def test_huge_numbers_and_floats_where_ids_or_text_are_expected_are_422(app, login, number):
    handler = login("cs_handler")
    catalog = catalogue_ids(handler)
    token = issue_token(app, "cs_handler")
    for field in ("purpose", "resource_id"):
        body = json.dumps(api_application(catalog, purpose="PURPOSE")).replace('"PURPOSE"', "NUMBER") \
            if field == "purpose" else json.dumps(api_application(
                catalog, resources=[{"resource_id": "NUMBER", "fields": ["jgdm"]}])).replace('"NUMBER"', "NUMBER")
        resp = handler.client.post("/api/v1/requests", data=body.replace("NUMBER", number.decode()),
                                   content_type="application/json", headers=token)
        assert resp.status_code == 422, resp.get_data(as_text=True)
        assert resp.get_json()["errors"][{"purpose": "purpose", "resource_id": "resources"}[field]]
    assert row_counts(app)["process_instance"] == 0


@pytest.mark.parametrize("body", [{"decision": ["approve"]}, {"decision": {"v": "approve"}}, {"decision": True},
                                  {"decision": "approve", "opinion": {"a": [1]}}, {"decision": None}, {}])
def test_wrong_types_when_completing_a_task_are_422(app, login, body):
    handler, head = login("cs_handler"), login("cs_head")
    _, task_id = open_head_task(handler, head)
    token = issue_token(app, "cs_head")
    before = row_counts(app)
    resp = head.client.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=token)
    assert resp.status_code == 422 and resp.get_json()["errors"], resp.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("raw", [b"[]", b"5", b'"text"', b"null", b"{", b"\xff\xfe", "{\"purpose\": ²}".encode()])
def test_a_body_that_is_not_a_json_object_is_422(app, login, raw):
    handler = login("cs_handler")
    resp = handler.client.post("/api/v1/requests", data=raw, content_type="application/json",
                               headers=issue_token(app, "cs_handler"))
    assert resp.status_code == 422 and resp.get_json()["error"] == "请求体必须是 JSON 对象"


@pytest.mark.parametrize(("raw", "reason"), [
    (b"[" * 100_000 + b"]" * 100_000, "嵌套"), (b"{\"a\":" * 100_000 + b"1" + b"}" * 100_000, "嵌套"),
    (b'{"purpose": "x", "x": ' + b"[" * 40 + b"]" * 40 + b"}", "嵌套"),  # parses, but deeper than any form
    (b'{"purpose": NaN}', "NaN"), (b'{"purpose": Infinity}', "Infinity"), (b'{"purpose": -Infinity}', "Infinity"),
], ids=["list-100k", "object-100k", "list-40", "nan", "infinity", "minus-infinity"])
def test_deeply_nested_or_non_standard_json_is_400(app, login, raw, reason):
    handler = login("cs_handler")
    token = issue_token(app, "cs_handler")
    before = row_counts(app)
    resp = handler.client.post("/api/v1/requests", data=raw, content_type="application/json", headers=token)
    assert resp.status_code == 400 and reason in resp.get_json()["error"], resp.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("body", [b"[1]", b'"<x/>"', b"5", b"null", b'{"xml": 5}', b'{"xml": ["<x/>"]}', b"{"])
def test_the_modeler_endpoints_refuse_json_that_is_not_a_diagram_with_400(app, login, body):
    admin = login("admin")
    before = row_counts(app)
    for url in ("/admin/definitions", "/admin/definitions/validate"):
        resp = admin.client.post(url, data=body, content_type="application/json", headers={"X-CSRFToken": admin.csrf})
        assert resp.status_code == 400, (url, resp.status_code)
        assert "请求中没有流程图 XML" in resp.get_data(as_text=True)
    assert row_counts(app) == before


# --- NUL bytes and lone surrogates: refused at the one input boundary ---------------------------------------------

NULS = ["\x00", "科研\x00统计分析使用", "\x00\x00" * 1000]
BAD_TEXTS = [*NULS, "\ud800", "科研统计分析使用\udfff", "\udc80\udc80"]


@pytest.mark.parametrize("bad", BAD_TEXTS, ids=repr)
def test_nul_and_surrogates_in_api_json_are_400_and_the_request_page_keeps_working(app, login, bad):
    handler = login("cs_handler")
    token = issue_token(app, "cs_handler")
    catalog = catalogue_ids(handler)
    before = row_counts(app)
    for body in (api_application(catalog, purpose=bad), api_application(catalog, **{bad: "x"}),
                 api_application(catalog, resources=[{"resource_id": catalog["org_units"], "fields": [bad]}])):
        raw = json.dumps(body).encode()  # ensure_ascii: the surrogate travels as a \ud800 escape
        resp = handler.client.post("/api/v1/requests", data=raw, content_type="application/json", headers=token)
        assert resp.status_code == 400, resp.get_data(as_text=True)
        assert "不允许的字符" in resp.get_json()["error"] and resp.get_json()["errors"]
    assert row_counts(app) == before
    resp = handler.client.post("/api/v1/requests", json=api_application(catalog), headers=token)
    assert resp.status_code == 201
    assert handler.get(f"/requests/{resp.get_json()['id']}").status_code == 200


def test_utf8_encoded_surrogates_in_a_json_body_are_400(app, login):
    """json.loads decodes bytes with surrogatepass: ED A0 80 becomes a lone surrogate."""
    handler = login("cs_handler")
    raw = json.dumps(api_application(catalogue_ids(handler), purpose="PLACEHOLDER"), ensure_ascii=False).encode()
    resp = handler.client.post("/api/v1/requests", data=raw.replace(b"PLACEHOLDER", b"\xed\xa0\x80\xe7\xa7\x91"),
                               content_type="application/json", headers=issue_token(app, "cs_handler"))
    assert resp.status_code in (400, 422)
    assert row_counts(app)["process_instance"] == 0


@pytest.mark.parametrize("bad", NULS, ids=lambda b: repr(b)[:20])
def test_nul_in_forms_queries_and_uploads_is_400(app, login, bad):
    """(A lone surrogate cannot travel in a form or a query: see the next test.)"""
    handler, admin = login("cs_handler"), login("admin")
    before = row_counts(app)
    form = application_form(handler, {"org_units": ["jgdm"]})
    cases = [
        handler.post("/requests/new", {**form, "purpose": bad}),
        handler.post("/requests/new", {**form, bad: "x"}),
        handler.get("/requests", query_string={"q": bad}),
        handler.get("/processes/violation_case/new", query_string={"facts": bad}),
        handler.post("/processes/quality_feedback/new", {"resource": "1", "problem": "error",
                                                         "description": f"数据与实际不符{bad}"}),
        admin.post("/admin/calendar", {"year": "2027", "text": f"2027-10-01 休{bad}"}),
        admin.post("/admin/instances/1/cancel", {"reason": bad}),
        admin.post("/admin/definitions", {"file": (io.BytesIO(b"<x/>"), f"a{bad}.bpmn")},
                   content_type="multipart/form-data"),
        handler.post("/login", {"username": f"cs_handler{bad}", "password": "demo12345"}),
    ]
    for resp in cases:
        assert resp.status_code == 400, (resp.request.path, resp.status_code)
        assert "不允许的字符" in resp.get_data(as_text=True)
    assert row_counts(app) == before


def test_surrogate_and_invalid_utf8_bytes_in_a_form_or_query_never_reach_the_database(app, login):
    handler = login("cs_handler")
    form = application_form(handler, {"org_units": ["jgdm"]})
    fields = [(k, v) for k, v in form.items() if isinstance(v, str) and k != "purpose"]
    fields += [("resources", form["resources"][0]), (f"fields_{form['resources'][0]}", "jgdm"),
               ("csrf_token", handler.csrf)]
    body = "&".join(f"{k}={v}" for k, v in fields).encode() + b"&purpose=%ED%A0%80" + "科研统计分析使用".encode()
    resp = handler.client.post("/requests/new", data=body, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 302  # Werkzeug keeps undecodable bytes percent-encoded: no surrogate arrives
    instance_id = int(resp.headers["Location"].rsplit("/", 1)[-1])
    assert handler.get(f"/requests/{instance_id}").status_code == 200
    stored = json.dumps(handler.get(f"/api/v1/requests/{instance_id}").get_json(), ensure_ascii=False)
    assert "科研统计分析使用" in stored and not any("\ud800" <= ch <= "\udfff" for ch in stored)
    assert handler.client.get("/requests?q=%ED%A0%80%ff").status_code == 200
    raw = body.replace(b"%ED%A0%80", b"\xed\xa0\x80\xff")  # undecodable raw bytes: Werkzeug drops the form
    resp = handler.client.post("/requests/new", data=raw, content_type="application/x-www-form-urlencoded")
    assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True)
    assert row_counts(app)["process_instance"] == 1


def test_nul_in_a_url_path_segment_is_400(login):
    handler = login("cs_handler")
    assert handler.get("/processes/%00/new").status_code == 400
    assert handler.get("/admin/processes/a%00b").status_code in (400, 403)


def test_nul_inside_an_uploaded_calendar_file_is_422(app, login):
    admin = login("admin")
    before = row_counts(app)
    resp = admin.post("/admin/calendar", {"year": "2027", "file": (io.BytesIO(b"2027-10-01\x00 \xe4\xbc\x91"),
                                                                   "2027.txt")}, content_type="multipart/form-data")
    assert resp.status_code == 422 and "不允许的字符" in resp.get_data(as_text=True)
    assert row_counts(app) == before


# --- /admin/calendar?year= ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("year", ["0", "-1", "99999", str(10**30), "２０２７", "2027.0", "abc", "1999", "2100", "٢٠٢٧"])
def test_calendar_years_out_of_range_or_full_width_are_422(app, login, year):
    admin = login("admin")
    before = row_counts(app)
    resp = admin.get("/admin/calendar", query_string={"year": year})
    assert resp.status_code == 422 and "年份应为 2000 至 2099 之间的四位半角数字" in resp.get_data(as_text=True)
    resp = admin.post("/admin/calendar", {"year": year, "text": "2027-10-01 休"})
    assert resp.status_code == 422
    assert row_counts(app) == before


def test_calendar_accepts_the_edges_of_its_range(login):
    admin = login("admin")
    for year in ("2000", "2099", " 2027 ", ""):
        assert admin.get("/admin/calendar", query_string={"year": year}).status_code == 200


# --- after a database error the error page itself renders, and the next request works ------------------------------

LIST_FUNCTIONS = [(share_requests, "list_requests"), (task_lists, "visible"), (task_lists, "mine"),
                  (task_lists, "involved")]


def _break_the_session(*_args, **_kwargs):
    db.session.add(Department(code="college_cs", name="重复的部门"))  # unique code: the flush fails
    db.session.flush()


@pytest.mark.parametrize("error", ["integrity", "operational", "undefined_table"])
def test_the_error_page_renders_after_a_database_error(app, login, monkeypatch, error):
    handler = login("cs_handler")

    def broken(*_args, **_kwargs):
        db.session.scalar(select(Department.id))  # a transaction is open
        if error == "integrity":  # the session needs a rollback before it can be used again
            _break_the_session()
        if error == "undefined_table":  # on PostgreSQL this aborts the transaction for every later query
            db.session.execute(db.text("SELECT id FROM no_such_table"))
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    # the page and the API read their lists through different services (the API through the list tabs' task_lists):
    # break every function either path may call, so the test keeps forcing the error wherever the list moves
    for module, name in LIST_FUNCTIONS:
        monkeypatch.setattr(module, name, broken)
    html_resp = handler.get("/requests")
    assert html_resp.status_code == 500
    page = html_resp.get_data(as_text=True)
    assert "服务器内部错误，已记录" in page  # the full layout rendered, with the signed-in user's account menu
    assert "<summary>王经办</summary>" in page and ">计算机与通信学院<" in page
    api_resp = handler.get("/api/v1/requests")
    assert api_resp.status_code == 500 and api_resp.get_json()["error"] == "服务器内部错误，已记录"
    monkeypatch.undo()
    assert handler.get("/requests").status_code == 200
    assert handler.get("/api/v1/requests").status_code == 200
    assert handler.get("/inbox").status_code == 200
    with app.app_context():  # rolled back: the duplicate department of the failed flush was never stored
        assert db.session.scalar(select(func.count()).select_from(Department)
                                 .where(Department.name == "重复的部门")) == 0


def test_a_domain_error_after_a_failed_flush_still_renders(app, login, monkeypatch):
    from app.services.errors import Conflict

    handler = login("cs_handler")

    def broken(*_args, **_kwargs):
        try:
            _break_the_session()
        except sqlalchemy.exc.IntegrityError as exc:
            raise Conflict("并发冲突，请重试") from exc

    monkeypatch.setattr(share_requests, "list_requests", broken)
    resp = handler.get("/requests")
    assert resp.status_code == 409 and "并发冲突，请重试" in resp.get_data(as_text=True)
    monkeypatch.undo()
    assert handler.get("/requests").status_code == 200


# --- malformed transport: multipart, content types, encodings, headers, methods ------------------------------------

def test_malformed_requests_are_4xx(app, login):
    handler = login("cs_handler")
    token = issue_token(app, "cs_handler")
    before = row_counts(app)
    cases = [
        handler.client.post("/requests/new", data=b"--xyz\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n",
                            content_type="multipart/form-data; boundary=xyz"),
        handler.client.post("/requests/new", data=b"garbage", content_type="multipart/form-data"),
        handler.client.post("/api/v1/requests", data=b"{}", content_type="application/json; charset=utf-32",
                            headers=token),
        handler.client.post("/api/v1/requests", data=b"\x00\x01\x02", content_type="application/json", headers=token),
        handler.client.post("/api/v1/requests", data=b"purpose=x", content_type="text/plain", headers=token),
        handler.client.post("/api/v1/requests", data=b"{}", content_type="application/x-www-form-urlencoded",
                            headers=token),
        handler.post("/requests/new", data={"purpose": "%ff%fe"}),
        handler.client.get("/requests?purpose=%ff%fe%00"),
        handler.client.get("/api/v1/tasks/1/claim"),
        handler.client.put("/requests/new"),
        handler.client.delete("/api/v1/requests"),
        handler.client.open("/requests", method="PROPFIND"),
    ]
    for resp in cases:
        assert 400 <= resp.status_code < 500, (resp.request.path, resp.status_code, resp.get_data(as_text=True)[:300])
    assert handler.client.get("/requests", headers={"X-Long": "a" * 200_000}).status_code == 200
    resp = handler.client.get("/api/v1/tasks", headers={"Authorization": "Bearer " + "\u00ff\x00" * 10_000})
    assert resp.status_code == 401
    assert row_counts(app) == before


def _sample_url(rule) -> str:
    """The rule with an existing-looking value for each argument (1 for ids, a process key for strings)."""
    values = {arg: 1 if isinstance(conv, IntegerConverter) else "css/app.css" if arg == "filename" else
              "share_request" for arg, conv in rule._converters.items()}
    return rule.build(values)[1]


@pytest.mark.parametrize("username", ["admin", "cs_handler", None])
def test_head_and_options_on_every_route_are_never_a_server_error(app, login, username):
    client = login(username).client if username else app.test_client()
    before = row_counts(app)
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 30
    for rule in rules:
        url = _sample_url(rule)
        for method in ("HEAD", "OPTIONS", "GET", "DELETE"):
            resp = client.open(url, method=method)
            assert resp.status_code < 500, (method, url, resp.status_code)
    assert row_counts(app) == before


# === this session's routes: 委托, 加签, 退回/撤回/收回, 附件, list tabs, form designer, analytics ===================



@pytest.fixture()
def scene(app, login):
    return build_scene(login)


NEW_URL_TEMPLATES = [
    ("GET", "/api/v1/tasks/{}/return-targets"), ("POST", "/api/v1/tasks/{}/return"),
    ("POST", "/api/v1/tasks/{}/recall"), ("POST", "/api/v1/requests/{}/withdraw"),
    ("POST", "/api/v1/tasks/{}/add-signer"), ("GET", "/api/v1/tasks/{}/signatures"),
    ("GET", "/api/v1/signatures/{}"), ("POST", "/api/v1/signatures/{}/answer"),
    ("POST", "/api/v1/signatures/{}/cancel"),
    ("DELETE", "/api/v1/delegations/{}"), ("POST", "/api/v1/tasks/{}/transfer"), ("POST", "/api/v1/tasks/{}/cc"),
    ("GET", "/attachments/{}"), ("POST", "/tasks/{}/return"), ("POST", "/tasks/{}/recall"),
    ("POST", "/requests/{}/withdraw"), ("POST", "/tasks/{}/add-signer"), ("GET", "/signatures/{}"),
    ("POST", "/signatures/{}/answer"), ("POST", "/signatures/{}/cancel"), ("POST", "/account/delegations/{}/revoke"),
    ("POST", "/tasks/{}/transfer"), ("POST", "/tasks/{}/cc"), ("POST", "/tasks/{}/release"),
]


@pytest.mark.parametrize("raw_id", URL_IDS)
def test_odd_ids_in_the_new_routes_are_404_and_change_nothing(app, login, raw_id):
    """Ids the converter refuses are 404 everywhere; the largest int32 reaches the services, which answer 404 (or, on a
    web form that reports its refusals by a flash on the page it came from, a redirect) — never a 5xx."""
    handler = login("cs_head")
    token = issue_token(app, "cs_head")
    before = row_counts(app)
    for method, template in NEW_URL_TEMPLATES:
        url = template.format(raw_id)
        body = {"reason": "测试", "target": "fill_application", "user": "cs_handler", "users": ["cs_handler"],
                "position": "before", "agree": True, "opinion": "同意"}
        if url.startswith("/api/"):
            resp = handler.client.open(url, method=method, headers=token, json=body)
            assert resp.status_code == 404 and resp.is_json and resp.get_json()["error"], (url, resp.status_code)
        else:
            resp = handler.get(url) if method == "GET" else handler.post(url, {k: v for k, v in body.items()
                                                                            if k != "users"})
            if raw_id == "2147483647" and method == "POST":
                assert resp.status_code in (302, 303, 404), (url, resp.status_code)
            else:
                assert resp.status_code == 404, (url, resp.status_code)
                assert "不存在" in resp.get_data(as_text=True)
    assert row_counts(app) == before


NEW_JSON_POSTS = ["/api/v1/tasks/{task}/add-signer", "/api/v1/tasks/{task}/return", "/api/v1/tasks/{done_task}/recall",
                  "/api/v1/requests/{rid}/withdraw", "/api/v1/signatures/{signature}/answer", "/api/v1/delegations",
                  "/api/v1/tasks/{task}/transfer", "/api/v1/tasks/{task}/cc", "/api/v1/tasks/batch"]


def _who(url: str) -> str:
    return ("cs_handler" if "withdraw" in url else COSIGNER if "/signatures/" in url else
            "cs_head")


@pytest.mark.parametrize("raw", [b"[]", b'[{"user": "academic_head", "reason": "x"}]', b"5", b'"text"', b"null",
                                 b"{", b"", b"\xff\xfe"], ids=repr)
def test_new_api_bodies_that_are_not_a_json_object_are_422(app, login, scene, raw):
    people = {u: login(u) for u in ("cs_handler", "cs_head", COSIGNER)}
    before = row_counts(app)
    for template in NEW_JSON_POSTS:
        url = template.format(**scene)
        resp = _api(people[_who(url)], "POST", url, raw=raw)
        assert resp.status_code == 422, (url, resp.status_code, resp.get_data(as_text=True)[:300])
        assert resp.get_json()["error"] == "请求体必须是 JSON 对象"
    assert row_counts(app) == before


BIG_TEXT = "长" * 100_000
HOSTILE_BODIES = {
    "/api/v1/tasks/{task}/add-signer": [
        {"user": None, "position": "before", "reason": "x"}, {"user": 5, "position": "before", "reason": "x"},
        {"user": ["academic_head"], "position": "before", "reason": "x"},
        {"user": {"username": "academic_head"}, "position": "before", "reason": "x"},
        {"user": "no_such_user", "position": "before", "reason": "x"},
        {"user": "", "position": "before", "reason": "x"}, {"user": BIG_TEXT, "position": "before", "reason": "x"},
        {"user": "cs_head", "position": "before", "reason": "x"},
        {"user": COSIGNER, "position": "middle", "reason": "x"}, {"user": COSIGNER, "position": 1, "reason": "x"},
        {"user": COSIGNER, "position": ["before"], "reason": "x"}, {"user": COSIGNER, "position": None, "reason": "x"},
        {"user": COSIGNER, "position": "before", "reason": None}, {"user": COSIGNER, "position": "before", "reason": 5},
        {"user": COSIGNER, "position": "before", "reason": "   "},
        {"user": COSIGNER, "position": "before", "reason": BIG_TEXT},
        {"user": COSIGNER, "position": "before", "reason": {"text": "x"}},
        {"user": COSIGNER, "position": "after", "reason": "x", "data": "approve"},
        {"user": COSIGNER, "position": "after", "reason": "x", "data": [APPROVE]},
        {"user": COSIGNER, "position": "after", "reason": "x", "data": {"decision": ["approve"]}},
        {"user": COSIGNER, "position": "after", "reason": "x", "data": None},
        {"user": COSIGNER, "position": "after", "reason": "x", "data": {"decision": "approve", "opinion": 2**70}},
    ],
    "/api/v1/tasks/{task}/return": [
        {"target": None, "reason": "x"}, {"target": 5, "reason": "x"}, {"target": 2**31, "reason": "x"},
        {"target": 10**20, "reason": "x"}, {"target": -1, "reason": "x"}, {"target": 1.5, "reason": "x"},
        {"target": True, "reason": "x"}, {"target": ["fill_application"], "reason": "x"},
        {"target": {"step": "fill_application"}, "reason": "x"}, {"target": "no_such_step", "reason": "x"},
        {"target": "", "reason": "x"}, {"target": BIG_TEXT, "reason": "x"}, {"target": str(2**31), "reason": "x"},
        {"target": "00000000-0000-0000-0000-000000000000", "reason": "x"},
        {"target": "dept_head_review", "reason": "x"},
        {"target": "fill_application", "reason": None}, {"target": "fill_application", "reason": ""},
        {"target": "fill_application", "reason": 5}, {"target": "fill_application", "reason": ["x"]},
        {"target": "fill_application", "reason": BIG_TEXT},
    ],
    "/api/v1/tasks/{done_task}/recall": [{}, {"reason": None}, {"reason": ""}, {"reason": 5}, {"reason": ["x"]},
                                         {"reason": {"a": 1}}, {"reason": BIG_TEXT}, {"reason": True}],
    "/api/v1/requests/{rid}/withdraw": [{}, {"reason": None}, {"reason": " "}, {"reason": 5}, {"reason": ["x"]},
                                        {"reason": {"a": 1}}, {"reason": BIG_TEXT}, {"reason": 1e300}],
    "/api/v1/signatures/{signature}/answer": [
        {}, {"agree": None, "opinion": "x"}, {"agree": "yes", "opinion": "x"}, {"agree": 1, "opinion": "x"},
        {"agree": [True], "opinion": "x"}, {"agree": {"v": True}, "opinion": "x"}, {"agree": "true", "opinion": "x"},
        {"agree": True, "opinion": 5}, {"agree": True, "opinion": ["x"]}, {"agree": True, "opinion": BIG_TEXT},
    ],
    "/api/v1/delegations": [
        {"deputy": None}, {"deputy": 5, "starts_on": "{today}", "ends_on": "{today}"},
        {"deputy": "no_such_user", "starts_on": "{today}", "ends_on": "{today}"},
        {"deputy": ["me_handler"], "starts_on": "{today}", "ends_on": "{today}"},
        {"deputy": "cs_head", "starts_on": "{today}", "ends_on": "{today}"},
        {"deputy": BIG_TEXT, "starts_on": "{today}", "ends_on": "{today}"},
        {"deputy": "me_handler", "starts_on": "2026-02-30", "ends_on": "2026-03-01"},
        {"deputy": "me_handler", "starts_on": "2027-02-29", "ends_on": "2027-03-01"},
        {"deputy": "me_handler", "starts_on": "2026-13-01", "ends_on": "2026-13-02"},
        {"deputy": "me_handler", "starts_on": "{today}", "ends_on": "2026-00-10"},
        {"deputy": "me_handler", "starts_on": "２０２７-01-01", "ends_on": "２０２７-01-02"},
        {"deputy": "me_handler", "starts_on": 20270101, "ends_on": 20270102},
        {"deputy": "me_handler", "starts_on": ["2027-01-01"], "ends_on": "2027-01-02"},
        {"deputy": "me_handler", "starts_on": {"y": 2027}, "ends_on": "2027-01-02"},
        {"deputy": "me_handler", "starts_on": "9999-12-31", "ends_on": "9999-12-31"},
        {"deputy": "me_handler", "starts_on": "0001-01-01", "ends_on": "0001-01-02"},
        {"deputy": "me_handler", "starts_on": "{today}", "ends_on": "99999-01-01"},
        {"deputy": "me_handler", "starts_on": "2027-1-1", "ends_on": "2027-1-2"},
        {"deputy": "me_handler", "starts_on": "2027-01-01T00:00:00", "ends_on": "2027-01-02"},
        {"deputy": "me_handler", "starts_on": "{today}", "ends_on": "2020-01-01"},
        {"deputy": "me_handler", "starts_on": "{today}", "ends_on": "2099-01-01"},
        {"deputy": "me_handler", "starts_on": "x" * 10_000, "ends_on": "2027-01-02"},
        {"deputy": "me_handler", "starts_on": "{today}", "ends_on": "{today}", "reason": 5},
        {"deputy": "me_handler", "starts_on": "{today}", "ends_on": "{today}", "reason": BIG_TEXT},
    ],
    "/api/v1/tasks/{task}/transfer": [{"user": None, "reason": "x"}, {"user": 5, "reason": "x"},
                                      {"user": "no_such_user", "reason": "x"}, {"user": ["cs_handler"], "reason": "x"},
                                      {"user": "cs_handler", "reason": BIG_TEXT}],
    "/api/v1/tasks/{task}/cc": [{"users": None}, {"users": [5]}, {"users": [["cs_handler"]]},
                                {"users": ["no_such_user"]}, {"users": [BIG_TEXT]}, {"users": {"a": 1}}, {"users": []},
                                {"users": ["cs_handler"], "note": 5}],
    "/api/v1/tasks/batch": [{"task_ids": None, "decision": "approve"}, {"task_ids": "1", "decision": "approve"},
                            {"task_ids": [2**31], "decision": "approve"}, {"task_ids": [10**20], "decision": "approve"},
                            {"task_ids": [-1, "x", None, 1.5], "decision": "approve"},
                            {"task_ids": list(range(10_000)), "decision": "approve"},
                            {"task_ids": {"{task}": 1}, "decision": "approve"}],
}
HOSTILE_CASES = [(url, i) for url, bodies in HOSTILE_BODIES.items() for i in range(len(bodies))]


def _fill(value, scene: dict, today: str):
    if isinstance(value, str):
        return value.replace("{today}", today).replace("{task}", str(scene["task"]))
    if isinstance(value, dict):
        return {_fill(k, scene, today): _fill(v, scene, today) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, scene, today) for v in value]
    return value


@pytest.mark.parametrize(("template", "index"), HOSTILE_CASES,
                         ids=[f"{u.rsplit('/', 1)[-1]}-{i}" for u, i in HOSTILE_CASES])
def test_wrong_types_unknown_users_and_impossible_dates_in_the_new_apis_are_4xx(app, login, scene, template, index):
    from app.services.people.delegations import today

    with app.app_context():
        day = today().isoformat()
    body = _fill(HOSTILE_BODIES[template][index], scene, day)
    url = template.format(**scene)
    who = login(_who(url))
    before = row_counts(app)
    resp = _api(who, "POST", url, body)
    if template.endswith("batch"):  # 200 with each task's refusal: nothing done
        assert resp.status_code in (200, 422), resp.get_data(as_text=True)[:300]
        if resp.status_code == 200:
            assert resp.get_json()["completed"] == 0
    else:
        assert resp.status_code in (403, 404, 409, 413, 422), (url, body if len(str(body)) < 300 else "…",
                                                               resp.status_code, resp.get_data(as_text=True)[:300])
        assert resp.is_json and resp.get_json()["error"]
    assert row_counts(app) == before


@pytest.mark.parametrize("bad", BAD_TEXTS, ids=repr)
def test_nul_and_surrogates_in_the_new_apis_are_400(app, login, scene, bad):
    people = {u: login(u) for u in ("cs_handler", "cs_head", COSIGNER)}
    bodies = {"add-signer": {"user": COSIGNER, "position": "before", "reason": bad}, "return": {
        "target": bad, "reason": "x"}, "recall": {"reason": bad}, "withdraw": {"reason": bad},
        "answer": {"agree": True, "opinion": bad}, "delegations": {"deputy": f"me_handler{bad}", "reason": "x"},
        "transfer": {"user": "cs_handler", "reason": bad}, "cc": {"users": [bad]}}
    before = row_counts(app)
    for template in NEW_JSON_POSTS[:-1]:
        url = template.format(**scene)
        body = bodies[url.rsplit("/", 1)[-1]]
        resp = _api(people[_who(url)], "POST", url, raw=json.dumps(body).encode())
        assert resp.status_code == 400 and "不允许的字符" in resp.get_json()["error"], (url, resp.status_code)
    assert row_counts(app) == before


def test_session_writes_to_the_new_apis_without_the_csrf_header_are_400(app, login, scene):
    people = {u: login(u) for u in ("cs_handler", "cs_head", COSIGNER)}
    admin = login("admin")
    before = row_counts(app)
    urls = [(t.format(**scene), "POST") for t in NEW_JSON_POSTS] + [
        ("/api/v1/signatures/{signature}/cancel".format(**scene), "POST"), ("/api/v1/delegations/1", "DELETE"),
        ("/api/v1/attachments", "POST"), ("/api/v1/cc/read", "POST")]
    for url, method in urls:
        resp = _api(people[_who(url)], method, url, {"reason": "x", "agree": True}, csrf=False)
        assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True), (url, resp.status_code)
    web = [("/tasks/{task}/return", {"target": "fill_application", "reason": "x"}),
           ("/tasks/{done_task}/recall", {"reason": "x"}), ("/requests/{rid}/withdraw", {"reason": "x"}),
           ("/tasks/{task}/add-signer", {"position": "before", "user": COSIGNER, "reason": "x"}),
           ("/signatures/{signature}/answer", {"agree": "1", "opinion": "x"}), ("/signatures/{signature}/cancel", {}),
           ("/account/delegations", {"deputy": "me_handler"}), ("/account/delegations/1/revoke", {}),
           ("/cc/read", {}), ("/tasks/{task}/release", {})]
    for template, data in web:
        url = template.format(**scene)
        resp = people[_who(url)].client.post(url, data=data)  # no csrf_token field
        assert resp.status_code == 400 and "CSRF" in resp.get_data(as_text=True), (url, resp.status_code)
    for url, data in [("/admin/forms/new", {"definition": "{}"}),
                      ("/admin/forms/share_application", {"definition": "{}"}),
                      ("/admin/forms/import", {}), ("/admin/forms/preview", {"definition": "{}"})]:
        resp = admin.client.post(url, data=data)
        assert resp.status_code == 400, (url, resp.status_code)
    assert row_counts(app) == before


def test_wrong_methods_on_the_new_routes_are_405(app, login, scene):
    head, admin = login("cs_head"), login("admin")
    token = issue_token(app, "cs_head")
    before = row_counts(app)
    cases = [("GET", "/api/v1/tasks/{task}/return"), ("GET", "/api/v1/tasks/{task}/add-signer"),
             ("PUT", "/api/v1/tasks/{task}/return-targets"), ("GET", "/api/v1/requests/{rid}/withdraw"),
             ("GET", "/api/v1/signatures/{signature}/answer"), ("DELETE", "/api/v1/signatures/{signature}"),
             ("PUT", "/api/v1/delegations"), ("GET", "/api/v1/delegations/1"), ("PATCH", "/api/v1/delegations/1"),
             ("GET", "/api/v1/attachments"), ("DELETE", "/api/v1/attachments"), ("GET", "/api/v1/tasks/batch"),
             ("GET", "/api/v1/cc/read"), ("POST", "/api/v1/cc"), ("POST", "/api/v1/signatures")]
    for method, template in cases:
        url = template.format(**scene)
        resp = head.client.open(url, method=method, headers=token, json={})
        assert resp.status_code == 405 and resp.is_json, (method, url, resp.status_code)
    web = [("PUT", "/tasks/{task}/return"), ("GET", "/tasks/{task}/recall"), ("GET", "/requests/{rid}/withdraw"),
           ("GET", "/tasks/{task}/add-signer"), ("GET", "/signatures/{signature}/answer"),
           ("DELETE", "/account/delegations"), ("GET", "/account/delegations/1/revoke"), ("POST", "/inbox/done"),
           ("POST", "/inbox/mine"), ("POST", "/cc"), ("DELETE", "/attachments/1"), ("POST", "/signatures")]
    for method, template in web:
        url = template.format(**scene)
        assert head.client.open(url, method=method).status_code == 405, (method, url)
    for method, url in [("DELETE", "/admin/forms/share_application"), ("PUT", "/admin/forms/import"),
                        ("PUT", "/admin/forms/preview"), ("POST", "/admin/forms/share_application/export"),
                        ("POST", "/admin/modeler/options.json"), ("POST", "/admin/analytics/share_request"),
                        ("PUT", "/admin/analytics/share_request.json")]:
        assert admin.client.open(url, method=method).status_code == 405, (method, url)
    assert row_counts(app) == before


# --- web forms of the new pages ------------------------------------------------------------------------------------

HOSTILE_FORM_VALUES = ["", " ", "no_such_user", "x" * 20_000, "２", BIG, "-1", "2026-02-30",
                       "<script>alert(1)</script>",
                       "{{7*7}}", "' OR 1=1 --", "\u202e"]


REFUSED_REASONS = ("", " ", "x" * 20_000)  # the other values are text a reason may well hold


@pytest.mark.parametrize("value", HOSTILE_FORM_VALUES, ids=lambda v: repr(v)[:20])
def test_hostile_values_in_the_new_web_forms_are_refused_without_a_change(app, login, scene, value):
    """A refusal on these pages is a 4xx page or a redirect to the page the form was on, which flashes the reason."""
    handler, head, cosigner = login("cs_handler"), login("cs_head"), login(COSIGNER)
    before = row_counts(app)
    cases = [
        (head, f"/tasks/{scene['task']}/return", {"target": value, "reason": "理由"}),
        (head, f"/tasks/{scene['task']}/add-signer", {"position": "before", "user": value, "reason": "理由"}),
        (head, f"/tasks/{scene['task']}/add-signer", {"position": value, "sign_user": value, "sign_reason": "理由",
                                                      "decision": "approve"}),
        (cosigner, f"/signatures/{scene['signature']}/answer", {"agree": value, "opinion": "意见"}),
        (head, "/account/delegations", {"deputy": value, "starts_on": "2027-01-01", "ends_on": "2027-01-02"}),
        (head, "/account/delegations", {"deputy": "me_handler", "starts_on": value, "ends_on": value}),
        (head, f"/tasks/{scene['task']}/transfer", {"user": value, "reason": "理由"}),
        (head, f"/tasks/{scene['task']}/cc", {"users": value, "note": "备注"}),
    ]
    if value in REFUSED_REASONS:
        cases += [(head, f"/tasks/{scene['task']}/return", {"target": "fill_application", "reason": value}),
                  (head, f"/tasks/{scene['done_task']}/recall", {"reason": value, "instance_id": value}),
                  (handler, f"/requests/{scene['rid']}/withdraw", {"reason": value}),
                  (head, f"/tasks/{scene['task']}/add-signer", {"position": "before", "user": COSIGNER,
                                                                "reason": value})]
    for who, url, data in cases:
        resp = who.post(url, data)
        assert resp.status_code in (302, 303, 400, 403, 404, 409, 422), (url, data, resp.status_code)
        if resp.status_code in (302, 303):  # the refusal is flashed on the page the redirect leads to
            page = who.get(resp.headers["Location"])
            assert page.status_code == 200 and 'class="flash' in page.get_data(as_text=True), (url, data)
    assert row_counts(app) == before


# --- list tabs, form designer and analytics: query strings and uploads -----------------------------------------------

LIST_URLS = ["/inbox", "/inbox/done", "/inbox/mine", "/cc", "/requests", "/signatures", "/api/v1/tasks",
             "/api/v1/requests", "/api/v1/cc", "/api/v1/signatures"]
BAD_QUERIES = [{"created_from": "2026-02-30"}, {"completed_to": "2026-13-01"}, {"created_from": "２０２６-01-01"},
               {"created_from": "2027-01-02", "created_to": "2027-01-01"}, {"created_to": "99999-01-01"},
               {"overdue": "maybe"}, {"unread": "2"}, {"status": "no_such"}, {"process": "../x"},
               {"process": "x" * 5000}, {"step": "长" * 500}, {"q": "长" * 5000}, {"scope": "everything"},
               {"scope": BIG}, {"page": BIG}, {"page": "-1"}, {"per_page": "0"}, {"per_page": INT32_OVERFLOW},
               {"page": "２"}, {"done": "maybe"}, {"department": "x" * 5000}, {"created_from": "0001-01-01"},
               {"completed_to": "9999-12-31"}, {"created_to": "0001-01-01"}, {"completed_from": "9999-12-31"}]


@pytest.mark.parametrize("query", BAD_QUERIES, ids=lambda q: repr(q)[:40])
def test_bad_list_filters_are_4xx_or_ignored_never_5xx(app, login, scene, query):
    head = login("cs_head")
    for url in LIST_URLS:
        resp = head.get(url, query_string=query)
        assert resp.status_code in (200, 400, 404, 422), (url, query, resp.status_code)
        if resp.status_code == 422 and url.startswith("/api/"):
            assert resp.get_json()["errors"], (url, query)


@pytest.mark.parametrize("query", [{"from": "2026-02-30"}, {"to": "2026-13-01"},
                                   {"from": "2027-01-02", "to": "2027-01-01"},
                                   {"from": "0001-01-01", "to": "9999-12-31"}, {"version": BIG}, {"version": "２"},
                                   {"version": "²"},
                                   {"version": "-1"}, {"applicant": "x" * 5000}, {"provider": "no_such"},
                                   {"from": "２０２６-01-01"}, {"from": "2026-1-1"}, {"from": "0001-01-01"},
                                   {"to": "9999-12-31"}, {"to": "0001-01-01"}, {"from": "9999-12-31"}])
def test_bad_analytics_filters_are_422(app, login, query):
    admin = login("admin")
    for url in ("/admin/analytics/share_request", "/admin/analytics/share_request.json"):
        resp = admin.get(url, query_string=query)
        assert resp.status_code == 422, (url, query, resp.status_code)
    for key in ("no_such_process", "x" * 3000, "..", "share_request%00"):
        assert admin.get(f"/admin/analytics/{key}").status_code in (400, 404)
        assert admin.get(f"/admin/analytics/{key}.json").status_code in (400, 404)


FORM_DEFINITIONS = [
    "", "[]", "5", "null", "{", '"text"', "{}", '{"key": 5}', '{"key": "x", "fields": "x"}',
    '{"key": "../../etc/passwd", "title": "x", "fields": []}', '{"key": "x", "title": "x", "fields": [5]}',
    '{"key": "x", "title": "x", "fields": [{"name": "a", "type": "no_such_type"}]}',
    '{"key": "x", "title": "x", "fields": [{"name": "a", "type": "text", "pattern": "(("}]}',
    '{"key": "x", "title": "x", "fields": [{"name": "a", "type": "file", "max_mb": 1e999}]}',
    '{"a": ' * 5000 + "1" + "}" * 5000, "[" * 5000 + "]" * 5000, '{"key": NaN}', "长" * 300_000,
]


@pytest.mark.parametrize("definition", FORM_DEFINITIONS, ids=lambda d: repr(d)[:30])
def test_hostile_form_definitions_are_refused_and_store_nothing(app, login, definition):
    admin = login("admin")
    before = row_counts(app)
    for url in ("/admin/forms/new", "/admin/forms/share_application"):
        resp = admin.post(url, {"definition": definition})
        assert resp.status_code in (400, 413, 422), (url, resp.status_code)
    resp = admin.client.post("/admin/forms/preview", data=json.dumps({"definition": definition}),
                             content_type="application/json", headers={"X-CSRFToken": admin.csrf})
    assert resp.status_code in (400, 413, 422), resp.status_code
    resp = admin.post("/admin/forms/import", {"file": (io.BytesIO(definition.encode()), "form.json")},
                      content_type="multipart/form-data")
    assert resp.status_code in (400, 413, 422), resp.status_code
    assert row_counts(app) == before


@pytest.mark.parametrize("body", [b"[]", b"5", b'{"definition": 5}', b'{"definition": ["{}"]}',
                                  b'{"definition": {"key": "x"}}', b'{"definition": null}', b"{", b"\xff"], ids=repr)
def test_the_form_preview_refuses_json_that_is_not_a_definition(app, login, body):
    admin = login("admin")
    resp = admin.client.post("/admin/forms/preview", data=body, content_type="application/json",
                             headers={"X-CSRFToken": admin.csrf})
    assert resp.status_code in (400, 422), resp.status_code


@pytest.mark.parametrize("content", [b"\x00\x01\x02", b"\xff\xfe{\x00}\x00", "{}".encode("utf-16"), b"",
                                     b"PK\x03\x04" + b"\x00" * 100, b'{"key": "x\\u0000"}', b'{"key": "\\ud800"}'],
                         ids=repr)
def test_hostile_form_imports_are_4xx(app, login, content):
    admin = login("admin")
    before = row_counts(app)
    for name in ("form.json", "../../form.json", "长" * 300 + ".json"):
        resp = admin.post("/admin/forms/import", {"file": (io.BytesIO(content), name)},
                          content_type="multipart/form-data")
        assert resp.status_code in (400, 413, 422), (name, resp.status_code)
    assert admin.post("/admin/forms/import", {}, content_type="multipart/form-data").status_code == 400
    assert row_counts(app) == before


@pytest.mark.parametrize("key", ["no_such_form", "x" * 3000, "..", "a b", "%00", "share_application%00", "长"])
def test_odd_form_keys_and_versions_are_404_or_400(app, login, key):
    admin = login("admin")
    before = row_counts(app)
    for url in (f"/admin/forms/{key}", f"/admin/forms/{key}/export"):
        assert admin.get(url).status_code in (400, 404), url
    assert admin.post(f"/admin/forms/{key}", {"definition": "{}"}).status_code in (400, 404, 422)
    for version in (BIG, INT32_OVERFLOW, "2147483647", "-1", "２", "abc", "0", "1.0"):
        for url in ("/admin/forms/share_application", "/admin/forms/share_application/export"):
            resp = admin.get(url, query_string={"version": version})
            assert resp.status_code in (400, 404, 422), (url, version, resp.status_code)
    assert row_counts(app) == before


# --- attachments: the upload API and downloads -----------------------------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.mark.parametrize(("data", "expected"), [
    ({}, 422), ({"field": "approval_doc"}, 422), ({"field": "no_such_field", "file": "pdf"}, 422),
    ({"field": "", "file": "pdf"}, 422), ({"field": "x" * 10_000, "file": "pdf"}, 422),
    ({"field": "approval_doc", "form": "no_such_form", "file": "pdf"}, 422),
    ({"field": "approval_doc", "form": "../forms/x", "file": "pdf"}, 422),
    ({"field": "approval_doc", "file": "exe"}, 422), ({"field": "approval_doc", "file": "empty"}, 422),
    ({"field": "approval_doc", "file": "two"}, 422), ({"field": "approval_doc", "file": "noname"}, 422),
    ({"field": "approval_doc", "file": "longname"}, 422), ({"field": ["approval_doc", "x"], "file": "exe"}, 422),
], ids=repr)
def test_hostile_attachment_uploads_are_4xx_and_store_nothing(app, login, data, expected):
    handler = login("cs_handler")
    token = issue_token(app, "cs_handler")
    files = {"pdf": [(io.BytesIO(PDF), "a.pdf")], "exe": [(io.BytesIO(b"MZ\x90\x00" * 10), "a.pdf")],
             "empty": [(io.BytesIO(b""), "a.pdf")], "two": [(io.BytesIO(PDF), "a.pdf"), (io.BytesIO(PDF), "b.pdf")],
             "noname": [(io.BytesIO(PDF), "")], "longname": [(io.BytesIO(PDF), "长" * 5000 + ".exe")]}
    form = {k: v for k, v in data.items() if k != "file"}
    if "file" in data:
        form["file"] = files[data["file"]]
    before = row_counts(app)
    resp = handler.client.post("/api/v1/attachments", data=form, content_type="multipart/form-data", headers=token)
    assert resp.status_code == expected, resp.get_data(as_text=True)[:300]
    assert resp.get_json()["error"]
    assert row_counts(app) == before


def test_attachment_uploads_with_nul_in_names_or_a_json_body_are_4xx(app, login):
    handler = login("cs_handler")
    token = issue_token(app, "cs_handler")
    before = row_counts(app)
    cases = [
        handler.client.post("/api/v1/attachments",
                            data={"field": "approval_doc\x00", "file": (io.BytesIO(PDF), "a.pdf")},
                            content_type="multipart/form-data", headers=token),
        handler.client.post("/api/v1/attachments", data={"field": "approval_doc",
                                                         "file": (io.BytesIO(PDF), "a\x00.pdf")},
                            content_type="multipart/form-data", headers=token),
        handler.client.post("/api/v1/attachments", json={"field": "approval_doc", "file": "JVBERi0="}, headers=token),
        handler.client.post("/api/v1/attachments", json=[1], headers=token),
        handler.client.post("/api/v1/attachments", data=b"garbage", content_type="multipart/form-data", headers=token),
    ]
    for resp in cases:
        assert 400 <= resp.status_code < 500, (resp.status_code, resp.get_data(as_text=True)[:300])
    assert row_counts(app) == before


@pytest.mark.parametrize("value", [[2**31], [10**20], [-1], [0], ["x"], [{"id": "x"}], [{"id": 2**31}], [1.5], [True],
                                   [[1]], "1", 5, {"id": 1}, [None], ["１"], ["OTHER"], ["BOUND"], ["OTHER", "OTHER"]],
                         ids=repr)
def test_attachment_ids_in_a_submission_that_are_not_the_users_own_uploads_are_422(app, login, value):
    """A file field given by ids (POST /api/v1/attachments first): ids beyond the integer range, of the wrong type,
    someone else's upload, or an attachment already bound to another request."""
    handler, other = login("cs_handler"), login("me_handler")
    token = issue_token(app, "cs_handler")
    upload = other.client.post("/api/v1/attachments",
                               data={"field": "approval_doc", "file": (io.BytesIO(PDF), "a.pdf")},
                               content_type="multipart/form-data", headers={"X-CSRFToken": other.csrf})
    assert upload.status_code == 201, upload.get_json()
    form = {**application_form(handler, {"student_basic": ["xh"]}), "approval_doc": (io.BytesIO(PDF), "批文.pdf")}
    resp = handler.post("/requests/new", form, content_type="multipart/form-data")
    assert resp.status_code == 302
    bound = handler.get(resp.headers["Location"].replace("/requests/", "/api/v1/requests/")).get_json()
    ids = {"OTHER": upload.get_json()["id"], "BOUND": bound["attachments"][0]["id"]}
    if isinstance(value, list):
        value = [ids.get(v, v) if isinstance(v, str) else v for v in value]
    before = row_counts(app)
    body = api_application(catalogue_ids(handler), approval_doc=value)
    resp = handler.client.post("/api/v1/requests", json=body, headers=token)
    assert resp.status_code == 422, resp.get_data(as_text=True)[:300]
    assert "approval_doc" in resp.get_json()["errors"], resp.get_json()
    assert row_counts(app) == before
