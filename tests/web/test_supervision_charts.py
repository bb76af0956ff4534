"""The supervisors' charts (/supervision/charts.json), their Excel sheet and the monthly 督办通报, from requests
taken through real journeys: providers answering on time, late, and not at all (the deadline escalates)."""
from __future__ import annotations

import io
from datetime import datetime

import pytest
import time_machine

from app.models.types import CHINA_TZ

from .journey import act, submit

APPROVE = {"decision": "approve"}


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


@pytest.fixture()
def answered(login):
    """Two conditional requests forwarded on 2025-09-30 10:00 (deadline 2025-10-14 17:30, after the National Day
    holiday). 学生处 answers the first on time and the second late; 人事处 never answers the first, whose deadline
    escalates (the task is withdrawn and a violation case starts)."""
    with time_machine.travel(bj(2025, 9, 30, 10, 0), tick=False):
        handler, head, nic = login("cs_handler"), login("cs_head"), login("nic_head")
        first = submit(handler, {"student_basic": ["xh"], "staff_basic": ["gh"]})
        second = submit(handler, {"student_basic": ["xm"]}, purpose="用于学院迎新系统，核对新生学号与姓名信息")
        for rid in (first, second):
            act(head, rid, APPROVE)
            act(nic, rid, APPROVE)
    with time_machine.travel(bj(2025, 10, 9, 9, 0), tick=False):
        act(login("student_head"), first, {"decision": "approve", "opinion": "同意"})
    with time_machine.travel(bj(2025, 10, 14, 18, 0), tick=False):
        student = login("student_head")
        act(student, second, {"decision": "approve", "opinion": "逾期后答复"})
        from app.services.workflow import timers

        with student.client.application.app_context():
            assert timers.fire_due_timers() >= 1
    return first, second


def test_chart_figures_follow_the_journeys(login, answered):
    with time_machine.travel(bj(2025, 10, 15, 10, 0), tick=False):
        supervisor = login("supervisor")
        resp = supervisor.get("/supervision/charts.json")
        assert resp.status_code == 200 and resp.mimetype == "application/json"
        data = resp.get_json()
    on_time = data["on_time"]
    assert on_time["months"][-1] == "2025-10" and len(on_time["months"]) == 6
    october = {s["department"]: s["months"][-1] for s in on_time["series"]}
    assert october["学生处"] == {"on_time": 1, "late": 1, "rate": 50.0}
    assert october["人事处"] == {"on_time": 0, "late": 1, "rate": 0.0}
    assert all(cell["rate"] is None for s in on_time["series"] for cell in s["months"][:-1])
    weekly = {s["department"]: s for s in data["weekly"]["series"]}
    assert data["weekly"]["weeks"][-1] == "10-13"  # the week of 2025-10-15 starts on Monday 10-13
    assert weekly["学生处"]["due"][-1] == 2 and weekly["学生处"]["overdue"][-1] == 1
    assert weekly["人事处"]["due"][-1] == 1 and weekly["人事处"]["overdue"][-1] == 1
    assert sum(weekly["学生处"]["due"][:-1]) == 0
    # the escalation opened a violation case (at 网信中心调查核实, 网信中心's open task, not yet due)
    assert data["violations"] == [{"outcome": "办理中", "count": 1}]
    open_rows = {r["department"]: r for r in data["open_by_department"]}
    assert sum(r["overdue"] for r in open_rows.values()) == 0 and "人事处" not in open_rows
    assert data["quality"] == []


def test_charts_and_report_are_for_oversight_roles_only(login, answered):
    with time_machine.travel(bj(2025, 10, 15, 10, 0), tick=False):
        handler = login("cs_handler")
        for url in ("/supervision/charts.json", "/supervision/report", "/supervision/report?month=2025-10"):
            assert handler.get(url).status_code == 403, url
        supervisor = login("supervisor")
        for bad in ("2025-13", "25-10", "abc", "2025-10-01", "2025-11", "<script>", "1999-01"):
            resp = supervisor.get(f"/supervision/report?month={bad}")
            assert resp.status_code == 422, (bad, resp.status_code)
            assert "<script>" not in resp.get_data(as_text=True)
        assert supervisor.get("/supervision/report?month=" + "9" * 5000).status_code == 422


def test_monthly_report_totals_the_month(login, answered):
    with time_machine.travel(bj(2025, 11, 3, 10, 0), tick=False):
        supervisor = login("supervisor")
        html = supervisor.get("/supervision/report").get_data(as_text=True)  # by default last month
        assert "数据资源共享督办通报（2025 年 10 月）" in html
        assert "共 2 件次" not in html and "共 3 件次" in html and "按期答复 1 件次，逾期 2 件次" in html
        assert "按期答复率 33.3%" in html
        assert 'id="report-answers"' in html and "人事处" in html and "@media print" not in html
        assert "supervision.css" in html
        september = supervisor.get("/supervision/report?month=2025-09").get_data(as_text=True)
        assert "本月没有到期的数据提供部门答复" in september and 'id="report-next"' in september
        assert "<script" not in html.split("<footer")[0].split("</header>")[-1]


def test_excel_export_carries_the_chart_figures(login, answered):
    from openpyxl import load_workbook

    with time_machine.travel(bj(2025, 10, 15, 10, 0), tick=False):
        resp = login("supervisor").get("/supervision/export.xlsx")
    assert resp.status_code == 200
    book = load_workbook(io.BytesIO(resp.data))
    assert {"在办任务", "数据质量反馈", "按部门", "按环节", "图表数据"} <= set(book.sheetnames)
    rows = [tuple(v for v in r if v is not None) for r in book["图表数据"].iter_rows(values_only=True)]
    assert ("学生处", "2025-10", 1, 1, 50) in rows and ("人事处", "2025-10", 0, 1, 0) in rows
    assert ("学生处", "10-13", 2, 1) in rows and ("办理中", 1) in rows
