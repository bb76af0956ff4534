"""The modeler warns before leaving with changes that were not deployed (issue 11)."""
from __future__ import annotations

from playwright.sync_api import expect

from .test_conditional_journey import _sign_in


def test_leaving_the_modeler_with_unsaved_changes_asks_first(browser, live_server):
    page = _sign_in(browser, live_server, "admin")
    page.goto(f"{live_server}/admin/processes")
    page.locator("#processes tr", has_text="project_acceptance").get_by_role("link", name="在建模器中编辑").click()
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true")
    expect(page.locator("body")).to_have_attribute("data-unsaved", "false")
    page.locator("[data-element-id=nic_check] .djs-hit").first.click()
    page.fill("#properties input[name=name]", "网信中心核查（修改未部署）")
    page.locator("#properties input[name=name]").dispatch_event("change")
    expect(page.locator("body")).to_have_attribute("data-unsaved", "true")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert dialogs == ["beforeunload"]
    assert not page.is_closed()  # dismissed: the administrator stays with the diagram
    page.close()
