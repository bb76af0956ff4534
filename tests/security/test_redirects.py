"""Redirects back to the posting page never leave the site, whatever the Referer says."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ..web.journey import my_task, submit


@pytest.mark.parametrize("referer", ["javascript:alert(1)", "//evil.example/inbox", "http://evil.example/inbox",
                                     "https://localhost.evil.example/inbox", "http://localhost/\\evil.example",
                                     "http://localhost/%09/evil.example", ""])
def test_claim_never_redirects_off_site(login, referer):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"student_basic": ["xh", "xm"]})
    resp = head.post(f"/tasks/{my_task(head, rid)}/claim", headers={"Referer": referer})
    assert resp.status_code == 302
    location = resp.headers["Location"]
    parts = urlsplit(location)
    assert parts.scheme in ("", "http") and parts.netloc in ("", "localhost"), location
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location
    assert not any(c.isspace() for c in location)
    if "evil" not in referer:
        assert location == "/inbox"


def test_claim_goes_back_to_the_page_of_this_site_it_came_from(login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"student_basic": ["xh", "xm"]})
    resp = head.post(f"/tasks/{my_task(head, rid)}/claim", headers={"Referer": f"http://localhost/requests/{rid}"})
    assert resp.headers["Location"] == f"/requests/{rid}"


def test_admin_actions_never_redirect_off_site(login):
    handler, admin = login("cs_handler"), login("admin")
    rid = submit(handler, {"student_basic": ["xh", "xm"]})
    resp = admin.post(f"/admin/instances/{rid}/suspend", {"reason": "核查"}, headers={"Referer": "//evil.example/"})
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/admin/instances"
    assert admin.get(f"/api/v1/requests/{rid}").get_json()["status"] == "suspended"
