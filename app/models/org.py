"""Departments, users, roles and API tokens."""
from __future__ import annotations

import secrets
from datetime import datetime
from enum import StrEnum

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .types import UTCDateTime, utcnow


class Role(StrEnum):
    handler = "handler"
    dept_head = "dept_head"
    nic_reviewer = "nic_reviewer"
    nic_head = "nic_head"
    cac_office = "cac_office"
    supervisor = "supervisor"
    admin = "admin"


ROLE_LABELS = {
    Role.handler: "经办人", Role.dept_head: "部门信息化负责人", Role.nic_reviewer: "网信中心经办",
    Role.nic_head: "网信中心负责人", Role.cac_office: "网信办", Role.supervisor: "督办", Role.admin: "系统管理员",
}


def new_session_nonce() -> str:
    return secrets.token_hex(16)


class Department(db.Model):
    __tablename__ = "department"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    users: Mapped[list[User]] = relationship(back_populates="department")


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    display_name: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str] = mapped_column(String(30), default="")
    email: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    roles_csv: Mapped[str] = mapped_column(String(200), default="")
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # failed logins since the last success; at LOGIN_MAX_FAILURES the account is locked until locked_until
    failed_login_count: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # part of the session id (get_id): a new nonce ends every session signed with the old one
    session_nonce: Mapped[str] = mapped_column(String(32), default=new_session_nonce)
    # where the identity comes from: local (own password), cas, ldap or import; only local accounts and
    # administrators sign in with a password of this system when LDAP is configured
    auth_source: Mapped[str] = mapped_column(String(16), default="local", server_default="local")
    external_id: Mapped[str | None] = mapped_column(String(255))  # the LDAP DN or CAS user id
    # 企业微信 member id (empty: the username when WECOM_USERID_FROM_USERNAME); notification channels the user wants
    # besides in-app (always on): a CSV of email, wecom, dingtalk
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
    notify_channels: Mapped[str] = mapped_column(String(60), default="email,wecom,dingtalk",
                                                 server_default="email,wecom,dingtalk")
    department: Mapped[Department] = relationship(back_populates="users")

    @property
    def roles(self) -> set[str]:
        return {r for r in self.roles_csv.split(",") if r}

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles & set(roles))

    def set_password(self, password: str, method: str = "scrypt") -> None:
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # flask-login
        return self.active

    def get_id(self) -> str:  # flask-login's alternative id: "<id>:<nonce>", stale once the nonce rotates
        return f"{self.id}:{self.session_nonce}"

    def rotate_session_nonce(self) -> None:
        self.session_nonce = new_session_nonce()


class ApiToken(db.Model):
    """A bearer token for /api/v1; only its SHA-256 is stored. Valid until expires_at unless revoked."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    user: Mapped[User] = relationship()
