"""Small defects users saw (issue 11): the favicon, Chinese names where the UI showed tool names."""
from __future__ import annotations


def test_favicon_is_served_not_404(client):
    resp = client.get("/favicon.ico")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    assert b"<svg" in resp.data


def test_pages_link_the_icon(login):
    page = login("cs_handler").get("/inbox").get_data(as_text=True)
    assert 'rel="icon"' in page and "favicon.svg" in page


def test_versions_deployed_from_the_command_line_name_the_system_not_a_command(login):
    page = login("admin").get("/admin/processes/share_request").get_data(as_text=True)
    assert "系统（命令行部署）" in page and "flask deploy" not in page
