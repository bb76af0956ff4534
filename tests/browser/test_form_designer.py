"""Issue 12 "done when", in a real browser: an administrator creates a form in /admin/forms (field editor, live
preview), adds a user step using it in the modeler with the mouse and keyboard only (deletes a sequence flow, creates
a task from bpmn-js's palette, names it on the canvas, makes it a user task with the context pad's wrench, connects
gateway → new step → next step with the context pad's connect tool, makes the gateway's flow its default again, then
chooses the form, roles and department with the properties panel's pickers), deploys with the modeler's button, and
an applicant's new request reaches the new step showing the new form's fields."""
from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.journey import act, request_json, submit

from .test_conditional_journey import _sign_in

FORM_KEY = "data_use_contact"
STEP = "确认数据使用联系人"


class _Viewport:
    """Diagram coordinates → page coordinates, from the transform bpmn-js writes on its viewport (read, not set)."""

    def __init__(self, page) -> None:
        transform = page.locator("#canvas svg .viewport").first.get_attribute("transform") or ""
        self.scale, _, _, _, self.dx, self.dy = (float(v) for v in re.findall(r"-?[\d.]+(?:e-?\d+)?", transform))
        box = page.locator("#canvas svg").first.bounding_box()
        self.left, self.top = box["x"], box["y"]

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        return self.left + self.dx + self.scale * x, self.top + self.dy + self.scale * y


def _on(page, element_id: str, fx: float = 0.5, fy: float = 0.5) -> tuple[float, float]:
    """A point on an element as drawn (fx, fy: fractions of its width and height)."""
    box = page.locator(f"[data-element-id={element_id}] .djs-visual").first.bounding_box()
    return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy


def _connect(page, source: str, target: str) -> None:
    """With the source selected: the context pad's connect entry, then a click on the target."""
    expect(page.locator("#properties h3")).to_contain_text(f" · {source}")
    page.click('.djs-context-pad .entry[data-action="connect"]')
    page.mouse.move(*_on(page, target), steps=5)
    page.mouse.click(*_on(page, target))
    expect(page.locator("#properties h3")).to_contain_text("SequenceFlow · ")
    # bpmn-js swallows a click on a diagram element for 400 ms after a drop (its click trap); a person is slower
    page.wait_for_timeout(500)


def _select(page, element_id: str, heading: str, fx: float = 0.5, fy: float = 0.5) -> None:
    """Click an element; once more if bpmn-js's click trap (400 ms after a drop) took the first click."""
    for attempt in range(3):
        page.mouse.click(*_on(page, element_id, fx, fy))
        try:
            expect(page.locator("#properties h3")).to_have_text(heading, timeout=1500)
            return
        except AssertionError:
            if attempt == 2:
                raise


def _type(page, selector: str, value: str) -> None:
    page.fill(selector, value)
    page.locator(selector).dispatch_event("change")


def test_administrator_designs_a_form_adds_a_step_with_it_and_a_new_request_reaches_it(browser, live_server,
                                                                                        screenshots, login):
    page = _sign_in(browser, live_server, "admin")
    refused: list[str] = []  # CSP: the designer and the pickers run from static files only
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)

    # 1. the form, in the designer: form properties, a new field, the preview shows it as users will see it
    page.goto(f"{live_server}/admin/forms")
    page.click("#new-form")
    expect(page.locator("body")).to_have_attribute("data-designer-ready", "true")
    _type(page, "#form-key", FORM_KEY)
    _type(page, "#form-title", "数据使用联系人确认")
    _type(page, "#form-basis", "第二十三条")
    page.select_option("#new-field-type", "text")
    page.click("#add-field")
    new_field = page.locator("#field-list > li").last
    _type(page, "#field-list > li:last-child [data-prop=name]", "contact_person")
    _type(page, "#field-list > li:last-child [data-prop=label]", "使用单位联系人")
    new_field.locator("[data-prop=required]").check()
    _type(page, "#field-list > li:last-child [data-prop=pattern]", "[\\u4e00-\\u9fa5]{2,10}")
    _type(page, "#field-list > li:last-child [data-prop=pattern_message]", "请填写联系人姓名（2 到 10 个汉字）")
    # move it above the opinion: the field list reorders, the preview follows
    new_field.locator("[data-action=up]").click()
    expect(page.locator("#field-list > li").nth(1)).to_contain_text("使用单位联系人")
    expect(page.locator("#preview [data-field=contact_person]")).to_contain_text("使用单位联系人")
    expect(page.locator("#designer-problems li")).to_have_count(0)
    page.screenshot(path=str(screenshots / "issue12-form-designer.png"), full_page=True)
    page.click("#save-form")
    expect(page.locator(".flash")).to_contain_text(f"表单 {FORM_KEY} 已保存为第 1 版")

    # 2. the modeler, with the mouse and keyboard only (bpmn-js's own palette, context pad and replace menu; the
    #    page is only read, for where things are drawn): f_head_ok (the head's approval → NIC review) is deleted, a
    #    task is created from the palette, named on the canvas and changed into a user task with the wrench, then
    #    connected head's gateway → new step (made the gateway's default flow again) → NIC review
    page.goto(f"{live_server}/admin/processes")
    page.locator("#processes tr", has_text="share_request").get_by_role("link", name="在建模器中编辑").click()
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true")
    expect(page.locator("body")).to_have_attribute("data-pickers-ready", "true")
    heading = page.locator("#properties h3")
    page.mouse.move(*_on(page, "gw_head"))
    page.keyboard.down("Control")  # Ctrl + wheel zooms in around the pointer, until the tasks are a good size
    for _ in range(15):
        if _Viewport(page).scale > 0.6:
            break
        page.mouse.wheel(0, -100)
        page.wait_for_timeout(50)
    page.keyboard.up("Control")
    at = _Viewport(page)
    assert at.scale > 0.6
    page.mouse.click(*at(775, 360))  # on f_head_ok's vertical segment, below its label
    expect(heading).to_have_text("SequenceFlow · f_head_ok")
    page.keyboard.press("Delete")
    expect(page.locator("[data-element-id=f_head_ok]")).to_have_count(0)

    page.click('.djs-palette .entry[data-action="create.task"]')  # click-to-create: the task follows the pointer
    page.mouse.move(*at(700, 420), steps=5)
    page.mouse.move(*at(775, 420), steps=5)  # in the NIC lane, left of nic_review, where f_head_ok turned
    page.mouse.click(*at(775, 420))
    expect(heading).to_contain_text("Task · ")
    task = heading.text_content().split(" · ")[1]
    expect(page.locator(".djs-direct-editing-parent")).to_be_visible()  # bpmn-js asks for the name at once
    page.keyboard.type(STEP)
    page.keyboard.press("Enter")
    expect(page.locator("#properties input[name=name]")).to_have_value(STEP)
    page.click('.djs-context-pad .entry[data-action="replace"]')
    user_task = page.locator('.djs-popup [data-id="replace-with-user-task"]')
    expect(user_task).to_be_visible()
    page.screenshot(path=str(screenshots / "issue12-modeler-palette.png"), full_page=True)
    user_task.click()
    expect(heading).to_have_text(f"UserTask · {task}")

    _connect(page, task, "nic_review")
    _select(page, "gw_head", "ExclusiveGateway · gw_head")
    _connect(page, "gw_head", task)
    page.click('.djs-context-pad .entry[data-action="replace"]')
    page.click('.djs-popup [data-id="replace-with-default-flow"]')
    expect(page.locator("#properties .hint").first).to_have_text("这是网关的默认路径（无条件）")
    # the flow's context pad sits at its end, on the task's top: click the task low on its left
    _select(page, task, f"UserTask · {task}", 0.25, 0.75)
    page.screenshot(path=str(screenshots / "issue12-modeler-connected.png"), full_page=True)

    # 3. its form, roles and department with the properties panel's pickers
    form_picker = page.locator("#properties select[name=formKey]")
    expect(form_picker.locator(f"option[value={FORM_KEY}]")).to_have_text(f"{FORM_KEY} 数据使用联系人确认")
    form_picker.select_option(FORM_KEY)
    expect(page.locator("#open-form-designer")).to_have_attribute("href", f"/admin/forms/{FORM_KEY}")
    expect(page.locator("#open-form-designer")).to_have_attribute("target", "_blank")
    page.locator("#role-picker label", has_text="网信中心负责人").locator("input").check()
    page.select_option("#department-picker", "'nic'")
    page.locator("#properties input[name=resultVariable]").fill("use_contact")
    page.keyboard.press("Tab")
    expect(page.locator("#properties input[name=department]")).to_have_value("'nic'")
    page.screenshot(path=str(screenshots / "issue12-modeler-properties.png"), full_page=True)

    # 4. validated and deployed from the modeler's buttons
    page.click("#validate")
    expect(page.locator("#modeler-status")).to_have_text("校验通过，可以部署")
    page.click("#deploy")
    expect(page.locator("#modeler-status")).to_contain_text("已部署为 share_request 第 2 版")
    page.screenshot(path=str(screenshots / "issue12-modeler-deployed.png"), full_page=True)

    assert refused == []

    # 3. an applicant's new request reaches the new step, which shows the new form's fields
    handler = login("cs_handler")
    rid = submit(handler, {"student_basic": ["xh"]})
    act(login("cs_head"), rid, {"decision": "approve"})
    view = request_json(handler, rid)
    assert view["process"]["version"] == 2 and view["current_tasks"][0]["title"] == STEP
    nic = _sign_in(browser, live_server, "nic_head")
    nic.locator("#inbox tr", has_text=f"#{rid}").get_by_role("link", name=STEP).click()
    expect(nic.locator("h1")).to_have_text(STEP)
    expect(nic.locator("#task-form [data-field=contact_person]")).to_contain_text("使用单位联系人")
    expect(nic.locator("#task-form input[name=decision]")).to_have_count(2)
    nic.screenshot(path=str(screenshots / "issue12-new-step.png"), full_page=True)
    nic.fill("#task-form input[name=contact_person]", "x1")
    nic.check("#task-form input[name=decision][value=approve]")
    nic.locator("#task-form").get_by_role("button", name="提交", exact=True).click()
    error = nic.locator("#task-form [data-field=contact_person] .error")
    expect(error).to_have_text("请填写联系人姓名（2 到 10 个汉字）")
    nic.fill("#task-form input[name=contact_person]", "张老师")
    nic.check("#task-form input[name=decision][value=approve]")
    nic.locator("#task-form").get_by_role("button", name="提交", exact=True).click()
    expect(nic.locator("h1")).not_to_have_text(STEP)
    assert request_json(handler, rid)["current_tasks"][0]["title"] == "网信中心审核"
