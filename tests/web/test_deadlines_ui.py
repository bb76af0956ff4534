"""Deadlines in the UI: inbox and request page, the supervisors' page and its Excel export, 催办, notifications,
the administrators' calendar page, and e-mail through a local SMTP server."""
from __future__ import annotations

import io
import socket
from datetime import datetime

import pytest
import time_machine

from app.models.types import CHINA_TZ

from .journey import act, my_task, request_json, submit

APPROVE = {"decision": "approve"}


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


@pytest.fixture()
def forwarded(login):
    """A conditional request for 学生处 and 人事处, forwarded on 2025-09-30 10:00 (deadline 2025-10-14 17:30)."""
    with time_machine.travel(bj(2025, 9, 30, 10, 0), tick=False):
        handler = login("cs_handler")
        rid = submit(handler, {"student_basic": ["xh"], "staff_basic": ["gh"]})
        act(login("cs_head"), rid, APPROVE)
        act(login("nic_head"), rid, APPROVE)
    return rid


def test_inbox_and_request_page_show_the_deadline_in_working_days(login, forwarded):
    with time_machine.travel(bj(2025, 10, 9, 9, 0), tick=False):
        hr = login("hr_head")
        html = hr.get("/inbox").get_data(as_text=True)
        assert "2025-10-14 17:30" in html and "剩余 4 个工作日" in html
        page = hr.get(f"/tasks/{my_task(hr, forwarded)}").get_data(as_text=True)
        assert "答复期限" in page and "剩余 4 个工作日" in page
        view = request_json(login("cs_handler"), forwarded)
        assert {t["remaining_working_days"] for t in view["current_tasks"]} == {4}
    with time_machine.travel(bj(2025, 10, 14, 9, 0), tick=False):
        assert "今日到期" in login("hr_head").get("/inbox").get_data(as_text=True)


def test_supervisors_page_lists_overdue_items_and_exports_excel(login, forwarded):
    from openpyxl import load_workbook

    with time_machine.travel(bj(2025, 10, 15, 10, 0), tick=False):
        supervisor = login("supervisor")
        html = supervisor.get("/supervision/").get_data(as_text=True)
        assert "已逾期 1 个工作日" in html and "人事处" in html and "学生处" in html
        resp = supervisor.get("/supervision/export.xlsx")
        assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
        book = load_workbook(io.BytesIO(resp.data))
        rows = list(book["在办任务"].iter_rows(values_only=True))
        assert rows[0][:3] == ("申请编号", "申请", "环节")
        assert {r[3] for r in rows[1:]} == {"人事处", "学生处"} and {r[6] for r in rows[1:]} == {"已逾期"}
        by_dept = {r[0]: r[1:] for r in book["按部门"].iter_rows(min_row=2, values_only=True)}
        assert by_dept["人事处"] == (1, 1, 0)
        assert login("cs_handler").get("/supervision/").status_code == 403
        assert login("cs_handler").get("/supervision/export.xlsx").status_code == 403


def test_urge_notifies_the_holders_is_rate_limited_and_recorded(login, forwarded):
    handler = login("cs_handler")
    resp = handler.post(f"/requests/{forwarded}/urge", follow_redirects=True)
    assert "已催办，通知了 2 人" in resp.get_data(as_text=True)
    resp = handler.post(f"/requests/{forwarded}/urge", follow_redirects=True)
    assert "4 小时内只能催办一次" in resp.get_data(as_text=True)
    history = request_json(handler, forwarded)["history"]
    assert [h["action"] for h in history].count("urge") == 1
    hr = login("hr_head")
    notes = hr.get("/notifications").get_data(as_text=True)
    assert "王经办催办：数据提供部门审核" in notes
    assert 'class="count"' in hr.get("/inbox").get_data(as_text=True)
    hr.post("/notifications/read")
    assert 'class="count"' not in hr.get("/inbox").get_data(as_text=True)
    assert login("me_handler").post(f"/requests/{forwarded}/urge").status_code == 403


def test_admin_calendar_page_warns_validates_and_saves(login):
    with time_machine.travel(bj(2026, 12, 1, 10, 0), tick=False):
        admin = login("admin")
        html = admin.get("/admin/calendar").get_data(as_text=True)
        assert "2027 年的放假安排尚未录入" in html and "暂定" in html
        assert "2027 年的放假安排尚未录入" in admin.get("/supervision/").get_data(as_text=True)
        resp = admin.post("/admin/calendar", {"year": "2027", "text": "2027-01-01 元旦 放假"})
        assert resp.status_code == 422 and "第 1 行格式应为" in resp.get_data(as_text=True)
        assert "2027-01-01 元旦 放假" in resp.get_data(as_text=True)  # kept what was typed
        resp = admin.post("/admin/calendar", {"year": "2027", "text": "2027-01-01~2027-01-03 元旦 休"},
                          follow_redirects=True)
        html = resp.get_data(as_text=True)
        assert "2027 年放假安排已保存：放假 3 天" in html and "尚未录入" not in html
        assert login("cs_handler").get("/admin/calendar").status_code == 403
        assert login("supervisor").post("/admin/calendar", {"year": "2027", "text": ""}).status_code == 403


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_new_task_email_goes_through_smtp(app, login):
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message):
            received.append(message)

    controller = Controller(Collect(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    try:
        submit(login("cs_handler"), {"course_schedule": ["kch"]})
    finally:
        app.config.update(MAIL_SERVER=None)
        controller.stop()
    assert [m["To"] for m in received] == ["cs_head@demo.lut.edu.cn"]
    assert "新待办" in str(received[0]["Subject"]) or "=?utf-8?" in received[0]["Subject"]
    body = received[0].get_payload(decode=True).decode("utf-8")
    assert "新待办：部门负责人签署承诺" in body
