"""Process analytics (issue 12) in a real browser, at desktop size and on a phone (390×844): the heat map over a
process version's diagram (overlays with each step's figures, heat classes on the steps, flows drawn by how often
they were taken) and the table under it; the same overlay on a request's diagram behind its toggle. No CSP
violation (the overlays are DOM nodes styled by classes), no console error; screenshots in test-artifacts/."""
from __future__ import annotations

from playwright.sync_api import expect

from app.services.oversight import analytics
from tests.services.test_analytics import journeys  # noqa: F401  (the known data: two requests, one returned)

from .test_csp import _assert_clean, _watched_page
from .test_phone_layout import _phone


def _check_heat_map(page) -> None:
    diagram = page.locator("#diagram")
    expect(diagram).to_have_attribute("data-rendered", "true")
    expect(diagram).to_have_attribute("data-analytics", "shown")
    review = page.locator(".heat-badge[data-element=nic_review]")
    expect(review).to_have_count(1)
    expect(review).to_contain_text("办结 3 · 中位 0.5 / P90 0.9 工作日")
    expect(review).to_contain_text("退回/不同意 33%")
    expect(page.locator(".heat-badge[data-element=provider_review]")).to_contain_text("在办 1")
    expect(page.locator(".djs-element.heat-5[data-element-id=nic_review]")).to_have_count(1)
    expect(page.locator(".djs-element.heat-1[data-element-id=fill_application]")).to_have_count(1)
    expect(page.locator(".djs-connection.flow-5[data-element-id=f_fill]")).to_have_count(1)
    expect(page.locator(".djs-connection.flow-2[data-element-id=f_nic_return]")).to_have_count(1)
    # the thicker line is the CSS class at work (no inline style: the CSP forbids it)
    width = page.evaluate("""() => getComputedStyle(document.querySelector(
        '.djs-connection[data-element-id=f_fill] .djs-visual > path')).strokeWidth""")
    assert width == "8px", width


def _check_table(page) -> None:
    row = page.locator("#analytics-table tr[data-element=nic_review]")
    expect(row).to_contain_text("网信中心审核")
    expect(row.locator("td[data-label=办结]")).to_have_text("3")
    expect(row.locator("td[data-label='退回/不同意']")).to_have_text("1（33%）")
    expect(page.locator("#analytics-table tr[data-element=provider_review] td[data-label=当前在办]")).to_have_text("1")


def test_heat_map_on_the_version_page_and_the_request_diagram(app, browser, live_server, screenshots, journeys):  # noqa: F811
    a, _b = journeys
    with app.app_context():
        assert analytics.refresh() == 2
    page, console = _watched_page(browser, live_server, "admin")
    page.goto(f"{live_server}/admin/processes/share_request")
    page.locator("#versions a.analytics-link").first.click()
    expect(page.locator("h1")).to_contain_text("流程分析")
    _check_heat_map(page)
    _check_table(page)
    page.screenshot(path=str(screenshots / "issue12-analytics-desktop.png"), full_page=True)
    _assert_clean(page, console, "analytics page")

    # a filter narrows both the table and the overlay: from 10 June only request B counts
    page.fill("input[name=from]", "2025-06-10")
    page.click("#analytics-filters button[type=submit]")
    expect(page.locator(".heat-badge[data-element=nic_review]")).to_contain_text("办结 1")
    expect(page.locator("#analytics-table tr[data-element=nic_review] td[data-label=办结]")).to_have_text("1")
    page.fill("input[name=from]", "2025-06-30")
    page.fill("input[name=to]", "2025-06-01")
    page.click("#analytics-filters button[type=submit]")
    expect(page.locator("#analytics-errors")).to_contain_text("结束日期不能早于开始日期")
    _assert_clean(page, console, "analytics filters")

    page.goto(f"{live_server}/requests/{a}")
    expect(page.locator("#diagram")).to_have_attribute("data-rendered", "true")
    expect(page.locator(".heat-badge")).to_have_count(0)  # behind the toggle
    toggle = page.locator("#analytics-toggle")
    expect(toggle).to_be_enabled()
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    _check_heat_map(page)
    page.screenshot(path=str(screenshots / "issue12-analytics-request-desktop.png"), full_page=True)
    toggle.click()
    expect(page.locator(".heat-badge")).to_have_count(0)
    expect(page.locator(".djs-element.heat-5")).to_have_count(0)
    expect(page.locator(".djs-element.done[data-element-id=dept_head_sign]")).to_have_count(1)  # its own markers stay
    _assert_clean(page, console, "request page")
    page.context.close()


def test_heat_map_on_a_phone(app, browser, live_server, screenshots, journeys):  # noqa: F811
    a, _b = journeys
    with app.app_context():
        analytics.refresh()
    page, console = _phone(browser, live_server, "admin")
    page.goto(f"{live_server}/admin/analytics/share_request?version=1")
    _check_heat_map(page)
    _check_table(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(screenshots / "issue12-analytics-phone.png"), full_page=True)
    page.goto(f"{live_server}/requests/{a}")
    page.locator("#analytics-toggle").click()
    _check_heat_map(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(screenshots / "issue12-analytics-request-phone.png"), full_page=True)
    assert page.evaluate("window.__cspViolations") == []
    assert console == []
    page.context.close()
