"""The top bar at desktop size: one line however many roles the user has (the administrator's links grouped under
系统管理, the account's under the name), groups open on click and close on a click elsewhere or when another opens."""
from __future__ import annotations

from playwright.sync_api import expect

from .test_transfer_cc_ui import _clean, _page


def test_the_administrators_top_bar_stays_one_line_and_its_groups_open_and_close(browser, live_server, screenshots):
    page, errors = _page(browser, live_server, "admin", "desktop")
    height = page.locator("header.topbar").evaluate("e => e.getBoundingClientRect().height")
    assert height <= 60, f"the top bar wrapped: {height}px"
    admin, account = page.locator("#admin-menu"), page.locator("#account-menu")
    expect(admin.get_by_role("link", name="表单管理")).to_be_hidden()
    admin.locator("summary").click()
    expect(admin.get_by_role("link", name="表单管理")).to_be_visible()
    page.screenshot(path=str(screenshots / "navigation-admin-menu.png"))
    account.locator("summary").click()  # opening another group closes the first
    expect(account.get_by_role("link", name="工作委托")).to_be_visible()
    expect(admin.get_by_role("link", name="表单管理")).to_be_hidden()
    page.locator("main h1").click()  # a click elsewhere closes it
    expect(account.get_by_role("link", name="工作委托")).to_be_hidden()
    admin.locator("summary").click()
    admin.get_by_role("link", name="表单管理").click()
    expect(page.locator("h1")).to_contain_text("表单")
    _clean(page, errors, "desktop")
    page.context.close()


def test_a_handler_finds_the_other_processes_under_one_group(browser, live_server):
    page, errors = _page(browser, live_server, "cs_handler", "desktop")
    more = page.locator("#more-menu")
    more.locator("summary").click()
    for name in ("报告违规", "数据质量反馈", "项目验收审核"):
        expect(more.get_by_role("link", name=name)).to_be_visible()
    expect(page.locator("#admin-menu")).to_have_count(0)
    _clean(page, errors, "desktop")
    page.context.close()
