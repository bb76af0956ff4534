"""批量审批 in a real browser: the department head ticks two rows of the inbox, approves once, both leave the inbox;
"select all" (a static script, no inline JavaScript under the CSP) ticks every batchable row."""
from __future__ import annotations

from playwright.sync_api import expect

from ..web.journey import submit
from .test_conditional_journey import _sign_in


def test_department_head_approves_two_requests_in_one_batch(browser, live_server, login, screenshots):
    handler = login("cs_handler")
    rids = [submit(handler, {"org_units": ["jgmc"]}) for _ in range(3)]
    page = _sign_in(browser, live_server, "cs_head")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    rows = {rid: page.locator("#inbox tbody tr", has_text=f"#{rid} ") for rid in rids}
    for row in rows.values():
        expect(row).to_have_count(1)

    select_all = page.locator("#batch-all")
    expect(select_all).to_be_visible()  # shown by inbox_batch.js
    select_all.check()
    for row in rows.values():
        expect(row.locator("input.batch-pick")).to_be_checked()
    select_all.uncheck()
    for row in rows.values():
        expect(row.locator("input.batch-pick")).not_to_be_checked()

    rows[rids[0]].locator("input.batch-pick").check()
    rows[rids[1]].locator("input.batch-pick").check()
    assert select_all.evaluate("box => box.indeterminate") is True
    page.locator("#batch-form input[name=decision][value=approve]").check()
    page.fill("#batch-opinion", "同意，签署部门承诺")
    page.screenshot(path=str(screenshots / "batch-approval-ticked.png"), full_page=True)
    page.click("#batch-form button.primary")

    expect(page.locator(".flash-success")).to_contain_text("已批量办理 2 项")
    expect(rows[rids[0]]).to_have_count(0)
    expect(rows[rids[1]]).to_have_count(0)
    expect(rows[rids[2]]).to_have_count(1)
    page.screenshot(path=str(screenshots / "batch-approval-done.png"), full_page=True)

    page.goto(f"{live_server}/requests/{rids[0]}")
    expect(page.locator("body")).to_contain_text("同意，签署部门承诺")
    assert not [e for e in errors if "Content Security Policy" in e], errors
    page.context.close()
