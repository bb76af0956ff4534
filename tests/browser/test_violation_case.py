"""A violation case in a real browser, from the report to the 网信办 decision."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from .test_conditional_journey import _sign_in, complete_steps


def test_violation_case_from_report_to_cac_decision(browser, live_server, screenshots):
    base = live_server
    reporter = _sign_in(browser, base, "cs_handler")
    reporter.click("#more-menu summary")
    reporter.click("text=报告违规")
    reporter.select_option("select[name=accused_department]", "hr")
    reporter.check("input[name=kind][value=misuse]")
    reporter.fill("textarea[name=facts]", "人事处将共享的学生数据提供给校外培训机构")
    reporter.screenshot(path=str(screenshots / "20-violation-report.png"), full_page=True)
    reporter.click("#start-form button.primary")
    expect(reporter.locator(".flash-success")).to_contain_text("已提交")
    case_id = int(re.search(r"/requests/(\d+)", reporter.url).group(1))

    steps = [
        ("nic_head", "网信中心调查核实", {"finding": "violation", "severity": "minor"},
         {"correction_days": "3", "opinion": "经核实构成违规，情节较轻"}),
        ("hr_head", "涉事部门整改并报告", {}, {"report": "已收回数据并对相关人员进行批评教育"}),
        ("nic_head", "网信中心核验整改", {"corrected": "yes"}, {"opinion": "整改到位，情节较轻，报网信办"}),
        ("cac", "网信办作出处理决定", {"decision": "criticise"}, {"opinion": "对人事处通报批评"}),
    ]
    complete_steps(browser, base, case_id, steps, screenshots, first=21)

    reporter.goto(f"{base}/requests/{case_id}")
    expect(reporter.locator("#request-status")).to_have_text("网信办已作出处理决定")
    expect(reporter.locator("#diagram")).to_have_attribute("data-rendered", "true")
    expect(reporter.locator(".djs-element.done[data-element-id=end_decided]")).to_have_count(1)
    history = reporter.locator("table.history")
    expect(history).to_contain_text("通报批评（情节较轻）")
    expect(history).to_contain_text("依据：第三十二条")
    expect(reporter.locator("#start-summary")).to_contain_text("人事处")
    reporter.screenshot(path=str(screenshots / "25-violation-decided.png"), full_page=True)
