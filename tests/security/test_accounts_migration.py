"""The accounts migration on a database that already has users and tokens: every user gets its own session nonce,
every old token an expiry 90 days after its creation; and it downgrades."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from app import create_app
from app.extensions import db
from config import TestingConfig

BEFORE = "ff57faba89c8"


def test_upgrade_fills_nonces_and_expiries_and_downgrade_removes_them(tmp_path):
    config = type("MigrationConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}"})
    app = create_app(config)
    created = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
    with app.app_context():
        upgrade(revision=BEFORE)
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO department (id, code, name) VALUES (1, 'd', '部门')"))
            for uid in (1, 2):
                conn.execute(text("INSERT INTO user_account (id, username, display_name, phone, email, password_hash,"
                                  " roles_csv, department_id, active, created_at) VALUES (:id, :name, 'x', '', '',"
                                  " 'h', '', 1, 1, :at)"), {"id": uid, "name": f"u{uid}", "at": created})
            conn.execute(text("INSERT INTO api_token (id, user_id, token_sha256, created_at)"
                              " VALUES (1, 1, 'abc', :at)"), {"at": created})
        upgrade(revision="5ec0a1accts0")
        with db.engine.connect() as conn:
            users = conn.execute(text("SELECT session_nonce, failed_login_count, locked_until FROM user_account")).all()
            expires = conn.execute(text("SELECT expires_at FROM api_token")).scalar_one()
        assert len({u.session_nonce for u in users}) == 2 and all(len(u.session_nonce) == 32 for u in users)
        assert [(u.failed_login_count, u.locked_until) for u in users] == [(0, None), (0, None)]
        assert str(expires).startswith(str((created + timedelta(days=90)).date()))
        downgrade(revision=BEFORE)
        with db.engine.connect() as conn:
            columns = {row[1] for row in conn.execute(text("PRAGMA table_info(user_account)"))}
        assert "session_nonce" not in columns and "failed_login_count" not in columns
        db.session.remove()
        db.engine.dispose()
