"""Connection settings the read paths rely on."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from app.extensions import db


def test_postgres_connections_run_without_jit(ctx):
    """Short page queries must not pay for JIT compilation (issue 9 §3)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only")
    assert db.session.execute(text("SHOW jit")).scalar() == "off"


def test_sqlite_files_run_in_wal_mode_with_a_busy_timeout(ctx):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    assert db.session.execute(text("PRAGMA journal_mode")).scalar().lower() == "wal"
