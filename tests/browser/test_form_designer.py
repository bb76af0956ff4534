"""Issue 12 "done when", in a real browser: an administrator creates a form in /admin/forms (field editor, live
preview), adds a user step using it in the modeler (the task is placed on the share_request diagram through bpmn-js's
own modeling API in the page; its form, roles and department are then chosen with the properties panel's pickers),
deploys, and an applicant's new request reaches the new step showing the new form's fields."""
from __future__ import annotations

from playwright.sync_api import expect

from tests.web.journey import act, request_json, submit

from .test_conditional_journey import _sign_in

FORM_KEY = "data_use_contact"
STEP = "确认数据使用联系人"


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

    # 2. the modeler: a user step after the department head's approval, its form chosen from the picker
    page.goto(f"{live_server}/admin/processes")
    page.locator("#processes tr", has_text="share_request").get_by_role("link", name="在建模器中编辑").click()
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true")
    expect(page.locator("body")).to_have_attribute("data-pickers-ready", "true")
    page.evaluate("""() => {
        const m = window.processModeler, registry = m.get('elementRegistry'), modeling = m.get('modeling');
        const shape = modeling.createShape(m.get('elementFactory').createShape({ type: 'bpmn:UserTask' }),
                                           { x: 775, y: 500 }, registry.get('share_participant'));
        modeling.reconnectEnd(registry.get('f_head_ok'), shape, { x: 775, y: 460 });
        modeling.connect(shape, registry.get('nic_review'));
        m.get('selection').select(shape);
    }""")
    _type(page, "#properties input[name=name]", STEP)
    form_picker = page.locator("#properties select[name=formKey]")
    expect(form_picker.locator(f"option[value={FORM_KEY}]")).to_have_text(f"{FORM_KEY} 数据使用联系人确认")
    form_picker.select_option(FORM_KEY)
    expect(page.locator("#open-form-designer")).to_have_attribute("href", f"/admin/forms/{FORM_KEY}")
    expect(page.locator("#open-form-designer")).to_have_attribute("target", "_blank")
    page.locator("#role-picker label", has_text="网信中心负责人").locator("input").check()
    page.select_option("#department-picker", "'nic'")
    _type(page, "#properties input[name=resultVariable]", "use_contact")
    expect(page.locator("#properties input[name=department]")).to_have_value("'nic'")
    page.screenshot(path=str(screenshots / "issue12-modeler-picker.png"), full_page=True)
    page.click("#validate")
    expect(page.locator("#modeler-status")).to_have_text("校验通过，可以部署")
    page.click("#deploy")
    expect(page.locator("#modeler-status")).to_contain_text("已部署为 share_request 第 2 版")

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
