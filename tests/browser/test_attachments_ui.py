"""Attachments in a real browser, at desktop size and at phone size (390×844): the applicant attaches a PDF to the
申请表, the department head downloads it from the request page. No CSP violation, no page wider than the phone."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .test_transfer_cc_ui import _clean, _page

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_applicant_attaches_a_pdf_and_the_department_head_downloads_it(browser, live_server, screenshots, size):
    base = live_server
    applicant, errors = _page(browser, base, "cs_handler", size)
    applicant.goto(f"{base}/requests/new")
    row = applicant.locator("tr", has_text="学生基本信息")
    row.locator("input[name=resources]").check()
    row.get_by_label("学号").check()
    applicant.fill("textarea[name=purpose]", "学院学生综合测评系统核对学生身份")
    applicant.fill("input[name=head_name]", "李主任")
    applicant.fill("input[name=head_phone]", "0931-2973000")
    applicant.fill("input[name=handler_name]", "王经办")
    applicant.fill("input[name=handler_phone]", "13800000000")
    applicant.check("input[name=commitment]")
    applicant.check("input[name=confidentiality]")
    # a renamed program is refused, the typed values stay, the page asks to choose the file again
    applicant.set_input_files("input[name=approval_doc]", files=[
        {"name": "批文.pdf", "mimeType": "application/pdf", "buffer": b"MZ\x90\x00" + b"\x00" * 200}])
    applicant.click("button:has-text(\"提交申请\")")
    expect(applicant.locator(".field[data-field=approval_doc] .error[role=alert]")).to_contain_text("扩展名与内容不符")
    expect(applicant.locator(".field[data-field=approval_doc] .reselect")).to_contain_text("请重新选择文件")
    expect(applicant.locator("textarea[name=purpose]")).to_have_value("学院学生综合测评系统核对学生身份")
    assert [e for e in errors if "422" not in e] == []
    errors.clear()  # the browser logs the refused submission's 422 status
    applicant.check("input[name=commitment]")  # (checkboxes come back as typed; ticking again is harmless)
    applicant.set_input_files("input[name=approval_doc]", files=[
        {"name": "项目批文.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    applicant.click("button:has-text(\"提交申请\")")
    expect(applicant.locator(".flash-success")).to_contain_text("申请已提交")
    rid = int(re.search(r"/requests/(\d+)", applicant.url).group(1))
    expect(applicant.locator("#attachments")).to_contain_text("项目批文.pdf")
    _clean(applicant, errors, size)
    applicant.context.close()

    head, errors = _page(browser, base, "cs_head", size)
    head.goto(f"{base}/requests/{rid}")
    card = head.locator("#attachments")
    expect(card).to_contain_text("项目批文.pdf")
    expect(card).to_contain_text(f"{len(PDF)} B")
    expect(head.locator("table.history")).to_contain_text("项目批文.pdf")
    card.scroll_into_view_if_needed()
    head.screenshot(path=str(screenshots / f"issue11-attachments-{size}.png"), full_page=True)
    with head.expect_download() as info:
        card.get_by_role("link", name="项目批文.pdf").click()
    download = info.value
    assert download.suggested_filename == "项目批文.pdf"
    assert open(download.path(), "rb").read() == PDF
    _clean(head, errors, size)
    head.context.close()
