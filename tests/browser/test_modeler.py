"""The modeler in a real browser: validation shown on the diagram, a label changed and deployed as version 2,
while an instance started on version 1 finishes on version 1."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.web.journey import act, request_json, submit

from .test_conditional_journey import _sign_in


def test_modeler_validates_edits_and_deploys_a_new_version(browser, live_server, screenshots, login):
    handler = login("cs_handler")
    old = submit(handler, {"course_schedule": ["kch"]})
    act(login("cs_head"), old, {"decision": "approve"})
    assert request_json(handler, old)["current_tasks"][0]["title"] == "网信中心审核"

    page = _sign_in(browser, live_server, "admin")
    page.goto(f"{live_server}/admin/processes")
    page.locator("#processes tr", has_text="share_request").get_by_role("link", name="在建模器中编辑").click()
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true")

    # a broken condition is shown on the element, with the reason
    page.evaluate("""() => { const m = window.processModeler;
        m.get('selection').select(m.get('elementRegistry').get('f_class_cond')); }""")
    page.fill("#properties textarea[name=condition]", "len(provider_departments > 0")
    page.locator("#properties textarea[name=condition]").dispatch_event("change")
    page.click("#validate")
    expect(page.locator(".djs-element.has-problem[data-element-id=f_class_cond]")).to_have_count(1)
    expect(page.locator("#problems")).to_contain_text("f_class_cond：条件表达式有 Python 语法错误")
    page.screenshot(path=str(screenshots / "10-modeler-problem.png"), full_page=True)
    page.click("#deploy")
    expect(page.locator("#modeler-status")).to_contain_text("部署失败")
    page.fill("#properties textarea[name=condition]", "len(provider_departments) > 0")
    page.locator("#properties textarea[name=condition]").dispatch_event("change")

    # change a label by clicking the task and editing its name in the panel
    page.locator("[data-element-id=nic_review] .djs-hit").first.click()
    expect(page.locator("#properties h3")).to_contain_text("nic_review")
    page.fill("#properties input[name=name]", "网信中心审核（新版）")
    page.locator("#properties input[name=name]").dispatch_event("change")
    page.click("#validate")
    expect(page.locator("#problems")).to_have_text("")
    expect(page.locator("#modeler-status")).to_have_text("校验通过，可以部署")
    page.click("#deploy")
    expect(page.locator("#modeler-status")).to_contain_text("已部署为 share_request 第 2 版")
    page.screenshot(path=str(screenshots / "11-modeler-deployed.png"), full_page=True)
    page.click("#versions-link")
    v2 = page.locator("#versions tr[data-version='2']")
    expect(v2).to_contain_text("修改 nic_review 网信中心审核（新版）（名称）")
    expect(page.locator("#versions tr[data-version='1'] .open-count")).to_have_text("1")
    page.screenshot(path=str(screenshots / "12-versions.png"), full_page=True)

    # the running instance stays on version 1 and finishes there
    act(login("nic_head"), old, {"decision": "approve"})
    act(login("nic_staff"), old, {"method": "interface", "note": "接口"})
    view = request_json(handler, old)
    assert view["status_label"] == "数据已提供" and view["process"]["version"] == 1
    assert "网信中心审核" in [h["step"] for h in view["history"]]
    new = submit(handler, {"course_schedule": ["kch"]})
    act(login("cs_head"), new, {"decision": "approve"})
    view = request_json(handler, new)
    assert view["process"]["version"] == 2 and view["current_tasks"][0]["title"] == "网信中心审核（新版）"
