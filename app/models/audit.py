"""Append-only, hash-chained audit log of every action (Art. 5(2), 16); the chain is written by
app/services/security/audit_chain.py."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Float, ForeignKey, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import User
from .types import UTCDateTime, utcnow

GENESIS_HASH = "0" * 64  # the prev_hash of the first row


class AuditLog(db.Model):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    action: Mapped[str] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(200), default="")
    opinion: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
    user: Mapped[User | None] = relationship()


class AuditChainHead(db.Model):
    """The single row (id 1) holding the chain's end. Audit writers lock it until they commit."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    last_id: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class AuditChainCheck(db.Model):
    """One verification of the chain (`flask audit verify`, the admin page's button or the daily job)."""

    __tablename__ = "audit_chain_check"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    source: Mapped[str] = mapped_column(String(20))  # cli | admin | scheduler
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    ok: Mapped[bool]
    rows: Mapped[int]
    head_id: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))
    broken_id: Mapped[int | None]
    problem: Mapped[str | None] = mapped_column(Text)
    seconds: Mapped[float] = mapped_column(Float)


@event.listens_for(AuditLog, "before_update")
@event.listens_for(AuditLog, "before_delete")
def _append_only(mapper, connection, target) -> None:
    raise PermissionError("audit_log is append-only")
