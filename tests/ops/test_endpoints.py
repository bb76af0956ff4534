"""/healthz, /readyz and /metrics through the Flask client, and request ids and JSON log lines."""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy import select, text, update

from app.extensions import db
from app.models import TaskRecord, TimerRecord
from app.models.types import utcnow
from app.observability import JsonFormatter
from app.services.operations import ops

from ..web.journey import resource_ids
from ..web.test_api import _application

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")


def _submit_and_approve(client, login, app) -> int:
    runner = app.test_cli_runner()
    tokens = {u: {"Authorization": "Bearer " + runner.invoke(args=["users", "token", u]).output.strip()}
              for u in ("cs_handler", "cs_head")}
    catalog = resource_ids(login("cs_handler"))
    resp = client.post("/api/v1/requests", json=_application(catalog, {"research_projects": ["xmbh"]}),
                       headers=tokens["cs_handler"])
    assert resp.status_code == 201, resp.get_json()
    rid = resp.get_json()["id"]
    task = next(t for t in client.get("/api/v1/tasks", headers=tokens["cs_head"]).get_json()["tasks"]
                if t["instance_id"] == rid)
    resp = client.post(f"/api/v1/tasks/{task['task_id']}/complete", json={"decision": "approve"},
                       headers=tokens["cs_head"])
    assert resp.status_code == 200, resp.get_json()
    return rid


def test_healthz_needs_no_login_and_carries_the_security_headers(client):
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok"}
    assert all(h in resp.headers for h in SECURITY_HEADERS)
    assert len(resp.headers["X-Request-ID"]) == 32


def test_readyz_is_ready_on_a_migrated_database_and_names_no_secret(client, app):
    resp = client.get("/readyz")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "ready"
    assert body["checks"]["migrations"]["database"] == body["checks"]["migrations"]["code"] == list(ops.script_heads())
    assert body["checks"]["timers"] == {"ok": True, "pending": 0, "overdue": 0, "grace_seconds": 300,
                                        "oldest_lag_seconds": 0.0}
    raw = resp.get_data(as_text=True)
    assert app.config["SECRET_KEY"] not in raw and "sqlite" not in raw and "postgres" not in raw
    assert all(h in resp.headers for h in SECURITY_HEADERS)


def test_readyz_answers_503_when_a_timer_is_long_overdue_or_migrations_are_behind(client, login, app):
    rid = _submit_and_approve(client, login, app)
    with app.app_context():
        db.session.execute(update(TaskRecord).where(TaskRecord.instance_id == rid).values(due_at=None))
        db.session.add(TimerRecord(instance_id=rid, engine_task_id="t-overdue", element_id="overdue_timer",
                                   due_at=utcnow() - timedelta(minutes=10)))
        db.session.commit()
    body = client.get("/readyz").get_json()
    assert client.get("/readyz").status_code == 503
    assert body["checks"]["timers"]["overdue"] == 1 and body["checks"]["timers"]["oldest_lag_seconds"] >= 600
    with app.app_context():
        db.session.execute(update(TimerRecord).values(due_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    assert client.get("/readyz").status_code == 200  # due a minute ago: within the grace time
    with app.app_context():
        head = db.session.scalar(text("SELECT version_num FROM alembic_version"))
        db.session.execute(text("UPDATE alembic_version SET version_num = '5ec0a1sec000'"))
        db.session.commit()
    try:
        resp = client.get("/readyz")
        assert resp.status_code == 503
        assert resp.get_json()["checks"]["migrations"] == {"ok": False, "database": ["5ec0a1sec000"],
                                                          "code": [head]}
    finally:
        with app.app_context():
            db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})
            db.session.commit()


def test_readyz_answers_503_when_the_database_is_unreachable(app):
    from app import create_app

    cfg = {k: v for k, v in app.config.items() if k.isupper()}
    cfg["SQLALCHEMY_DATABASE_URI"] = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"
    broken = create_app(type("BrokenDb", (), cfg))
    resp = broken.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.get_json() == {"status": "unavailable", "checks": {"database": {"ok": False, "error": "数据库不可达"}}}
    assert "nobody" not in resp.get_data(as_text=True)
    assert broken.test_client().get("/healthz").status_code == 200  # the process is up all the same


def test_guarded_input_does_not_break_the_probes(client):
    assert client.get("/healthz?x=%00").status_code == 400  # the one input guard still applies
    resp = client.get("/readyz", headers={"X-Request-ID": "abc-123.DEF_4"})
    assert resp.status_code == 200 and resp.headers["X-Request-ID"] == "abc-123.DEF_4"


def test_request_id_is_kept_when_safe_and_replaced_when_not(client):
    for bad in ("a" * 65, "x y", "<script>", "ab\u00e9"):
        rid = client.get("/healthz", headers={"X-Request-ID": bad.encode().decode("latin-1")}).headers["X-Request-ID"]
        assert rid != bad and len(rid) == 32 and rid.isalnum()
    assert client.get("/nowhere", headers={"X-Request-ID": "r1"}).headers["X-Request-ID"] == "r1"  # on a 404 too


def test_metrics_loopback_or_token_only(client, app):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 404
    app.config["METRICS_TOKEN"] = "m" * 40
    try:
        assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                          headers={"Authorization": "Bearer wrong"}).status_code == 404
        resp = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.3"},
                          headers={"Authorization": "Bearer " + "m" * 40})
        assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
        app.config["METRICS_ALLOW_LOOPBACK"] = False
        assert client.get("/metrics").status_code == 404
    finally:
        app.config["METRICS_TOKEN"] = None
        app.config["METRICS_ALLOW_LOOPBACK"] = True
    assert client.get("/metrics").status_code == 200  # the test client comes from 127.0.0.1


def _sample(body: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in body.splitlines():
        head, _, value = line.rpartition(" ")
        if head == (f"{name}{{{want}}}" if labels else name):
            return float(value)
    return 0.0


def test_metrics_count_completions_requests_and_show_tasks_and_timers(client, login, app):
    before = client.get("/metrics").get_data(as_text=True)
    rid = _submit_and_approve(client, login, app)
    with app.app_context():
        nic_task = db.session.scalar(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                              TaskRecord.state == "ready"))
        department = nic_task.department_code
        db.session.execute(update(TaskRecord).where(TaskRecord.id == nic_task.id).values(
            due_at=utcnow() - timedelta(hours=1)))
        db.session.add(TimerRecord(instance_id=rid, engine_task_id="t-lag", element_id="lag_timer",
                                   due_at=utcnow() - timedelta(seconds=120)))
        db.session.commit()
    after = client.get("/metrics").get_data(as_text=True)
    step = "部门负责人签署承诺"
    assert step in after, after
    done = [line for line in after.splitlines() if line.startswith("share_task_completions_total{")]
    assert any(f'step="{step}"' in line for line in done)
    assert (_sample(after, "share_task_completions_total", step=step)
            == _sample(before, "share_task_completions_total", step=step) + 1)
    assert _sample(after, "share_tasks_open", department=department) == 1
    assert _sample(after, "share_tasks_overdue", department=department) == 1
    assert _sample(after, "share_timers_pending") >= 1
    assert _sample(after, "share_timer_firing_lag_seconds") >= 120
    assert (_sample(after, "share_http_request_duration_seconds_count", endpoint="api.complete", method="POST",
                    status="200") >= 1)


def test_a_rolled_back_completion_is_not_counted(client, login, app):
    from app.observability import TASK_COMPLETIONS

    before = TASK_COMPLETIONS.labels("回滚的步骤")._value.get()
    with app.app_context():
        from app.services.security import audit

        audit.record("complete", step="回滚的步骤")
        db.session.flush()
        db.session.rollback()
    assert TASK_COMPLETIONS.labels("回滚的步骤")._value.get() == before


def test_json_log_lines_carry_the_request_fields(client, login, app):
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(JsonFormatter().format(record))

    handler = Capture()
    logger = logging.getLogger("app.request")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    logger.disabled = False  # Alembic's fileConfig in the session's `upgrade()` disables the loggers that exist
    try:
        browser = login("cs_head")
        browser.get("/inbox", headers={"X-Request-ID": "req-42"})
        client.get("/healthz", headers={"X-Request-ID": "req-43"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    lines = [json.loads(r) for r in records]
    inbox = next(doc for doc in lines if doc["request_id"] == "req-42")
    assert inbox["path"] == "/inbox" and inbox["status"] == 200 and inbox["level"] == "INFO"
    assert inbox["logger"] == "app.request" and inbox["duration_ms"] >= 0 and isinstance(inbox["user_id"], int)
    assert set(inbox) >= {"time", "level", "logger", "message", "request_id", "path", "status", "duration_ms",
                          "user_id"}
    health = next(doc for doc in lines if doc["request_id"] == "req-43")
    assert health["user_id"] is None and health["message"] == "GET /healthz 200"
