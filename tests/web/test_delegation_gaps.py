"""委托/代理 (issue 11), what an OA user expects beyond acting on the principal's tasks: the deputy is told of the
principal's new tasks ("代 张处长：新待办 …", once per task, only while the delegation runs, no extra statement for
a completion that opens no task for a delegating principal); 加签 added or answered by a deputy records on whose
behalf, and a 后加签 the deputy started applies after the delegation ended (the deputy's claim counts); the deputy's
request lists (申请与事项, the API's filtered list) show what the principal may see while the delegation runs."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select

from app.extensions import db
from app.models import AddedSigner, AuditLog, Notification, ProcessInstance, TaskRecord, User
from app.services.people import access
from app.services.workflow import countersign

from .journey import act, my_task, request_json, submit
from .test_delegation import ACTING, DEPUTY, PRINCIPAL, PRINCIPAL_NAME, STRANGER, _api, _delegate, _today
from .test_transfer_cc import COLLEAGUE, colleagues  # noqa: F401  (the fixture)

APPROVE = {"decision": "approve"}
SIGNER, SIGNER_NAME = "academic_head", "陈处长（教务处）"


def _notes(app, username: str, event_name: str = "new_task") -> list[tuple[int | None, str]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            select(Notification.task_id, Notification.message).join(User, User.id == Notification.user_id)
            .where(User.username == username, Notification.event == event_name).order_by(Notification.id)).all()]


def _to_nic(login, wanted: dict | None = None) -> tuple[int, object]:
    """A request waiting for 网信中心's head (whose approval opens the providers' reviews)."""
    handler, head, nic = login("cs_handler"), login("cs_head"), login("nic_head")
    rid = submit(handler, wanted or {"student_basic": ["xh"]})
    act(head, rid, APPROVE)
    return rid, nic


def _complete_counting(app, b, task_id: int) -> list[str]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        resp = _api(b, "POST", f"/api/v1/tasks/{task_id}/complete", APPROVE)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert resp.status_code == 200, resp.get_json()
    return statements


def _notification_inserts(statements: list[str]) -> int:
    return sum(s.lstrip().startswith("INSERT INTO notification ") for s in statements)


def _audit(app, rid: int, action: str) -> list[dict]:
    with app.app_context():
        return [r.detail for r in db.session.scalars(select(AuditLog).where(
            AuditLog.instance_id == rid, AuditLog.action == action).order_by(AuditLog.id))]


# --- 1. the deputy is told of the principal's new tasks ---------------------------------------------------------

def test_the_deputy_is_told_of_each_new_task_of_the_principal_once_while_the_delegation_runs(app, login):
    principal = login(PRINCIPAL)
    assert _delegate(principal).status_code == 201
    assert _delegate(login(DEPUTY), deputy=STRANGER).status_code == 201  # the deputy's own deputy: not followed
    rid, nic = _to_nic(login)
    act(nic, rid, APPROVE)  # opens 学生处's review: the principal's task
    task_id = my_task(principal, rid)
    [(told_task, message)] = _notes(app, DEPUTY)
    assert told_task == task_id and message.startswith(f"代 {PRINCIPAL_NAME}：新待办：") and f"#{rid}" in message
    [(own_task, own)] = _notes(app, PRINCIPAL)
    assert own_task == task_id and own.startswith("新待办：")  # the principal is told as before
    assert _notes(app, STRANGER) == []
    # the deputy's notification opens the task, which the deputy may act on
    assert login(DEPUTY).get(f"/tasks/{task_id}").status_code == 200
    # a task the principal does not hold (another department's) tells the deputy nothing
    other, nic = _to_nic(login, {"staff_basic": ["gh"]})
    act(nic, other, APPROVE)
    assert [t for t, _m in _notes(app, DEPUTY)] == [task_id]


def test_no_notice_before_the_delegation_starts_or_after_it_is_revoked(app, login):
    principal = login(PRINCIPAL)
    scheduled = _delegate(principal, first=_today() + timedelta(days=1), last=_today() + timedelta(days=3))
    assert scheduled.status_code == 201 and scheduled.get_json()["status"] == "scheduled"
    rid, nic = _to_nic(login)
    act(nic, rid, APPROVE)
    assert _notes(app, DEPUTY) == []  # not yet running
    _api(principal, "DELETE", f"/api/v1/delegations/{scheduled.get_json()['id']}")
    running = _delegate(principal).get_json()
    _api(principal, "DELETE", f"/api/v1/delegations/{running['id']}")  # revoked
    rid, nic = _to_nic(login)
    act(nic, rid, APPROVE)
    assert _notes(app, DEPUTY) == []
    assert len(_notes(app, PRINCIPAL)) == 2


def test_two_new_tasks_in_one_step_tell_each_principals_deputy_once(app, login):
    """The 网信中心 step opens 学生处's and 人事处's reviews at once (the holders read in one statement): the deputy of
    both heads is told once per task, each on the right principal's behalf; a deputy who is a principal too is told
    of their own task plainly and of the other as a deputy."""
    assert _delegate(login(PRINCIPAL)).status_code == 201
    assert _delegate(login("hr_head")).status_code == 201  # the same deputy for both heads
    rid, nic = _to_nic(login, {"student_basic": ["xh"], "staff_basic": ["gh"]})
    act(nic, rid, APPROVE)
    with app.app_context():
        tasks = dict(db.session.execute(select(TaskRecord.department_code, TaskRecord.id).where(
            TaskRecord.instance_id == rid, TaskRecord.element_id == "provider_review")).all())
    told = {task: message.split("：")[0] for task, message in _notes(app, DEPUTY)}
    assert len(_notes(app, DEPUTY)) == 2
    assert told == {tasks["student"]: f"代 {PRINCIPAL_NAME}", tasks["hr"]: "代 刘处长（人事处）"}
    assert [(t, m.split("：")[0]) for t, m in _notes(app, "hr_head")] == [(tasks["hr"], "新待办")]
    # the deputy's inbox agrees with what they were told
    assert {t["task_id"] for t in login(DEPUTY).get("/api/v1/tasks").get_json()["tasks"]} == set(tasks.values())


def test_a_deputy_who_holds_the_task_too_is_told_once_plainly(app, login, colleagues):  # noqa: F811
    """李主任 delegates to 孙副主任, a head of the same college: both hold the college's review; 孙副主任 is told once,
    as a holder."""
    assert _delegate(login("cs_head"), deputy=COLLEAGUE).status_code == 201
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    [(task_id, message)] = _notes(app, COLLEAGUE)
    assert message.startswith("新待办：") and task_id == my_task(login("cs_head"), rid)
    assert [t for t, _m in _notes(app, "cs_head")] == [task_id]


def test_a_completion_opening_no_task_for_a_delegating_principal_costs_no_extra_statement(app, login):
    warm, nic = _to_nic(login)
    act(nic, warm, APPROVE)  # warm the caches (definitions, forms, calendar)
    plain, nic = _to_nic(login)
    without = _complete_counting(app, nic, my_task(nic, plain))
    assert _delegate(login("hr_head")).status_code == 201  # a delegation, but 人事处 gets no task here
    other, nic = _to_nic(login)
    unrelated = _complete_counting(app, nic, my_task(nic, other))
    assert len(unrelated) == len(without)
    assert _delegate(login(PRINCIPAL), deputy="cs_handler").status_code == 201
    third, nic = _to_nic(login)
    delegating = _complete_counting(app, nic, my_task(nic, third))
    # when a holder delegated: one query reads the deputies; the deputy's notification is one row more (its own
    # INSERT on SQLite, batched with the holder's on PostgreSQL)
    assert len(delegating) - _notification_inserts(delegating) == len(without) - _notification_inserts(without) + 1
    assert len(_notes(app, "cs_handler")) == 1 and len(_notes(app, DEPUTY)) == 0


# --- 2. 加签 by a deputy ---------------------------------------------------------------------------------------------

def _at_provider(login) -> int:
    rid, nic = _to_nic(login)
    act(nic, rid, APPROVE)
    return rid


def test_a_before_signature_added_by_the_deputy_says_on_whose_behalf(app, login):
    rid = _at_provider(login)
    principal, deputy, signer = login(PRINCIPAL), login(DEPUTY), login(SIGNER)
    _delegate(principal)
    task_id = my_task(deputy, rid)
    resp = _api(deputy, "POST", f"/api/v1/tasks/{task_id}/add-signer",
                {"user": SIGNER, "position": "before", "reason": "请教务处提意见"})
    assert resp.status_code == 201, resp.get_json()
    with app.app_context():
        record = db.session.get(TaskRecord, task_id)
        assert (record.claimed_by.username, record.on_behalf_of.username) == (DEPUTY, PRINCIPAL)
    [detail] = _audit(app, rid, "add_signer")
    assert detail["on_behalf_of"] == {"username": PRINCIPAL, "name": PRINCIPAL_NAME}
    history = request_json(principal, rid)["history"]
    assert [h["user"] for h in history if h["action"] == "add_signer"] == [ACTING]
    [(_t, message)] = _notes(app, SIGNER, "add_signer")
    assert message.startswith(f"{ACTING}就")
    assert [t["task_id"] for t in principal.get("/api/v1/tasks").get_json()["tasks"]] == [task_id]  # still theirs
    # the deputy cancels on the principal's behalf too; then asks again and the signer answers
    sid = resp.get_json()["id"]
    assert _api(deputy, "POST", f"/api/v1/signatures/{sid}/cancel").status_code == 200
    assert _audit(app, rid, "sign_cancel")[0]["on_behalf_of"]["username"] == PRINCIPAL
    sid = _api(deputy, "POST", f"/api/v1/tasks/{task_id}/add-signer",
               {"user": SIGNER, "position": "before", "reason": "再请提意见"}).get_json()["id"]
    assert _api(signer, "POST", f"/api/v1/signatures/{sid}/answer",
                {"agree": True, "opinion": "同意提供"}).status_code == 200
    assert _api(deputy, "POST", f"/api/v1/tasks/{task_id}/complete", APPROVE).status_code == 200
    done = [h["user"] for h in request_json(principal, rid)["history"] if h["action"] == "complete"]
    assert done[-1] == ACTING


def test_an_after_signature_started_by_the_deputy_applies_after_the_delegation_ended(app, login):
    rid = _at_provider(login)
    principal, deputy, signer = login(PRINCIPAL), login(DEPUTY), login(SIGNER)
    delegation_id = _delegate(principal).get_json()["id"]
    task_id = my_task(deputy, rid)
    resp = _api(deputy, "POST", f"/api/v1/tasks/{task_id}/add-signer",
                {"user": SIGNER, "position": "after", "reason": "请会签",
                 "data": {"decision": "approve", "opinion": "代为同意"}})
    assert resp.status_code == 201, resp.get_json()
    sid = resp.get_json()["id"]
    assert _api(principal, "DELETE", f"/api/v1/delegations/{delegation_id}").status_code == 200
    # the deputy no longer acts on the task, but the held decision is the deputy's claim's: it applies on agreement
    assert _api(deputy, "POST", f"/api/v1/tasks/{task_id}/complete", APPROVE).status_code == 403
    resp = _api(signer, "POST", f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "会签同意"})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["status"] == "agreed"
    with app.app_context():
        record = db.session.get(TaskRecord, task_id)
        assert record.state == "completed"
        assert (record.completed_by.username, record.on_behalf_of.username) == (DEPUTY, PRINCIPAL)
    [complete] = _audit(app, rid, "complete")[-1:]
    assert complete["on_behalf_of"]["username"] == PRINCIPAL and "会签同意" in complete["summary"]
    history = request_json(principal, rid)["history"]
    assert [h["user"] for h in history if h["action"] == "complete"][-1] == ACTING
    assert [h["user"] for h in history if h["action"] == "add_signer"] == [ACTING]
    answer = [d for d in _audit(app, rid, "sign_answer")]
    assert len(answer) == 1 and ACTING in answer[0]["summary"] and "on_behalf_of" not in answer[0]
    [(_t, told)] = _notes(app, DEPUTY, "sign_answer")
    assert told.startswith(f"{SIGNER_NAME}同意会签")


def test_the_signers_deputy_sees_answers_and_is_recorded_on_the_signers_behalf(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    signer, deputy = login(SIGNER), login(DEPUTY)
    delegation_id = _delegate(signer).get_json()["id"]  # 陈处长 delegates to 赵经办
    sid = _api(head, "POST", f"/api/v1/tasks/{task_id}/add-signer",
               {"user": SIGNER, "position": "before", "reason": "请教务处提意见"}).get_json()["id"]
    [(_t, note)] = _notes(app, DEPUTY, "add_signer")
    assert note.startswith(f"代 {SIGNER_NAME}：李主任就")
    listed = deputy.get("/api/v1/signatures").get_json()["signatures"]
    assert [(s["id"], s["on_behalf_of"]) for s in listed] == [(sid, SIGNER_NAME)]
    assert deputy.get(f"/api/v1/signatures/{sid}").get_json()["can_answer"] is True
    page = deputy.get("/signatures").get_data(as_text=True)
    assert f'data-signature-id="{sid}"' in page and f'<span class="tag delegated">代 {SIGNER_NAME}</span>' in page
    page = deputy.get(f"/signatures/{sid}").get_data(as_text=True)
    assert 'id="sign-on-behalf"' in page and 'id="signature-answer-form"' in page
    assert deputy.get(f"/api/v1/requests/{rid}").status_code == 200  # what the signer may see
    assert _api(login(STRANGER), "POST", f"/api/v1/signatures/{sid}/answer",
                {"agree": True, "opinion": "x"}).status_code == 403
    resp = _api(deputy, "POST", f"/api/v1/signatures/{sid}/answer", {"agree": False, "opinion": "暂不宜提供"})
    assert resp.status_code == 200, resp.get_json()
    [detail] = _audit(app, rid, "sign_answer")
    assert detail["on_behalf_of"] == {"username": SIGNER, "name": SIGNER_NAME}
    history = request_json(head, rid)["history"]
    assert [h["user"] for h in history if h["action"] == "sign_answer"] == [f"赵经办（代 {SIGNER_NAME}）"]
    [(_t, told)] = _notes(app, "cs_head", "sign_answer")
    assert told.startswith(f"赵经办（代 {SIGNER_NAME}）对")
    # a co-signature the deputy agrees to applies the holder's decision, recorded on the signer's behalf
    sid = _api(head, "POST", f"/api/v1/tasks/{task_id}/add-signer",
               {"user": SIGNER, "position": "after", "reason": "请会签", "data": APPROVE}).get_json()["id"]
    _api(signer, "DELETE", f"/api/v1/delegations/{delegation_id}")
    resp = _api(deputy, "POST", f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "同意"})
    assert resp.status_code == 403  # the delegation ended: no longer the signer's deputy
    assert deputy.get(f"/api/v1/signatures/{sid}").status_code == 403
    assert deputy.get(f"/signatures/{sid}").status_code == 403
    assert deputy.get("/api/v1/signatures").get_json()["signatures"] == []
    delegation_id = _delegate(signer).get_json()["id"]
    resp = _api(deputy, "POST", f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "代为会签"})
    assert resp.status_code == 200, resp.get_json()
    answers = _audit(app, rid, "sign_answer")
    assert answers[-1]["on_behalf_of"]["username"] == SIGNER
    with app.app_context():
        row = db.session.get(AddedSigner, sid)
        assert row.status == "agreed" and row.task.state == "completed"
        assert db.session.scalar(select(AuditLog.user_id).where(AuditLog.id == db.session.scalar(
            select(AuditLog.id).where(AuditLog.instance_id == rid, AuditLog.action == "sign_answer")
            .order_by(AuditLog.id.desc()).limit(1)))) == db.session.scalar(
            select(User.id).where(User.username == DEPUTY))
    complete = _audit(app, rid, "complete")[-1]
    assert f"经 赵经办（代 {SIGNER_NAME}） 会签同意" in complete["summary"]


# --- 3. the deputy's request lists ---------------------------------------------------------------------------------

def _listed(b, url: str = "/api/v1/requests?per_page=200") -> set[int]:
    resp = b.get(url)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return {r["instance_id"] if "instance_id" in r else r["id"] for r in resp.get_json()["requests"]}


FILTERED = "/api/v1/requests?per_page=200&process=share_request"


def test_the_deputys_request_lists_show_what_the_principal_may_see_while_the_delegation_runs(app, login):
    at_student = _at_provider(login)  # 学生处 holds a task of it
    own_department = submit(login("cs_handler"), {"course_schedule": ["kch"]})  # 计算机学院's own request
    elsewhere = submit(login("cs_handler"), {"staff_basic": ["gh"]})
    act(login("cs_head"), elsewhere, APPROVE)
    deputy = login(DEPUTY)
    assert _listed(deputy) == set() and _listed(deputy, FILTERED) == set()
    assert deputy.get(f"/requests/{at_student}").status_code == 403
    delegation_id = _delegate(login(PRINCIPAL)).get_json()["id"]
    assert _listed(deputy) == {at_student} == _listed(deputy, FILTERED)
    page = deputy.get("/requests").get_data(as_text=True)
    assert f"/requests/{at_student}" in page and f"/requests/{own_department}" not in page
    assert deputy.get(f"/requests/{at_student}").status_code == 200
    assert deputy.get(f"/requests/{own_department}").status_code == 403
    # 我的待办: the principal's task, and its request opens
    [row] = deputy.get("/api/v1/tasks").get_json()["tasks"]
    assert row["instance_id"] == at_student and deputy.get(f"/requests/{row['instance_id']}").status_code == 200
    # a second principal (计算机学院's head): that department's requests too
    _delegate(login("cs_head"))
    assert _listed(deputy) == {at_student, own_department, elsewhere} == _listed(deputy, FILTERED)
    _api(login(PRINCIPAL), "DELETE", f"/api/v1/delegations/{delegation_id}")
    assert _listed(deputy) == {own_department, elsewhere, at_student}  # 计算机学院 applied for all three
    assert _listed(deputy, "/api/v1/requests?per_page=200&department=student") == set()


def test_an_overseeing_principal_lets_the_deputy_list_every_request_and_lists_agree_with_can_view(app, login):
    first = _at_provider(login)
    second = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    deputy = login(STRANGER)  # 图书馆: no part in either
    assert _listed(deputy) == set()
    delegation_id = _delegate(login("nic_head"), deputy=STRANGER).get_json()["id"]  # 网信中心 sees everything
    assert _listed(deputy) == {first, second} == _listed(deputy, FILTERED)
    assert deputy.get(f"/requests/{second}").status_code == 200
    _api(login("nic_head"), "DELETE", f"/api/v1/delegations/{delegation_id}")
    assert _listed(deputy) == set() and deputy.get(f"/requests/{second}").status_code == 403
    # whoever delegates to whom, the list holds exactly the requests can_view admits (no copies or 加签 here)
    _delegate(login(PRINCIPAL))
    _delegate(login("cs_head"), deputy="hr_head")
    for username in (DEPUTY, "hr_head", STRANGER, "cs_handler"):
        b = login(username)
        with app.app_context():
            user = db.session.scalar(select(User).where(User.username == username))
            expected = {i.id for i in db.session.scalars(select(ProcessInstance)) if access.can_view(user, i)}
            db.session.remove()
        assert _listed(b) == expected == _listed(b, FILTERED), username


def test_the_signers_deputy_counts_the_principals_open_signatures_and_not_stale_ones(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    deputy = login(DEPUTY)
    _delegate(login(SIGNER))
    sid = _api(head, "POST", f"/api/v1/tasks/{task_id}/add-signer",
               {"user": SIGNER, "position": "before", "reason": "请提意见"}).get_json()["id"]
    with app.app_context():
        deputy_id = db.session.scalar(select(User.id).where(User.username == DEPUTY))
        assert countersign.pending_count(deputy_id) == 1
        db.session.remove()
    assert [s["id"] for s in deputy.get("/api/v1/signatures").get_json()["signatures"]] == [sid]
    assert head.post(f"/tasks/{task_id}/release").status_code == 302  # the task no longer waits for its requester
    assert deputy.get("/api/v1/signatures").get_json()["signatures"] == []
    with app.app_context():
        assert countersign.pending_count(deputy_id) == 0
        db.session.remove()
    resp = _api(deputy, "POST", f"/api/v1/signatures/{sid}/answer", {"agree": True, "opinion": "同意"})
    assert resp.status_code == 409 and "自动撤销" in resp.get_json()["error"]


def test_the_request_lists_cost_a_deputy_no_extra_statement(app, login):
    _at_provider(login)
    deputy = login(DEPUTY)
    urls = ("/api/v1/requests?per_page=50", FILTERED, "/requests")

    def statements(url: str) -> int:
        seen: list[str] = []

        def count(_conn, _cursor, statement, *_args):
            seen.append(statement)

        with app.app_context():
            engine = db.engine
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert deputy.get(url).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    for url in urls:
        statements(url)  # warm the caches
    before = {url: statements(url) for url in urls}
    _delegate(login(PRINCIPAL))
    assert {url: statements(url) for url in urls} == before
    assert _listed(deputy) != set()
