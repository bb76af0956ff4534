"""Every audit action has a Chinese label (app/services/security/audit.py ACTION_LABELS): the code is scanned for
the actions it writes — audit.record("…"), action="…" handed to progress.persist/record_failure/form saves, the
"action" of a timer's or a completion's step, *_ACTION constants, end_sessions(reason=…) — and the pages showing
the audit trail (the request page's 处理记录, the 审批单, its API) never show a raw English action code."""
from __future__ import annotations

import ast
import io
import json
import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.extensions import db
from app.models import AddedSigner, AuditLog, Delegation
from app.services.people.delegations import today
from app.services.security.audit import ACTION_LABELS

from ..web.journey import act, application_form, my_task, submit
from .hostile_support import COSIGNER, _api, build_scene, issue_token

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

APP_DIR = Path(__file__).resolve().parents[2] / "app"
ACTION_CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
DYNAMIC_PREFIXES = ("notify_",)  # audit.record(f"notify_{event}"): labelled 系统通知 unless listed (requests.history)


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level NAME = "text" and NAME_A, NAME_B = "a", "b"."""
    out: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            if isinstance(target, ast.Name) and isinstance(node.value, ast.Constant) and \
                    isinstance(node.value.value, str):
                out[target.id] = node.value.value
            elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                for name, value in zip(target.elts, node.value.elts, strict=False):
                    if isinstance(name, ast.Name) and isinstance(value, ast.Constant) and isinstance(value.value, str):
                        out[name.id] = value.value
    return out


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _owner(func: ast.expr) -> str:
    return func.value.id if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) else ""


def scanned_actions() -> dict[str, set[str]]:
    """{action code: {file:line, ...}} for every audit action the code writes; dynamic ones by their prefix."""
    found: dict[str, set[str]] = {}

    def add(value: ast.expr | None, constants: dict[str, str], where: str) -> None:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            found.setdefault(value.value, set()).add(where)
        elif isinstance(value, ast.Name) and value.id in constants:
            found.setdefault(constants[value.id], set()).add(where)
        elif isinstance(value, ast.JoinedStr) and value.values and isinstance(value.values[0], ast.Constant):
            found.setdefault(f"{value.values[0].value}*", set()).add(where)

    for path in sorted(APP_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _constants(tree)
        rel = path.relative_to(APP_DIR.parent)
        for node in ast.walk(tree):
            where = f"{rel}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                name, owner = _name(node.func), _owner(node.func)
                if name == "record" and owner == "audit" and node.args:
                    add(node.args[0], constants, where)
                if name in ("persist", "record_failure", "save", "record", "_save_step") or owner == "progress":
                    for kw in node.keywords:
                        if kw.arg == "action":
                            add(kw.value, constants, where)
                if name == "end_sessions":
                    add(node.args[1] if len(node.args) > 1 else None, constants, where)
                    for kw in node.keywords:
                        if kw.arg == "reason":
                            add(kw.value, constants, where)
            elif isinstance(node, ast.Dict) and path.parent.name == "workflow" and path.stem in ("timers", "tasks"):
                for key, value in zip(node.keys, node.values, strict=False):  # steps handed to persist(**step)
                    if isinstance(key, ast.Constant) and key.value == "action":
                        add(value, constants, where)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for arg, default in zip(node.args.args[::-1], node.args.defaults[::-1], strict=False):
                    if arg.arg == "action" or (node.name == "end_sessions" and arg.arg == "reason"):
                        add(default, constants, where)
                for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults, strict=False):
                    if arg.arg == "action" and default is not None:
                        add(default, constants, where)
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("_ACTION")
                                                      for t in node.targets):
                add(node.value, constants, where)
    return found


def test_the_scan_finds_the_actions_of_every_feature():
    found = scanned_actions()
    for action in ("submit", "complete", "claim", "timer", "return_to", "withdraw", "recall", "add_signer",
                   "sign_answer", "sign_cancel", "delegate", "delegation_revoked", "attachment_upload",
                   "attachment_cleanup", "form_create", "form_import", "transfer", "cc", "logout",
                   "cas_single_logout", "catalog_update", "notify_*"):
        assert action in found, action


def test_every_audit_action_written_anywhere_has_a_chinese_label():
    missing = {action: sorted(where)[:3] for action, where in scanned_actions().items()
               if not action.endswith("*") and action not in ACTION_LABELS}
    assert not missing, f"actions without a label in ACTION_LABELS: {missing}"
    dynamic = {a for a in scanned_actions() if a.endswith("*")}
    assert dynamic <= {f"{p}*" for p in DYNAMIC_PREFIXES}, dynamic


def test_every_label_is_chinese_and_every_key_an_action_code():
    for action, label in ACTION_LABELS.items():
        assert ACTION_CODE.fullmatch(action), action
        assert label.strip() and re.search(r"[\u4e00-\u9fff]", label), (action, label)
        assert not ACTION_CODE.fullmatch(label), (action, label)


def _raw_codes(text: str, codes: set[str]) -> set[str]:
    """Action codes standing as words of the visible text (not inside a longer identifier, URL or attribute)."""
    visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", text, flags=re.S)
    return {c for c in codes if re.search(rf"(?<![\w/.-]){re.escape(c)}(?![\w/.-])", visible)}


def test_the_history_pages_show_no_raw_action_codes(app, login):
    """A request that went through 前加签, 退回, a resubmission, a completion, 收回 and 撤回-free steps: its page, its
    审批单 and its API history label every row in Chinese."""
    handler, head, cosigner = login("cs_handler"), login("cs_head"), login("academic_head")
    csrf = {"X-CSRFToken": head.csrf}
    rid = submit(handler, {"course_schedule": ["kch"]})
    task_id = my_task(head, rid)
    resp = head.client.post(f"/api/v1/tasks/{task_id}/add-signer", headers=csrf,
                            json={"user": "academic_head", "position": "before", "reason": "请提意见"})
    assert resp.status_code == 201, resp.get_json()
    resp = cosigner.client.post(f"/api/v1/signatures/{resp.get_json()['id']}/answer",
                                headers={"X-CSRFToken": cosigner.csrf}, json={"agree": True, "opinion": "同意"})
    assert resp.status_code == 200, resp.get_json()
    resp = head.client.post(f"/api/v1/tasks/{task_id}/return", headers=csrf,
                            json={"target": "fill_application", "reason": "请补充用途"})
    assert resp.status_code == 200, resp.get_json()
    act(handler, rid, application_form(handler, {"course_schedule": ["kch"]}), form_key="share_application")
    done = act(head, rid, {"decision": "approve", "opinion": "同意"})
    resp = head.client.post(f"/api/v1/tasks/{done}/recall", headers=csrf, json={"reason": "意见需修改"})
    assert resp.status_code == 200, resp.get_json()
    head.client.post(f"/api/v1/tasks/{resp.get_json()['new_task_id']}/claim", headers=issue_token(app, "cs_head"))

    with app.app_context():
        written = set(db.session.scalars(select(AuditLog.action).where(AuditLog.instance_id == rid)))
    assert {"submit", "add_signer", "sign_answer", "return_to", "complete", "recall"} <= written, written
    codes = set(ACTION_LABELS) | written
    for url in (f"/requests/{rid}", f"/requests/{rid}/print"):
        page = head.get(url)
        assert page.status_code == 200, url
        html = page.get_data(as_text=True)
        assert not _raw_codes(html, written), (url, _raw_codes(html, written))
        for action in written:
            assert ACTION_LABELS[action] in html, (url, action)
    history = head.get(f"/api/v1/requests/{rid}").get_json()["history"]
    assert history and all(h["action_label"] == ACTION_LABELS.get(h["action"], "系统通知") for h in history)
    assert not any(h["action_label"] in codes for h in history)


def _last_actions(app, since: int) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditLog.action).where(AuditLog.id > since).order_by(AuditLog.id)))


def _max_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.coalesce(func.max(AuditLog.id), 0)))


def test_every_state_change_of_the_new_features_writes_a_labelled_audit_row(app, login):
    """Each successful write of 加签 (add, answer, cancel), 退回, 收回, 撤回, 委托 (set, revoke), 抄送, an upload and
    the form designer (create, save, import) leaves its own audit row, with a Chinese label."""
    scene = build_scene(login)
    head, handler, cosigner, admin = scene["head"], scene["handler"], login(COSIGNER), login("admin")
    form = {"key": "hard_report", "title": "加固测试报告", "fields": [{"name": "summary", "label": "摘要",
                                                                   "type": "textarea", "required": True}]}
    start = (today() + timedelta(days=1)).isoformat()
    fresh = submit(handler, {"course_schedule": ["kch"]})  # nobody has acted on it: it may be withdrawn
    steps = [
        ("sign_answer", lambda: _api(cosigner, "POST", f"/api/v1/signatures/{scene['signature']}/answer",
                                     {"agree": True, "opinion": "同意"})),
        ("add_signer", lambda: _api(head, "POST", f"/api/v1/tasks/{scene['task']}/add-signer",
                                    {"user": COSIGNER, "position": "before", "reason": "请提意见"})),
        ("sign_cancel", lambda: _api(head, "POST", f"/api/v1/signatures/{_pending(app, scene['task'])}/cancel", {})),
        ("cc", lambda: _api(head, "POST", f"/api/v1/tasks/{scene['task']}/cc",
                            {"users": ["cs_handler"], "note": "知悉"})),
        ("return_to", lambda: _api(head, "POST", f"/api/v1/tasks/{scene['task']}/return",
                                   {"target": "fill_application", "reason": "请补充"})),
        ("recall", lambda: _api(head, "POST", f"/api/v1/tasks/{scene['done_task']}/recall", {"reason": "再看看"})),
        ("withdraw", lambda: _api(handler, "POST", f"/api/v1/requests/{fresh}/withdraw", {"reason": "不再需要"})),
        ("delegate", lambda: _api(head, "POST", "/api/v1/delegations", {"deputy": "cs_handler", "starts_on": start,
                                                                         "ends_on": start, "reason": "出差"})),
        ("delegation_revoked", lambda: _api(head, "DELETE", f"/api/v1/delegations/{_delegation(app)}")),
        ("attachment_upload", lambda: handler.client.post(
            "/api/v1/attachments", data={"field": "approval_doc", "file": (io.BytesIO(PDF), "a.pdf")},
            content_type="multipart/form-data", headers={"X-CSRFToken": handler.csrf})),
        ("form_create", lambda: admin.post("/admin/forms/new", {"definition": json.dumps(form)})),
        ("form_save", lambda: admin.post("/admin/forms/hard_report",
                                         {"definition": json.dumps({**form, "title": "加固测试报告（二）"})})),
        ("form_import", lambda: admin.post("/admin/forms/import", {"file": (io.BytesIO(json.dumps(
            {**form, "title": "加固测试报告（三）"}).encode()), "hard_report.json")},
            content_type="multipart/form-data")),
    ]
    for action, call in steps:
        since = _max_id(app)
        resp = call()
        assert resp.status_code in (200, 201, 302, 303), (action, resp.status_code, resp.get_data(as_text=True)[:300])
        written = _last_actions(app, since)
        assert action in written, (action, written)
        assert all(a in ACTION_LABELS or a.startswith("notify_") for a in written), written


def _pending(app, task_id: int) -> int:
    with app.app_context():
        return db.session.scalar(select(AddedSigner.id).where(AddedSigner.task_id == task_id,
                                                              AddedSigner.status == "pending"))


def _delegation(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.max(Delegation.id)))
