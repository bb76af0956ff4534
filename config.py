"""Configuration classes; DATABASE_URL selects the database (default: SQLite in instance/)."""
from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-change-me")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'app.db'}")
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    BPMN_DIR = BASE_DIR / "bpmn"
    FORMS_DIR = BASE_DIR / "forms"
    WTF_CSRF_TIME_LIMIT = None
    MAX_CONTENT_LENGTH = 25 * 1024 * 1024
    JSON_AS_ASCII = False
    TESTING = False
    OFFICE_CLOSE = os.environ.get("OFFICE_CLOSE", "17:30")  # deadlines end at office close, Beijing time
    SCHEDULER_SYNC_SECONDS = int(os.environ.get("SCHEDULER_SYNC_SECONDS", "30"))
    URGE_INTERVAL_HOURS = int(os.environ.get("URGE_INTERVAL_HOURS", "4"))
    INSPECTION_MONTHS = tuple(int(m) for m in os.environ.get("INSPECTION_MONTHS", "1,4,7,10").split(","))
    INSPECTION_DAYS = int(os.environ.get("INSPECTION_DAYS", "10"))  # working days to record an inspection
    MAIL_SERVER = os.environ.get("MAIL_SERVER")  # e-mail notifications only when set
    MAIL_PORT = int(os.environ.get("MAIL_PORT", "25"))
    MAIL_FROM = os.environ.get("MAIL_FROM", "data-sharing@lut.edu.cn")


class TestingConfig(Config):
    TESTING = True
    SECRET_KEY = "testing"  # noqa: S105
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL", "sqlite:///:memory:")
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105  # fast for tests only; production keeps scrypt


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
