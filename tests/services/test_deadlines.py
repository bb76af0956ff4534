"""Provider deadlines (Art. 22 §2) with the clock moved: reminder, overdue escalation, 网信办 path, calendar change."""
from __future__ import annotations

from datetime import datetime

import time_machine
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Notification, ProcessDefinition, ProcessInstance, TaskRecord, TimerRecord, User
from app.models.types import CHINA_TZ
from app.services import calendar as calendar_service
from app.services.oversight import supervision
from app.services.workflow import requests, tasks, timers

APPLICATION = {"purpose": "学院综合测评核对身份", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True}


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def uid(name: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == name))


def ready(rid: int, element: str | None = None) -> list[TaskRecord]:
    query = select(TaskRecord).where(TaskRecord.instance_id == rid, TaskRecord.state == "ready")
    if element:
        query = query.where(TaskRecord.element_id == element)
    return db.session.scalars(query.order_by(TaskRecord.id)).all()


def do(rid: int, username: str, data: dict, element: str | None = None) -> None:
    user = db.session.get(User, uid(username))
    candidates = [t for t in ready(rid, element) if t.department_code == user.department.code]
    assert len(candidates) == 1, [(t.element_id, t.department_code) for t in ready(rid)]
    tasks.complete_task(candidates[0].id, user.id, data)


def notified(rid: int, event: str) -> set[str]:
    rows = db.session.scalars(select(Notification).where(Notification.instance_id == rid, Notification.event == event))
    return {n.user.username for n in rows}


def forward_conditional_request(at: datetime) -> int:
    """A conditional request for two providers, forwarded by 网信中心 at `at`."""
    catalogue = {r["code"]: r for r in requests.catalogue()}
    with time_machine.travel(at, tick=False):
        rid = requests.submit_share_request(uid("cs_handler"), {**APPLICATION, "resources": [
            {"resource_id": catalogue["student_basic"]["id"], "fields": ["xh"]},
            {"resource_id": catalogue["staff_basic"]["id"], "fields": ["gh"]}]})
        do(rid, "cs_head", {"decision": "approve"})
        do(rid, "nic_head", {"decision": "approve"})
    return rid


def test_reminder_then_overdue_escalation_then_cac_office(ctx):
    rid = forward_conditional_request(bj(2025, 9, 30, 10, 0))
    reviews = ready(rid, "provider_review")
    assert {t.department_code for t in reviews} == {"student", "hr"}
    assert all(t.due_at == bj(2025, 10, 14, 17, 30) for t in reviews)  # 5 working days across National Day
    pending = {t.element_id: t.due_at for t in db.session.scalars(select(TimerRecord).where(
        TimerRecord.instance_id == rid, TimerRecord.state == "pending"))}
    assert pending == {"reminder_timer": bj(2025, 10, 13, 17, 30), "deadline_timer": bj(2025, 10, 14, 17, 30)}

    with time_machine.travel(bj(2025, 10, 9, 11, 0), tick=False):
        do(rid, "student_head", {"decision": "approve"})
        assert timers.fire_due_timers() == 0
        item = next(i for i in supervision.overview(uid("supervisor"))["items"] if i["instance_id"] == rid)
        assert item["remaining_words"] == "剩余 4 个工作日"  # Oct 10, Sat Oct 11 (make-up), Oct 13, Oct 14

    with time_machine.travel(bj(2025, 10, 13, 17, 31), tick=False):
        assert timers.fire_due_timers() == 1
        assert timers.fire_due_timers() == 0  # fires once
    assert notified(rid, "reminder") == {"hr_head", "nic_head", "nic_staff"}  # not the provider who answered
    assert [t.department_code for t in ready(rid)] == ["hr"]  # non-interrupting: the review stays open

    with time_machine.travel(bj(2025, 10, 14, 17, 31), tick=False):
        overview = supervision.overview(uid("supervisor"))
        assert [(i["department"], i["status"]) for i in overview["attention"]] == [("人事处", "overdue")]
        assert timers.fire_due_timers() == 1
    assert [t.element_id for t in ready(rid)] == ["nic_overdue"]
    assert notified(rid, "overdue") == {"hr_head", "nic_head", "nic_staff"}
    # Art. 32(1): the missed deadline opens a violation case against the department that did not answer
    (case,) = db.session.scalars(select(ProcessInstance).join(ProcessDefinition).where(
        ProcessDefinition.process_key == "violation_case")).all()
    assert case.initiator_id is None and case.applicant_department.code == "nic"
    case_view = requests.request_view(case.id, uid("nic_head"))
    summary = dict(tuple(x) for x in case_view["start_summary"])
    assert summary["涉事单位、部门"] == "人事处" and summary["相关申请或授权（如 #12）"].startswith(f"#{rid} ")
    assert [t.element_id for t in ready(case.id)] == ["nic_investigate"]
    assert db.session.scalars(select(TaskRecord.state).where(TaskRecord.instance_id == rid,
                                                             TaskRecord.department_code == "hr")).all() == ["cancelled"]
    with time_machine.travel(bj(2025, 10, 15, 9, 0), tick=False):
        do(rid, "nic_head", {"action": "refer", "opinion": "人事处逾期未答复，报请网信办决定"})
        do(rid, "cac", {"decision": "provide", "opinion": "依第二十一条予以提供"})
        do(rid, "nic_staff", {"method": "interface", "note": "接口"})
    view = requests.request_view(rid, uid("cs_handler"))
    assert view["status_label"] == "数据已提供"
    actions = [h["action"] for h in view["history"]]
    assert actions.count("timer") == 2 and "notify_reminder" in actions and "notify_overdue" in actions


def test_reforward_restarts_the_clock(ctx):
    rid = forward_conditional_request(bj(2026, 3, 2, 10, 0))  # Monday
    with time_machine.travel(bj(2026, 3, 9, 18, 0), tick=False):
        # reminder (Mar 6) and deadline (Mar 9) are both due: one engine refresh fires both
        assert timers.fire_due_timers() == 1
        states = db.session.scalars(select(TimerRecord.state).where(TimerRecord.instance_id == rid)).all()
        assert sorted(states) == ["fired", "fired"]
        do(rid, "nic_head", {"action": "reforward", "opinion": "已电话催促，重新转提供部门"})
    reviews = ready(rid, "provider_review")
    assert len(reviews) == 2 and all(t.due_at == bj(2026, 3, 16, 17, 30) for t in reviews)


def test_calendar_change_moves_pending_deadlines_and_is_audited(ctx):
    with time_machine.travel(bj(2026, 12, 28, 9, 0), tick=False):
        assert "2027" in calendar_service.provisional_warning()
    rid = forward_conditional_request(bj(2026, 12, 28, 10, 0))
    assert {t.due_at for t in ready(rid, "provider_review")} == {bj(2027, 1, 5, 17, 30)}  # provisional 2027
    # an arrangement (made up for the test) that also gives Monday Jan 4 off
    result = calendar_service.set_year_arrangement(2027, "2027-01-01~2027-01-04 元旦 休\n", uid("admin"))
    assert result["moved"] == 1
    db.session.expire_all()
    assert {t.due_at for t in ready(rid, "provider_review")} == {bj(2027, 1, 6, 17, 30)}
    due = {t.element_id: t.due_at for t in db.session.scalars(select(TimerRecord).where(
        TimerRecord.instance_id == rid, TimerRecord.state == "pending"))}
    assert due == {"reminder_timer": bj(2027, 1, 5, 17, 30), "deadline_timer": bj(2027, 1, 6, 17, 30)}
    moved = db.session.scalar(select(AuditLog).where(AuditLog.instance_id == rid, AuditLog.action == "deadline_moved"))
    assert "2027-01-05T17:30:00+08:00 → 2027-01-06T17:30:00+08:00" in moved.detail["summary"]
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "calendar_change")).detail["year"] == 2027
    with time_machine.travel(bj(2026, 12, 28, 9, 0), tick=False):
        assert calendar_service.provisional_warning() is None
