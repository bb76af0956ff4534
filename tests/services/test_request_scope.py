"""The request list of a department's user reads the departments a request involved from instance_department
(migration 5ec1a1perf02): the rows are kept where tasks are projected, and the list shows exactly what the old
query over every task row showed (own department, a department that held a task, a task the user completed),
newest first, page by page."""
from __future__ import annotations

from sqlalchemy import or_, select

from app.extensions import db
from app.models import ProcessInstance, TaskRecord, User
from app.models.involvement import InstanceDepartment
from app.services.workflow import requests, tasks

APPLICATION = {"purpose": "学院综合测评核对身份", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True}
FIELDS = {"student_basic": "xh", "staff_basic": "gh"}


def _uid(name: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == name))


def _submit(handler: str, *resources: str) -> int:
    catalogue = {r["code"]: r for r in requests.catalogue()}
    return requests.submit_share_request(_uid(handler), {**APPLICATION, "resources": [
        {"resource_id": catalogue[code]["id"], "fields": [FIELDS[code]]} for code in resources]})


def _approve(rid: int, *users: str) -> None:
    for user in users:
        task = next(t for t in requests.request_view(rid, _uid(user))["current_tasks"] if t["can_act"])
        tasks.complete_task(task["task_id"], _uid(user), {"decision": "approve"})


def _involved(rid: int) -> set[str]:
    return set(db.session.scalars(select(InstanceDepartment.department_code)
                                  .where(InstanceDepartment.instance_id == rid)))


def _old_scope(user_name: str) -> list[int]:
    """The list's scope as the query over every task row gave it, newest first."""
    user = db.session.get(User, _uid(user_name))
    involved = select(TaskRecord.instance_id).where(TaskRecord.instance_id == ProcessInstance.id, or_(
        TaskRecord.completed_by_id == user.id, TaskRecord.department_code == user.department.code))
    return list(db.session.scalars(select(ProcessInstance.id).where(or_(
        ProcessInstance.applicant_department_id == user.department_id, involved.exists()))
        .order_by(ProcessInstance.created_at.desc(), ProcessInstance.id.desc())))


def _listed(user_name: str, per_page: int, **filters) -> list[int]:
    ids, page = [], 1
    while True:
        listed = requests.list_requests(_uid(user_name), page=page, per_page=per_page, **filters)
        ids += [item["id"] for item in listed.items]
        if not listed.has_next:
            return ids
        page += 1


def test_involvement_rows_follow_the_tasks_of_a_journey(ctx):
    rid = _submit("cs_handler", "student_basic", "staff_basic")
    assert _involved(rid) == {"college_cs"}  # the start step, and the department head's task
    _approve(rid, "cs_head")
    assert _involved(rid) == {"college_cs", "nic"}
    _approve(rid, "nic_head")
    assert _involved(rid) == {"college_cs", "nic", "student", "hr"}  # the two providers' reviews
    _approve(rid, "student_head", "hr_head")
    assert _involved(rid) == {"college_cs", "nic", "student", "hr"}
    assert all(row.created_at == db.session.get(ProcessInstance, rid).created_at
               for row in db.session.scalars(select(InstanceDepartment).where(InstanceDepartment.instance_id == rid)))


def test_the_request_list_shows_what_the_query_over_every_task_showed_page_by_page(ctx):
    students = [_submit("cs_handler", "student_basic") for _ in range(3)]
    staff = [_submit("cs_handler", "staff_basic") for _ in range(2)]
    other = _submit("me_handler", "student_basic")  # another college's, waiting for its head
    both = _submit("cs_handler", "student_basic", "staff_basic")
    early = _submit("cs_handler", "staff_basic")  # stays with the department head: hr never sees it
    for rid in (*students[:2], *staff, both):
        _approve(rid, "cs_head", "nic_head")
    _approve(students[0], "student_head")
    _approve(staff[0], "hr_head")
    for user in ("student_head", "hr_head", "cs_head", "library_head", "cs_handler", "me_handler"):
        expected = _old_scope(user)
        for per_page in (1, 2, 50):
            assert _listed(user, per_page) == expected, (user, per_page)
    assert early not in _listed("hr_head", 2) and early in _listed("cs_head", 2)
    assert set(_listed("student_head", 2)) == {*students[:2], both}
    assert set(_listed("hr_head", 2)) == {*staff, both}
    assert _listed("me_handler", 2) == [other] and other not in _listed("student_head", 2)
    assert _listed("library_head", 2) == []
    # filters apply inside each scope: a status or a title narrows the rows before the page is cut
    assert _listed("hr_head", 1, status="completed") == []
    assert _listed("hr_head", 1, q=str(both)) == [both]
