"""加签 in a real browser, at desktop size and at phone size (390×844).

前加签: the department head asks 机电学院's 赵经办 for an opinion, cannot approve meanwhile, the signer finds it under
加签待办 (count in the menu, notice atop the inbox), answers; the head sees the opinion and approves.
后加签: 网信中心's head approves with a co-signature of 教务处's head; the decision is held until the co-signer agrees,
then the request moves on. No CSP violation, no console error, no page wider than the phone."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.journey import act, submit

from .test_transfer_cc_ui import _clean, _open_task, _page

APPROVE = {"decision": "approve", "opinion": "同意"}


def _signer_answers(browser, base: str, username: str, size: str, opinion: str, shot: str, screenshots) -> None:
    page, errors = _page(browser, base, username, size)
    expect(page.locator("#signature-notice")).to_contain_text("1 项加签待办")
    if size == "phone":
        page.locator("#nav-toggle").click()
    expect(page.locator("#signatures-link .count")).to_have_text("1")
    page.locator("#signature-notice a").click()
    row = page.locator("#signature-list tbody tr")
    expect(row).to_have_count(1)
    row.get_by_role("link", name="答复").click()
    expect(page.locator("#signature-answer-form")).to_be_visible()
    page.locator("#signature-answer-form input[name=agree][value='1']").check()
    page.fill("#signature-opinion-input", opinion)
    page.screenshot(path=str(screenshots / shot), full_page=True)
    page.locator("#signature-answer-form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("同意")
    expect(page.locator("#signature-empty")).to_be_visible()
    _clean(page, errors, size)
    page.context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_before_signature_asks_an_opinion_first(browser, live_server, login, screenshots, size):
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    page, errors = _page(browser, live_server, "cs_head", size)
    _open_task(page, live_server, rid)
    page.locator("#add-signer-before summary").click()
    page.select_option("#signer-user", "me_handler")
    page.fill("#signer-reason", "请机电学院就课程表用途提意见")
    page.locator("#add-signer-form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("已征求赵经办的意见")
    expect(page.locator("#signature-pending")).to_contain_text("等待 赵经办 的意见")
    page.screenshot(path=str(screenshots / f"issue11-add-signer-before-pending-{size}.png"), full_page=True)
    page.locator("#task-form input[name=decision][value=approve]").check()
    page.locator("#task-form button.primary").click()  # refused while the opinion is awaited
    expect(page.locator(".flash-error")).to_contain_text("等待 赵经办 的意见")
    _clean(page, errors, size)
    page.context.close()

    _signer_answers(browser, live_server, "me_handler", size, "用途明确，建议同意",
                    f"issue11-add-signer-before-answer-{size}.png", screenshots)

    page, errors = _page(browser, live_server, "cs_head", size)
    _open_task(page, live_server, rid)
    expect(page.locator("#signature-opinions")).to_contain_text("用途明确，建议同意")
    expect(page.locator("#signature-pending")).to_have_count(0)
    page.screenshot(path=str(screenshots / f"issue11-add-signer-before-{size}.png"), full_page=True)
    page.locator("#task-form input[name=decision][value=approve]").check()
    page.locator("#task-form button.primary").click()
    expect(page.locator(".flash-success")).to_contain_text("已办理")
    expect(page.locator("body")).to_contain_text("加签意见")
    _clean(page, errors, size)
    page.context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_after_signature_holds_the_decision_until_the_cosigner_agrees(browser, live_server, login, screenshots,
                                                                      size):
    rid = submit(login("cs_handler"), {"student_basic": ["xh"]})
    act(login("cs_head"), rid, APPROVE)
    page, errors = _page(browser, live_server, "nic_head", size)
    _open_task(page, live_server, rid)
    page.locator("#task-form input[name=decision][value=approve]").check()
    page.fill("#task-form textarea[name=opinion]", "同意，转学生处审核")
    page.locator("#add-signer-after summary").click()
    page.select_option("#sign-user", "academic_head")
    page.fill("#sign-reason", "涉及学生数据，请教务处会签")
    page.screenshot(path=str(screenshots / f"issue11-add-signer-after-form-{size}.png"), full_page=True)
    page.locator("#sign-after-submit").click()
    expect(page.locator(".flash-success")).to_contain_text("待陈处长（教务处）会签后生效")
    expect(page.locator("#signature-pending")).to_contain_text("待 陈处长（教务处） 会签")
    expect(page.locator("#signature-pending")).to_contain_text("同意，转学生处审核")
    page.screenshot(path=str(screenshots / f"issue11-add-signer-after-{size}.png"), full_page=True)
    _clean(page, errors, size)
    page.context.close()

    _signer_answers(browser, live_server, "academic_head", size, "同意会签",
                    f"issue11-add-signer-after-answer-{size}.png", screenshots)

    page, errors = _page(browser, live_server, "nic_head", size)
    page.goto(f"{live_server}/requests/{rid}")
    expect(page.locator("body")).to_contain_text("经 陈处长（教务处） 会签同意")
    expect(page.locator("body")).to_contain_text("数据提供部门审核")
    page.screenshot(path=str(screenshots / f"issue11-add-signer-after-applied-{size}.png"), full_page=True)
    _clean(page, errors, size)
    page.context.close()
