"""Issue 11 defects in a real browser: ticking a field selects its resource (application_form.js, no inline script),
a returned request is marked 已退回 with the reason, the refusal's legal ground is on the applicant's task page, and
a supervisor sees 催办 but no 办理."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from .test_conditional_journey import _open_task, _sign_in


def _fill_application(page) -> None:
    page.fill("textarea[name=purpose]", "学院学生综合测评系统核对学生身份")
    page.fill("input[name=head_name]", "李主任")
    page.fill("input[name=head_phone]", "0931-2973000")
    page.fill("input[name=handler_name]", "王经办")
    page.fill("input[name=handler_phone]", "13800000000")
    page.check("input[name=commitment]")
    page.check("input[name=confidentiality]")


def _submit(page, base: str) -> int:
    page.click("form button.primary")
    expect(page).to_have_url(re.compile(r"/requests/\d+$"))
    return int(page.url.rstrip("/").split("/")[-1])


def _act(browser, base: str, user: str, rid: int, title: str, radios: dict, texts: dict) -> None:
    page = _sign_in(browser, base, user)
    _open_task(page, base, rid, title)
    for name, value in radios.items():
        page.check(f"input[name={name}][value={value}]")
    for name, value in texts.items():
        page.fill(f"[name={name}]", value)
    page.click("#task-form button.primary")
    expect(page.locator(".flash-success")).to_contain_text("已办理")
    page.context.close()


def test_ticking_a_field_selects_its_resource_and_unticking_the_resource_clears_its_fields(
        browser, live_server, screenshots):
    base = live_server
    page = _sign_in(browser, base, "cs_handler")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.click("text=提出申请")
    course = page.locator("tr", has_text="课程表")
    course.get_by_label("课程号").check()
    expect(course.locator("input[name=resources]")).to_be_checked()
    course.locator("input[name=resources]").uncheck()
    expect(course.get_by_label("课程号")).not_to_be_checked()
    course.get_by_label("课程名").check()
    org_units = page.locator("tr", has_text="组织机构信息")
    org_units.get_by_label("机构名称").check()
    expect(org_units.locator("input[name=resources]")).to_be_checked()
    page.screenshot(path=str(screenshots / "defects-field-ticks-select-resource.png"), full_page=True)
    _fill_application(page)
    rid = _submit(page, base)
    summary = page.locator("dl.summary")
    expect(summary).to_contain_text("课程表")
    expect(summary).to_contain_text("课程名")
    expect(summary).not_to_contain_text("课程号")
    expect(summary).to_contain_text("组织机构信息")
    assert rid > 0 and not [e for e in errors if "Content Security Policy" in e], errors
    page.context.close()


def test_returned_request_refusal_ground_and_supervisor_buttons(browser, live_server, screenshots):
    base = live_server
    applicant = _sign_in(browser, base, "cs_handler")
    applicant.click("text=提出申请")
    applicant.locator("tr", has_text="学生基本信息").get_by_label("身份证号").check()
    _fill_application(applicant)
    rid = _submit(applicant, base)

    supervisor = _sign_in(browser, base, "supervisor")
    supervisor.goto(f"{base}/requests/{rid}")
    expect(supervisor.locator("#urge")).to_be_visible()
    expect(supervisor.locator("#current-tasks").get_by_role("link", name="办理")).to_have_count(0)
    supervisor.click("#urge")
    expect(supervisor.locator(".flash-success")).to_be_visible()
    supervisor.context.close()

    _act(browser, base, "cs_head", rid, "部门负责人签署承诺", {"decision": "return"}, {"opinion": "请写明核对的范围"})
    _open_task(applicant, base, rid, "填写申请表并接受保密协议")
    notice = applicant.locator("#returned")
    expect(notice).to_contain_text("已退回")
    expect(notice).to_contain_text("请写明核对的范围")
    applicant.screenshot(path=str(screenshots / "defects-returned-task.png"), full_page=True)
    applicant.goto(f"{base}/requests/{rid}")
    expect(applicant.locator("#returned-status")).to_have_text("已退回")
    _open_task(applicant, base, rid, "填写申请表并接受保密协议")
    applicant.click("#task-form button.primary")
    expect(applicant.locator(".flash-success")).to_be_visible()

    _act(browser, base, "cs_head", rid, "部门负责人签署承诺", {"decision": "approve"}, {"opinion": "同意"})
    _act(browser, base, "nic_head", rid, "网信中心审核", {"decision": "approve"}, {"opinion": "同意"})
    _act(browser, base, "student_head", rid, "数据提供部门审核（5个工作日内答复）", {"decision": "refuse"},
         {"opinion": "身份证号属个人敏感信息", "legal_basis": "《个人信息保护法》第二十八条"})
    _open_task(applicant, base, rid, "申请部门处理不予提供意见")
    expect(applicant.locator("#refusals")).to_contain_text("《个人信息保护法》第二十八条")
    expect(applicant.locator("#refusals")).to_contain_text("学生处")
    applicant.screenshot(path=str(screenshots / "defects-refusal-ground.png"), full_page=True)
    applicant.context.close()
