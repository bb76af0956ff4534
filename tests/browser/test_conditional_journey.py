"""A conditional share request walked in a real browser, from submission to delivery."""
from __future__ import annotations

import re

from playwright.sync_api import expect


def _sign_in(browser, base: str, username: str):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo12345")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")
    return page


def _open_task(page, base: str, request_id: int, title: str):
    page.goto(f"{base}/inbox")
    row = page.locator("#inbox tr", has_text=f"#{request_id} ").filter(has_text=title)
    expect(row).to_have_count(1)
    row.get_by_role("link", name="办理").click()
    expect(page.locator("h1")).to_have_text(title)


def complete_steps(browser, base: str, instance_id: int, steps, screenshots, first: int) -> None:
    """Each (user, task title, radio answers, text answers) signs in, opens the task from the inbox and submits."""
    for n, (user, title, radios, texts) in enumerate(steps, start=first):
        page = _sign_in(browser, base, user)
        _open_task(page, base, instance_id, title)
        for name, value in radios.items():
            page.check(f"input[name={name}][value={value}]")
        for name, value in texts.items():
            page.fill(f"[name={name}]", value)
        page.screenshot(path=str(screenshots / f"{n:02d}-{user}-task.png"), full_page=True)
        page.click("#task-form button.primary")
        expect(page.locator(".flash-success")).to_contain_text("已办理")
        page.context.close()


def test_conditional_request_from_submission_to_delivery(browser, live_server, screenshots):
    base = live_server
    applicant = _sign_in(browser, base, "cs_handler")
    applicant.click("text=提出申请")
    row = applicant.locator("tr", has_text="学生基本信息")
    row.locator("input[name=resources]").check()
    row.get_by_label("学号").check()
    row.get_by_label("姓名").check()
    not_shared = applicant.locator("tr", has_text="教职工工资明细")
    expect(not_shared.locator("input[name=resources]")).to_be_disabled()
    expect(not_shared).to_contain_text("第十七条第（三）项")
    applicant.fill("textarea[name=purpose]", "学院学生综合测评系统核对学生身份")
    applicant.fill("input[name=head_name]", "李主任")
    applicant.fill("input[name=head_phone]", "0931-2973000")
    applicant.fill("input[name=handler_name]", "王经办")
    applicant.fill("input[name=handler_phone]", "13800000000")
    applicant.check("input[name=commitment]")
    # forget the confidentiality agreement: the form comes back with a message and keeps what was typed
    applicant.click("button:has-text(\"提交申请\")")
    expect(applicant.locator(".field[data-field=confidentiality] .error")).to_contain_text("保密协议")
    expect(applicant.locator("textarea[name=purpose]")).to_have_value("学院学生综合测评系统核对学生身份")
    expect(applicant.locator("tr", has_text="学生基本信息").get_by_label("学号")).to_be_checked()
    applicant.check("input[name=confidentiality]")
    applicant.screenshot(path=str(screenshots / "01-application-form.png"), full_page=True)
    applicant.click("button:has-text(\"提交申请\")")
    expect(applicant.locator(".flash-success")).to_contain_text("申请已提交")
    request_id = int(re.search(r"/requests/(\d+)", applicant.url).group(1))

    complete_steps(browser, base, request_id, [
        ("cs_head", "部门负责人签署承诺", {"decision": "approve"}, {}),
        ("nic_head", "网信中心审核", {"decision": "approve"}, {}),
        ("student_head", "数据提供部门审核（5个工作日内答复）", {"decision": "approve"},
         {"opinion": "同意提供学号、姓名"}),
        ("nic_staff", "网信中心提供数据", {"method": "interface"}, {"note": "接口 https://data.lut.edu.cn/student"}),
    ], screenshots, first=2)

    applicant.goto(f"{base}/requests/{request_id}")
    expect(applicant.locator("#request-status")).to_have_text("数据已提供")
    expect(applicant.locator("#diagram")).to_have_attribute("data-rendered", "true")
    expect(applicant.locator(".djs-element.done[data-element-id=provider_review]")).to_have_count(1)
    expect(applicant.locator(".djs-element.done[data-element-id=end_delivered]")).to_have_count(1)
    history = applicant.locator("table.history")
    expect(history).to_contain_text("同意提供学号、姓名")
    expect(history).to_contain_text("张处长（学生处）")
    applicant.screenshot(path=str(screenshots / "06-request-delivered.png"), full_page=True)
