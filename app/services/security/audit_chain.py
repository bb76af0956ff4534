"""The tamper-evident audit log: every audit_log row carries the SHA-256 of its own content and of the row before it.

Row hash: ``row_hash = sha256(canonical JSON of the row)`` over the keys id, at (UTC ISO 8601 with microseconds,
e.g. ``2026-11-25T03:04:05.123456+00:00``), user_id, instance_id, task_id, action, step, opinion, detail (the JSON
object), prev_hash — ``json.dumps(sort_keys=True, ensure_ascii=False, separators=(",", ":"))``, UTF-8. The first
row's prev_hash is 64 zeros. Editing any row changes its hash; deleting a row breaks the next row's prev_hash (and
leaves a gap in the ids); deleting the last rows leaves the chain shorter than ``audit_chain_head`` says.

Writing — one path for every AuditLog, however it reaches the session:
- ``audit.record()`` does not add its row to the session at once but parks it in ``session.info`` until the caller
  commits. At commit (``before_commit``) the session first flushes everything else, then adds the parked rows, so
  the chain lock below is the last lock the transaction takes and it holds it only for a few INSERTs and the commit.
- ``before_flush``, when new AuditLog rows are being flushed: on PostgreSQL first take KEY SHARE locks on the rows
  they reference (instance, task, user). The INSERT's foreign-key checks take those locks anyway; taken after the
  chain lock they could deadlock with a transaction that holds ``FOR UPDATE`` on that instance and waits for the
  chain lock. Then lock the single ``audit_chain_head`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite a
  no-op UPDATE first, which takes the database's write lock before we read the head, so no other writer can append
  between our read and our commit). Each new row gets ``id = last_id + 1``, its prev_hash and row_hash, and the head
  moves. Ids come from the head, not from the sequence, so the hash is known before the INSERT (rows can never be
  updated afterwards) and the chain's ids have no gaps.
- The head lock is held until commit or rollback: audit writers (web workers, threads, the scheduler) append one
  transaction at a time and the chain never forks; a rollback undoes the rows and the head move together.
- Parked rows are dropped when the transaction ends without a commit. Inside a SAVEPOINT ``record()`` adds the row
  at once, so it is flushed, and rolled back, with the savepoint.
- On PostgreSQL triggers (migration 5ec0b2audit0) refuse UPDATE, DELETE and TRUNCATE of audit_log and deleting the
  head row; the ORM refuses updates and deletes on every database (app/models/audit.py).

Verifying: ``verify()`` reads the head, then walks rows ``id <= head.last_id`` in id order in keyset batches (constant
memory, safe while others append) and reports the first broken row. It cannot tell a complete rewrite of the chain
and its head by someone with write access to the database; compare the printed head hash with one noted earlier.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, func, insert, select, true, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ...extensions import db
from ...models import AuditLog, ProcessInstance, TaskRecord, User
from ...models.audit import GENESIS_HASH, AuditChainCheck, AuditChainHead

PENDING_KEY = "audit_chain_pending"
HEAD_ID = 1
_order = itertools.count()  # record() order, for rows parked or added in one transaction
_LOG = AuditLog.__table__
_HEAD = AuditChainHead.__table__


class ChainHeadMissing(RuntimeError):
    """audit_chain_head has no row although audit_log has rows: the chain's end is unknown."""


def row_digest(*, id: int, at: datetime, user_id: int | None, instance_id: int | None, task_id: int | None,
               action: str, step: str, opinion: str | None, detail: Any, prev_hash: str) -> str:
    """The row's hash (see the module docstring for the exact format)."""
    doc = {"id": id, "at": at.astimezone(UTC).isoformat(timespec="microseconds"), "user_id": user_id,
           "instance_id": instance_id, "task_id": task_id, "action": action, "step": step, "opinion": opinion,
           "detail": detail, "prev_hash": prev_hash}
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# --- writing -----------------------------------------------------------------------------------------------------

def park(row: AuditLog) -> None:
    """Add ``row`` to the current transaction; it is chained and inserted when the caller commits."""
    session = db.session()
    row._chain_order = next(_order)
    if session.in_nested_transaction():
        session.add(row)
        return
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(PENDING_KEY, []).append(row)


@event.listens_for(Session, "before_commit")
def _add_parked_rows(session: Session) -> None:
    parked = session.info.pop(PENDING_KEY, None)
    if parked:
        session.flush()  # everything else first: the chain lock is the last lock this transaction takes
        session.add_all(parked)


@event.listens_for(Session, "after_transaction_end")
def _drop_parked_rows(session: Session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop(PENDING_KEY, None)


@event.listens_for(Session, "before_flush")
def _chain_new_rows(session: Session, flush_context, instances) -> None:
    rows = [obj for obj in session.new if isinstance(obj, AuditLog)]
    if not rows:
        return
    rows.sort(key=lambda r: getattr(r, "_chain_order", -1))
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        _lock_referenced_rows(conn, rows)
    last_id, last_hash = _lock_head(conn)
    for row in rows:
        if row.at is None:
            row.at = datetime.now(UTC)
        row.step = row.step if row.step is not None else ""
        # what the JSON column gives back when read, so the hash verifies later (tuples → lists, int keys → str)
        row.detail = json.loads(json.dumps(row.detail if row.detail is not None else {}))
        last_id += 1
        row.id, row.prev_hash = last_id, last_hash
        row.row_hash = last_hash = row_digest(
            id=row.id, at=row.at, user_id=row.user_id, instance_id=row.instance_id, task_id=row.task_id,
            action=row.action, step=row.step, opinion=row.opinion, detail=row.detail, prev_hash=row.prev_hash)
    conn.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(last_id=last_id, last_hash=last_hash))


_JOINED_LOCK_LIMIT = 64  # rows of the cross join below; past it, one statement per table


def _lock_referenced_rows(conn: Connection, rows: list[AuditLog]) -> None:
    """KEY SHARE on the referenced rows, in one statement (a cross join locks the rows of every table it reads)
    when the sets are small, as they are for one step."""
    wanted = [(model, ids) for model, attr in ((ProcessInstance, "instance_id"), (TaskRecord, "task_id"),
                                               (User, "user_id"))
              if (ids := sorted({getattr(r, attr) for r in rows if getattr(r, attr) is not None}))]
    if not wanted:
        return
    if math.prod(len(ids) for _model, ids in wanted) <= _JOINED_LOCK_LIMIT:
        wanted = [wanted]
    else:
        wanted = [[part] for part in wanted]
    for group in wanted:
        query = select(*(model.id for model, _ids in group)).select_from(group[0][0])
        for model, _ids in group[1:]:
            query = query.join(model, true())  # the cross join is meant: said so, SQLAlchemy does not warn
        conn.execute(query.where(*(model.id.in_(ids) for model, ids in group))
                     .with_for_update(read=True, key_share=True))


_SQLITE_RETURNING = sqlite3.sqlite_version_info >= (3, 35)


def _lock_head(conn: Connection) -> tuple[int, str]:
    query = select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == HEAD_ID)
    if conn.dialect.name == "sqlite":
        touch = update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(last_id=_HEAD.c.last_id)
        if _SQLITE_RETURNING:  # the write lock and the head in one statement
            head = conn.execute(touch.returning(_HEAD.c.last_id, _HEAD.c.last_hash)).first()
            if head is not None:
                return head.last_id, head.last_hash
        else:
            conn.execute(touch)
    else:
        query = query.with_for_update()
    head = conn.execute(query).first()
    if head is not None:
        return head.last_id, head.last_hash
    # a database built without the migration: start the chain, but only when there is nothing to chain to
    if conn.execute(select(_LOG.c.id).limit(1)).first() is not None:
        raise ChainHeadMissing("audit_chain_head 缺失而 audit_log 已有记录：链尾未知，"
                               "请运行 flask audit verify 并检查数据库")
    stmt = _insert_ignore(conn).values(id=HEAD_ID, last_id=0, last_hash=GENESIS_HASH)
    conn.execute(stmt)
    head = conn.execute(query).one()
    return head.last_id, head.last_hash


def _insert_ignore(conn: Connection):
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(_HEAD).on_conflict_do_nothing()
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(_HEAD).on_conflict_do_nothing()
    return insert(_HEAD)


# --- verifying ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainReport:
    ok: bool
    rows: int  # rows walked
    head_id: int
    head_hash: str
    broken_id: int | None = None
    problem: str | None = None
    seconds: float = 0.0

    @property
    def message(self) -> str:
        if self.ok:
            return f"审计日志完好：{self.rows} 条，末尾 #{self.head_id}，末尾哈希 {self.head_hash}"
        return f"审计日志已被篡改：第一处问题在 #{self.broken_id}：{self.problem}"


def verify(batch_size: int = 2000) -> ChainReport:
    """Walk the chain in id order, ``batch_size`` rows at a time; the first broken row, or the intact head."""
    started = time.monotonic()
    session = db.session
    head = session.execute(select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == HEAD_ID)).first()
    head_id, head_hash = (head.last_id, head.last_hash) if head else (0, GENESIS_HASH)
    prev_id, prev_hash, walked = 0, GENESIS_HASH, 0

    def broken(row_id: int, problem: str) -> ChainReport:
        return ChainReport(False, walked, head_id, head_hash, row_id, problem, time.monotonic() - started)

    if head is None:
        first = session.scalar(select(func.min(_LOG.c.id)))
        if first is not None:
            return broken(first, "链头记录（audit_chain_head）缺失，无法确认末尾是否被删除")
    columns = [_LOG.c[name] for name in ("id", "at", "user_id", "instance_id", "task_id", "action", "step", "opinion",
                                         "detail", "prev_hash", "row_hash")]
    while True:
        window = select(*columns).where(_LOG.c.id > prev_id, _LOG.c.id <= head_id).order_by(_LOG.c.id)
        try:
            batch = session.execute(window.limit(batch_size)).all()
        except (ValueError, TypeError):  # a value the column types cannot read (a time or JSON edited in place)
            session.rollback()
            return broken(_unreadable_row(columns, prev_id, head_id, batch_size), "内容被修改（无法读取的值）")
        if not batch:
            break
        for row in batch:
            walked += 1
            problem = _row_problem(row, prev_id, prev_hash)
            if problem:
                return broken(row.id, problem)
            prev_id, prev_hash = row.id, row.row_hash
    if prev_id != head_id:
        missing = f"#{prev_id + 1}" if prev_id + 1 == head_id else f"#{prev_id + 1}–#{head_id}"
        return broken(head_id, f"末尾的 {missing} 被删除（链头记录末尾为 #{head_id}，实际最后一条为 #{prev_id}）")
    if prev_hash != head_hash:
        return broken(head_id, "末尾一条的哈希与链头记录不符（末尾被改写）")
    # one statement, so it sees the head and the rows at one moment, whatever others append meanwhile
    beyond = session.scalar(select(func.min(_LOG.c.id)).where(
        _LOG.c.id > select(_HEAD.c.last_id).where(_HEAD.c.id == HEAD_ID).scalar_subquery()))
    if beyond is not None:
        return broken(beyond, "链尾之后多出的记录（不是由本系统写入）")
    return ChainReport(True, walked, head_id, head_hash, seconds=time.monotonic() - started)


def _unreadable_row(columns, after: int, head_id: int, batch_size: int) -> int:
    ids = db.session.scalars(select(_LOG.c.id).where(_LOG.c.id > after, _LOG.c.id <= head_id)
                             .order_by(_LOG.c.id).limit(batch_size)).all()
    for row_id in ids:
        try:
            db.session.execute(select(*columns).where(_LOG.c.id == row_id)).one()
        except (ValueError, TypeError):
            db.session.rollback()
            return row_id
    return ids[0] if ids else after + 1


def _row_problem(row, prev_id: int, prev_hash: str) -> str | None:
    if not row.row_hash or not row.prev_hash:
        return "没有哈希（不是由本系统写入）"
    if row.at is None:
        return "内容被修改（时间为空）"
    digest = row_digest(id=row.id, at=row.at, user_id=row.user_id, instance_id=row.instance_id, task_id=row.task_id,
                        action=row.action, step=row.step, opinion=row.opinion, detail=row.detail,
                        prev_hash=row.prev_hash)
    if digest != row.row_hash:
        original = _original_id(row)
        if original is not None:
            return f"顺序被改动（这条记录原为 #{original}，被移到了 #{row.id}）"
        return "内容被修改（哈希与内容不符）"
    if row.prev_hash == prev_hash:
        return None
    if prev_id == 0:
        return "链首之前的记录被删除（第一条的 prev_hash 不是起始值）"
    if row.id != prev_id + 1:
        missing = f"#{prev_id + 1}" if row.id == prev_id + 2 else f"#{prev_id + 1}–#{row.id - 1}"
        return f"{missing} 被删除（编号缺失，prev_hash 与前一条 #{prev_id} 不符）"
    return f"与前一条 #{prev_id} 不相连（记录被删除后重新编号、被替换或顺序被改动）"


def _original_id(row) -> int | None:
    """The id under which this unchanged row was chained, when it was only renumbered (moved): one more than its
    original predecessor's, or one less than its original successor's (scans, but only once a row has failed)."""
    candidates = set()
    if row.prev_hash == GENESIS_HASH:
        candidates.add(1)
    else:
        predecessor = db.session.scalar(select(_LOG.c.id).where(_LOG.c.row_hash == row.prev_hash).limit(1))
        if predecessor is not None:
            candidates.add(predecessor + 1)
    successor = db.session.scalar(select(_LOG.c.id).where(_LOG.c.prev_hash == row.row_hash).limit(1))
    if successor is not None:
        candidates.add(successor - 1)
    for candidate in sorted(candidates - {row.id}):
        digest = row_digest(id=candidate, at=row.at, user_id=row.user_id, instance_id=row.instance_id,
                            task_id=row.task_id, action=row.action, step=row.step, opinion=row.opinion,
                            detail=row.detail, prev_hash=row.prev_hash)
        if digest == row.row_hash:
            return candidate
    return None


def verify_and_store(source: str, user_id: int | None = None, batch_size: int = 2000) -> ChainReport:
    """Verify, keep the result for the admin page, and log the check itself."""
    from . import audit

    report = verify(batch_size)
    db.session.rollback()  # end the read transaction: nothing of the walk stays open while we write
    db.session.add(AuditChainCheck(source=source, user_id=user_id, ok=report.ok, rows=report.rows,
                                   head_id=report.head_id, head_hash=report.head_hash, broken_id=report.broken_id,
                                   problem=report.problem, seconds=round(report.seconds, 3)))
    audit.record("audit_verify", user_id=user_id, step=report.message[:200],
                 detail={"ok": report.ok, "rows": report.rows, "head_id": report.head_id,
                         "broken_id": report.broken_id, "source": source})
    db.session.commit()
    return report


def status() -> dict[str, Any]:
    """The admin page: the last checks and the chain's current end (no walk)."""
    checks = db.session.scalars(select(AuditChainCheck).order_by(AuditChainCheck.id.desc()).limit(10)).all()
    head = db.session.get(AuditChainHead, HEAD_ID)
    return {"last": checks[0] if checks else None, "checks": checks,
            "head_id": head.last_id if head else 0, "head_hash": head.last_hash if head else GENESIS_HASH}
