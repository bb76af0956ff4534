"""Tamper-evident audit log (issue 8 item 7): hash chain, `flask audit verify`, PostgreSQL triggers, admin page."""
from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.exc import DBAPIError

from app.extensions import db
from app.models import AuditLog, ProcessInstance, User
from app.models.audit import GENESIS_HASH, AuditChainCheck, AuditChainHead
from app.services.security import audit, audit_chain

from ..conftest import wipe
from ..web.journey import act, submit

ROOT = Path(__file__).resolve().parents[2]
APPROVE = {"decision": "approve", "opinion": "同意"}


@pytest.fixture(autouse=True)
def _empty_log(app):
    wipe(app)  # the session's set-up deployed the processes, which is logged


def _postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def _write(n: int, **kw) -> None:
    """n audit rows in one transaction, with Chinese text, nested details and empty fields."""
    for i in range(n):
        audit.record("calendar_change", step=f"第 {i} 步「测试」", opinion=None if i % 2 else "意见\n多行",
                     detail={"i": i, "嵌套": {"b": [1, 2.5, None, True], "a": "é"}}, **kw)
    db.session.commit()


def _tamper(sql: str, **params) -> None:
    """Raw SQL behind the application's back (on PostgreSQL the append-only trigger is switched off for it)."""
    with db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_delete"))
        conn.execute(text(sql), params)
        if postgres:
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update_delete"))


def _verify(app, *args: str):
    return app.test_cli_runner().invoke(args=["audit", "verify", *args])


def _ids() -> list[int]:
    return list(db.session.scalars(select(AuditLog.id).order_by(AuditLog.id)))


def test_a_journey_leaves_an_intact_gapless_chain(app, login):
    handler, head, nic_head, nic_staff = (login(u) for u in ("cs_handler", "cs_head", "nic_head", "nic_staff"))
    rid = submit(handler, {"course_schedule": ["kch", "kcm"]})
    act(head, rid, APPROVE)
    act(nic_head, rid, APPROVE)
    act(nic_staff, rid, {"method": "interface", "note": "接口地址"})
    with app.app_context():
        _check_journey_chain(app)


def _check_journey_chain(app) -> None:
    rows = db.session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert {"submit", "complete", "end"} <= {r.action for r in rows}
    assert [r.id for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.row_hash for a, b in itertools.pairwise(rows))
    head_row = db.session.get(AuditChainHead, 1)
    assert (head_row.last_id, head_row.last_hash) == (rows[-1].id, rows[-1].row_hash)
    for r in rows:  # the documented format, recomputed from what the database gives back
        assert r.row_hash == audit_chain.row_digest(
            id=r.id, at=r.at, user_id=r.user_id, instance_id=r.instance_id, task_id=r.task_id, action=r.action,
            step=r.step, opinion=r.opinion, detail=r.detail, prev_hash=r.prev_hash)

    result = _verify(app)
    assert result.exit_code == 0, result.output
    assert f"审计日志完好：{len(rows)} 条" in result.stdout and rows[-1].row_hash in result.stdout


def test_rows_recorded_in_a_rolled_back_transaction_leave_no_trace(app, ctx):
    audit.record("urge", step="不会保存")
    db.session.rollback()
    _write(2)
    assert _ids() == [1, 2]
    assert audit_chain.verify().ok


def test_verify_walks_in_batches_and_detects_an_edited_row(app, ctx):
    _write(7)
    report = audit_chain.verify(batch_size=2)
    assert (report.ok, report.rows, report.head_id) == (True, 7, 7)
    _tamper("UPDATE audit_log SET opinion = '已篡改' WHERE id = 4")
    report = audit_chain.verify(batch_size=2)
    assert (report.ok, report.broken_id) == (False, 4) and "内容被修改" in report.problem
    result = _verify(app, "--batch-size", "3")
    assert result.exit_code == 1
    assert "第一处问题在 #4：内容被修改" in result.stderr


def test_a_detail_edited_and_rehashed_breaks_the_next_link(app, ctx):
    _write(4)
    row = db.session.get(AuditLog, 2)
    forged = audit_chain.row_digest(id=2, at=row.at, user_id=row.user_id, instance_id=row.instance_id,
                                    task_id=row.task_id, action=row.action, step=row.step, opinion=row.opinion,
                                    detail={"i": 999}, prev_hash=row.prev_hash)
    _tamper("UPDATE audit_log SET detail = :d, row_hash = :h WHERE id = 2", d='{"i": 999}', h=forged)
    report = audit_chain.verify()
    assert (report.ok, report.broken_id) == (False, 3)
    assert "与前一条 #2 不相连" in report.problem


def test_a_deleted_row_is_named(app, ctx):
    _write(6)
    _tamper("DELETE FROM audit_log WHERE id = 3")
    result = _verify(app)
    assert result.exit_code == 1
    assert "第一处问题在 #4：#3 被删除" in result.stderr


def test_deleted_first_and_last_rows_are_named(app, ctx):
    _write(5)
    _tamper("DELETE FROM audit_log WHERE id = 5")
    report = audit_chain.verify()
    assert (report.ok, report.broken_id) == (False, 5) and "末尾的 #5 被删除" in report.problem
    _tamper("DELETE FROM audit_log WHERE id = 1")
    report = audit_chain.verify()
    assert (report.ok, report.broken_id) == (False, 2) and "链首之前的记录被删除" in report.problem


def test_reordered_rows_are_detected(app, ctx):
    _write(5)
    # swap rows 2 and 3 completely (content and hashes) by renumbering them
    _tamper("UPDATE audit_log SET id = 1002 WHERE id = 2")
    _tamper("UPDATE audit_log SET id = 2 WHERE id = 3")
    _tamper("UPDATE audit_log SET id = 3 WHERE id = 1002")
    report = audit_chain.verify()
    assert (report.ok, report.broken_id) == (False, 2)
    assert report.problem == "顺序被改动（这条记录原为 #3，被移到了 #2）"


def test_a_row_inserted_behind_the_application_is_detected(app, ctx):
    _write(2)
    _tamper("INSERT INTO audit_log (id, at, action, step, detail, prev_hash, row_hash) "
            "VALUES (3, :at, 'login', '', '{}', :p, :h)", at=db.session.get(AuditLog, 2).at, p="f" * 64, h="e" * 64)
    report = audit_chain.verify()
    assert (report.ok, report.broken_id) == (False, 3) and "链尾之后多出的记录" in report.problem


def test_an_unreadable_value_is_reported_not_crashed_on(app, ctx):
    if _postgres(app):
        pytest.skip("PostgreSQL's column types refuse such values")
    _write(3)
    _tamper("UPDATE audit_log SET detail = '{not json' WHERE id = 2")
    report = audit_chain.verify()
    assert (report.ok, report.broken_id) == (False, 2) and "无法读取" in report.problem


def test_the_chain_continues_after_the_check_is_logged(app, ctx):
    _write(2)
    report = audit_chain.verify_and_store("cli")
    assert report.ok and report.head_id == 2
    check = db.session.scalar(select(AuditChainCheck))
    assert (check.ok, check.rows, check.source) == (True, 2, "cli")
    assert db.session.get(AuditLog, 3).action == "audit_verify"  # the check itself is logged, chained
    assert audit_chain.verify().head_id == 3


def test_flask_audit_verify_as_a_real_process(app, ctx):
    _write(3)
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "FLASK_APP": "wsgi.py"}
    env.pop("TEST_DATABASE_URL", None)
    cmd = [sys.executable, "-m", "flask", "audit", "verify"]
    ok = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "审计日志完好：3 条，末尾 #3" in ok.stdout
    _tamper("UPDATE audit_log SET step = 'x' WHERE id = 2")
    bad = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "第一处问题在 #2：内容被修改" in bad.stderr


# --- concurrency ---------------------------------------------------------------------------------------------------

def test_concurrent_writers_never_fork_the_chain(app, ctx):
    threads_n, commits, errors = 8, 12, []
    barrier = threading.Barrier(threads_n)

    def writer(n: int) -> None:
        try:
            with app.app_context():
                barrier.wait()
                for c in range(commits):
                    for k in range(1 + c % 3):
                        audit.record("urge", step=f"t{n}", detail={"thread": n, "commit": c, "k": k})
                    db.session.commit()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            errors.append(repr(exc))

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads_n)]
    for w in workers:
        w.start()
    reports = []
    while any(w.is_alive() for w in workers):  # verifying while others append sees an intact, shorter chain
        reports.append(audit_chain.verify(batch_size=5))
        db.session.rollback()
    for w in workers:
        w.join(120)
    assert errors == []
    assert reports and all(r.ok for r in reports), [r.message for r in reports if not r.ok]
    expected = threads_n * sum(1 + c % 3 for c in range(commits))
    rows = db.session.execute(select(AuditLog.id, AuditLog.prev_hash, AuditLog.detail).order_by(AuditLog.id)).all()
    assert [r.id for r in rows] == list(range(1, expected + 1))
    assert len({r.prev_hash for r in rows}) == expected  # no two rows hang off the same predecessor
    for n in range(threads_n):  # each writer's rows are in the order it wrote them
        mine = [(r.detail["commit"], r.detail["k"]) for r in rows if r.detail["thread"] == n]
        assert mine == sorted(mine)
    report = audit_chain.verify(batch_size=50)
    assert report.ok and report.rows == expected


def test_a_writer_holding_an_instance_lock_and_one_logging_that_instance_do_not_deadlock(app, ctx):
    """T1 holds FOR UPDATE on an instance and logs last; T2 logs about the same instance meanwhile. Without the
    KEY SHARE pre-lock T2 would hold the chain lock while its foreign-key check waits for T1, which waits for it."""
    if not _postgres(app):
        pytest.skip("row locks are PostgreSQL's")
    from ..services.test_services import _submit

    rid = _submit("course_schedule")
    db.session.commit()
    db.session.remove()
    locked, errors = threading.Event(), []

    def holder() -> None:
        try:
            with app.app_context():
                db.session.execute(select(ProcessInstance.id).where(ProcessInstance.id == rid).with_for_update())
                locked.set()
                time.sleep(1.5)  # T2 is now waiting
                audit.record("suspend", instance_id=rid, step="T1")
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    def logger() -> None:
        try:
            with app.app_context():
                locked.wait(10)
                audit.record("urge", instance_id=rid, step="T2")
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # noqa: BLE001
            errors.append(repr(exc))

    workers = [threading.Thread(target=holder), threading.Thread(target=logger)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert errors == []
    steps = db.session.scalars(select(AuditLog.step).where(AuditLog.step.in_(["T1", "T2"])).order_by(AuditLog.id))
    assert list(steps) == ["T1", "T2"]  # T2 waited for T1 before taking the chain
    assert audit_chain.verify().ok


# --- PostgreSQL triggers -------------------------------------------------------------------------------------------

def test_postgresql_refuses_update_delete_and_truncate_of_the_audit_log(app, ctx):
    if not _postgres(app):
        pytest.skip("the triggers are PostgreSQL's")
    _write(2)
    for sql in ("UPDATE audit_log SET step = 'x' WHERE id = 1", "DELETE FROM audit_log WHERE id = 2",
                "TRUNCATE audit_log", "DELETE FROM audit_chain_head"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql))
    assert _ids() == [1, 2] and audit_chain.verify().ok


# --- migration of existing rows ------------------------------------------------------------------------------------

def test_the_migration_chains_existing_rows(app, tmp_path):
    """Rows written before the chain existed are hashed in id order by the migration; new rows continue the chain."""
    from flask_migrate import downgrade, upgrade

    from app import create_app

    url, cleanup = _scratch_database(app, tmp_path)

    config = type("ScratchConfig", (), {**{k: v for k, v in app.config.items() if k.isupper()},
                                        "SQLALCHEMY_DATABASE_URI": url})
    scratch = create_app(config)
    try:
        with scratch.app_context():
            upgrade(revision="5ec0a1accts0")
            with db.engine.begin() as conn:
                for i, gap in enumerate((1, 2, 5, 6)):  # a gap (a rolled-back sequence value) is kept
                    conn.execute(text("INSERT INTO audit_log (id, at, action, step, detail) "
                                      "VALUES (:id, :at, 'deploy', :step, :detail)"),
                                 {"id": gap, "at": f"2025-01-0{i + 1} 02:00:00.12345{i}", "step": f"旧记录 {i}",
                                  "detail": f'{{"v": {i}, "名": "值"}}'})
            upgrade(revision="5ec0b2audit0")
            report = audit_chain.verify()
            assert (report.ok, report.rows, report.head_id) == (True, 4, 6), report.message
            audit.record("deploy", step="新记录")
            db.session.commit()
            assert _ids() == [1, 2, 5, 6, 7]
            assert audit_chain.verify().ok
            db.session.remove()
            downgrade(revision="5ec0a1accts0")
            upgrade(revision="5ec0b2audit0")  # and back: the chain is recomputed the same way
            assert audit_chain.verify().ok
            db.session.remove()
    finally:
        with scratch.app_context():
            db.engine.dispose()
        cleanup()


def _scratch_database(app, tmp_path) -> tuple[str, callable]:
    if not _postgres(app):
        return f"sqlite:///{tmp_path / 'migrate.db'}", lambda: None
    base = app.config["SQLALCHEMY_DATABASE_URI"]
    name = base.rsplit("/", 1)[1] + "_auditmig"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))

    def cleanup() -> None:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()

    return base.rsplit("/", 1)[0] + "/" + name, cleanup


# --- administrators see the chain's status -------------------------------------------------------------------------

def test_the_admin_page_shows_the_last_check_and_verifies_on_request(app, login):
    admin = login("admin")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "审计日志完整性：尚未校验" in page and 'href="/admin/audit"' in page
    resp = admin.post("/admin/audit/verify")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/admin/audit")
    page = admin.get("/admin/audit").get_data(as_text=True)
    with app.app_context():
        check = db.session.scalar(select(AuditChainCheck))
        assert check.ok and check.source == "admin"
        assert check.user_id == db.session.scalar(select(User.id).where(User.username == "admin"))
        rows = check.rows
    assert f"审计日志完整性：完好（{rows} 条，末尾哈希 <code>{check.head_hash}</code>）" in page

    with app.app_context():
        _tamper("UPDATE audit_log SET step = '改过' WHERE id = 1")
    admin.post("/admin/audit/verify")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "审计日志完整性：已被篡改 —— 第一处问题在 #1：内容被修改" in page


def test_only_administrators_verify_and_only_with_a_csrf_token(app, login):
    handler = login("cs_handler")
    assert handler.get("/admin/audit").status_code == 403
    assert handler.post("/admin/audit/verify").status_code == 403
    admin = login("admin")
    assert admin.client.post("/admin/audit/verify").status_code == 400  # no CSRF token
    with app.app_context():
        assert db.session.scalar(select(AuditChainCheck)) is None


def test_the_scheduler_verifies_daily(app, ctx):
    from app import jobs

    scheduler = jobs.build_scheduler(app, blocking=False)
    try:
        job = next(j for j in scheduler.get_jobs() if j.id == "audit-verify")
        assert "hour='3'" in str(job.trigger) and job.func is jobs.audit_verify_job
        _write(2)
        jobs.audit_verify_job()
        db.session.rollback()
        check = db.session.scalar(select(AuditChainCheck))
        assert (check.source, check.ok, check.rows) == ("scheduler", True, 2)
    finally:
        jobs._scheduler = None
