"""Shared by the account tests: an application with low login limits on the suite's (migrated, seeded) database,
users made for one test, and signing in through the real login form."""
from __future__ import annotations

import itertools
import re

from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import AuditLog, User
from app.services.people import org
from config import TestingConfig

from ..conftest import wipe

PASSWORD = "Lanzhou-Data-2026"  # meets the policy
REFUSED = "用户名或密码错误"
_addresses = itertools.count(1)
_names = itertools.count(1)


def accounts_app(app, **settings):
    """A second application on the suite's database with its own settings (low limits unless told otherwise)."""
    config = type("AccountsConfig", (TestingConfig,), {
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "LOGIN_RATE_LIMIT": "4 per minute", "LOGIN_MAX_FAILURES": 3, "LOGIN_LOCKOUT_MINUTES": 15,
        **settings})
    return create_app(config)


def new_address() -> str:
    """A client address of its own, so that one test's attempts never count against another's."""
    n = next(_addresses)
    return f"10.77.{n // 250}.{n % 250 + 1}"


def client_for(app, address: str | None = None):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address or new_address()
    return client


def make_user(app, password: str = PASSWORD, roles: tuple[str, ...] = ("handler",)) -> str:
    username = f"secacct{next(_names)}"
    with app.app_context():
        org.create_user(username, "安全测试", "college_cs", list(roles), password)
        db.session.remove()
    return username


def remove_users(app) -> None:
    wipe(app, "DELETE FROM user_account WHERE username LIKE 'secacct%'")


def csrf_token(client) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))
    assert match, "no CSRF token on the login page"
    return match.group(1)


def post_login(client, username: str, password: str, next_url: str | None = None):
    url = "/login" if next_url is None else f"/login?next={next_url}"
    return client.post(url, data={"username": username, "password": password, "csrf_token": csrf_token(client)})


def signed_in(app, username: str, password: str = PASSWORD, address: str | None = None):
    client = client_for(app, address)
    resp = post_login(client, username, password)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return client


def user_row(app, username: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        db.session.expunge(user)
        db.session.remove()
        return user


def audit_rows(app, *actions: str) -> list[AuditLog]:
    with app.app_context():
        rows = list(db.session.scalars(select(AuditLog).where(AuditLog.action.in_(actions)).order_by(AuditLog.id)))
        for row in rows:
            db.session.expunge(row)
        db.session.remove()
        return rows
