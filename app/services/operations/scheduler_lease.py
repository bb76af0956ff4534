"""Which scheduler process is the active one: a lease row with a heartbeat (table scheduler_lease).

A scheduler may run on every node; each tries to take the lease, the one holding it runs the jobs and renews it
every SCHEDULER_HEARTBEAT_SECONDS, the others stand by and try again at the same interval. A lease not renewed
for SCHEDULER_LEASE_SECONDS has expired and the next standby takes it: after the leader is killed another takes
over within SCHEDULER_LEASE_SECONDS + SCHEDULER_HEARTBEAT_SECONDS (20 s by default). A leader that stops cleanly
releases the lease, so a standby takes over at its next try.

Why a lease row and not pg_try_advisory_lock on a kept-open connection: an advisory lock is freed only when
PostgreSQL notices the holder's connection is gone, which is immediate for a killed process on a live host but
waits for TCP keepalive (hours by default) when the leader's node hangs or loses the network, and a hung process
with an open connection keeps it forever. The row expires by the database's own clock whatever happened to the
holder, gives /readyz and /metrics a heartbeat to read from every web worker, and works the same on SQLite (the
embedded in-process scheduler writes it too). Times come from the database's clock on PostgreSQL, so clock skew
between nodes does not matter; the conditional UPDATE (holder is me, or released, or expired) is atomic, so two
standbys racing for an expired lease cannot both win."""
from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ...models.ops import SchedulerLease
from ...models.types import UTCDateTime, utcnow

NAME = "scheduler"


def lease_seconds() -> float:
    return max(float(current_app.config.get("SCHEDULER_LEASE_SECONDS", 15)), 1.0)


def heartbeat_seconds() -> float:
    """How often the leader renews and a standby tries again; at most a third of the lease, so one late renewal
    does not lose it."""
    return min(max(float(current_app.config.get("SCHEDULER_HEARTBEAT_SECONDS", 5)), 0.2), lease_seconds() / 3)


def new_holder_id() -> str:
    """host:pid:random — unique per scheduler run, readable in /metrics and the logs."""
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{secrets.token_hex(3)}"


def database_now() -> datetime:
    """The database's clock on PostgreSQL (every node compares against the same clock), else this machine's."""
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalar(select(func.clock_timestamp(type_=UTCDateTime())))
    return utcnow()


def try_acquire(holder: str, seconds: float | None = None) -> int | None:
    """Take the lease if it is free, released or expired, or renew it if `holder` has it. Returns the term (the
    number of holders so far) while `holder` holds the lease, None when another holds it. Commits."""
    seconds = seconds or lease_seconds()
    now = database_now()
    expires = now + timedelta(seconds=seconds)
    lease = SchedulerLease.__table__
    mine = lease.c.holder == holder
    result = db.session.execute(
        update(lease)
        .where(lease.c.name == NAME, or_(mine, lease.c.holder.is_(None), lease.c.expires_at < now))
        .values(holder=holder, heartbeat_at=now, expires_at=expires,
                term=case((mine, lease.c.term), else_=lease.c.term + 1),
                acquired_at=case((mine, lease.c.acquired_at), else_=now))
        .returning(lease.c.term))
    term = result.scalar()
    if term is not None:
        db.session.commit()
        return term
    exists = db.session.scalar(select(lease.c.name).where(lease.c.name == NAME))
    if exists is not None:
        db.session.rollback()
        return None
    db.session.add(SchedulerLease(name=NAME, holder=holder, term=1, acquired_at=now, heartbeat_at=now,
                                  expires_at=expires))
    try:
        db.session.commit()
    except IntegrityError:  # another scheduler created the row first
        db.session.rollback()
        return None
    return 1


def release(holder: str) -> bool:
    """Give the lease up (clean stop) so a standby takes it at its next try; the heartbeat stays as it was."""
    lease = SchedulerLease.__table__
    result = db.session.execute(update(lease).where(lease.c.name == NAME, lease.c.holder == holder)
                                .values(holder=None))
    db.session.commit()
    return result.rowcount == 1


@dataclass(frozen=True)
class Status:
    holder: str | None  # None: released, expired or never taken
    term: int
    heartbeat_age_seconds: float | None  # None: no scheduler ever ran
    max_age_seconds: float | None  # the heartbeat counts as fresh up to twice the holder's lease

    @property
    def fresh(self) -> bool:
        return (self.heartbeat_age_seconds is not None and self.max_age_seconds is not None
                and self.heartbeat_age_seconds <= self.max_age_seconds)


def status() -> Status:
    """The lease as the web workers see it (read-only; the caller ends the transaction)."""
    row = db.session.get(SchedulerLease, NAME, populate_existing=True)
    if row is None or row.heartbeat_at is None:
        return Status(None, row.term if row else 0, None, None)
    now = database_now()
    age = max(0.0, (now - row.heartbeat_at).total_seconds())
    lease = max((row.expires_at - row.heartbeat_at).total_seconds(), 1.0) if row.expires_at else lease_seconds()
    holder = row.holder if row.expires_at is not None and row.expires_at >= now else None
    return Status(holder, row.term, age, 2 * lease)
