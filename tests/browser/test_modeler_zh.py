"""The modeler's bpmn-js texts are Chinese (app/static/js/modeler_zh.js): palette, context pad, the wrench's replace
menu with its search, and every element's context pad and replace menu of the share_request diagram; no template
of the vendored bundle is left without a translation."""
from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from .test_conditional_journey import _sign_in

BUNDLE = Path(__file__).resolve().parents[2] / "app/static/vendor/bpmn-js/bpmn-modeler.production.min.js"
CJK = re.compile(r"[\u4e00-\u9fff]")
# texts the popup menu writes itself (not through translate); modeler_zh.js rewrites them
POPUP_ENGLISH = {"Back", "Search", "Results", "Open entry documentation"}
# the bpmn.io watermark's title stays as bpmn-js draws it (its licence asks that the watermark is kept as is)
WATERMARK = "Powered by bpmn.io"


def _bundle_templates() -> set[str]:
    """The literal templates the vendored bundle hands to translate(): replace-menu labels, entry titles, the
    palette's and context pad's `create`/`append` helpers (called with a class name, then the translated title)."""
    code = BUNDLE.read_text(encoding="utf-8")
    found: set[str] = set()
    for pattern in (r'label:"([^"]+)"', r'title:[A-Za-z_$]{1,2}\("([^"]+)"\)', r'_translate\("([^"]+)"',
                    r'"bpmn-icon-[\w-]+",[A-Za-z_$]{1,2}\("([^"]+)"\)', r'[A-Za-z_$]\(e,n\("([^"]+)"\)\)'):
        found.update(re.findall(pattern, code))
    return found


def _open_modeler(browser, live_server):
    page = _sign_in(browser, live_server, "admin")
    page.goto(f"{live_server}/admin/processes")
    page.locator("#processes tr", has_text="share_request").get_by_role("link", name="在建模器中编辑").click()
    expect(page.locator("body")).to_have_attribute("data-modeler-ready", "true")
    return page


def _popup_labels(page) -> list[str]:
    return [t.strip() for t in page.locator(".djs-popup .djs-popup-label").all_text_contents()]


def _visible_english(page, english: set[str]) -> list[str]:
    """Titles, aria-labels and text lines inside the modeler that are one of the English templates."""
    texts = page.evaluate("""() => {
        const root = document.getElementById('canvas');
        const out = [];
        root.querySelectorAll('[title], [aria-label]').forEach((el) => {
          out.push(el.getAttribute('title') || '', el.getAttribute('aria-label') || ''); });
        root.querySelectorAll('.djs-palette, .djs-context-pad, .djs-popup, .djs-hover-tooltip-container, .djs-tooltip')
          .forEach((el) => out.push(...el.innerText.split('\\n')));
        return out.map((t) => t.trim()).filter(Boolean);
    }""")
    return sorted({t for t in texts if t in english or re.fullmatch(r"\d+ results? found", t)})


def test_bundle_templates_all_have_chinese(browser, live_server):
    page = _open_modeler(browser, live_server)
    dictionary = page.evaluate("window.modelerZh.dictionary")
    templates = _bundle_templates()
    assert {"Create task", "Append task", "User task", "Exclusive gateway", "Default flow", "Change element",
            "Timer boundary event", "Delete", "Search in diagram"} <= templates
    assert sorted(templates - set(dictionary)) == []
    assert [k for k, v in dictionary.items() if not CJK.search(v)] == []
    # the project's words
    for english, chinese in {"User task": "用户任务", "Exclusive gateway": "排他网关", "Parallel gateway": "并行网关",
                             "Sequence flow": "顺序流", "Default flow": "默认路径",
                             "Timer boundary event": "边界定时事件"}.items():
        assert dictionary[english] == chinese
    # {placeholders} are filled in
    assert page.evaluate("window.modelerZh.translate('Open {element}', { element: '子流程' })") == "打开 子流程"
    page.context.close()


def test_palette_context_pad_and_replace_menu_are_chinese(browser, live_server, screenshots):
    page = _open_modeler(browser, live_server)
    english = set(page.evaluate("Object.keys(window.modelerZh.dictionary)")) | POPUP_ENGLISH

    # the palette: every tool and create entry is labelled in Chinese, and its hover tooltip too
    palette = page.locator(".djs-palette .entry[data-action]")
    labels = {e.get_attribute("data-action"): e.get_attribute("aria-label") for e in palette.all()}
    assert labels["hand-tool"] == "抓手工具（拖动画布）" and labels["lasso-tool"] == "套索工具（框选元素）"
    assert labels["global-connect-tool"] == "全局连线工具" and labels["create.task"] == "创建任务"
    assert labels["create.exclusive-gateway"] == "创建网关" and labels["create.start-event"] == "创建开始事件"
    assert labels["create.participant-expanded"] == "创建池/参与者"
    assert all(CJK.search(label or "") for label in labels.values()), labels
    page.hover('.djs-palette .entry[data-action="create.task"]')
    expect(page.locator(".djs-hover-tooltip")).to_contain_text("创建任务")
    assert page.locator(".djs-search-input input").get_attribute("aria-label") == "在图中搜索"
    page.screenshot(path=str(screenshots / "modeler-zh-palette.png"))

    # a user task's context pad
    page.locator("[data-element-id=nic_review] .djs-hit").first.click()
    pad = page.locator(".djs-context-pad .entry[data-action]")
    expect(pad.first).to_be_visible()
    titles = {e.get_attribute("data-action"): e.get_attribute("title") for e in pad.all()}
    assert titles == {"append.end-event": "追加结束事件", "append.gateway": "追加网关",
                      "append.append-task": "追加任务", "append.intermediate-event": "追加中间/边界事件",
                      "append.text-annotation": "添加文本注释",
                      "replace": "更改类型", "delete": "删除", "connect": "连线到其他元素"}

    # the wrench: the replace menu with its header toggles and search
    page.click('.djs-context-pad .entry[data-action="replace"]')
    expect(page.locator(".djs-popup .djs-popup-title")).to_have_text("更改类型")
    labels = _popup_labels(page)
    assert {"任务", "服务任务", "脚本任务", "人工任务", "调用活动", "子流程（折叠）"} <= set(labels), labels
    assert all(CJK.search(label) for label in labels), labels
    toggles = [b.get_attribute("title") for b in page.locator(".djs-popup-header .entry").all()]
    assert toggles == ["并行多实例", "串行多实例", "循环"]
    assert page.locator(".djs-popup-search input").get_attribute("aria-label") == "更改类型"
    assert _visible_english(page, english) == []
    page.screenshot(path=str(screenshots / "modeler-zh-replace.png"))
    search = page.locator(".djs-popup-search input")
    # the popup searches on keyup (as an input method's commit gives it): fill, then a key goes up
    search.fill("任务")
    search.press("Shift")
    expect(page.locator(".djs-popup-search-count")).to_have_text(re.compile(r"^\s*找到 \d+ 项\s*$"))
    expect(page.locator(".djs-popup .djs-popup-label").first).to_contain_text("任务")
    search.fill("脚本")
    search.press("Shift")
    expect(page.locator(".djs-popup-search-count")).to_have_text(re.compile(r"^\s*找到 1 项\s*$"))
    assert _popup_labels(page) == ["脚本任务"]
    search.fill("并行多实例之外")
    search.press("Shift")
    expect(page.locator(".djs-popup .djs-popup-label")).to_have_count(0)
    page.keyboard.press("Escape")
    expect(page.locator(".djs-popup")).to_have_count(0)

    # a gateway's replace menu, a flow's (the wrench of a gateway's outgoing flow) and a timer boundary event's
    page.locator("[data-element-id=gw_head] .djs-hit").first.click()
    page.click('.djs-context-pad .entry[data-action="replace"]')
    assert {"并行网关", "包容网关", "复杂网关", "事件网关"} <= set(_popup_labels(page))
    page.keyboard.press("Escape")
    for element_id in ("f_head_ok", "reminder_timer"):
        page.evaluate("""(id) => { const m = window.processModeler;
            m.get('selection').select(m.get('elementRegistry').get(id)); }""", element_id)
        page.click('.djs-context-pad .entry[data-action="replace"]')
        expect(page.locator(".djs-popup .djs-popup-title")).to_have_text("更改类型")
        labels = set(_popup_labels(page))
        if element_id == "f_head_ok":
            assert labels and labels <= {"默认路径", "条件路径", "顺序流"}, labels
        else:
            assert {"边界消息事件", "边界升级事件", "边界条件事件（非中断）"} <= labels, labels
            assert all(label.startswith("边界") for label in labels), labels
            assert page.locator(".djs-popup-header .entry").first.get_attribute("title") == "切换中断/非中断"
        assert _visible_english(page, english) == []
        page.keyboard.press("Escape")

    # every element's context pad and replace menu, three elements' pad and their align/distribute menu:
    # nothing asked of translate() went untranslated, and nothing English was shown
    shown = page.evaluate("""() => {
        const m = window.processModeler, popup = m.get('popupMenu');
        const texts = [];
        const collect = () => document
          .querySelectorAll('.djs-context-pad [title], .djs-popup [title], .djs-popup-label')
          .forEach((el) => texts.push(el.getAttribute('title') || el.textContent.trim()));
        m.get('elementRegistry').getAll().filter((e) => e.type !== 'label' && e.parent).forEach((e) => {
          m.get('selection').select(e);
          collect();
          if (!popup.isEmpty(e, 'bpmn-replace')) {
            popup.open(e, 'bpmn-replace', { x: 100, y: 100 }, { title: '更改类型', search: true });
            collect();
            popup.close();
          }
        });
        const pair = ['nic_review', 'dept_head_sign', 'fill_application'].map((id) => m.get('elementRegistry').get(id));
        m.get('selection').select(pair);
        collect();
        popup.open(pair, 'align-elements', { x: 100, y: 100 });
        collect();
        popup.close();
        return texts;
    }""")
    assert len(shown) > 200
    assert page.evaluate("window.modelerZh.missing()") == []
    assert sorted({t for t in shown if t in english}) == []
    assert {"在上方添加泳道", "拆分为两条泳道", "对齐元素", "水平等距分布", "左对齐", "垂直居中对齐"} <= set(shown)
    assert [t for t in shown if t and not CJK.search(t)] == []
    assert WATERMARK not in english

    # bpmn-js's own warning: a task dragged out of the pool is refused, with the reason in Chinese
    page.evaluate("window.processModeler.get('selection').select([])")
    task = page.locator("[data-element-id=nic_review] .djs-visual").first.bounding_box()
    canvas = page.locator("#canvas").bounding_box()
    page.mouse.move(task["x"] + task["width"] / 2, task["y"] + task["height"] / 2)
    page.mouse.down()
    page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] - 60, steps=12)
    page.mouse.up()
    expect(page.locator(".djs-tooltip-error")).to_have_text("流程元素必须放在池/参与者之内")
    expect(page.locator("body")).to_have_attribute("data-unsaved", "false")
    page.context.close()
