"""Organisation: reference data, users, authentication and API tokens."""
from __future__ import annotations

import hashlib
import secrets

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..models import ApiToken, DataDomain, DataResource, Department, Role, User
from . import audit
from .errors import NotFound, ValidationFailed
from .reference_data import DEMO_PASSWORD, DEMO_RESOURCES, DEMO_USERS, DEPARTMENTS, DOMAINS


def seed_reference_data() -> None:
    """Departments and data domains; idempotent."""
    _ensure_reference_rows()
    db.session.commit()


def _ensure_reference_rows() -> None:
    existing = set(db.session.scalars(select(Department.code)))
    for code, name in DEPARTMENTS:
        if code not in existing:
            db.session.add(Department(code=code, name=name))
    existing_domains = set(db.session.scalars(select(DataDomain.id)))
    for did, name, producers in DOMAINS:
        if did not in existing_domains:
            db.session.add(DataDomain(id=did, name=name, producers=producers))
    db.session.flush()


def seed_demo() -> list[tuple[str, str, str, str]]:
    """Demo users for every role and a small catalogue; idempotent. Returns (username, name, department, roles)."""
    _ensure_reference_rows()
    depts = {d.code: d for d in db.session.scalars(select(Department))}
    have_users = set(db.session.scalars(select(User.username)))
    for username, name, dept, roles in DEMO_USERS:
        if username not in have_users:
            user = User(username=username, display_name=name, department=depts[dept], roles_csv=roles,
                        phone="0931-2970000", email=f"{username}@demo.lut.edu.cn")
            user.set_password(DEMO_PASSWORD, _hash_method())
            db.session.add(user)
    have_resources = set(db.session.scalars(select(DataResource.code)))
    for code, name, domain, owner, share_class, fields, desc in DEMO_RESOURCES:
        if code not in have_resources:
            db.session.add(DataResource(code=code, name=name, domain_id=domain, owner_department=depts[owner],
                                        share_class=share_class, fields=fields, description=desc))
    db.session.commit()
    return [(u, n, depts[d].name, r) for u, n, d, r in DEMO_USERS]


def create_user(username: str, display_name: str, department_code: str, roles: list[str], password: str) -> int:
    unknown = set(roles) - {r.value for r in Role}
    if unknown:
        raise ValidationFailed({"roles": f"未知角色：{', '.join(sorted(unknown))}"})
    dept = db.session.scalar(select(Department).where(Department.code == department_code))
    if dept is None:
        raise NotFound(f"部门 {department_code} 不存在")
    user = User(username=username, display_name=display_name, department=dept, roles_csv=",".join(roles))
    user.set_password(password, _hash_method())
    db.session.add(user)
    db.session.commit()
    return user.id


def authenticate(username: str, password: str) -> User | None:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not user.check_password(password):
        return None
    return user


def issue_api_token(username: str) -> str:
    """Create a bearer token for the user; only its hash is stored."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    token = secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_sha256=_sha(token)))
    audit.record("token", user_id=user.id)
    db.session.commit()
    return token


def user_for_token(token: str) -> User | None:
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha(token)))
    return row.user if row is not None and row.user.active else None


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_method() -> str:
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")


def department_codes() -> list[tuple[str, str]]:
    return [(d.code, d.name) for d in db.session.scalars(select(Department).order_by(Department.id))]
