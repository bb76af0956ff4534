"""The Content-Security-Policy in a real browser: the inbox, the request page with its diagram and the modeler
work under it with no violation reported, and the diagram XML (served as an attachment) still renders."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.web.journey import act, submit

from .test_conditional_journey import _sign_in

# Records every violation the browser reports, before any page script runs (Playwright's init scripts are not
# subject to the page's CSP).
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '') + ' at ' +
    e.sourceFile + ':' + e.lineNumber + ':' + e.columnNumber);
});
"""


def _watched_page(browser, base: str, username: str):
    page = _sign_in(browser, base, username)
    page.context.add_init_script(WATCH_VIOLATIONS)
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    return page, console


def _assert_clean(page, console: list[str], where: str) -> None:
    violations = page.evaluate("window.__cspViolations")
    assert violations == [], f"{where}: CSP violations {violations}"
    assert [m for m in console if "Content Security Policy" in m or "pageerror" in m] == [], f"{where}: {console}"


def test_pages_diagram_and_modeler_run_under_the_csp(browser, live_server, login, screenshots):
    handler = login("cs_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    act(login("cs_head"), rid, {"decision": "approve"})

    page, console = _watched_page(browser, live_server, "nic_head")
    response = page.goto(f"{live_server}/inbox")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("#inbox tr", has_text=f"#{rid} ")).to_have_count(1)
    _assert_clean(page, console, "inbox")

    page.goto(f"{live_server}/requests/{rid}")
    expect(page.locator("#diagram")).to_have_attribute("data-rendered", "true")
    expect(page.locator(".djs-element.done[data-element-id=dept_head_sign]")).to_have_count(1)
    expect(page.locator(".djs-element.active[data-element-id=nic_review]")).to_have_count(1)
    page.screenshot(path=str(screenshots / "60-csp-request-diagram.png"), full_page=True)
    _assert_clean(page, console, "request page")
    page.context.close()

    admin, console = _watched_page(browser, live_server, "admin")
    admin.goto(f"{live_server}/admin/processes")
    admin.locator("#processes tr", has_text="share_request").get_by_role("link", name="在建模器中编辑").click()
    expect(admin.locator("body")).to_have_attribute("data-modeler-ready", "true")
    expect(admin.locator("[data-element-id=nic_review]")).to_have_count(1)
    # the panel for a user task, then for a timer with its working-day helper
    admin.locator("[data-element-id=nic_review] .djs-hit").first.click()
    expect(admin.locator("#properties h3")).to_contain_text("nic_review")
    expect(admin.locator(".djs-context-pad")).to_be_visible()
    admin.evaluate("""() => { const m = window.processModeler;
        m.get('selection').select(m.get('elementRegistry').get('deadline_timer')); }""")
    expect(admin.locator(".timer-helper input[name=helper_days]")).to_be_visible()
    assert admin.locator(".timer-helper input[name=helper_days]").evaluate("e => e.offsetWidth") < 150
    # several elements: the align/distribute icons (SVG that bpmn-js styles inline) in the context pad and menu
    admin.evaluate("""() => { const m = window.processModeler; const r = m.get('elementRegistry');
        m.get('selection').select(['nic_review', 'dept_head_sign', 'deliver'].map((id) => r.get(id))); }""")
    admin.locator(".djs-context-pad .entry[data-action=align-elements]").click()
    icons = admin.locator(".djs-popup.align-elements .entry svg")
    expect(icons.first).to_be_visible()
    assert icons.count() >= 6 and admin.locator(".djs-popup.align-elements svg [style]").count() == 0
    assert admin.locator(".djs-popup.align-elements svg [stroke=currentColor]").count() >= 6
    admin.keyboard.press("Escape")
    # the replace menu and direct editing of a label on the canvas
    admin.evaluate("""() => { const m = window.processModeler;
        m.get('selection').select(m.get('elementRegistry').get('nic_review')); }""")
    admin.locator(".djs-context-pad .entry[data-action=replace]").click()
    expect(admin.locator(".djs-popup")).to_be_visible()
    admin.keyboard.press("Escape")
    admin.locator("[data-element-id=nic_review] .djs-hit").first.dblclick()
    expect(admin.locator(".djs-direct-editing-parent")).to_be_visible()
    admin.keyboard.press("Escape")
    admin.evaluate("""() => { const m = window.processModeler; const registry = m.get('elementRegistry');
        m.get('modeling').updateLabel(registry.get('nic_review'), '网信中心审核（CSP）'); }""")
    expect(admin.locator("[data-element-id=nic_review]")).to_contain_text("CSP")
    admin.click("#validate")
    expect(admin.locator("#modeler-status")).to_have_text("校验通过，可以部署")
    admin.screenshot(path=str(screenshots / "61-csp-modeler.png"), full_page=True)
    _assert_clean(admin, console, "modeler")

    # an inline script injected into the page is refused (the policy is really enforced)
    admin.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__pwned = 1';
        document.body.appendChild(s); }""")
    assert admin.evaluate("window.__pwned") is None
    assert any("script-src" in v for v in admin.evaluate("window.__cspViolations"))
    admin.context.close()
