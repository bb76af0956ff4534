"""Phone layout at 390×844 in a real browser: no page scrolls sideways, the menu collapses behind a toggle, tables
become cards, the diagram's zoom/fit buttons work and a plain wheel scrolls the page instead of panning the diagram,
and a share request can be filled in and submitted at that size. No CSP violation, no console error."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.journey import act, submit

from .test_csp import WATCH_VIOLATIONS

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2, "locale": "zh-CN"}


def _phone(browser, base: str, username: str):
    context = browser.new_context(**PHONE)
    context.add_init_script(WATCH_VIOLATIONS)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console.append(f"pageerror: {exc}"))
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo12345")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("我的待办")
    return page, console


def _check(page, console: list[str], screenshots, name: str) -> None:
    """No sideways scrolling, the collapsed menu opens from its toggle, clean console and CSP; a screenshot."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 391, f"{name}: page is {width}px wide at a 390px viewport"
    nav = page.locator("#site-nav")
    toggle = page.locator("#nav-toggle")
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(nav).to_be_hidden()
    page.screenshot(path=str(screenshots / f"phone-{name}.png"), full_page=True)
    toggle.click()
    expect(nav).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="我的待办")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391, f"{name}: open menu scrolls sideways"
    page.screenshot(path=str(screenshots / f"phone-{name}-menu.png"))
    toggle.click()
    expect(nav).to_be_hidden()
    assert page.evaluate("window.__cspViolations") == [], f"{name}: CSP violations"
    assert console == [], f"{name}: console errors {console}"


def _cards(page, table: str) -> None:
    """The table's cells are blocks, labelled with their column, and its header row is hidden."""
    cell = page.locator(f"{table} tbody td[data-label]").first
    expect(cell).to_be_visible()
    assert cell.evaluate("e => getComputedStyle(e).display") == "block"
    assert cell.evaluate("e => getComputedStyle(e, '::before').content") == f'"{cell.get_attribute("data-label")}"'
    expect(page.locator(f"{table} thead")).to_be_hidden()


SCALE = "() => document.querySelector('#diagram svg .viewport').transform.baseVal.consolidate().matrix.a"


def _viewbox(page) -> dict:
    """The canvas viewbox as bpmn-js applies it: the transform of the diagram's viewport layer."""
    return {"t": page.evaluate("() => document.querySelector('#diagram svg .viewport').getAttribute('transform')")}


def test_phone_pages_and_a_request_submitted_at_phone_size(browser, live_server, login, screenshots):
    base = live_server
    handler = login("cs_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    act(login("cs_head"), rid, {"decision": "approve"})

    # 网信中心: inbox and list as cards, the request page with its diagram, a task page
    page, console = _phone(browser, base, "nic_head")
    expect(page.locator("#inbox tr", has_text=f"#{rid} ")).to_have_count(1)
    _cards(page, "#inbox")
    _check(page, console, screenshots, "inbox")

    page.goto(f"{base}/requests")
    _cards(page, "table.list")
    _check(page, console, screenshots, "requests")

    page.goto(f"{base}/requests/{rid}")
    diagram = page.locator("#diagram")
    expect(diagram).to_have_attribute("data-rendered", "true")
    _cards(page, "#current-tasks")
    _cards(page, "table.history")
    assert diagram.evaluate("e => e.getBoundingClientRect().right") <= 390
    fitted = _viewbox(page)
    fitted_scale = page.evaluate(SCALE)
    page.click("#zoom-in")
    zoomed_in = _viewbox(page)
    assert zoomed_in != fitted
    scale = page.evaluate(SCALE)
    page.click("#zoom-out")
    smaller = page.evaluate(SCALE)
    assert smaller < scale
    page.click("#zoom-fit")
    page.wait_for_function("s => Math.abs((" + SCALE + ")() - s) < 1e-3", arg=fitted_scale)
    fitted = _viewbox(page)
    # a plain wheel over the diagram scrolls the page and leaves the diagram where it was
    diagram.scroll_into_view_if_needed()
    before = page.evaluate("window.scrollY")
    box = diagram.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, 300)
    page.wait_for_function("y => window.scrollY > y", arg=before)
    assert _viewbox(page) == fitted
    # Ctrl + wheel zooms the diagram
    box = diagram.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -200)
    page.keyboard.up("Control")
    page.wait_for_function("t => document.querySelector('#diagram svg .viewport').getAttribute('transform') !== t",
                           arg=fitted["t"])
    page.evaluate("window.scrollTo(0, 0)")
    _check(page, console, screenshots, "request")

    page.goto(f"{base}/inbox")
    page.locator("#inbox tr", has_text=f"#{rid} ").get_by_role("link", name="办理").click()
    expect(page.locator("#task-form")).to_be_visible()
    expect(page.locator("#task-form button.primary")).to_be_visible()
    _check(page, console, screenshots, "task")
    page.context.close()

    # the supervisors' page with its charts and card tables
    page, console = _phone(browser, base, "supervisor")
    page.goto(f"{base}/supervision/")
    _cards(page, "#all-open")
    _check(page, console, screenshots, "supervision")
    page.context.close()

    # the applicant fills in and submits a share request at phone size, reaching it from the collapsed menu
    page, console = _phone(browser, base, "cs_handler")
    page.click("#nav-toggle")
    page.locator("#site-nav").get_by_role("link", name="提出申请").click()
    expect(page.locator("h1")).to_contain_text("申请")
    row = page.locator("table.resources tr", has_text="学生基本信息")
    assert row.locator("td").first.evaluate("e => getComputedStyle(e).display") == "block"
    row.get_by_label("学号").check()  # ticking a field selects its resource
    row.get_by_label("姓名").check()
    expect(row.locator("input[name=resources]")).to_be_checked()
    purpose = page.locator("textarea[name=purpose]")
    head = page.locator("input[name=head_name]")
    # stacked: the fields sit one under the other, each within the screen
    assert head.evaluate("e => e.getBoundingClientRect().right") <= 390
    assert head.bounding_box()["y"] > purpose.bounding_box()["y"]
    purpose.fill("手机上提交：学院学生综合测评系统核对学生身份")
    head.fill("李主任")
    page.fill("input[name=head_phone]", "0931-2973000")
    page.fill("input[name=handler_name]", "王经办")
    page.fill("input[name=handler_phone]", "13800000000")
    page.check("input[name=commitment]")
    page.check("input[name=confidentiality]")
    _check(page, console, screenshots, "application-form")
    page.locator("button", has_text="提交申请").tap()
    expect(page.locator(".flash-success")).to_contain_text("申请已提交")
    new_id = int(re.search(r"/requests/(\d+)", page.url).group(1))
    assert new_id != rid
    expect(page.locator("h1")).to_contain_text(f"#{new_id}")
    expect(page.locator("#diagram")).to_have_attribute("data-rendered", "true")
    _check(page, console, screenshots, "submitted")
    page.context.close()


SWEEP = {
    "cs_handler": ["/catalogue", "/grants", "/cc", "/notifications", "/account/password", "/account/notifications",
                   "/processes/violation_case/new"],
    "student_head": ["/catalogue/mine"],
    "admin": ["/admin/processes", "/admin/instances", "/admin/calendar", "/admin/audit", "/admin/deliveries",
              "/supervision/report"],
}


def test_every_other_page_fits_a_phone(browser, live_server, login, screenshots):
    submit(login("cs_handler"), {"course_schedule": ["kch"]})
    context = browser.new_context(**PHONE)
    context.add_init_script(WATCH_VIOLATIONS)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    expect(page.locator("#nav-toggle")).to_have_count(0)  # nothing to collapse before signing in
    page.screenshot(path=str(screenshots / "phone-login.png"), full_page=True)
    context.close()
    for user, paths in SWEEP.items():
        page, console = _phone(browser, live_server, user)
        for path in paths:
            response = page.goto(f"{live_server}{path}")
            assert response.status == 200, path
            name = path.strip("/").replace("/", "-")
            _check(page, console, screenshots, name)
            for cell in page.locator("table.list tbody td").all()[:3]:
                assert cell.evaluate("e => getComputedStyle(e).display") == "block", path
        page.context.close()
