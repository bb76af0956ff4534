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


def test_application_time_is_beijing_time_and_kept_after_a_return_and_resubmission(login):
    import re

    from .journey import APPLICATION, act, application_form, my_task, submit

    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch"]})

    def shown() -> str:
        page = handler.get(f"/requests/{rid}").get_data(as_text=True)
        match = re.search(r'<dd id="submitted-at">([^<]*)</dd>', page)
        assert match, "no 申请时间 on the request page"
        return match.group(1)

    first = shown()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", first), first  # no raw ISO, no +08:00
    act(head, rid, {"decision": "return", "opinion": "用途写得不清楚"})
    task_id = my_task(handler, rid, "share_application")
    data = application_form(handler, {"course_schedule": ["kch"]}, purpose=APPLICATION["purpose"] + "（已补充）")
    assert handler.post(f"/tasks/{task_id}", data).status_code == 302
    again = shown()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", again), again
    assert again >= first
