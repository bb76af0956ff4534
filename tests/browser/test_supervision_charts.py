"""The supervisors' charts in a real browser: ECharts (served locally) draws every chart on canvas from
/supervision/charts.json under the Content-Security-Policy, with no violation and no console error; the monthly
督办通报 prints without the navigation."""
from __future__ import annotations

from datetime import timedelta

import time_machine
from playwright.sync_api import expect

from app.models.types import utcnow
from tests.web.journey import act, submit
from tests.web.test_policy_processes import start

from .test_csp import _assert_clean, _watched_page

APPROVE = {"decision": "approve"}


def _history(login) -> None:
    """A month ago: a conditional request for 学生处 and 人事处; 学生处 answers the next hour, 人事处's deadline
    passes and escalates (a violation case starts). A data-quality report 学生处 corrects at once."""
    began = utcnow() - timedelta(days=30)
    with time_machine.travel(began, tick=False):
        handler = login("cs_handler")
        rid = submit(handler, {"student_basic": ["xh"], "staff_basic": ["gh"]})
        act(login("cs_head"), rid, APPROVE)
        act(login("nic_head"), rid, APPROVE)
        catalog = {r["code"]: r["id"] for r in handler.get("/api/v1/catalog").get_json()["resources"]}
        report = start(handler, "quality_feedback", {"resource": str(catalog["student_basic"]), "problem": "error",
                                                     "description": "学号 2021001 的专业与教务系统不一致"})
        act(login("nic_staff"), report, {"action": "forward", "days": "2", "opinion": "请学生处校核"})
    with time_machine.travel(began + timedelta(hours=1), tick=False):
        student = login("student_head")
        act(student, rid, {"decision": "approve", "opinion": "同意"})
        act(student, report, {"result": "corrected", "answer": "已修正专业字段"})
    with time_machine.travel(utcnow() - timedelta(days=1), tick=False):
        from app.services.workflow import timers

        student = login("student_head")
        with student.client.application.app_context():
            assert timers.fire_due_timers() >= 1


def test_supervisors_page_draws_the_charts_under_the_csp(browser, live_server, login, screenshots):
    _history(login)
    page, console = _watched_page(browser, live_server, "supervisor")
    page.goto(f"{live_server}/supervision/")
    expect(page.locator("#charts")).to_have_attribute("data-rendered", "5")
    for chart in ("chart-open", "chart-weekly", "chart-ontime", "chart-quality", "chart-violations"):
        canvas = page.locator(f"#{chart} canvas")
        expect(canvas).to_have_count(1)
        assert canvas.bounding_box()["height"] > 200, chart
    # the data got drawn: the canvas of the on-time chart is not blank
    painted = page.evaluate("""() => {
        const c = document.querySelector('#chart-ontime canvas');
        const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < px.length; i += 4) { if (px[i]) { n++; } } return n; }""")
    assert painted > 1000
    page.locator("#chart-ontime").hover()  # a canvas tooltip: no HTML, no inline style
    page.screenshot(path=str(screenshots / "70-supervision-charts.png"), full_page=True)
    _assert_clean(page, console, "supervision charts")
    assert [m for m in console if "error" in m.lower()] == [], console

    page.locator("#monthly-report").click()
    expect(page.locator("#report h1")).to_contain_text("督办通报")
    page.emulate_media(media="print")
    expect(page.locator(".topbar")).to_be_hidden()
    expect(page.locator(".report-nav")).to_be_hidden()
    page.screenshot(path=str(screenshots / "71-supervision-report-print.png"), full_page=True)
    _assert_clean(page, console, "monthly report")
    page.context.close()
