"""One writer at a time per process instance.

Every path that loads a workflow to change it (task completion, timers, deadline moves, suspend/resume/cancel,
retry, migration) takes the instance's lock first, so load → run → save → project is one critical section and
concurrent work on *different* tasks of one instance (parallel provider reviews, a timer firing while someone
approves) applies one after the other instead of failing. The optimistic `lock_version` stays as a second guard.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import cache
from typing import TypeVar

from flask import current_app
from sqlalchemy import TextClause, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from ...extensions import db
from ...models import ProcessInstance
from ..errors import Busy, NotFound

T = TypeVar("T")

ATTEMPTS = 3
# PostgreSQL: serialization_failure, deadlock_detected, lock_not_available
_RETRY_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
_SQLITE_TOUCH = text("UPDATE process_instance SET lock_version = lock_version WHERE id = :id")
_RETRY_SQLITE = ("database is locked", "database table is locked", "database is busy")


@cache
def _sqlite_touch_returning() -> TextClause:
    """The SQLite lock statement returning the instance's columns (not the deferred workflow, which
    progress.load reads)."""
    columns = [c for c in ProcessInstance.__table__.columns if c.key != "workflow_json"]
    return text(f"{_SQLITE_TOUCH.text} RETURNING {', '.join(c.name for c in columns)}").columns(*columns)


def lock_instance(instance_id: int) -> ProcessInstance:
    """Take the instance's write lock until the transaction ends; return the instance as last committed.

    PostgreSQL: `SELECT … FOR UPDATE` on its row (other writers of the instance wait; readers do not).
    SQLite: a no-op write as the first statement takes the database's write lock, waiting up to the busy timeout.
    pysqlite opens its transaction just before the first write, so nothing read inside the transaction predates
    the lock. Either way the same statement reads the row again (populate_existing): current status and
    lock_version; the workflow column stays deferred (progress.load reads it)."""
    if db.session.get_bind().dialect.name == "sqlite":
        # one statement: the no-op write takes the lock and RETURNING reads the row as it is now (plain SQL: an ORM
        # update() would also bump updated_at, its onupdate default)
        instance = db.session.scalars(
            select(ProcessInstance).from_statement(_sqlite_touch_returning().bindparams(id=instance_id))
            .execution_options(populate_existing=True)).one_or_none()
    else:  # one statement: the row locked and read as it is now (a select, not session.get(with_for_update=...),
        # which would refuse an identity-map copy of an older version instead of refreshing it)
        instance = db.session.scalars(select(ProcessInstance).where(ProcessInstance.id == instance_id)
                                      .with_for_update().execution_options(populate_existing=True)).one_or_none()
    if instance is None:
        raise NotFound("流程实例不存在")
    return instance


def run_locked(instance_id: int, work: Callable[[ProcessInstance], T], *, attempts: int = ATTEMPTS) -> T:
    """Run `work(instance)` holding the instance's lock; `work` commits (or rolls back) itself.

    Anything `work` raises rolls the transaction back. A serialization failure, deadlock, busy database or stale
    version starts it again from a fresh transaction, up to `attempts` times; then Busy (503, nothing saved)."""
    for attempt in range(1, attempts + 1):
        try:
            return work(lock_instance(instance_id))
        except (DBAPIError, StaleDataError) as exc:
            db.session.rollback()
            if not retryable(exc):
                raise
            current_app.logger.warning("instance %s: attempt %s/%s failed: %s", instance_id, attempt, attempts,
                                       str(exc).splitlines()[0][:200])
            if attempt == attempts:
                raise Busy("系统繁忙，该申请正在被他人处理，请稍后重试") from exc
            time.sleep(random.uniform(0.02, 0.1) * attempt)  # noqa: S311 - jitter, not security
        except BaseException:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")


def retryable(exc: BaseException) -> bool:
    """True for the database's "try again" answers: serialization failure, deadlock, lock timeout, stale version."""
    if isinstance(exc, StaleDataError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if getattr(exc.orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    message = str(exc.orig).lower()
    return any(text in message for text in _RETRY_SQLITE)
