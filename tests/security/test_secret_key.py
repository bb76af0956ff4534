"""No known keys (issue 8, critical 2): a session signed with the key once published in config.py is refused, the
embedded default makes its own random key once and keeps it, production refuses to start without a strong key."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import select

from app import KNOWN_KEYS, InsecureSecretKey, create_app
from app.extensions import db
from app.models import User
from config import Config, ProductionConfig

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = "dev-only-change-me"  # the default that config.py shipped with


def _config(tmp_path: Path, **values) -> type:
    return type("C", (Config,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
                                 "SECRET_KEY_FILE": str(tmp_path / "secret_key"), **values})


def _forged_session(app, key: str, user_id: str) -> str:
    """A session cookie as an attacker would sign it with `key`."""
    forged = app.__class__(app.import_name)
    forged.secret_key = key
    serializer = SecureCookieSessionInterface().get_signing_serializer(forged)
    return serializer.dumps({"_user_id": user_id, "_fresh": True, "_id": "x"})


def test_a_session_forged_with_the_published_key_is_refused(app, client):
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        ids = [str(admin.id), f"{admin.id}:{getattr(admin, 'session_nonce', '')}"]
    assert app.config["SECRET_KEY"] not in KNOWN_KEYS and len(app.config["SECRET_KEY"]) >= 32
    for user_id in ids:
        client.set_cookie("session", _forged_session(app, PUBLISHED, user_id))
        resp = client.get("/admin/processes")
        assert resp.status_code == 302 and "/login" in resp.headers["Location"], user_id
        assert client.get("/api/v1/tasks").status_code == 401


def test_a_session_signed_with_the_real_key_is_accepted_so_the_forgery_test_means_something(app, login):
    browser = login("admin")
    assert browser.get("/admin/processes").status_code == 200


def test_the_embedded_default_makes_a_random_key_once_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = create_app(_config(tmp_path))
    key_file = tmp_path / "secret_key"
    key = first.config["SECRET_KEY"]
    assert len(key) >= 32 and key not in KNOWN_KEYS
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert create_app(_config(tmp_path)).config["SECRET_KEY"] == key  # a restart, another worker, the scheduler
    other = tmp_path / "other"
    other.mkdir()
    assert create_app(_config(other)).config["SECRET_KEY"] != key  # another installation has its own


@pytest.mark.parametrize("key", [None, "", PUBLISHED, "testing", "short-key"])
def test_production_refuses_to_start_without_a_strong_explicit_key(tmp_path, key):
    config = type("P", (ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
                                             "SECRET_KEY": key})
    with pytest.raises(InsecureSecretKey, match="SECRET_KEY"):
        create_app(config)
    assert not (tmp_path / "secret_key").exists()


def test_production_starts_with_a_strong_key(tmp_path):
    key = os.urandom(32).hex()
    config = type("P", (ProductionConfig,), {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
                                             "SECRET_KEY": key})
    assert create_app(config).config["SECRET_KEY"] == key


def test_the_production_start_fails_with_a_clear_message(tmp_path):
    """What an operator sees: gunicorn/flask with APP_CONFIG=config.ProductionConfig and no SECRET_KEY."""
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env.update(APP_CONFIG="config.ProductionConfig", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}")
    done = subprocess.run([sys.executable, "-c", "from app import create_app; create_app()"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "生产配置必须设置环境变量 SECRET_KEY" in done.stderr
