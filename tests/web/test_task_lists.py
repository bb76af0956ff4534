"""Issue 11: 我的待办 / 我已办 / 我发起的 / 抄送我的 as tabs, their search and filters over HTTP (web and API), hostile
filter values refused with a 422 naming the parameter, the tab and filters kept on page and tab links."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import update

from app.extensions import db
from app.models import ProcessInstance, TaskRecord
from app.models.task import TaskState
from app.models.types import CHINA_TZ, utcnow

from .journey import act, my_task, submit

APPROVE = {"decision": "approve", "opinion": "同意共享"}
RETURN = {"decision": "return", "opinion": "请补充用途说明"}


def _ids(body: dict, key: str, field: str = "instance_id") -> list[int]:
    return [item[field] for item in body[key]]


@pytest.fixture()
def world(app, login):
    """Three requests of 计算机学院 (王经办): #a forwarded to the providers (学生处), #b returned to the applicant by
    its head, #c waiting for the head; 学生处's head copies 机械学院's handler (赵经办) on #a's review; one 数据质量
    反馈 by the same handler (another process)."""
    handler, head, nic = login("cs_handler"), login("cs_head"), login("nic_head")
    a = submit(handler, {"student_basic": ["xh"]})
    act(head, a, APPROVE)
    act(nic, a, APPROVE)
    b = submit(handler, {"staff_basic": ["gh"]})
    act(head, b, RETURN)
    c = submit(handler, {"course_schedule": ["kch"]})
    student = login("student_head")
    review = my_task(student, a)
    assert student.post(f"/tasks/{review}/cc", {"users": ["me_handler"], "note": "请知悉"}).status_code == 302
    catalog = {r["code"]: r for r in handler.get("/api/v1/catalog").get_json()["resources"]}
    resp = handler.post("/processes/quality_feedback/new", {"resource": str(catalog["library_loans"]["id"]),
                                                           "problem": "error", "description": "借阅记录缺失"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    q = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    return {"a": a, "b": b, "c": c, "q": q, "review": review}


def test_the_four_tabs_list_what_they_say(app, login, world):
    a, b, c, q = world["a"], world["b"], world["c"], world["q"]
    handler, head, outsider = login("cs_handler"), login("cs_head"), login("me_handler")
    # 我的待办: the head's open commitment (#c); the API's default scope is todo
    todo = head.get("/api/v1/tasks").get_json()
    assert _ids(todo, "tasks") == [c] == _ids(head.get("/api/v1/tasks?scope=todo").get_json(), "tasks")
    assert todo["total"] == 1 and todo["page"] == 1 and todo["has_next"] is False
    # 我已办: newest first, with the decision and the request's current status
    done = head.get("/api/v1/tasks?scope=done").get_json()
    assert _ids(done, "tasks") == [b, a] and done["total"] is None and done["has_next"] is False  # no count
    returned, approved = done["tasks"]
    assert returned["decision"] and "退回" in returned["decision"] and returned["opinion"] == "请补充用途说明"
    assert approved["opinion"] == "同意共享" and approved["status"] == "running"
    assert approved["current_step"] and approved["completed_at"] and approved["title"]
    html = head.get("/inbox/done").get_data(as_text=True)
    assert 'id="done-list"' in html and f"#{a} " in html and "请补充用途说明" in html and 'aria-current="page"' in html
    assert re.search(r'<a href="/inbox/done" data-tab="done" class="active"', html)
    # 我发起的: the handler's three requests and the feedback, newest first
    mine = handler.get("/api/v1/requests?scope=mine").get_json()
    assert _ids(mine, "requests") == [q, c, b, a] and mine["total"] is None and mine["has_next"] is False
    paged = handler.get("/api/v1/requests?scope=mine&per_page=3").get_json()
    assert _ids(paged, "requests") == [q, c, b] and paged["has_next"] is True
    assert _ids(handler.get("/api/v1/requests?scope=mine&per_page=3&page=2").get_json(), "requests") == [a]
    assert head.get("/api/v1/requests?scope=mine").get_json()["requests"] == []  # the head applied for nothing
    html = handler.get("/inbox/mine").get_data(as_text=True)
    assert 'id="mine-list"' in html and all(f"#{i}<" in html for i in (a, b, c, q))
    # 抄送我的
    cc = outsider.get("/api/v1/cc").get_json()
    assert _ids(cc, "cc") == [a] and cc["cc"][0]["step"] and cc["total"] == 1
    assert 'id="cc-list"' in outsider.get("/cc").get_data(as_text=True)
    # involved: applied for, acted on, copied on
    assert _ids(outsider.get("/api/v1/requests?scope=involved").get_json(), "requests") == [a]
    assert _ids(head.get("/api/v1/requests?scope=involved").get_json(), "requests") == [b, a]
    assert _ids(handler.get("/api/v1/requests?scope=involved").get_json(), "requests") == [q, c, b, a]
    # without scope: today's list (the department's requests and those it acted on); with a new filter the same
    # rule answers with every filter
    assert _ids(head.get("/api/v1/requests").get_json(), "requests", "id") == [q, c, b, a]
    assert outsider.get("/api/v1/requests").get_json()["requests"] == []
    assert _ids(head.get("/api/v1/requests?process=share_request").get_json(), "requests", "id") == [c, b, a]
    assert _ids(head.get("/api/v1/requests?step=承诺&q=课程").get_json(), "requests", "id") == [c]
    assert outsider.get("/api/v1/requests?process=share_request").get_json()["requests"] == []
    # every tab carries the four tabs
    for url in ("/inbox", "/inbox/done", "/inbox/mine", "/cc"):
        page = head.get(url).get_data(as_text=True)
        assert all(f'data-tab="{t}"' in page for t in ("todo", "done", "mine", "cc")), url


@pytest.mark.parametrize("words, expected", [
    ("#{a}", ["a"]), ("{a}", ["a"]), ("#{a}0", []), ("教职工", ["b"]), ("staff_basic", ["b"]), ("学生基本", ["a"]),
    ("王经办", ["q", "c", "b", "a"]), ("计算机", ["q", "c", "b", "a"]), ("课程", ["c"]), ("没有这样的申请", []),
    ("%", []), ("_", ["c", "b", "a"]), ("' OR 1=1 --", []),
])
def test_search_finds_number_title_applicant_department_and_resource(app, login, world, words, expected):
    handler = login("cs_handler")
    query = words.format(**world).replace("#", "%23").replace("%", "%25") if words == "%" else \
        words.format(**world).replace("#", "%23")
    body = handler.get(f"/api/v1/requests?scope=mine&q={query}").get_json()
    assert _ids(body, "requests") == [world[k] for k in expected], words


def test_search_and_filters_on_each_tab(app, login, world):
    a, b, c = world["a"], world["b"], world["c"]
    head, handler, outsider = login("cs_head"), login("cs_handler"), login("me_handler")
    today = utcnow().astimezone(CHINA_TZ).date()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)
    # done: search by resource, by applicant, process, step, status, completion dates
    done = "/api/v1/tasks?scope=done"
    assert _ids(head.get(f"{done}&q=学生基本信息").get_json(), "tasks") == [a]
    assert _ids(head.get(f"{done}&q=王经办").get_json(), "tasks") == [b, a]
    assert _ids(head.get(f"{done}&process=share_request").get_json(), "tasks") == [b, a]
    assert head.get(f"{done}&process=quality_feedback").get_json()["tasks"] == []
    assert _ids(head.get(f"{done}&step=承诺").get_json(), "tasks") == [b, a]
    assert head.get(f"{done}&step=网信中心").get_json()["tasks"] == []
    assert _ids(head.get(f"{done}&status=running").get_json(), "tasks") == [b, a]
    assert head.get(f"{done}&status=completed").get_json()["tasks"] == []
    assert _ids(head.get(f"{done}&completed_from={today}&completed_to={today}").get_json(), "tasks") == [b, a]
    assert head.get(f"{done}&completed_from={tomorrow}").get_json()["tasks"] == []
    assert head.get(f"{done}&created_to={yesterday}").get_json()["tasks"] == []
    assert head.get(f"{done}&overdue=1").get_json()["tasks"] == []  # in time
    # todo: process, step, q, overdue
    assert _ids(head.get("/api/v1/tasks?q=课程").get_json(), "tasks") == [c]
    assert head.get("/api/v1/tasks?q=教职工").get_json()["tasks"] == []
    assert _ids(head.get("/api/v1/tasks?step=承诺&process=share_request").get_json(), "tasks") == [c]
    assert head.get("/api/v1/tasks?overdue=1").get_json()["tasks"] == []
    # mine: process, status, dates, step (current step)
    mine = "/api/v1/requests?scope=mine"
    assert _ids(handler.get(f"{mine}&process=quality_feedback").get_json(), "requests") == [world["q"]]
    assert _ids(handler.get(f"{mine}&process=share_request&created_from={today}").get_json(), "requests") == \
        [c, b, a]
    assert handler.get(f"{mine}&created_from={tomorrow}").get_json()["requests"] == []
    assert handler.get(f"{mine}&status=completed").get_json()["requests"] == []
    assert handler.get(f"{mine}&completed_from={yesterday}").get_json()["requests"] == []  # none finished
    # cc: q, unread, step
    assert _ids(outsider.get("/api/v1/cc?q=学生基本信息&unread=1").get_json(), "cc") == [a]
    assert outsider.get("/api/v1/cc?q=课程").get_json()["cc"] == []
    # overdue: a deadline in the past shows on todo, mine, involved and cc
    with app.app_context():
        db.session.execute(update(TaskRecord).where(TaskRecord.instance_id.in_([a, c]),
                                                    TaskRecord.state == TaskState.ready)
                           .values(due_at=utcnow() - timedelta(days=2)))
        db.session.commit()
    assert _ids(head.get("/api/v1/tasks?overdue=1").get_json(), "tasks") == [c]
    assert _ids(handler.get(f"{mine}&overdue=1").get_json(), "requests") == [c, a]
    assert handler.get(f"{mine}&overdue=1").get_json()["requests"][0]["overdue"] is True
    assert _ids(outsider.get("/api/v1/cc?overdue=1").get_json(), "cc") == [a]
    assert 'class="tag overdue"' in handler.get("/inbox/mine?overdue=1").get_data(as_text=True)
    # 我已办 overdue = completed after the deadline
    with app.app_context():
        db.session.execute(update(TaskRecord).where(TaskRecord.instance_id == b, TaskRecord.state ==
                                                    TaskState.completed, TaskRecord.completed_by_id.isnot(None))
                           .values(due_at=utcnow() - timedelta(days=10)))
        db.session.commit()
    assert _ids(head.get(f"{done}&overdue=1").get_json(), "tasks") == [b]
    assert "逾期办理" in head.get("/inbox/done?overdue=1").get_data(as_text=True)
    # a completed request: its completion date filters the requests
    with app.app_context():
        db.session.execute(update(ProcessInstance).where(ProcessInstance.id == b).values(
            status="completed", completed_at=utcnow()))
        db.session.commit()
    assert _ids(handler.get(f"{mine}&completed_from={today}&completed_to={today}").get_json(), "requests") == [b]
    assert _ids(handler.get(f"{mine}&status=completed").get_json(), "requests") == [b]


def test_web_tabs_filter_and_keep_the_tab_and_filters_on_links(app, login, world):
    handler, head = login("cs_handler"), login("cs_head")
    for n in range(3):
        submit(handler, {"course_schedule": ["kch"]}, purpose=f"第{n}次课程表共享申请，核对排课")
    html = handler.get("/inbox/mine?per_page=2&q=课程&process=share_request&status=running").get_data(as_text=True)
    assert 'rel="next"' in html
    nxt = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert nxt.startswith("/inbox/mine?") and "page=2" in nxt and "per_page=2" in nxt and "process=share_request" in nxt
    assert "status=running" in nxt and "q=" in nxt
    second = handler.get(nxt).get_data(as_text=True)
    assert second.count("<tr data-instance-id=") == 2
    # the tab links keep the filters, the filter form shows them and unfolds (data-active)
    assert re.search(r'href="/inbox/done\?[^"]*process=share_request', html)
    assert 'data-active="1"' in html and 'value="share_request" selected' in html
    assert 'data-active="0"' in handler.get("/inbox/mine").get_data(as_text=True)
    # the 待办 tab keeps its batch form and claim buttons; filters narrow it
    todo = head.get("/inbox?q=课程").get_data(as_text=True)
    assert 'id="inbox"' in todo and 'id="inbox-filters"' in todo and "签收" in todo
    assert 'id="inbox-empty"' in head.get("/inbox?process=quality_feedback").get_data(as_text=True)
    assert "没有符合条件" in head.get("/inbox/done?q=没有这样的申请").get_data(as_text=True)
    assert 'id="cc-filters"' in login("me_handler").get("/cc?unread=1").get_data(as_text=True)


HOSTILE = [
    ("created_from", "2026-13-01"), ("created_from", "20260101"), ("created_to", "2026-1-1"),
    ("completed_from", "2026-02-30"), ("completed_to", "yesterday"), ("created_from", "２０２６-01-01"),
    ("created_from", "2026-01-01T00:00"), ("completed_from", "0000-00-00"), ("created_from", "' OR 1=1 --"),
    ("status", "nope"), ("status", "running' --"), ("process", "../../etc/passwd"), ("process", "no_such_process"),
    ("process", "x" * 81), ("overdue", "maybe"), ("unread", "2"), ("q", "长" * 101), ("step", "环" * 101),
    ("page", "0"), ("per_page", "201"),
]


@pytest.mark.parametrize("name, value", HOSTILE)
def test_hostile_filter_values_are_a_422_naming_the_parameter(app, login, world, name, value):
    head = login("cs_head")
    for url, scope in (("/api/v1/tasks", None), ("/api/v1/tasks", "done"), ("/api/v1/requests", "mine"),
                       ("/api/v1/requests", "involved"), ("/api/v1/requests", None), ("/api/v1/cc", None)):
        resp = head.get(url, query_string={name: value, **({"scope": scope} if scope else {})})
        assert resp.status_code == 422, (url, name, value, resp.status_code)
        assert name in resp.get_json()["errors"], (url, name, resp.get_json())
    for url in ("/inbox", "/inbox/done", "/inbox/mine", "/cc"):
        resp = head.get(url, query_string={name: value})
        assert resp.status_code == 422, (url, name, value, resp.status_code)


def test_reversed_ranges_and_bad_scopes_are_a_422(app, login, world):
    head = login("cs_head")
    for query, name in (("created_from=2026-02-01&created_to=2026-01-01", "created_to"),
                        ("completed_from=2026-02-01&completed_to=2026-01-31", "completed_to")):
        resp = head.get(f"/api/v1/tasks?scope=done&{query}")
        assert resp.status_code == 422 and name in resp.get_json()["errors"]
    for url in ("/api/v1/tasks?scope=mine", "/api/v1/tasks?scope=todo%20x", "/api/v1/requests?scope=todo",
                "/api/v1/requests?scope=" + "x" * 500):
        resp = head.get(url)
        assert resp.status_code == 422 and "scope" in resp.get_json()["errors"], url
    # odd bytes and empty values are no 500
    for url in ("/inbox/mine?q=%ED%A0%80%ff", "/inbox/done?step=%00", "/cc?created_from=",
                "/api/v1/requests?scope=&status=&process=", "/api/v1/tasks?scope=done&overdue=0"):
        assert head.get(url).status_code in (200, 400, 422), url


def test_lists_answer_only_for_the_signed_in_user(app, login, world):
    """No parameter widens a list to another user: 我已办 and 我发起的 are the caller's own."""
    outsider = login("me_handler")
    assert outsider.get("/api/v1/tasks?scope=done").get_json()["tasks"] == []
    assert outsider.get("/api/v1/requests?scope=mine").get_json()["requests"] == []
    assert outsider.get("/api/v1/tasks?scope=done&user=cs_head&completed_by_id=1").get_json()["tasks"] == []
    assert app.test_client().get("/api/v1/tasks?scope=done").status_code == 401
    assert app.test_client().get("/inbox/done").status_code == 302  # to the login page


def test_a_deputys_done_list_names_the_principal(app, login):  # the delegation: wiped with the runtime tables
    """委托: the deputy completes the principal's task; it is on the deputy's 我已办 as 代 the principal."""
    handler, head, deputy = login("cs_handler"), login("cs_head"), login("me_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    today = utcnow().astimezone(CHINA_TZ).date().isoformat()
    resp = head.client.post("/api/v1/delegations", json={"deputy": "me_handler", "starts_on": today,
                                                         "ends_on": today, "reason": "出差"},
                            headers={"X-CSRFToken": head.csrf})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    todo = deputy.get("/api/v1/tasks").get_json()["tasks"]
    assert [(t["instance_id"], t["on_behalf_of"]) for t in todo] == [(rid, "李主任")]
    assert "李主任" in deputy.get("/inbox").get_data(as_text=True)
    act(deputy, rid, APPROVE)
    done = deputy.get("/api/v1/tasks?scope=done").get_json()["tasks"]
    assert [(t["instance_id"], t["on_behalf_of"]) for t in done] == [(rid, "李主任")]
    assert "代李主任办理" in deputy.get("/inbox/done").get_data(as_text=True)
    assert head.get("/api/v1/tasks?scope=done").get_json()["tasks"] == []  # the principal did not act
