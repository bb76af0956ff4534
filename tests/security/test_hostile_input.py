"""No 500 on hostile input (issue 8): each payload from the review, named, gets a clear 4xx and stores nothing."""
from __future__ import annotations

import io
import json

import pytest
import sqlalchemy.exc
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from app.extensions import db
from app.models import Department
from app.services.workflow import requests as share_requests

from ..web.journey import application_form
from .hostile_support import (
    BIG,
    INT32_OVERFLOW,
    api_application,
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

    monkeypatch.setattr(share_requests, "list_requests", broken)
    html_resp = handler.get("/requests")
    assert html_resp.status_code == 500
    page = html_resp.get_data(as_text=True)
    assert "服务器内部错误，已记录" in page and "王经办 · 计算机与通信学院" in page  # the full layout rendered
    api_resp = handler.get("/api/v1/requests")
    assert api_resp.status_code == 500 and api_resp.get_json()["error"] == "服务器内部错误，已记录"
    monkeypatch.undo()
    assert handler.get("/requests").status_code == 200
    assert handler.get("/inbox").status_code == 200


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
