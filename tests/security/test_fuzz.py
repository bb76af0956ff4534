"""Property-based fuzzing (Hypothesis) of the API and the form posts with hostile values under the real field names:
never a 5xx, and a rejected (4xx) request changes no row of the watched tables."""
from __future__ import annotations

import io
import json
import os
from datetime import date
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..web.journey import application_form
from .hostile_support import (
    BIG,
    COSIGNER,
    INT32_OVERFLOW,
    api_application,
    build_scene,
    catalogue_ids,
    issue_token,
    open_head_task,
    row_counts,
)

SCALE = int(os.environ.get("FUZZ_SCALE") or 1)  # FUZZ_SCALE=10: ten times the examples, for a longer hunt
FUZZ = settings(max_examples=120 * SCALE, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])
SMALL = settings(FUZZ, max_examples=60 * SCALE)

# --- values ------------------------------------------------------------------------------------------------------

NASTY = ["", " ", "\x00", "a\x00b", "²", "２０２７", "٣", "1e999", "NaN", "-1", "0", BIG, INT32_OVERFLOW, "2147483647",
         "true", "null", "[]", "{}", "x" * 5000, "<script>alert(1)</script>", "' OR 1=1 --", "{{7*7}}", "%00", "\u202e",
         "\ufeff", "🙂" * 50, "\r\n", "..", "approve", "return", "interface", "doubt", "misuse", "college_cs", "1"]
SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)
form_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=40),  # Hypothesis text never holds surrogates
                      st.lists(st.sampled_from(["\x00", "a", "科", "²", "1"]), max_size=8).map("".join))
json_text = st.one_of(form_text, st.tuples(st.text(max_size=10), SURROGATES).map("".join))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(2**31 - 3, 2**70),
                        st.floats(allow_nan=True, allow_infinity=True), json_text)
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=4) |
                          st.dictionaries(json_text, inner, max_size=4), max_leaves=12)
odd_id = st.one_of(st.integers(-3, 2**64).map(str), st.sampled_from(["２", "²", "abc", "1.5", "-1", "%00", "1%00",
                                                                     BIG, INT32_OVERFLOW, "0x1", "1e3", "%EF%BC%92"]))
form_value = st.one_of(form_text, st.lists(form_text, max_size=3))


def _dump(body) -> str:
    return json.dumps(body)  # NaN/Infinity become the non-standard literals; surrogates travel as \\ud800 escapes


def _check(app, send, what) -> None:
    """Send one request: never a 5xx; a 4xx leaves every watched table as it was."""
    before = row_counts(app)
    resp = send()
    assert resp.status_code < 500, (what, resp.status_code, resp.get_data(as_text=True)[:500])
    if 400 <= resp.status_code < 500:
        assert row_counts(app) == before, (what, resp.status_code)


# --- the API -----------------------------------------------------------------------------------------------------

APPLICATION_FIELDS = ["resources", "purpose", "head_name", "head_phone", "handler_name", "handler_phone", "commitment",
                      "confidentiality", "_action"]
resource_item = st.fixed_dictionaries({}, optional={"resource_id": st.one_of(json_value, odd_id, st.integers()),
                                                    "fields": json_value})


@pytest.fixture()
def api_user(app, login):
    handler = login("cs_handler")
    return handler, issue_token(app, "cs_handler"), catalogue_ids(handler)


@pytest.fixture()
def head_task(app, login):
    """One open 部门负责人 task shared by every example of a test (fixtures run once per test, not per example)."""
    head = login("cs_head")
    _, task_id = open_head_task(login("cs_handler"), head)
    return head, issue_token(app, "cs_head"), task_id


@FUZZ
@given(overrides=st.dictionaries(st.sampled_from(APPLICATION_FIELDS) | json_text, json_value, max_size=3),
       resources=st.none() | st.lists(resource_item, max_size=3) | json_value)
def test_api_submit_request(app, api_user, overrides, resources):
    handler, token, catalog = api_user
    body = {**api_application(catalog), **overrides}
    if resources is not None:
        body["resources"] = resources
    _check(app, lambda: handler.client.post("/api/v1/requests", data=_dump(body), content_type="application/json",
                                            headers=token), body)


@FUZZ
@given(body=json_value | st.dictionaries(st.sampled_from(["decision", "opinion", "_action"]) | json_text, json_value,
                                         max_size=3),
       task=st.none() | odd_id, action=st.sampled_from(["complete", "claim", "get", "request"]))
def test_api_tasks_and_odd_ids(app, head_task, body, task, action):
    head, token, open_task = head_task
    task_id = open_task if task is None else quote(task, safe="%")
    if action in ("complete", "claim"):
        _check(app, lambda: head.client.post(f"/api/v1/tasks/{task_id}/{action}", data=_dump(body),
                                             content_type="application/json", headers=token), (action, task_id, body))
    else:
        url = f"/api/v1/tasks/{task_id}" if action == "get" else f"/api/v1/requests/{task_id}"
        _check(app, lambda: head.client.get(url, headers=token), url)


@SMALL
@given(raw=st.binary(max_size=200) | st.sampled_from([b"[" * 5000, b'{"a":' * 3000, b"\xed\xa0\x80",
                                                     b'{"x": 1e999}']),
       content_type=st.sampled_from(["application/json", "application/json; charset=utf-16", "text/plain",
                                     "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ""]))
def test_api_raw_bodies(app, api_user, raw, content_type):
    handler, token, _ = api_user
    _check(app, lambda: handler.client.post("/api/v1/requests", data=raw, content_type=content_type or None,
                                            headers=token), (raw[:50], content_type))


# --- the form posts ----------------------------------------------------------------------------------------------

@FUZZ
@given(overrides=st.dictionaries(st.sampled_from(["purpose", "head_name", "head_phone", "handler_name",
                                                  "handler_phone", "commitment", "confidentiality", "resources",
                                                  "fields_1"]) | form_text, form_value, max_size=4))
def test_form_new_request(app, login, overrides):
    handler = login("cs_handler")
    data = {**application_form(handler, {"org_units": ["jgdm"]}), **overrides}
    _check(app, lambda: handler.post("/requests/new", data), overrides)


START_FORMS = {
    "violation_case": ["accused_department", "kind", "facts", "related"],
    "quality_feedback": ["resource", "problem", "description"],
    "project_acceptance": ["project_name", "catalogue_entries", "platform_connection", "note"],
}


@FUZZ
@given(key=st.sampled_from([*START_FORMS, "share_request", "%00", "../x", "security_inspection"]),
       values=st.data())
def test_form_start_process(app, login, key, values):
    handler = login("cs_handler")
    names = START_FORMS.get(key, ["x"])
    data = values.draw(st.dictionaries(st.sampled_from(names) | form_text, form_value, max_size=len(names) + 1))
    _check(app, lambda: handler.post(f"/processes/{key}/new", data), (key, data))
    _check(app, lambda: handler.get(f"/processes/{key}/new", query_string=data), (key, data))


@FUZZ
@given(data=st.dictionaries(st.sampled_from(["decision", "opinion", "_action"]) | form_text, form_value, max_size=3),
       task=st.none() | odd_id)
def test_form_task(app, head_task, data, task):
    head, _, open_task = head_task
    task_id = open_task if task is None else quote(task, safe="%")
    _check(app, lambda: head.post(f"/tasks/{task_id}", data), (task_id, data))
    _check(app, lambda: head.post(f"/tasks/{task_id}/claim", data), (task_id, data))


@SMALL
@given(data=st.dictionaries(st.sampled_from(["name", "code", "description", "domain_id", "share_class", "fields",
                                             "delivery_methods", "update_frequency", "class_reason"]) | form_text,
                            form_value, max_size=5),
       resource=st.none() | odd_id)
def test_form_catalogue_edit(app, login, data, resource):
    head = login("science_head")
    rid = catalogue_ids(head)["research_projects"] if resource is None else quote(resource, safe="%")
    base = {"name": "科研项目信息", "domain_id": "5", "share_class": "conditional", "fields": "xmbh:项目编号",
            "delivery_methods": ["interface"], "update_frequency": "daily"}
    _check(app, lambda: head.post(f"/catalogue/{rid}/edit", {**base, **data}), (rid, data))
    _check(app, lambda: head.post("/catalogue/new", {**base, **data}), data)


@SMALL
@given(year=form_text | odd_id, text=form_text, instance_ids=st.lists(form_text | odd_id, max_size=3),
       action=st.sampled_from(["suspend", "resume", "cancel", "retry", "x"]), instance=odd_id, reason=form_value,
       definition=st.none() | odd_id, xml=json_value)
def test_admin_forms(app, login, year, text, instance_ids, action, instance, reason, definition, xml):
    admin = login("admin")
    _check(app, lambda: admin.get("/admin/calendar", query_string={"year": year}), year)
    _check(app, lambda: admin.post("/admin/calendar", {"year": year, "text": text}), (year, text))
    _check(app, lambda: admin.post("/admin/migrations/1/1", {"instance_id": instance_ids}), instance_ids)
    _check(app, lambda: admin.post(f"/admin/instances/{quote(instance, safe='%')}/{action}", {"reason": reason}),
           (instance, action, reason))
    _check(app, lambda: admin.get("/admin/modeler", query_string={"definition_id": definition or ""}), definition)
    for body in ({"xml": text, "file_name": year}, {"xml": xml, "file_name": xml}, xml):
        for url in ("/admin/definitions", "/admin/definitions/validate"):
            _check(app, lambda url=url, body=body: admin.client.post(
                url, data=_dump(body), content_type="application/json", headers={"X-CSRFToken": admin.csrf}),
                (url, body))


# --- this session's routes: 委托, 加签, 退回/撤回/收回, 附件, list tabs, form designer, analytics ------------------

NEW_API_KEYS = ["user", "users", "position", "reason", "data", "target", "agree", "opinion", "note", "deputy",
                "starts_on", "ends_on", "task_ids", "decision"]
NEW_API_POSTS = {"add-signer": ("cs_head", "/api/v1/tasks/{task}/add-signer"),
                 "return": ("cs_head", "/api/v1/tasks/{task}/return"),
                 "recall": ("cs_head", "/api/v1/tasks/{done_task}/recall"),
                 "withdraw": ("cs_handler", "/api/v1/requests/{rid}/withdraw"),
                 "answer": (COSIGNER, "/api/v1/signatures/{signature}/answer"),
                 "cancel": ("cs_head", "/api/v1/signatures/{signature}/cancel"),
                 "delegate": ("cs_head", "/api/v1/delegations"),
                 "transfer": ("cs_head", "/api/v1/tasks/{task}/transfer"),
                 "cc": ("cs_head", "/api/v1/tasks/{task}/cc"), "batch": ("cs_head", "/api/v1/tasks/batch")}
day_text = st.one_of(st.dates().map(date.isoformat), st.sampled_from(
    ["2026-02-30", "2027-02-29", "2026-13-01", "2026-00-10", "9999-12-31", "0001-01-01", "２０２７-01-01", "2027-1-1",
     "2027-01-01T00:00", " 2027-01-01 ", ""]), form_text)


@pytest.fixture()
def new_scene(app, login):
    scene = build_scene(login)
    people = {u: login(u) for u in ("cs_handler", "cs_head", COSIGNER)}
    return scene, people


@FUZZ
@given(action=st.sampled_from(sorted(NEW_API_POSTS)),
       body=json_value | st.dictionaries(st.sampled_from(NEW_API_KEYS) | json_text, json_value | day_text,
                                         max_size=4),
       target=st.none() | odd_id)
def test_api_new_task_actions(app, new_scene, action, body, target):
    """Any body on 加签/退回/收回/撤回/答复/撤销/委托/转办/抄送/批量: never a 5xx, a refusal changes nothing."""
    scene, people = new_scene
    who, template = NEW_API_POSTS[action]
    url = template.format(**scene)
    if target is not None and "{" in template:
        url = template.format(**{k: quote(target, safe="%") for k in scene})
    _check(app, lambda: people[who].client.post(url, data=_dump(body), content_type="application/json",
                                                headers={"X-CSRFToken": people[who].csrf}), (url, body))


@FUZZ
@given(deputy=st.sampled_from(["me_handler", "cs_head", "no_such_user", "", "ME_HANDLER", " me_handler "]) | json_value,
       starts_on=day_text | json_value, ends_on=day_text | json_value, reason=form_text | json_value,
       web=st.booleans())
def test_delegation_dates_and_deputies(app, new_scene, deputy, starts_on, ends_on, reason, web):
    _, people = new_scene
    head = people["cs_head"]
    body = {"deputy": deputy, "starts_on": starts_on, "ends_on": ends_on, "reason": reason}
    if web:
        data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        if any("\ud800" <= ch <= "\udfff" for v in data.values() for ch in v):
            return  # a form post cannot carry a lone surrogate
        _check(app, lambda: head.post("/account/delegations", data), data)
    else:
        _check(app, lambda: head.client.post("/api/v1/delegations", data=_dump(body), content_type="application/json",
                                             headers={"X-CSRFToken": head.csrf}), body)


LIST_FILTERS = ["q", "process", "step", "status", "created_from", "created_to", "completed_from", "completed_to",
                "overdue", "unread", "scope", "page", "per_page", "department", "done"]
LIST_URLS = ["/inbox", "/inbox/done", "/inbox/mine", "/cc", "/requests", "/signatures", "/api/v1/tasks",
             "/api/v1/requests", "/api/v1/cc", "/api/v1/signatures", "/account/delegations", "/api/v1/delegations"]


@FUZZ
@given(url=st.sampled_from(LIST_URLS),
       query=st.dictionaries(st.sampled_from(LIST_FILTERS) | form_text, form_text | day_text | odd_id, max_size=4))
def test_list_tabs_filters(app, login, url, query):
    head = login("cs_head")
    _check(app, lambda: head.get(url, query_string=query), (url, query))


@SMALL
@given(definition=json_value | st.fixed_dictionaries(
           {"key": form_text, "title": form_text},
           optional={"fields": st.lists(st.dictionaries(st.sampled_from(
               ["name", "type", "label", "required", "options", "pattern", "max_mb", "accept", "multiple",
                "required_if", "min", "max"]) | json_text, json_value, max_size=5), max_size=3)}),
       where=st.sampled_from(["preview", "new", "edit", "import"]))
def test_form_designer_definitions(app, login, definition, where):
    admin = login("admin")
    text = _dump(definition)
    if where == "preview":
        _check(app, lambda: admin.client.post("/admin/forms/preview", data=_dump({"definition": text}),
                                              content_type="application/json", headers={"X-CSRFToken": admin.csrf}),
               definition)
    elif where == "import":
        raw = text.encode("utf-8", "surrogatepass")
        _check(app, lambda: admin.post("/admin/forms/import", {"file": (io.BytesIO(raw), "form.json")},
                                       content_type="multipart/form-data"), definition)
    else:
        url = "/admin/forms/new" if where == "new" else "/admin/forms/share_application"
        if any("\ud800" <= ch <= "\udfff" for ch in text):
            return  # a form post cannot carry a lone surrogate (the JSON text's \\ud800 escapes are ASCII anyway)
        _check(app, lambda: admin.post(url, {"definition": text}), definition)


@SMALL
@given(key=st.sampled_from(["share_request", "violation_case", "no_such"]) | form_text.filter(lambda t: "/" not in t),
       query=st.dictionaries(st.sampled_from(["version", "from", "to", "applicant", "provider"]) | form_text,
                             day_text | odd_id, max_size=4))
def test_analytics_and_form_pages_queries(app, login, key, query):
    admin = login("admin")
    path = quote(key, safe="") or "x"
    for url in (f"/admin/analytics/{path}", f"/admin/analytics/{path}.json", f"/admin/forms/{path}",
                f"/admin/forms/{path}/export"):
        _check(app, lambda url=url: admin.get(url, query_string=query), (url, query))


@SMALL
@given(field=st.sampled_from(["approval_doc", "delivery_list", ""]) | form_text,
       form=st.none() | st.sampled_from(["share_application", "data_delivery"]) | form_text,
       name=form_text, content=st.binary(max_size=300) | st.sampled_from([b"%PDF-1.4\n%%EOF\n", b"MZ\x90\x00",
                                                                            b"PK\x03\x04" + b"\x00" * 30]),
       count=st.integers(0, 2))
def test_attachment_uploads(app, login, field, form, name, content, count):
    handler = login("cs_handler")
    data: dict = {"field": field, "file": [(io.BytesIO(content), name) for _ in range(count)]}
    if form is not None:
        data["form"] = form
    _check(app, lambda: handler.client.post("/api/v1/attachments", data=data, content_type="multipart/form-data",
                                            headers={"X-CSRFToken": handler.csrf}), (field, form, name, count))
