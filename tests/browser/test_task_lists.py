"""Issue 11 in a real browser, desktop and phone (390×844): the applicant walks 我的待办 / 我已办 / 我发起的 / 抄送我的
with a filter; the tab and the filter stay in the address; on the phone the filter form starts folded (its
summary says 已筛选) and no page scrolls sideways; no CSP violation. Screenshots
test-artifacts/issue11-lists-{desktop,phone}.png."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.web.journey import act, my_task, submit

from .test_csp import WATCH_VIOLATIONS
from .test_phone_layout import PHONE

DESKTOP = {"viewport": {"width": 1360, "height": 900}, "locale": "zh-CN"}
TABS = [("todo", "我的待办", "/inbox"), ("done", "我已办", "/inbox/done"), ("mine", "我发起的", "/inbox/mine"),
        ("cc", "抄送我的", "/cc")]


def _requests(login) -> dict[str, int]:
    """计算机学院's handler: #a at the providers (and copied back to the handler), #b returned to them, #c waiting."""
    handler, head, nic, student = login("cs_handler"), login("cs_head"), login("nic_head"), login("student_head")
    a = submit(handler, {"student_basic": ["xh"]})
    act(head, a, {"decision": "approve", "opinion": "同意"})
    act(nic, a, {"decision": "approve", "opinion": "同意"})
    b = submit(handler, {"staff_basic": ["gh"]})
    act(head, b, {"decision": "return", "opinion": "请补充用途说明"})
    c = submit(handler, {"course_schedule": ["kch"]})
    resp = student.post(f"/tasks/{my_task(student, a)}/cc", {"users": ["cs_handler"], "note": "请知悉审核进度"})
    assert resp.status_code == 302
    return {"a": a, "b": b, "c": c}


def _open(browser, base: str, options: dict):
    context = browser.new_context(**options)
    context.add_init_script(WATCH_VIOLATIONS)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "cs_handler")
    page.fill("input[name=password]", "demo12345")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")
    return page, problems


def _walk(page, ids: dict[str, int], *, phone: bool) -> None:
    """Each tab in turn from the tab bar, with process=share_request chosen on the first; the filter stays."""
    for key, label, path in TABS:
        page.locator(f".list-tabs a[data-tab={key}]").click()
        expect(page.locator("h1")).to_have_text(label)
        expect(page.locator(f".list-tabs a[data-tab={key}]")).to_have_attribute("aria-current", "page")
        assert re.search(rf"{re.escape(path)}\?.*process=share_request", page.url), page.url
        expect(page.locator("select[name=process]")).to_have_value("share_request")
        expect(page.locator("details.more-filters")).to_have_js_property("open", not phone)
        expect(page.locator("details.more-filters summary .tag")).to_have_text("已筛选")
        if phone:  # folded, saying a filter is in use
            expect(page.locator("select[name=process]")).not_to_be_visible()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 391, f"{label}: {width}px wide at 390px"
    # what each tab showed, checked on the last visit of each
    expect(page.locator("#cc-list tbody tr", has_text=f"#{ids['a']} ")).to_have_count(1)
    page.locator(".list-tabs a[data-tab=mine]").click()
    for rid in ids.values():
        expect(page.locator(f"#mine-list tr[data-instance-id='{rid}']")).to_have_count(1)
    page.locator(".list-tabs a[data-tab=done]").click()
    expect(page.locator("#done-list tbody tr")).to_have_count(3)  # the three 申请表 the handler submitted
    page.locator(".list-tabs a[data-tab=todo]").click()
    expect(page.locator("#inbox tbody tr", has_text=f"#{ids['b']} ")).to_have_count(1)  # returned to them


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_four_tabs_with_a_filter(browser, live_server, login, screenshots, device):
    ids = _requests(login)
    phone = device == "phone"
    page, problems = _open(browser, live_server, PHONE if phone else DESKTOP)
    details = page.locator("#inbox-filters details.more-filters")
    if phone:  # folded until opened (list_filters.js); the search box stays
        expect(page.locator("#inbox-filters select[name=process]")).not_to_be_visible()
        assert details.evaluate("d => d.open") is False
        expect(page.locator("#inbox-filters input[name=q]")).to_be_visible()
        page.locator("#inbox-filters summary").click()
    assert details.evaluate("d => d.open") is True
    page.locator("#inbox-filters select[name=process]").select_option("share_request")
    page.locator("#inbox-filters .filter-actions button").click()
    expect(page).to_have_url(re.compile(r"/inbox\?.*process=share_request"))
    _walk(page, ids, phone=phone)
    # a search narrows the tab and keeps the filter: 我发起的, the staff data request only
    page.locator(".list-tabs a[data-tab=mine]").click()
    page.fill("#mine-filters input[name=q]", "教职工")
    page.locator("#mine-filters > button[type=submit]").click()
    expect(page.locator("#mine-list tbody tr")).to_have_count(1)
    expect(page.locator(f"#mine-list tr[data-instance-id='{ids['b']}']")).to_have_count(1)
    assert "process=share_request" in page.url and "q=" in page.url
    if phone:
        assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(screenshots / f"issue11-lists-{device}.png"), full_page=True)
    violations = page.evaluate("window.__cspViolations || []")
    assert not violations and not problems, (violations, problems)
    page.context.close()
