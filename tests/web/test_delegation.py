"""委托/代理 (issue 11): a principal names a deputy for a date range; meanwhile the deputy sees and acts on the
principal's tasks as "代 张处长", the principal still can, and every trace says "李四（代 张处长）". The rules (overlap,
China-time range edges, expiry, revocation, who may), the API's validation, and the inbox's statement count."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, event, select, update

from app.extensions import db
from app.models import AuditLog, Delegation, Notification, ProcessInstance, TaskRecord, User
from app.models.process import InstanceStatus
from app.models.task import TaskState
from app.models.types import CHINA_TZ
from app.services.people import access, delegations
from app.services.workflow import approval_sheet, tasks

from .journey import act, my_task, request_json, submit

APPROVE = {"decision": "approve"}
PRINCIPAL, DEPUTY, STRANGER = "student_head", "me_handler", "library_head"
PRINCIPAL_NAME, DEPUTY_NAME = "张处长（学生处）", "赵经办"
ACTING = f"{DEPUTY_NAME}（代 {PRINCIPAL_NAME}）"


@pytest.fixture(autouse=True)
def _no_delegations(app):
    """Delegations outlive the other runtime tables' wipe: remove them after each test."""
    yield
    with app.app_context():
        db.session.execute(delete(Delegation))
        db.session.commit()


def _today() -> date:
    return datetime.now(UTC).astimezone(CHINA_TZ).date()


def _api(b, method: str, url: str, body=None):
    return b.client.open(url, method=method, json=body, headers={"X-CSRFToken": b.csrf})


def _delegate(b, deputy: str = DEPUTY, first: date | None = None, last: date | None = None, reason: str = "出差"):
    first = first or _today()
    last = last or first + timedelta(days=2)
    return _api(b, "POST", "/api/v1/delegations", {"deputy": deputy, "starts_on": first.isoformat(),
                                                   "ends_on": last.isoformat(), "reason": reason})


def _at_provider(login) -> int:
    """A conditional request for 学生处's data, waiting for 学生处's head (the principal)."""
    handler, head, nic = login("cs_handler"), login("cs_head"), login("nic_head")
    rid = submit(handler, {"student_basic": ["xh"]})
    act(head, rid, APPROVE)
    act(nic, rid, APPROVE)
    return rid


def _inbox(b) -> list[dict]:
    return b.get("/api/v1/tasks?per_page=200").get_json()["tasks"]


def test_the_deputy_sees_the_principals_task_as_dai_and_approves_it_on_the_principals_behalf(app, login):
    rid = _at_provider(login)
    principal, deputy = login(PRINCIPAL), login(DEPUTY)
    assert _inbox(deputy) == []
    resp = _delegate(principal)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert (body["principal"], body["deputy"], body["status"], body["starts_on"]) == (
        PRINCIPAL, DEPUTY, "active", _today().isoformat())
    with app.app_context():
        note = db.session.scalar(select(Notification).join(User).where(User.username == DEPUTY,
                                                                         Notification.event == "delegation"))
        assert note is not None and PRINCIPAL_NAME in note.message and "出差" in note.message
    [row] = [t for t in _inbox(deputy) if t["instance_id"] == rid]
    assert row["on_behalf_of"] == PRINCIPAL_NAME
    assert [t["on_behalf_of"] for t in _inbox(principal)] == [None]  # the principal's own row: no label
    page = deputy.get("/inbox").get_data(as_text=True)
    assert f'<span class="tag delegated">代 {PRINCIPAL_NAME}</span>' in page
    task_page = deputy.get(f"/tasks/{row['task_id']}").get_data(as_text=True)
    assert 'id="on-behalf"' in task_page and ACTING in task_page
    view = request_json(deputy, rid)
    assert [t["can_act"] for t in view["current_tasks"]] == [True]

    resp = deputy.post(f"/tasks/{row['task_id']}", {"decision": "approve", "opinion": "代为同意"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    view = request_json(principal, rid)
    done = [h for h in view["history"] if h["action"] == "complete" and h["step"].startswith("数据提供部门")]
    assert [h["user"] for h in done] == [ACTING]
    with app.app_context():
        record = db.session.get(TaskRecord, row["task_id"])
        assert record.completed_by.username == DEPUTY and record.on_behalf_of.username == PRINCIPAL
        audit_row = db.session.scalar(select(AuditLog).where(AuditLog.task_id == row["task_id"],
                                                             AuditLog.action == "complete"))
        assert audit_row.detail["on_behalf_of"] == {"username": PRINCIPAL, "name": PRINCIPAL_NAME}
        sheet = approval_sheet.approval_sheet(rid, db.session.scalar(select(User.id).where(User.username == PRINCIPAL)))
        assert [o["user"] for o in sheet["boxes"]["provider"]] == [ACTING]
        db.session.remove()
    printed = principal.get(f"/requests/{rid}/print").get_data(as_text=True)
    assert ACTING in printed
    shown = principal.get(f"/requests/{rid}").get_data(as_text=True)
    assert ACTING in shown
    # done once: a repeated completion, by either of them, is a 409
    again = _api(deputy, "POST", f"/api/v1/tasks/{row['task_id']}/complete", APPROVE)
    assert again.status_code == 409 and "不能重复办理" in again.get_json()["error"]
    again = _api(principal, "POST", f"/api/v1/tasks/{row['task_id']}/complete", APPROVE)
    assert again.status_code == 409


def test_the_principal_still_acts_and_a_claim_by_the_principal_stays_the_principals(app, login):
    first, second = _at_provider(login), _at_provider(login)
    principal, deputy = login(PRINCIPAL), login(DEPUTY)
    assert _delegate(principal).status_code == 201
    assert {t["instance_id"] for t in _inbox(deputy)} == {first, second}
    claimed = my_task(principal, first)
    assert _api(principal, "POST", f"/api/v1/tasks/{claimed}/claim").status_code == 200
    assert {t["instance_id"] for t in _inbox(deputy)} == {second}  # the principal's claim keeps it theirs
    resp = _api(deputy, "POST", f"/api/v1/tasks/{claimed}/complete", APPROVE)
    assert resp.status_code == 409 and PRINCIPAL_NAME in resp.get_json()["error"]
    act(principal, first, {"decision": "approve", "opinion": "本人办理"})
    view = request_json(principal, first)
    assert [h["user"] for h in view["history"] if h["action"] == "complete"][-1] == PRINCIPAL_NAME
    # the deputy claims the other one on the principal's behalf; the audit and history say so
    other = my_task(deputy, second)
    assert _api(deputy, "POST", f"/api/v1/tasks/{other}/claim").status_code == 200
    claim = [h for h in request_json(deputy, second)["history"] if h["action"] == "claim"]
    assert [h["user"] for h in claim] == [ACTING]


def test_a_task_the_deputy_claimed_stays_the_principals_also_after_the_delegation(app, login):
    rid = _at_provider(login)
    principal, deputy = login(PRINCIPAL), login(DEPUTY)
    delegation_id = _delegate(principal).get_json()["id"]
    task_id = my_task(deputy, rid)
    assert _api(deputy, "POST", f"/api/v1/tasks/{task_id}/claim").status_code == 200
    with app.app_context():
        record = db.session.get(TaskRecord, task_id)
        assert (record.claimed_by.username, record.on_behalf_of.username) == (DEPUTY, PRINCIPAL)
    assert [t["task_id"] for t in _inbox(principal)] == [task_id]  # the principal still holds it
    assert request_json(principal, rid)["current_tasks"][0]["can_act"] is True
    _api(principal, "DELETE", f"/api/v1/delegations/{delegation_id}")
    assert _inbox(deputy) == []
    assert _api(deputy, "POST", f"/api/v1/tasks/{task_id}/complete", APPROVE).status_code == 403
    act(principal, rid, {"decision": "approve", "opinion": "本人办理"})  # not stuck with the former deputy
    with app.app_context():
        record = db.session.get(TaskRecord, task_id)
        assert (record.completed_by.username, record.on_behalf_of_id) == (PRINCIPAL, None)


def test_the_deputy_releases_a_claim_and_the_principal_may_release_the_deputys(app, login):
    first, second = _at_provider(login), _at_provider(login)
    principal, deputy = login(PRINCIPAL), login(DEPUTY)
    _delegate(principal)
    one, two = my_task(deputy, first), my_task(deputy, second)
    for task_id in (one, two):
        assert _api(deputy, "POST", f"/api/v1/tasks/{task_id}/claim").status_code == 200
    assert deputy.post(f"/tasks/{one}/release").status_code == 302
    assert principal.post(f"/tasks/{two}/release").status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(TaskRecord).where(TaskRecord.id.in_([one, two]))).all()
        assert {(r.claimed_by_id, r.on_behalf_of_id) for r in rows} == {(None, None)}
        release = db.session.scalars(select(AuditLog).where(AuditLog.action == "release").order_by(AuditLog.id)).all()
        assert [bool(r.detail.get("on_behalf_of")) for r in release] == [True, False]


def test_strangers_get_403_and_a_deputys_own_deputy_is_not_followed(app, login):
    rid = _at_provider(login)
    principal, deputy, stranger = login(PRINCIPAL), login(DEPUTY), login(STRANGER)
    assert _delegate(principal).status_code == 201
    assert _delegate(deputy, deputy=STRANGER).status_code == 201  # the deputy's own deputy
    task_id = my_task(deputy, rid)
    assert _inbox(stranger) == []
    resp = _api(stranger, "POST", f"/api/v1/tasks/{task_id}/complete", APPROVE)
    assert resp.status_code == 403 and resp.get_json()["error"] == "您不是该任务的办理人"
    assert _api(stranger, "POST", f"/api/v1/tasks/{task_id}/claim").status_code == 403
    assert stranger.get(f"/api/v1/requests/{rid}").status_code == 403


def test_range_edges_are_china_dates_inclusive_and_the_deputy_loses_the_tasks_the_day_after(app, login,
                                                                                           monkeypatch):
    rid = _at_provider(login)
    principal, deputy = login(PRINCIPAL), login(DEPUTY)
    resp = _delegate(principal, first=_today(), last=_today())  # one day
    assert resp.status_code == 201 and resp.get_json()["ends_on"] == _today().isoformat()
    with app.app_context():
        row = db.session.scalar(select(Delegation))
        # 00:00 in Beijing of the first day to 00:00 of the day after the last, stored in UTC
        assert row.starts_at == datetime.combine(_today(), datetime.min.time(), CHINA_TZ).astimezone(UTC)
        assert row.ends_at - row.starts_at == timedelta(days=1) and row.ends_at.hour == 16
        ends_at = row.ends_at
    assert delegations.day_start(date(2026, 11, 25)) == datetime(2026, 11, 24, 16, 0, tzinfo=UTC)

    def at(moment: datetime) -> None:
        monkeypatch.setattr(access, "utcnow", lambda: moment)

    at(ends_at - timedelta(minutes=1))  # 23:59 on the last day: still the deputy's
    assert [t["instance_id"] for t in _inbox(deputy)] == [rid]
    task_id = my_task(deputy, rid)
    assert deputy.get(f"/tasks/{task_id}").status_code == 200
    at(ends_at)  # 00:00 the day after: gone, and acting is refused
    assert _inbox(deputy) == []
    assert _api(deputy, "POST", f"/api/v1/tasks/{task_id}/complete", APPROVE).status_code == 403
    assert [t["instance_id"] for t in _inbox(principal)] == [rid]  # the principal's all along
    with app.app_context():  # and in the database view of the lists
        listed = delegations.list_delegations(db.session.scalar(select(User.id).where(User.username == PRINCIPAL)))
        assert [d["status"] for d in listed["given"]] == ["active"]  # the list's clock is the real one
        db.session.remove()


def test_revocation_ends_it_at_once_and_only_the_principal_may_revoke(app, login):
    rid = _at_provider(login)
    principal, deputy, stranger = login(PRINCIPAL), login(DEPUTY), login(STRANGER)
    delegation_id = _delegate(principal).get_json()["id"]
    assert [t["instance_id"] for t in _inbox(deputy)] == [rid]
    for who in (deputy, stranger):
        resp = _api(who, "DELETE", f"/api/v1/delegations/{delegation_id}")
        assert resp.status_code == 403 and "委托人" in resp.get_json()["error"]
    assert _api(principal, "DELETE", "/api/v1/delegations/999999").status_code == 404
    resp = _api(principal, "DELETE", f"/api/v1/delegations/{delegation_id}")
    assert resp.status_code == 200 and resp.get_json()["status"] == "revoked"
    assert _inbox(deputy) == []
    assert _api(principal, "DELETE", f"/api/v1/delegations/{delegation_id}").status_code == 409
    listed = principal.get("/api/v1/delegations").get_json()
    assert [(d["id"], d["status"], d["can_revoke"]) for d in listed["given"]] == [(delegation_id, "revoked", False)]
    assert deputy.get("/api/v1/delegations").get_json()["received"][0]["status_label"] == "已撤销"
    with app.app_context():
        actions = db.session.scalars(select(AuditLog.action).where(AuditLog.action.in_(
            ["delegate", "delegation_revoked"])).order_by(AuditLog.id)).all()
        assert actions == ["delegate", "delegation_revoked"]


def test_one_deputy_at_a_time_overlaps_are_409(app, login):
    principal = login(PRINCIPAL)
    today = _today()
    first = _delegate(principal, first=today + timedelta(days=1), last=today + timedelta(days=5))
    assert first.status_code == 201 and first.get_json()["status"] == "scheduled"
    for start, end in ((5, 8), (0, 1), (2, 3), (0, 30)):
        resp = _delegate(principal, deputy="cs_head", first=today + timedelta(days=start),
                         last=today + timedelta(days=end))
        assert resp.status_code == 409 and "重叠" in resp.get_json()["error"], (start, end)
    assert _delegate(principal, deputy="cs_head", first=today + timedelta(days=6),
                     last=today + timedelta(days=8)).status_code == 201  # the day after the last: no overlap
    assert _delegate(login("hr_head"), first=today + timedelta(days=2)).status_code == 201  # another principal
    _api(principal, "DELETE", f"/api/v1/delegations/{first.get_json()['id']}")
    assert _delegate(principal, first=today + timedelta(days=2), last=today + timedelta(days=5)).status_code == 201


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"deputy": None}, "deputy", "请填写受托人"),
    ({"deputy": "nobody_here"}, "deputy", "不存在"),
    ({"deputy": PRINCIPAL}, "deputy", "不能委托给自己"),
    ({"deputy": 7}, "deputy", "请填写受托人"),
    ({"starts_on": "2026/12/01"}, "starts_on", "YYYY-MM-DD"),
    ({"starts_on": 20261201}, "starts_on", "YYYY-MM-DD"),
    ({"ends_on": "2026-02-30"}, "ends_on", "YYYY-MM-DD"),
    ({"ends_on": ""}, "ends_on", "请填写结束日期"),
    ({"starts_on": "PAST"}, "starts_on", "不能早于今天"),
    ({"ends_on": "BEFORE"}, "ends_on", "不能早于开始日期"),
    ({"ends_on": "YEAR+1"}, "ends_on", "不能超过一年"),
    ({"reason": ["x"]}, "reason", "应为文字"),
    ({"reason": "长" * 501}, "reason", "不能超过 500 个字"),
])
def test_api_validation_is_422_with_the_field(app, login, change, field, words):
    principal = login(PRINCIPAL)
    today = _today()
    body = {"deputy": DEPUTY, "starts_on": today.isoformat(), "ends_on": (today + timedelta(days=3)).isoformat(),
            "reason": "休假"}
    body.update(change)
    special = {"PAST": (today - timedelta(days=1)).isoformat(), "BEFORE": (today - timedelta(days=1)).isoformat(),
               "YEAR+1": (delegations.one_year_after(today) + timedelta(days=1)).isoformat()}
    body = {k: special.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    resp = _api(principal, "POST", "/api/v1/delegations", body)
    assert resp.status_code == 422, resp.get_json()
    assert words in resp.get_json()["errors"][field]
    with app.app_context():
        assert db.session.scalar(select(Delegation.id)) is None


def test_api_edge_cases_a_year_is_allowed_a_disabled_deputy_and_a_bad_body_are_422(app, login):
    principal = login(PRINCIPAL)
    today = _today()
    resp = _delegate(principal, first=today, last=delegations.one_year_after(today))
    assert resp.status_code == 201
    assert _api(principal, "POST", "/api/v1/delegations", ["x"]).status_code == 422
    with app.app_context():
        db.session.execute(update(User).where(User.username == "me_handler").values(active=False))
        db.session.commit()
    try:
        resp = _delegate(login("hr_head"))
        assert resp.status_code == 422 and "已停用" in resp.get_json()["errors"]["deputy"]
    finally:
        with app.app_context():
            db.session.execute(update(User).where(User.username == "me_handler").values(active=True))
            db.session.commit()
    assert login(DEPUTY).client.post("/api/v1/delegations", json={}).status_code == 400  # CSRF on a session write


def test_transfer_and_cc_by_the_deputy_say_on_whose_behalf(app, login):
    rid = _at_provider(login)
    principal, deputy = login(PRINCIPAL), login(DEPUTY)
    _delegate(principal)
    task_id = my_task(deputy, rid)
    resp = _api(deputy, "POST", f"/api/v1/tasks/{task_id}/cc", {"users": ["supervisor"], "note": "请知悉"})
    assert resp.status_code == 201, resp.get_json()
    # the deputy cannot be handed tasks by transfer (only the principal's colleagues), but may hand one back
    resp = _api(deputy, "POST", f"/api/v1/tasks/{task_id}/transfer", {"user": PRINCIPAL, "reason": "请本人处理"})
    assert resp.status_code == 200, resp.get_json()
    history = request_json(principal, rid)["history"]
    assert [h["user"] for h in history if h["action"] in ("cc", "transfer")] == [ACTING, ACTING]
    with app.app_context():
        note = db.session.scalar(select(Notification).join(User).where(User.username == PRINCIPAL,
                                                                         Notification.event == "transfer"))
        assert note is not None and note.message.startswith(ACTING)


def test_sql_candidate_check_agrees_with_is_candidate_for_deputies(app, login):
    _at_provider(login)
    _at_provider(login)
    principal = login(PRINCIPAL)
    _delegate(principal)
    _delegate(login("hr_head"), deputy="cs_handler")  # a principal with no open task
    _delegate(login(DEPUTY), deputy=STRANGER)  # nested: not followed
    with app.app_context():
        ready = db.session.scalars(select(TaskRecord).join(ProcessInstance).where(
            TaskRecord.state == TaskState.ready, ProcessInstance.status == InstanceStatus.running)).all()
        for username in (DEPUTY, STRANGER, "cs_handler", PRINCIPAL):
            user = db.session.scalar(select(User).where(User.username == username))
            expected = {r.id for r in ready if access.is_candidate(user, r) and r.claimed_by_id in (None, user.id)}
            got = {t["task_id"] for t in tasks.inbox(user.id, per_page=200).items}
            assert got == expected, username
            assert bool(got) == (username in (DEPUTY, PRINCIPAL)), username
        db.session.remove()


def _statements(app, b, url: str) -> int:
    statements: list[str] = []

    def before(conn, cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        assert b.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", before)
    return len(statements)


def test_the_inbox_statement_count_is_the_same_with_and_without_delegations(app, login):
    """The delegation check rides in the inbox's own statements: the deputy's page costs what the principal's does,
    and neither grows with rows."""
    _at_provider(login)
    deputy, principal = login(DEPUTY), login(PRINCIPAL)
    urls = ("/inbox?per_page=200", "/api/v1/tasks?per_page=200")
    _statements(app, principal, urls[0])  # warm the caches of the page (forms, process names)
    without = {u: _statements(app, principal, u) for u in urls}
    _delegate(principal)
    one = {(b.username, u): _statements(app, b, u) for b in (deputy, principal) for u in urls}
    for _ in range(3):
        _at_provider(login)
    four = {(b.username, u): _statements(app, b, u) for b in (deputy, principal) for u in urls}
    assert len(_inbox(deputy)) == 4 and all(t["on_behalf_of"] == PRINCIPAL_NAME for t in _inbox(deputy))
    assert one == four
    assert {u: one[(DEPUTY, u)] for u in urls} == {u: one[(PRINCIPAL, u)] for u in urls} == without, one


def test_the_account_page_sets_lists_and_revokes(app, login):
    principal, deputy = login(PRINCIPAL), login(DEPUTY)
    page = principal.get("/account/delegations").get_data(as_text=True)
    assert 'id="delegation-form"' in page and f'value="{DEPUTY}"' in page and f'value="{PRINCIPAL}"' not in page
    assert 'href="/account/delegations"' in page  # the account menu's link
    today = _today()
    resp = principal.post("/account/delegations", {"deputy": DEPUTY, "starts_on": today.isoformat(),
                                                   "ends_on": (today - timedelta(days=1)).isoformat()})
    assert resp.status_code == 422 and "结束日期不能早于开始日期" in resp.get_data(as_text=True)
    resp = principal.post("/account/delegations", {"deputy": DEPUTY, "starts_on": today.isoformat(),
                                                   "ends_on": (today + timedelta(days=1)).isoformat(),
                                                   "reason": "参加培训"})
    assert resp.status_code == 303
    page = principal.get("/account/delegations").get_data(as_text=True)
    assert "参加培训" in page and "生效中" in page and "撤销" in page
    received = deputy.get("/account/delegations").get_data(as_text=True)
    assert 'id="delegations-received"' in received and PRINCIPAL_NAME in received
    delegation_id = principal.get("/api/v1/delegations").get_json()["given"][0]["id"]
    assert deputy.post(f"/account/delegations/{delegation_id}/revoke").status_code == 403
    resp = principal.post(f"/account/delegations/{delegation_id}/revoke")
    assert resp.status_code == 303
    assert "已撤销" in principal.get("/account/delegations").get_data(as_text=True)
