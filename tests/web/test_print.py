"""The printable 审批单 (附件1 申请表, 附件2 保密协议): the A4 page and the PDF, rendered offline with Chinese fonts."""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from app.web.pdf import BASE_URL, html_to_pdf, static_file

from .journey import act, request_json, submit

APPROVE = {"decision": "approve", "opinion": "同意"}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture()
def listener():
    """A loopback HTTP server that records every request: nothing may reach it while a PDF is rendered."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def _box(page: str, name: str) -> str:
    match = re.search(rf'id="box-{name}">(.*?)</td>', page, re.S)
    assert match, f"no box {name}"
    return match.group(1)


def _disputed_request(login, purpose: str) -> tuple[int, object]:
    """附件1 with every box filled: a provider refuses, the applicant objects, 网信办 decides, 网信中心 delivers."""
    handler, head, nic_head, nic_staff = (login(u) for u in ("cs_handler", "cs_head", "nic_head", "nic_staff"))
    student_head, hr_head, cac = login("student_head"), login("hr_head"), login("cac")
    rid = submit(handler, {"student_basic": ["xh", "sfzh"], "staff_basic": ["gh"]}, purpose=purpose)
    act(head, rid, {"decision": "approve", "opinion": "同意，承诺遵守管理办法"})
    act(nic_head, rid, {"decision": "approve", "opinion": "同意转数据提供部门"})
    act(student_head, rid, {"decision": "refuse", "opinion": "身份证号属个人敏感信息",
                            "legal_basis": "《个人信息保护法》第二十八条"})
    act(hr_head, rid, {"decision": "approve", "opinion": "同意提供工号"})
    act(handler, rid, {"action": "object", "reason": "综合测评需核对身份证号"})
    act(nic_head, rid, {"conclusion": "refer", "opinion": "报请网信办决定"})
    act(cac, rid, {"decision": "provide", "opinion": "在加密前提下予以提供"})
    act(nic_staff, rid, {"method": "interface", "note": "加密接口"})
    return rid, handler


def test_print_page_and_pdf_carry_the_application_every_opinion_and_the_agreement(login, listener):
    base, hits = listener
    purpose = (f'用于学生综合测评 <img src="{base}/purpose.png"> '
               f'<div style="background:url({base}/bg.png)">x</div>')
    rid, handler = _disputed_request(login, purpose)
    view = request_json(handler, rid)

    show = handler.get(f"/requests/{rid}").get_data(as_text=True)
    assert f'href="/requests/{rid}/print" id="print-link">打印审批单</a>' in show

    resp = handler.get(f"/requests/{rid}/print")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    page = resp.get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/css/print.css">' in page
    assert "兰州理工大学信息化数据资源使用申请表" in page and "兰州理工大学数据共享保密协议" in page
    assert '<td id="sheet-department">计算机与通信学院</td>' in page
    assert html.escape(view["title"]) in page
    resources = re.search(r'id="sheet-resources">(.*?)</table>', page, re.S).group(1)
    assert "学生基本信息" in resources and "学号、身份证号" in resources and "有条件共享类" in resources
    assert "教职工基本信息" in resources and "人事处" in resources
    for value in ("李主任", "0931-2973000", "王经办", "13800000000"):
        assert value in page
    # the purpose is text: its markup is escaped, never an element of the sheet
    assert f'<img src="{base}' not in page and f"url({base}/bg.png)" in page
    assert "&lt;img src=&#34;" in page or "&lt;img src=&quot;" in page

    names = {h["opinion"]: h["user"] for h in view["history"] if h["action"] == "complete"}
    assert _box_has(page, "commitment", "同意，承诺遵守管理办法", names, "附件1 部门承诺")
    assert _box_has(page, "nic", "同意转数据提供部门", names, "第二十二条")
    assert _box_has(page, "nic", "报请网信办决定", names, "第二十二条第三款")
    assert _box_has(page, "provider", "身份证号属个人敏感信息", names, "第二十一条")
    assert "不予提供所依据的法律、法规：《个人信息保护法》第二十八条" in _box(page, "provider")
    assert _box_has(page, "provider", "同意提供工号", names, "第二十一条")
    assert _box_has(page, "dispute", "在加密前提下予以提供", names, "第六条、第二十二条第三款")
    assert "部门承诺遵守学校信息化数据资源管理办法规定" in _box(page, "commitment")
    # every step of the history is in the record, with its date
    record = re.search(r'id="sheet-record">(.*?)</section>', page, re.S).group(1)
    assert record.count("<tr>") - 1 == len([h for h in view["history"] if not h["action"].startswith("notify_")])
    agreement = re.search(r'id="sheet-agreement">(.*?)</div>', page, re.S).group(1)
    assert "乙方（数据使用方）：计算机与通信学院" in agreement and "{applicant_department}" not in page
    assert "甲方：网络与信息中心" in agreement
    assert f"负责人（签字）：{names['同意，承诺遵守管理办法']}" in page  # 乙方's head signed the commitment

    resp = handler.get(f"/requests/{rid}/print.pdf")
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/pdf"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="') and f"-{rid}.pdf" in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"数据资源共享审批单-{rid}.pdf"
    pdf = resp.data
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:] and len(pdf) > 10_000
    assert hits == []  # neither the escaped markup nor anything else made WeasyPrint open a connection

    out = ARTIFACTS / "approval-sheet.pdf"
    ARTIFACTS.mkdir(exist_ok=True)
    out.write_bytes(pdf)
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
        assert int(re.search(r"Pages:\s+(\d+)", info).group(1)) >= 2
        assert "A4" in info
    else:
        assert len(re.findall(rb"/Type\s*/Page\b", pdf)) >= 2
    if shutil.which("pdffonts"):
        fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout
        assert "Noto-Serif-CJK-SC" in fonts or "Noto-Sans-CJK-SC" in fonts  # Chinese glyphs, embedded
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
        flat = re.sub(r"\s+", "", text)
        for words in (view["title"], "兰州理工大学信息化数据资源使用申请表", "乙方（数据使用方）：计算机与通信学院",
                      "《个人信息保护法》第二十八条", "在加密前提下予以提供", names["在加密前提下予以提供"]):
            assert re.sub(r"\s+", "", words) in flat, words
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(out),
                        str(ARTIFACTS / "approval-sheet-page1")], check=True)
        assert (ARTIFACTS / "approval-sheet-page1.png").stat().st_size > 10_000


def _box_has(page: str, box: str, opinion: str, names: dict[str, str], basis: str) -> bool:
    """The box holds the opinion, who gave it, its date and the article it rests on."""
    text = _box(page, box)
    at = text.find(opinion)
    assert at >= 0, f"{opinion} not in box {box}"
    item = text[text.rfind("<li", 0, at):text.find("</li>", at)]
    assert f'<span class="name">{names[opinion]}</span>' in item, item
    assert re.search(r"\d{4} 年 \d{2} 月 \d{2} 日", item), item
    assert f"依据：《管理办法》{basis}" in item, item
    return True


def test_unconditional_request_says_no_provider_review_is_needed(login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})
    act(head, rid, APPROVE)
    page = handler.get(f"/requests/{rid}/print").get_data(as_text=True)
    assert "无需数据提供部门审批" in _box(page, "provider")
    assert "网信中心尚未审核" in _box(page, "nic")
    assert "负责人（签字）：</td>" in page  # 甲方 has not signed yet: the line stays blank


def test_outsider_gets_403_and_a_missing_request_404(login):
    handler, outsider = login("cs_handler"), login("me_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    for url in (f"/requests/{rid}/print", f"/requests/{rid}/print.pdf"):
        resp = outsider.get(url)
        assert resp.status_code == 403 and b"%PDF" not in resp.data
        assert handler.get(url.replace(str(rid), "999999")).status_code == 404
    assert outsider.get(f"/requests/{rid}/print.pdf").mimetype == "text/html"


def test_anonymous_is_sent_to_login(client, login):
    rid = submit(login("cs_handler"), {"course_schedule": ["kch"]})
    resp = client.get(f"/requests/{rid}/print.pdf")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_pdf_answers_503_in_chinese_when_weasyprint_cannot_load(login, monkeypatch):
    handler = login("cs_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # `import weasyprint` raises ImportError
    resp = handler.get(f"/requests/{rid}/print.pdf")
    assert resp.status_code == 503
    assert "PDF 生成组件不可用" in resp.get_data(as_text=True)
    assert handler.get(f"/requests/{rid}/print").status_code == 200  # the print page still works


def test_static_file_serves_only_this_apps_static_files(app):
    folder = app.static_folder
    content, mime = static_file(f"{BASE_URL}static/css/print.css", folder)
    assert b"@page" in content and mime == "text/css"
    for url in ("http://127.0.0.1:9/static/css/print.css", "https://print.invalid/static/css/print.css",
                "file:///etc/passwd", f"{BASE_URL}static/../../config.py", f"{BASE_URL}static/%2e%2e/config.py",
                f"{BASE_URL}config.py", f"{BASE_URL}static/css/missing.css", "data:text/css,body{}"):
        with pytest.raises(ValueError):
            static_file(url, folder)


def test_pdf_renderer_opens_no_connection_even_for_real_external_references(app, listener):
    base, hits = listener
    doc = (f'<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="{base}/x.css">'
           f'<link rel="stylesheet" href="/static/css/print.css">'
           f"<style>@import url({base}/y.css); body {{ background: url({base}/bg.png) }}"
           f"@font-face {{ font-family: X; src: url({base}/f.woff) }}</style></head>"
           f'<body><h1>审批单</h1><img src="{base}/a.png"><img src="file:///etc/passwd">'
           f'<iframe src="{base}/frame"></iframe><object data="{base}/o"></object></body></html>')
    with app.test_request_context("/"):
        pdf = html_to_pdf(doc)
    assert pdf.startswith(b"%PDF-")
    assert hits == []
