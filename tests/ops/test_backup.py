"""flask backup / flask restore: a backup taken while a writer thread keeps completing tasks restores into a new
database (a new SQLite file, a new PostgreSQL database) that is consistent and on which the instances go on."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.models import AuditLog, ProcessInstance, TaskRecord, User
from app.services.people import org
from app.services.security import audit_chain
from app.services.workflow import definitions, requests, tasks
from config import TestingConfig

from .support import scratch_postgres

APPLICATION = {"purpose": "科研统计分析使用", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True}
# the share request's steps for one conditional resource of 科学技术处, in order
STEPS = [("cs_head", {"decision": "approve"}), ("nic_head", {"decision": "approve"}),
         ("science_head", {"decision": "approve", "opinion": "同意"}),
         ("nic_staff", {"method": "interface", "note": "接口已开通"})]
INSTANCES = 24


def _app_for(url: str):
    return create_app(type("OpsBackupConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url}))


@contextmanager
def _databases(kind: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'source.db'}", f"sqlite:///{tmp_path / 'restored.db'}"
        return
    with scratch_postgres("share_ops_src") as source, scratch_postgres("share_ops_dst") as target:
        yield source, target


def _uid(name: str) -> int:
    return db.session.scalar(select(User.id).where(User.username == name))


def _advance(instance_id: int) -> bool:
    """Complete the instance's next step as the person the diagram names; False when it has ended."""
    done = -1 + db.session.scalar(  # the application form, completed at submission, is the first completed task
        select(func.count(TaskRecord.id)).where(TaskRecord.instance_id == instance_id, TaskRecord.state == "completed"))
    if done >= len(STEPS):
        return False
    task_id = db.session.scalar(select(TaskRecord.id).where(TaskRecord.instance_id == instance_id,
                                                            TaskRecord.state == "ready"))
    user, body = STEPS[done]
    tasks.complete_task(task_id, _uid(user), body)
    return True


def _writer(app, ids: list[int], stop: threading.Event, counter: list[int]) -> None:
    with app.app_context():
        for _step in range(len(STEPS)):
            for rid in ids:
                if stop.is_set():
                    return
                if _advance(rid):
                    counter[0] += 1
                db.session.remove()


def _consistent() -> tuple[int, int]:
    """The restored copy is one moment of the source: the audit chain is intact and every instance's completed
    tasks match its `complete` audit rows (plus the application form). Returns (instances, completions)."""
    report = audit_chain.verify()
    assert report.ok, report.message
    completed = dict(db.session.execute(select(TaskRecord.instance_id, func.count()).where(
        TaskRecord.state == "completed").group_by(TaskRecord.instance_id)).all())
    audited = dict(db.session.execute(select(AuditLog.instance_id, func.count()).where(
        AuditLog.action == "complete").group_by(AuditLog.instance_id)).all())
    assert completed == {rid: audited.get(rid, 0) + 1 for rid in completed}
    return db.session.scalar(select(func.count(ProcessInstance.id))), sum(audited.values())


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_backup_mid_load_restores_into_a_new_database_and_instances_continue(kind, tmp_path):
    with _databases(kind, tmp_path) as (source_url, target_url):
        source = _app_for(source_url)
        with source.app_context():
            upgrade()
            org.seed_demo()
            definitions.deploy_directory()
            resource = next(r for r in requests.catalogue() if r["code"] == "research_projects")
            ids = [requests.submit_share_request(_uid("cs_handler"), {
                **APPLICATION, "resources": [{"resource_id": resource["id"], "fields": ["xmbh"]}]})
                for _ in range(INSTANCES)]
            db.session.remove()

        stop, counter = threading.Event(), [0]
        writer = threading.Thread(target=_writer, args=(source, ids, stop, counter))
        writer.start()
        try:
            while counter[0] < INSTANCES // 2 and writer.is_alive():  # well into the load
                threading.Event().wait(0.02)
            at_backup = counter[0]
            result = source.test_cli_runner().invoke(args=["backup", str(tmp_path / "share.backup")])
            after_backup = counter[0]
        finally:
            writer.join(120)
            stop.set()
        assert result.exit_code == 0, result.output
        assert "已备份" in result.output and (tmp_path / "share.backup").stat().st_size > 0
        assert after_backup > at_backup or counter[0] > after_backup, "the writer did not run during the backup"
        total = counter[0]
        assert total == INSTANCES * len(STEPS)

        target = _app_for(target_url)
        runner = target.test_cli_runner()
        result = runner.invoke(args=["restore", str(tmp_path / "share.backup")])
        assert result.exit_code == 0, result.output
        with target.app_context():
            instances, completions = _consistent()
            assert instances == INSTANCES
            assert at_backup <= completions < total  # a moment in the middle of the load
            db.session.remove()

        # a second restore into the now non-empty database is refused; --force replaces it
        result = runner.invoke(args=["restore", str(tmp_path / "share.backup")])
        assert result.exit_code == 1 and "不是空的" in result.output
        result = runner.invoke(args=["restore", "--force", str(tmp_path / "share.backup")])
        assert result.exit_code == 0, result.output

        with target.app_context():
            assert _consistent() == (instances, completions)
            moved = 0
            for rid in ids:  # the restored instances go on from where the backup caught them
                if _advance(rid):
                    moved += 1
            assert moved >= 1
            assert _consistent()[1] == completions + moved
            assert target.test_client().get("/readyz").status_code == 200
            db.session.remove()
        with source.app_context():
            db.engine.dispose()
        with target.app_context():
            db.engine.dispose()


def test_restore_refuses_a_file_that_is_not_a_backup_and_memory_databases(tmp_path):
    bogus = tmp_path / "not-a-backup"
    bogus.write_bytes(b"hello")
    target = _app_for(f"sqlite:///{tmp_path / 'empty.db'}")
    result = target.test_cli_runner().invoke(args=["restore", str(bogus)])
    assert result.exit_code == 1 and "不是 SQLite 备份" in result.output
    memory = _app_for("sqlite:///:memory:")
    result = memory.test_cli_runner().invoke(args=["backup", str(tmp_path / "x.backup")])
    assert result.exit_code == 1 and "内存数据库" in result.output
    assert not (tmp_path / "x.backup").exists()
