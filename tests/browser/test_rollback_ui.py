"""退回, 撤回申请 and 收回 (issue 11) in a real browser, at desktop size and at phone size (390×844): the department
head sends the task back to the applicant, who finds it under the 已退回 banner; the applicant withdraws a request
nobody acted on; the head takes back a decision the next step has not touched. Each asks for confirmation (a static
script), with no CSP violation and no page wider than the phone."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.journey import act, submit

from .test_transfer_cc_ui import _clean, _open_task, _page

APPROVE = {"decision": "approve", "opinion": "同意"}


def _confirming(page) -> list[str]:
    asked: list[str] = []

    def accept(dialog):
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return asked


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_return_to_the_applicant_who_sees_the_reason(browser, live_server, login, screenshots, size):
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    page, errors = _page(browser, live_server, "cs_head", size)
    asked = _confirming(page)
    _open_task(page, live_server, rid)
    page.locator("#return summary").click()
    expect(page.locator("#return-target option")).to_have_count(1)
    expect(page.locator("#return-target option")).to_contain_text("填写申请表并接受保密协议（王经办")
    page.fill("#return-reason", "请写明使用数据的具体系统名称")
    page.screenshot(path=str(screenshots / f"issue11-return-{size}.png"), full_page=True)
    page.click("#return-submit")
    expect(page.locator(".flash-success")).to_contain_text("已退回至「填写申请表并接受保密协议」")
    row = page.locator("table.history tbody tr").last
    expect(row).to_contain_text("退回：「填写申请表并接受保密协议」（交王经办重新办理）")
    expect(row).to_contain_text("请写明使用数据的具体系统名称")
    assert asked and "确定退回" in asked[0]
    _clean(page, errors, size)
    page.context.close()

    applicant, errors = _page(browser, live_server, "cs_handler", size)
    applicant.goto(f"{live_server}/inbox?q={rid}")
    row = applicant.locator("#inbox tbody tr", has_text=f"#{rid} ")
    expect(row).to_have_count(1)
    row.get_by_role("link", name="办理").click()
    expect(applicant.locator("#returned")).to_contain_text("请写明使用数据的具体系统名称")
    applicant.screenshot(path=str(screenshots / f"issue11-returned-{size}.png"), full_page=True)
    _clean(applicant, errors, size)
    applicant.context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_withdraw_a_request_nobody_acted_on(browser, live_server, login, screenshots, size):
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    page, errors = _page(browser, live_server, "cs_handler", size)
    asked = _confirming(page)
    page.goto(f"{live_server}/requests/{rid}")
    page.locator("#withdraw summary").click()
    page.fill("#withdraw-reason", "资源选错了，重新申请")
    page.screenshot(path=str(screenshots / f"issue11-withdraw-{size}.png"), full_page=True)
    page.click("#withdraw-submit")
    expect(page.locator(".flash-success")).to_contain_text("申请已撤回")
    expect(page.locator("#request-status")).to_have_text("已取消")
    expect(page.locator("#withdraw")).to_have_count(0)
    row = page.locator("table.history tbody tr").last
    expect(row).to_contain_text("撤回申请：流程结束，各待办撤销")
    expect(row).to_contain_text("资源选错了，重新申请")
    assert asked and "确定撤回" in asked[0]
    page.screenshot(path=str(screenshots / f"issue11-withdrawn-{size}.png"), full_page=True)
    _clean(page, errors, size)
    page.context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_recall_my_decision_before_the_next_step_acts(browser, live_server, login, screenshots, size):
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    act(login("cs_head"), rid, APPROVE)
    page, errors = _page(browser, live_server, "cs_head", size)
    asked = _confirming(page)
    page.goto(f"{live_server}/requests/{rid}")
    expect(page.locator("#current-tasks")).to_contain_text("网信中心审核")
    page.locator("#recall summary").click()
    page.fill("#recall-reason", "意见需要补充")
    page.screenshot(path=str(screenshots / f"issue11-recall-{size}.png"), full_page=True)
    page.click("#recall-submit")
    expect(page.locator(".flash-success")).to_contain_text("已收回")
    expect(page.locator("h1")).to_have_text("部门负责人签署承诺")  # the task page: mine again
    assert asked and "确定收回" in asked[0]
    page.goto(f"{live_server}/requests/{rid}")
    expect(page.locator("#current-tasks")).to_contain_text("部门负责人签署承诺")
    row = page.locator("table.history tbody tr").last
    expect(row).to_contain_text("收回：「部门负责人签署承诺」重新由本人办理")
    expect(row).to_contain_text("意见需要补充")
    page.screenshot(path=str(screenshots / f"issue11-recalled-{size}.png"), full_page=True)
    _clean(page, errors, size)
    page.context.close()
