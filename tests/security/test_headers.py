"""Security headers on every kind of response, templates without inline script, and diagrams served only as
downloads (an SVG/XHTML payload in <documentation> never renders inline)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import create_app
from app.web.downloads import content_disposition
from app.web.security_headers import CONTENT_SECURITY_POLICY

from ..conftest import _Config

ROOT = Path(__file__).resolve().parents[2]
SHARE_XML = (ROOT / "bpmn" / "share_request.bpmn").read_text(encoding="utf-8")

EXPECTED = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _csp(value: str) -> dict[str, list[str]]:
    directives = {}
    for part in filter(None, (p.strip() for p in value.split(";"))):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def _assert_page_headers(resp, what: str) -> None:
    for name, value in EXPECTED.items():
        assert resp.headers.get(name) == value, f"{what}: {name}={resp.headers.get(name)!r}"
    assert "camera=()" in resp.headers["Permissions-Policy"], what
    csp = _csp(resp.headers["Content-Security-Policy"])
    assert csp["script-src"] == ["'self'"] and csp["default-src"] == ["'self'"], what
    assert csp["style-src"] == ["'self'"], what
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"], what
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"], what
    assert csp["img-src"] == ["'self'", "data:"], what
    assert "unsafe" not in resp.headers["Content-Security-Policy"], what
    assert "Strict-Transport-Security" not in resp.headers, f"{what}: HSTS on plain HTTP"


def test_every_kind_of_response_carries_the_headers(client, login):
    anonymous = [
        ("login page", client.get("/login"), 200),
        ("redirect to login", client.get("/inbox"), 302),
        ("static file", client.get("/static/css/app.css"), 200),
        ("static JS", client.get("/static/js/diagram.js"), 200),
        ("404 page", client.get("/no/such/page"), 404),
        ("API 401 JSON", client.get("/api/v1/catalog"), 401),
        ("405", client.put("/login"), 405),
        ("CSRF error", client.post("/login", data={"username": "admin", "password": "x"}), 400),
        ("hostile input refused before the view", client.get("/login?next=%00"), 400),
        ("id beyond the integer range", client.get("/requests/99999999999999999999"), 404),
    ]
    handler = login("cs_handler")
    signed_in = [
        ("inbox", handler.get("/inbox"), 200),
        ("API JSON", handler.get("/api/v1/catalog"), 200),
        ("403 page", handler.get("/admin/processes"), 403),
        ("API 404 JSON", handler.get("/api/v1/requests/999999"), 404),
        ("redirect after a form", handler.post("/notifications/read"), 302),
    ]
    for what, resp, status in anonymous + signed_in:
        assert resp.status_code == status, f"{what}: {resp.status_code}"
        _assert_page_headers(resp, what)


def test_an_unexpected_error_page_carries_the_headers_too():
    app = create_app(_Config)

    @app.get("/boom")
    def boom():
        raise RuntimeError("unexpected")

    resp = app.test_client().get("/boom")
    assert resp.status_code == 500 and "服务器内部错误" in resp.get_data(as_text=True)
    _assert_page_headers(resp, "500 page")


def test_hsts_only_over_https(client):
    resp = client.get("/login", base_url="https://localhost")
    assert resp.headers["Strict-Transport-Security"].startswith("max-age=")


# --- no inline script anywhere the CSP would have to allow it ---------------------------------------------------

INLINE = {
    "event handler attribute": re.compile(r"<[^>]*\s on[a-z]+\s*=", re.I | re.X),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "inline <script> with code": re.compile(r"<script(?![^>]*\ssrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "<style> block": re.compile(r"<style[\s>]", re.I),
}


def test_templates_and_our_scripts_carry_no_inline_script_or_style():
    files = sorted((ROOT / "app" / "templates").rglob("*.html")) + sorted((ROOT / "app" / "static" / "js").glob("*.js"))
    assert len(files) > 10
    found = [f"{path.relative_to(ROOT)}: {what}" for path in files for what, pattern in INLINE.items()
             if pattern.search(path.read_text(encoding="utf-8"))]
    assert found == []
    assert "<script" in (ROOT / "app/templates/admin/modeler.html").read_text(encoding="utf-8")  # the regex can match
    assert INLINE["inline <script> with code"].search("<script>alert(1)</script>")
    assert not INLINE["inline <script> with code"].search('<script id="x" type="application/json">{}</script>')
    assert INLINE["event handler attribute"].search('<button type="button" onclick="go()">')
    assert INLINE["style attribute"].search('<input value="5" style="width:5em">')


def test_vendored_bpmn_js_needs_no_eval():
    for bundle in (ROOT / "app/static/vendor/bpmn-js").glob("*.production.min.js"):
        text = bundle.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.$])eval\(|new Function\(", text), bundle.name
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY


# --- diagrams are downloads ---------------------------------------------------------------------------------------

PAYLOAD = ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)">'
           '<script>alert(document.domain)</script>'
           '<foreignObject><html xmlns="http://www.w3.org/1999/xhtml"><script>alert(2)</script></html>'
           '</foreignObject></svg>')


@pytest.fixture()
def admin(login):
    b = login("admin")
    b.json = lambda url, body: b.client.post(url, json=body, headers={"X-CSRFToken": b.csrf})
    return b


def test_a_diagram_with_an_svg_payload_is_only_ever_a_download(admin, login):
    start = '<bpmn:process id="share_request" name="信息化数据资源共享申请" isExecutable="true">'
    xml = SHARE_XML.replace(start, f"{start}<bpmn:documentation>{PAYLOAD}</bpmn:documentation>", 1)
    assert PAYLOAD in xml
    resp = admin.json("/admin/definitions", {"xml": xml, "file_name": "evil.bpmn"})
    assert resp.status_code == 201, resp.get_data(as_text=True)
    definition_id, version = resp.get_json()["definition_id"], resp.get_json()["version"]

    for user in ("cs_handler", "admin"):
        for url in (f"/definitions/{definition_id}.bpmn", f"/definitions/{definition_id}.bpmn?download=1"):
            resp = login(user).get(url)
            assert resp.status_code == 200
            assert resp.headers["Content-Disposition"] == f'attachment; filename="share_request-v{version}.bpmn"'
            assert resp.mimetype == "application/octet-stream"
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            # should a browser render it anyway: an opaque origin, no script, no frame
            assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
            assert resp.headers["X-Frame-Options"] == "DENY"
            assert PAYLOAD in resp.get_data(as_text=True)  # unchanged for bpmn-js, which reads it with fetch()


def test_an_unknown_diagram_is_a_404_page_with_the_headers(login):
    resp = login("cs_handler").get("/definitions/999999.bpmn")
    assert resp.status_code == 404 and "Content-Disposition" not in resp.headers
    _assert_page_headers(resp, "missing diagram")


@pytest.mark.parametrize(("name", "expected"), [
    ("share_request-v3.bpmn", 'attachment; filename="share_request-v3.bpmn"'),
    ("流程-v2.bpmn", "attachment; filename=\"v2.bpmn\"; filename*=UTF-8''%E6%B5%81%E7%A8%8B-v2.bpmn"),
    ('a"b;\r\nSet-Cookie: x=1.bpmn',
     "attachment; filename=\"a_b__Set-Cookie_x_1.bpmn\"; filename*=UTF-8''a%22b%3B_Set-Cookie%3A%20x%3D1.bpmn"),
    ("../../etc/passwd", "attachment; filename=\"etc_passwd\"; filename*=UTF-8''.._.._etc_passwd"),
    ("..", 'attachment; filename="download"; filename*=UTF-8\'\'..'),
])
def test_download_names_are_quoted_per_rfc_6266_and_5987(name, expected):
    assert content_disposition(name) == expected
