"""Operations: readiness checks and the database gauges for /metrics (computed at scrape time, one grouped query
each over indexed columns, so a scrape stays cheap at 100k instances)."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import func, select, text

from ...extensions import db
from ...models import TaskRecord, TimerRecord
from ...models.task import TaskState
from ...models.timer import TimerState
from ...models.types import utcnow

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


@lru_cache(maxsize=1)
def script_heads() -> tuple[str, ...]:
    """The head revision(s) of the migration scripts shipped with this code (read once per process)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return tuple(sorted(ScriptDirectory.from_config(config).get_heads()))


def database_revisions() -> tuple[str, ...]:
    return tuple(sorted(db.session.execute(text("SELECT version_num FROM alembic_version")).scalars()))


def timer_summary(now: datetime | None = None) -> dict[str, Any]:
    """Pending timers, the oldest pending due time and how far it lies in the past (the firing lag)."""
    now = now or utcnow()
    pending, oldest = db.session.execute(
        select(func.count(TimerRecord.id), func.min(TimerRecord.due_at)).where(
            TimerRecord.state == TimerState.pending)).one()
    lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return {"pending": pending, "oldest_due_at": oldest, "lag_seconds": lag}


def overdue_timer_count(grace: timedelta, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - grace
    return db.session.scalar(select(func.count(TimerRecord.id)).where(
        TimerRecord.state == TimerState.pending, TimerRecord.due_at < cutoff))


def readiness() -> tuple[bool, dict[str, Any]]:
    """(ready, report): database reachable, migrations at head, no timer pending well past its due time (the
    scheduler is behind or not running), a fresh scheduler heartbeat. The report holds no connection string, host
    or exception text."""
    checks: dict[str, Any] = {}
    grace = timedelta(seconds=current_app.config.get("READY_TIMER_GRACE_SECONDS", 300))
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception:  # any failure means not ready; the reason goes to the log, not the answer
        current_app.logger.exception("readyz: database unreachable")
        db.session.rollback()
        return False, {"status": "unavailable", "checks": {"database": {"ok": False, "error": "数据库不可达"}}}
    try:
        current, heads = database_revisions(), script_heads()
        checks["migrations"] = {"ok": current == heads, "database": list(current), "code": list(heads)}
    except Exception:  # no alembic_version table: never migrated
        current_app.logger.exception("readyz: cannot read the migration state")
        db.session.rollback()
        checks["migrations"] = {"ok": False, "error": "数据库尚未迁移"}
    if checks["migrations"]["ok"]:
        summary = timer_summary()
        overdue = overdue_timer_count(grace)
        checks["timers"] = {"ok": overdue == 0, "pending": summary["pending"], "overdue": overdue,
                            "grace_seconds": int(grace.total_seconds()),
                            "oldest_lag_seconds": round(summary["lag_seconds"], 1)}
        checks["scheduler"] = scheduler_check()
    db.session.rollback()  # read-only: end the transaction, release the connection
    ready = all(c["ok"] for c in checks.values() if c.get("required", True))
    return ready, {"status": "ready" if ready else "unavailable", "checks": checks}


def scheduler_check() -> dict[str, Any]:
    """The active scheduler renewed its lease within twice the lease time (services.scheduler_lease)."""
    from . import scheduler_lease

    state = scheduler_lease.status()
    check: dict[str, Any] = {"ok": state.fresh, "active": state.holder is not None, "term": state.term,
                             "heartbeat_age_seconds": None if state.heartbeat_age_seconds is None
                             else round(state.heartbeat_age_seconds, 1),
                             "max_age_seconds": state.max_age_seconds}
    if not state.fresh:
        check["error"] = "调度器未运行或心跳超时" if state.heartbeat_age_seconds is not None else "调度器从未运行"
    if not current_app.config.get("READY_REQUIRE_SCHEDULER", True):
        check["required"] = False
    return check


def tasks_by_department(now: datetime | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """Open (ready) tasks and overdue open tasks per department code ("" for none): two grouped queries, served
    by ix_task_inbox (state, candidate_role, department_code) and ix_task_due (state, due_at)."""
    now = now or utcnow()
    open_rows = db.session.execute(select(TaskRecord.department_code, func.count()).where(
        TaskRecord.state == TaskState.ready).group_by(TaskRecord.department_code)).all()
    overdue_rows = db.session.execute(select(TaskRecord.department_code, func.count()).where(
        TaskRecord.state == TaskState.ready, TaskRecord.due_at < now).group_by(TaskRecord.department_code)).all()
    return ({code or "": n for code, n in open_rows}, {code or "": n for code, n in overdue_rows})


def database_gauges() -> tuple[dict[str, int], dict[str, int], dict[str, Any]]:
    """Everything /metrics reads from the database, in one read-only transaction that ends here."""
    try:
        open_tasks, overdue_tasks = tasks_by_department()
        return open_tasks, overdue_tasks, timer_summary()
    finally:
        db.session.rollback()
