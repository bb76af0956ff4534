"""转办, 抄送 and 批量审批 in a real browser, at desktop size and at phone size (390×844): the department head hands
the task to a colleague who then finds it in the inbox, copies a colleague who finds it under 抄送我的, and at phone
size approves a batch. No CSP violation, no page wider than the phone."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.web.journey import submit
from tests.web.test_transfer_cc import COLLEAGUE, colleagues  # noqa: F401  (the fixture)

from .test_csp import WATCH_VIOLATIONS
from .test_phone_layout import PHONE

DESKTOP = {"viewport": {"width": 1360, "height": 900}, "locale": "zh-CN"}
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def _page(browser, base: str, username: str, size: str):
    context = browser.new_context(**SIZES[size])
    context.add_init_script(WATCH_VIOLATIONS)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo12345")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")
    return page, errors


def _clean(page, errors: list[str], size: str) -> None:
    assert page.evaluate("window.__cspViolations") == []
    assert errors == [], errors
    if size == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= 391


def _open_task(page, base: str, rid: int) -> None:
    page.goto(f"{base}/inbox?q={rid}")
    row = page.locator("#inbox tbody tr", has_text=f"#{rid} ")
    expect(row).to_have_count(1)
    row.get_by_role("link", name="办理").click()
    expect(page.locator("#task-actions")).to_be_visible()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_transfer_then_the_colleague_finds_it_in_the_inbox(browser, live_server, login, screenshots, colleagues,  # noqa: F811
                                                           size):
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    page, errors = _page(browser, live_server, "cs_head", size)
    _open_task(page, live_server, rid)
    page.locator("#transfer summary").click()
    page.select_option("#transfer-user", COLLEAGUE)
    page.fill("#transfer-reason", "本人出差，请孙副主任代为审核")
    page.screenshot(path=str(screenshots / f"issue11-transfer-{size}.png"), full_page=True)
    page.locator("#transfer-form button[type=submit]").click()
    expect(page.locator("body")).to_contain_text("转办给 孙副主任：本人出差，请孙副主任代为审核")
    _clean(page, errors, size)
    page.context.close()

    colleague, errors = _page(browser, live_server, COLLEAGUE, size)
    colleague.goto(f"{live_server}/inbox?q={rid}")
    expect(colleague.locator("#inbox tbody tr", has_text=f"#{rid} ")).to_have_count(1)
    colleague.screenshot(path=str(screenshots / f"issue11-transfer-received-{size}.png"), full_page=True)
    _clean(colleague, errors, size)
    colleague.context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_cc_then_the_recipient_finds_it_under_cc_to_me(browser, live_server, login, screenshots, size):
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    page, errors = _page(browser, live_server, "cs_head", size)
    _open_task(page, live_server, rid)
    page.locator("#cc summary").click()
    recipient = page.locator("#cc-users option", has_text="周馆长").first
    value = recipient.get_attribute("value")
    page.select_option("#cc-users", [value])
    page.fill("#cc-note", "请知悉")
    page.screenshot(path=str(screenshots / f"issue11-cc-{size}.png"), full_page=True)
    page.locator("#cc-form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("已抄送 1 人")
    _clean(page, errors, size)
    page.context.close()

    reader, errors = _page(browser, live_server, value, size)
    reader.goto(f"{live_server}/cc")
    row = reader.locator("#cc-list tbody tr", has_text=f"#{rid} ")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("请知悉")
    reader.screenshot(path=str(screenshots / f"issue11-cc-received-{size}.png"), full_page=True)
    row.get_by_role("link").first.click()
    expect(reader.locator("h1")).to_contain_text(f"#{rid}")
    _clean(reader, errors, size)
    reader.context.close()


def test_batch_approval_at_phone_size(browser, live_server, login, screenshots):
    handler = login("cs_handler")
    rids = [submit(handler, {"org_units": ["jgmc"]}) for _ in range(2)]
    page, errors = _page(browser, live_server, "cs_head", "phone")
    for rid in rids:
        page.locator(f"#inbox tbody tr:has-text('#{rid} ') input.batch-pick").check()
    page.locator("#batch-form input[name=decision][value=approve]").check()
    page.fill("#batch-opinion", "同意")
    page.screenshot(path=str(screenshots / "issue11-batch-phone.png"), full_page=True)
    page.click("#batch-form button.primary")
    expect(page.locator(".flash-success")).to_contain_text("已批量办理 2 项")
    for rid in rids:
        expect(page.locator("#inbox tbody tr", has_text=f"#{rid} ")).to_have_count(0)
    _clean(page, errors, "phone")
    page.context.close()
