"""Attachments (issue 11): file fields on task and start forms over HTTP — upload and download, dedup by SHA-256,
the request page's access, size (413) and type (422) refusals that store nothing, the API's upload-then-bind, the
cleanup of unbound uploads and hostile file names."""
from __future__ import annotations

import hashlib
import io
import os
import zipfile
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

from sqlalchemy import func, select, update

from app.extensions import db
from app.models import Attachment, ProcessInstance
from app.models.types import utcnow
from app.services.workflow import attachment_files, attachments

from .journey import application_form, my_task, request_json, submit

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"This program cannot be run in DOS mode" * 4
WANTED = {"student_basic": ["xh", "xm"]}  # provided by 学生处 only: 财务处 is not involved


def _files(app) -> list[Path]:
    with app.app_context():
        return sorted(p for _sha, p in attachment_files.stored_hashes())


def _rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Attachment))


def _instances(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ProcessInstance))


def _with_file(form: dict, name: str, content: bytes, field: str = "approval_doc") -> dict:
    return {**form, field: (io.BytesIO(content), name)}


def test_application_with_a_pdf_round_trip_and_the_department_head_downloads_it(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    page = handler.get("/requests/new").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'type="file" name="approval_doc"' in page
    assert 'accept=".pdf,.docx,.jpg,.png"' in page and "每个不超过 20 MB" in page
    form = _with_file(application_form(handler, WANTED), "项目批文（2026）.pdf", PDF)
    resp = handler.post("/requests/new", form, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    rid = int(resp.headers["Location"].rstrip("/").split("/")[-1])

    view = request_json(head, rid)
    [att] = view["attachments"]
    sha = hashlib.sha256(PDF).hexdigest()
    assert att["name"] == "项目批文（2026）.pdf" and att["size"] == len(PDF) and att["sha256"] == sha
    assert att["url"] == f"/attachments/{att['id']}" and att["by"] and att["step"]
    # task data keeps only the small reference, never the content
    submitted = next(h for h in view["history"] if h["action"] == "submit")
    assert submitted["attachments"][0]["id"] == att["id"]
    with app.app_context():
        row = db.session.get(Attachment, att["id"])
        assert (row.instance_id, row.task_id, row.field, row.content_type) == (rid, None, "approval_doc",
                                                                               "application/pdf")
        assert attachment_files.path_for(sha).read_bytes() == PDF

    html = head.get(f"/requests/{rid}").get_data(as_text=True)
    assert 'id="attachments"' in html and "项目批文（2026）.pdf" in html and f"/attachments/{att['id']}" in html
    assert "附件：" in html  # in the history row too, with its size
    resp = head.get(att["url"])
    assert resp.status_code == 200 and resp.data == PDF
    assert resp.mimetype == "application/pdf"
    disposition = resp.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "filename*=UTF-8''" in disposition
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "项目批文（2026）.pdf"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    # the printable 审批单 names it
    assert "项目批文（2026）.pdf" in head.get(f"/requests/{rid}/print").get_data(as_text=True)
    # the head's own task page shows the request's attachments
    task_id = my_task(head, rid)
    assert "项目批文（2026）.pdf" in head.get(f"/tasks/{task_id}").get_data(as_text=True)


def test_the_same_content_is_stored_once(app, login, token_for):
    handler = login("cs_handler")
    for n in range(2):
        form = _with_file(application_form(handler, WANTED, purpose=f"用于学院评估，第 {n + 1} 次申请核对数据"),
                          f"批文{n}.pdf", PDF)
        assert handler.post("/requests/new", form, content_type="multipart/form-data").status_code == 302
    resp = handler.client.post("/api/v1/attachments", headers=token_for("cs_handler"),
                               content_type="multipart/form-data",
                               data={"field": "approval_doc", "file": (io.BytesIO(PDF), "again.pdf")})
    assert resp.status_code == 201, resp.get_json()
    assert _rows(app) == 3
    files = _files(app)
    assert len(files) == 1 and files[0].name == hashlib.sha256(PDF).hexdigest()
    assert files[0].parent.name == files[0].name[2:4] and files[0].parent.parent.name == files[0].name[:2]


def test_only_those_who_may_see_the_request_download_and_a_cc_recipient_may(app, login):
    handler, head, stranger = login("cs_handler"), login("cs_head"), login("finance_head")
    rid = _submit_with_pdf(handler)
    att = request_json(handler, rid)["attachments"][0]
    resp = stranger.get(att["url"])
    assert resp.status_code == 403 and "无权" in resp.get_data(as_text=True)
    assert stranger.get(f"/requests/{rid}").status_code == 403  # exactly like the request page
    assert login("me_handler").get(att["url"]).status_code == 403
    assert head.get("/attachments/999999").status_code == 404
    task_id = my_task(head, rid)
    resp = head.post(f"/tasks/{task_id}/cc", {"users": ["finance_head"], "note": "请知悉"},
                     headers={"Referer": f"http://localhost/tasks/{task_id}"})
    assert resp.status_code == 302
    resp = stranger.get(att["url"])
    assert resp.status_code == 200 and resp.data == PDF
    assert login("supervisor").get(att["url"]).status_code == 200  # oversight roles see every request


def _submit_with_pdf(handler, name: str = "批文.pdf", content: bytes = PDF) -> int:
    form = _with_file(application_form(handler, WANTED), name, content)
    resp = handler.post("/requests/new", form, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return int(resp.headers["Location"].rstrip("/").split("/")[-1])


def test_a_file_over_max_mb_is_413_and_nothing_is_saved(app, login):
    handler = login("cs_handler")
    before = (_rows(app), _files(app), _instances(app))
    big = b"%PDF-1.4\n" + b"0" * (20 * 1024 * 1024)  # 20 MB + 9 bytes: over the field's max_mb, under the request cap
    form = _with_file(application_form(handler, WANTED, purpose="用于学院评估，核对学生身份信息"), "大文件.pdf", big)
    resp = handler.post("/requests/new", form, content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 413
    assert "超过 20 MB" in html and "项目批文、说明材料" in html and "请重新选择文件" in html
    assert "用于学院评估，核对学生身份信息" in html  # the other typed values are kept
    assert (_rows(app), _files(app), _instances(app)) == before


def test_a_request_over_max_content_length_is_413_in_chinese(app, login, token_for):
    handler = login("cs_handler")
    before = (_rows(app), _files(app), _instances(app))
    huge = b"%PDF-1.4\n" + b"0" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    resp = handler.post("/requests/new", _with_file(application_form(handler, WANTED), "巨大.pdf", huge),
                        content_type="multipart/form-data")
    assert resp.status_code == 413 and "上传内容过大" in resp.get_data(as_text=True)
    assert "25 MB" in resp.get_data(as_text=True)
    resp = handler.client.post("/api/v1/attachments", headers=token_for("cs_handler"),
                               content_type="multipart/form-data",
                               data={"field": "approval_doc", "file": (io.BytesIO(huge), "巨大.pdf")})
    assert resp.status_code == 413 and "上传内容过大" in resp.get_json()["error"]
    assert (_rows(app), _files(app), _instances(app)) == before


def test_wrong_types_and_a_renamed_exe_are_422_naming_the_field_and_nothing_is_saved(app, login):
    handler = login("cs_handler")
    before = (_rows(app), _files(app), _instances(app))
    for name, content, words in (("批文.pdf", EXE, "扩展名与内容不符"), ("批文.exe", EXE, "只接受"),
                                 ("图.gif", b"GIF89a" + b"\x00" * 20, "只接受"), ("伪装.png", PDF, "不是PNG"),
                                 ("空.pdf", b"", "空文件")):
        form = _with_file(application_form(handler, WANTED, purpose="用于学院评估，核对学生身份信息"), name, content)
        resp = handler.post("/requests/new", form, content_type="multipart/form-data")
        html = resp.get_data(as_text=True)
        assert resp.status_code == 422, (name, resp.status_code)
        assert "「项目批文、说明材料」" in html and words in html, (name, words)
        assert "请重新选择文件" in html and "用于学院评估，核对学生身份信息" in html
    assert (_rows(app), _files(app), _instances(app)) == before


def test_a_valid_file_is_not_stored_when_another_field_is_invalid(app, login):
    handler = login("cs_handler")
    before = (_rows(app), _files(app))
    form = _with_file(application_form(handler, WANTED, purpose=""), "批文.pdf", PDF)
    resp = handler.post("/requests/new", form, content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "请填写「用途」" in html
    assert "刚才选择的文件（批文.pdf）未保存，请重新选择文件" in html
    assert (_rows(app), _files(app)) == before


def test_api_upload_then_bind_and_foreign_or_used_ids_are_refused(app, login, token_for):
    handler = login("cs_handler")
    mine, other = token_for("cs_handler"), token_for("me_handler")
    client = handler.client

    def upload(headers, content=PDF, name="批文.pdf", field="approval_doc"):
        return client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                           data={"field": field, "file": (io.BytesIO(content), name)})

    resp = upload(mine)
    assert resp.status_code == 201, resp.get_json()
    up = resp.get_json()
    assert up["bound"] is False and up["name"] == "批文.pdf" and up["size"] == len(PDF) and up["id"]
    foreign = upload(other, PNG, "别人的.png").get_json()["id"]
    # the checks of a form's file apply to API uploads too
    assert upload(mine, EXE, "木马.pdf").status_code == 422
    assert upload(mine, PDF, "x.pdf", field="nonexistent").status_code == 422
    assert client.post("/api/v1/attachments", headers=mine, data={"field": "approval_doc"}).status_code == 422
    catalog = {r["code"]: r["id"] for r in client.get("/api/v1/catalog", headers=mine).get_json()["resources"]}
    body = {"purpose": "用于学院评估，核对学生身份信息", "head_name": "李主任", "head_phone": "13900000000",
            "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True,
            "resources": [{"resource_id": catalog["student_basic"], "fields": ["xh"]}]}
    before = _instances(app)
    resp = client.post("/api/v1/requests", headers=mine, json={**body, "approval_doc": [foreign]})
    assert resp.status_code == 422 and "approval_doc" in resp.get_json()["errors"]
    assert _instances(app) == before
    resp = client.post("/api/v1/requests", headers=mine, json={**body, "approval_doc": "not-a-list"})
    assert resp.status_code == 422 and "approval_doc" in resp.get_json()["errors"]
    resp = client.post("/api/v1/requests", headers=mine, json={**body, "approval_doc": [up["id"]]})
    assert resp.status_code == 201, resp.get_json()
    rid = resp.get_json()["id"]
    assert [a["id"] for a in resp.get_json()["attachments"]] == [up["id"]]
    with app.app_context():
        row = db.session.get(Attachment, up["id"])
        assert row.instance_id == rid and row.task_id is None
        assert db.session.get(Attachment, foreign).instance_id is None
    # used once: a second submission cannot take it
    resp = client.post("/api/v1/requests", headers=mine, json={**body, "approval_doc": [up["id"]]})
    assert resp.status_code == 422
    got = client.get(f"/api/v1/requests/{rid}", headers=mine).get_json()["attachments"]
    assert got[0]["url"] == f"/attachments/{up['id']}" and got[0]["size"] == len(PDF)
    # an unbound upload is its uploader's only
    assert login("me_handler").get(f"/attachments/{foreign}").status_code == 200
    assert handler.get(f"/attachments/{foreign}").status_code == 403


def test_cleanup_deletes_unbound_uploads_older_than_a_day_and_their_unused_content(app, login, token_for):
    handler = login("cs_handler")
    rid = _submit_with_pdf(handler)
    headers = token_for("cs_handler")

    def upload(content: bytes, name: str) -> int:
        resp = handler.client.post("/api/v1/attachments", headers=headers, content_type="multipart/form-data",
                                   data={"field": "approval_doc", "file": (io.BytesIO(content), name)})
        assert resp.status_code == 201
        return resp.get_json()["id"]

    old_png, old_pdf, fresh = upload(PNG, "旧.png"), upload(PDF, "旧.pdf"), upload(PNG + b"1", "新.png")
    with app.app_context():
        db.session.execute(update(Attachment).where(Attachment.id.in_([old_png, old_pdf]))
                           .values(uploaded_at=utcnow() - timedelta(hours=25)))
        db.session.commit()
        png_path = attachment_files.path_for(hashlib.sha256(PNG).hexdigest())
        old = (utcnow() - timedelta(hours=25)).timestamp()
        os.utime(png_path, (old, old))
        report = attachments.cleanup_unbound()
        assert report == {"rows": 2, "files": 1}
        assert db.session.get(Attachment, old_png) is None and db.session.get(Attachment, old_pdf) is None
        assert db.session.get(Attachment, fresh) is not None
        assert not png_path.exists()  # nothing else used that content
        assert attachment_files.path_for(hashlib.sha256(PDF).hexdigest()).exists()  # the bound PDF shares it
    assert handler.get(request_json(handler, rid)["attachments"][0]["url"]).data == PDF


def test_hostile_file_names_are_stored_safely(app, login):
    handler = login("cs_handler")
    cases = {"../../../etc/passwd.pdf": "passwd.pdf", "..\\..\\boot.ini.pdf": "boot.ini.pdf",
             "报告\u202efdp.exe.pdf": "报告fdp.exe.pdf", "x" * 1000 + ".pdf": "x" * 196 + ".pdf",
             "a;b=c.pdf": "a;b=c.pdf", ".hidden.pdf": "hidden.pdf", "   .pdf": "附件.pdf"}
    for sent, stored in cases.items():
        rid = _submit_with_pdf(handler, sent)
        [att] = request_json(handler, rid)["attachments"]
        assert att["name"] == stored, (sent, att["name"])
        resp = handler.get(att["url"])
        disposition = resp.headers["Content-Disposition"]
        assert resp.status_code == 200 and "\r" not in disposition and "\n" not in disposition
        assert "/" not in disposition.split("filename=")[1].split(";")[0] and "\u202e" not in unquote(disposition)
        with app.app_context():
            assert len(db.session.get(Attachment, att["id"]).filename) <= attachment_files.MAX_NAME
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 32
    assert attachments.values_in([{"id": 1, "name": "x", "size": 1, "sha256": "s"}, {"id": "2"}]) == [
        {"id": 1, "name": "x", "size": 1, "sha256": "s"}]
    field = {"name": "f", "label": "材料", "accept": [".pdf", ".jpg"]}
    assert attachment_files.check(field, "照片.JPEG", len(jpeg), jpeg) is None  # .jpeg is a .jpg
    assert "只接受" in attachment_files.check(field, "照片.jfif", len(jpeg), jpeg)
    assert attachment_files.safe_filename("a\x00b.pdf") == "ab.pdf"  # (browsers cannot send these few)
    assert attachment_files.safe_filename('"; rm -rf /;\r\n.pdf') == ";.pdf"
    assert attachment_files.safe_filename("C:\\Users\\王\\批文.pdf") == "批文.pdf"
    assert attachment_files.safe_filename("con\u200b\ufeff.pdf") == "con.pdf"
    # over HTTP a NUL in the name is refused by the input guard (400), nothing stored
    before = (_rows(app), _instances(app))
    resp = handler.post("/requests/new", _with_file(application_form(handler, WANTED), "a\x00b.pdf", PDF),
                        content_type="multipart/form-data")
    assert resp.status_code == 400
    assert (_rows(app), _instances(app)) == before


def test_a_start_form_with_evidence_and_a_form_without_files_stays_urlencoded(app, login):
    handler = login("cs_handler")
    page = handler.get("/processes/violation_case/new").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in page and 'name="evidence"' in page
    data = {"accused_department": "hr", "kind": "misuse", "facts": "人事处将共享的学生数据提供给校外培训机构",
            "related": "", "evidence": [(io.BytesIO(PNG), "截图1.png"), (io.BytesIO(PDF), "记录.pdf")]}
    resp = handler.post("/processes/violation_case/new", data, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    rid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    got = request_json(handler, rid)
    assert sorted(a["name"] for a in got["attachments"]) == ["截图1.png", "记录.pdf"]
    assert any(label == "证据材料" and "截图1.png" in value for label, value in got["start_summary"])
    head = login("cs_head")
    rid2 = submit(handler, WANTED)
    task_page = head.get(f"/tasks/{my_task(head, rid2)}").get_data(as_text=True)
    assert 'id="task-form"' in task_page and 'id="task-form" enctype' not in task_page


def _xlsx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:  # fixed dates: the same bytes every time
        z.writestr(zipfile.ZipInfo("[Content_Types].xml", (2026, 1, 1, 0, 0, 0)), "<Types/>")
        z.writestr(zipfile.ZipInfo("xl/workbook.xml", (2026, 1, 1, 0, 0, 0)), "<workbook/>")
    return out.getvalue()


def test_a_task_form_takes_files_and_a_docx_that_is_a_plain_zip_is_refused(app, login, token_for):
    handler = login("cs_handler")
    rid = submit(handler, WANTED)
    for user in ("cs_head", "nic_head", "student_head"):
        headers = token_for(user)
        task = next(t for t in handler.client.get("/api/v1/tasks", headers=headers).get_json()["tasks"]
                    if t["instance_id"] == rid)
        resp = handler.client.post(f"/api/v1/tasks/{task['task_id']}/complete", json={"decision": "approve"},
                                   headers=headers)
        assert resp.status_code == 200, resp.get_json()
    staff = login("nic_staff")
    task_id = my_task(staff, rid)
    page = staff.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'id="task-form" enctype="multipart/form-data"' in page and 'name="delivery_list"' in page
    before = (_rows(app), _files(app))
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("readme.txt", "not a workbook")
    data = {"method": "interface", "note": "接口地址 https://data.example.edu.cn/api/xs", "valid_months": "12"}
    resp = staff.post(f"/tasks/{task_id}", {**data, "delivery_list": (io.BytesIO(plain_zip.getvalue()), "清单.xlsx")},
                      content_type="multipart/form-data")
    assert resp.status_code == 422 and "「交付清单」" in resp.get_data(as_text=True)
    assert (_rows(app), _files(app)) == before
    resp = staff.post(f"/tasks/{task_id}", {**data, "delivery_list": (io.BytesIO(_xlsx()), "交付清单.xlsx")},
                      content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    got = request_json(staff, rid)["attachments"]
    assert [a["name"] for a in got] == ["交付清单.xlsx"]
    with app.app_context():
        row = db.session.get(Attachment, got[0]["id"])
        assert row.task_id == task_id and row.instance_id == rid and row.field == "delivery_list"
        assert row.content_type.endswith("spreadsheetml.sheet")
    resp = handler.get(got[0]["url"])  # the applicant sees the delivery's list
    assert resp.status_code == 200 and resp.data == _xlsx()


def test_backup_copies_the_attachment_store_beside_the_database_and_restore_brings_it_back(app, login, tmp_path):
    from app.services.operations import backup

    handler = login("cs_handler")
    _submit_with_pdf(handler)
    sha = hashlib.sha256(PDF).hexdigest()
    with app.app_context():
        store = attachment_files.root()
        copied = backup.copy_attachments(store, backup.attachments_dir(tmp_path / "share.backup"))
        assert copied == len(_files(app)) >= 1  # (earlier tests' content stays in the test store)
        kept = tmp_path / "share.backup.attachments" / sha[:2] / sha[2:4] / sha
        assert kept.read_bytes() == PDF
        assert backup.copy_attachments(store, tmp_path / "share.backup.attachments") == 0  # incremental
        restored = tmp_path / "restored"
        assert backup.copy_attachments(tmp_path / "share.backup.attachments", restored) == copied
        assert (restored / sha[:2] / sha[2:4] / sha).read_bytes() == PDF
        assert backup.copy_attachments(tmp_path / "missing", restored) == 0


def test_a_returned_application_offers_its_files_to_keep(app, login):
    handler, head = login("cs_handler"), login("cs_head")
    rid = _submit_with_pdf(handler, "第一版批文.pdf")
    first = request_json(handler, rid)["attachments"][0]
    resp = head.post(f"/tasks/{my_task(head, rid)}", {"decision": "return", "opinion": "请补充说明材料"})
    assert resp.status_code == 302
    task_id = my_task(handler, rid, "share_application")
    page = handler.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert f'name="approval_doc__keep" value="{first["id"]}" checked' in page and "保留已上传的 第一版批文.pdf" in page
    # a refused resubmission keeps the ticked file on offer, and asks for the new one again
    form = application_form(handler, WANTED, purpose="")
    resp = handler.post(f"/tasks/{task_id}", {**form, "approval_doc__keep": str(first["id"]),
                                              "approval_doc": (io.BytesIO(PNG), "补充.png")},
                        content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "保留已上传的 第一版批文.pdf" in html and "补充.png）未保存" in html
    resp = handler.post(f"/tasks/{task_id}", {**application_form(handler, WANTED),
                                              "approval_doc__keep": str(first["id"]),
                                              "approval_doc": (io.BytesIO(PNG), "补充.png")},
                        content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    view = request_json(handler, rid)
    latest = [h for h in view["history"] if h["attachments"]][-1]
    assert sorted(a["name"] for a in latest["attachments"]) == ["第一版批文.pdf", "补充.png"]
    assert sorted(a["name"] for a in view["attachments"]) == ["第一版批文.pdf", "补充.png"]  # each once
    with app.app_context():  # the kept one stays bound to the submission that first carried it
        assert db.session.get(Attachment, first["id"]).task_id is None


def test_the_scheduler_runs_the_cleanup_daily(app, login, token_for):
    from app import jobs

    scheduler = jobs.build_scheduler(app, blocking=False)
    try:
        job = next(j for j in scheduler.get_jobs() if j.id == "attachment-cleanup")
        assert "hour='3'" in str(job.trigger) and job.func is jobs.attachment_cleanup_job
    finally:
        jobs.shutdown()
    resp = login("cs_handler").client.post("/api/v1/attachments", headers=token_for("cs_handler"),
                                           content_type="multipart/form-data",
                                           data={"field": "approval_doc", "file": (io.BytesIO(PDF), "旧.pdf")})
    with app.app_context():
        db.session.execute(update(Attachment).where(Attachment.id == resp.get_json()["id"])
                           .values(uploaded_at=utcnow() - timedelta(days=2)))
        db.session.commit()
    jobs._app = app
    jobs.attachment_cleanup_job()
    assert _rows(app) == 0
