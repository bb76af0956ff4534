"""Fixtures: a real database (SQLite file by default, PostgreSQL when TEST_DATABASE_URL is set), migrated with
Alembic once per session and seeded with the demo organisation; each test starts with no requests."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import inspect, text, update

from app import create_app
from app.extensions import db
from app.models import DataResource, Department
from app.services.people import org
from app.services.resources.reference_data import DEMO_RESOURCES, DEPARTMENTS
from app.services.workflow import definitions
from config import TestingConfig

_TMP = tempfile.mkdtemp(prefix="share-tests-")


class _Config(TestingConfig):
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{Path(_TMP) / 'test.db'}"
    ATTACHMENT_DIR = str(Path(_TMP) / "attachments")  # never the real instance/attachments


@pytest.fixture(scope="session")
def app():
    app = create_app(_Config)
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        upgrade()
        org.seed_demo()
        definitions.deploy_directory()
    yield app


RUNTIME_TABLES = ("added_signer", "carbon_copy", "notification_delivery", "notification", "audit_log", "timer", "task",
                  "data_grant", "process_instance", "api_token", "calendar_year")
RUNTIME_TABLES = ("attachment", *RUNTIME_TABLES)  # attachments refer to tasks and instances
RUNTIME_TABLES = ("instance_department", *RUNTIME_TABLES)  # the request list's involvement rows refer to instances
RUNTIME_TABLES = ("delegation", *RUNTIME_TABLES)  # 委托: a deputy left behind would see a principal's tasks later


def wipe(app, *extra_sql: str) -> None:
    """Remove everything tests create, keeping the seeded organisation, catalogue and version 1 definitions."""
    with app.app_context(), db.engine.begin() as conn:
        postgres = conn.dialect.name == "postgresql"
        if postgres:  # the append-only triggers refuse the DELETE; only the tests switch them off, in this transaction
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        for table in RUNTIME_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        if postgres:
            conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
        conn.execute(text("DELETE FROM audit_chain_check"))
        conn.execute(text(f"UPDATE audit_chain_head SET last_id = 0, last_hash = '{'0' * 64}'"))
        conn.execute(text("DELETE FROM process_form_version WHERE definition_id IN "
                          "(SELECT id FROM process_definition WHERE version > 1)"))
        conn.execute(text("DELETE FROM process_definition WHERE version > 1"))
        shipped = ", ".join(f"'{p.stem}'" for p in Path(app.config["FORMS_DIR"]).glob("*.json"))
        conn.execute(text(f"DELETE FROM form_definition WHERE version > 1 OR source = 'browser' "
                          f"OR key NOT IN ({shipped})"))
        demo_codes = ", ".join(f"'{r[0]}'" for r in DEMO_RESOURCES)
        conn.execute(text(f"DELETE FROM data_resource WHERE code NOT IN ({demo_codes})"))
        resources = DataResource.__table__
        for code, name, domain, _owner, share_class, fields, description in DEMO_RESOURCES:  # edits by tests undone
            conn.execute(update(resources).where(resources.c.code == code).values(
                name=name, domain_id=domain, share_class=share_class, fields=fields, description=description,
                retired=False, delivery_methods=["interface"], update_frequency="daily"))
        departments = Department.__table__
        for code, name in DEPARTMENTS:
            conn.execute(update(departments).where(departments.c.code == code).values(name=name))
        if inspect(conn).has_table("apscheduler_jobs"):
            conn.execute(text("DELETE FROM apscheduler_jobs WHERE id <> 'sync'"))
        for sql in extra_sql:
            conn.execute(text(sql))


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "app" in request.fixturenames:
        wipe(request.getfixturevalue("app"))


@pytest.fixture()
def ctx(app):
    """An application context for calling services directly."""
    with app.app_context():
        yield app
        db.session.rollback()
        db.session.remove()


@pytest.fixture()
def client(app):
    return app.test_client()


class Browser:
    """A signed-in test client that posts forms with the session's CSRF token."""

    def __init__(self, app, username: str):
        self.client = app.test_client()
        self.username = username
        resp = self.client.get("/login")
        self.csrf = _csrf(resp.get_data(as_text=True))
        resp = self.client.post("/login", data={"username": username, "password": "demo12345",
                                                "csrf_token": self.csrf})
        assert resp.status_code == 302, f"login failed for {username}"

    def get(self, url: str, **kw):
        return self.client.get(url, **kw)

    def post(self, url: str, data: dict | None = None, **kw):
        return self.client.post(url, data={**(data or {}), "csrf_token": self.csrf}, **kw)


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture()
def login(app):
    return lambda username: Browser(app, username)
