"""Organisation: reference data, users, authentication and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ...extensions import db
from ...models import ApiToken, DataDomain, DataResource, Department, Role, User
from ...models.types import utcnow
from ..errors import NotFound, ValidationFailed
from ..resources.reference_data import DEMO_PASSWORD, DEMO_RESOURCES, DEMO_USERS, DEPARTMENTS, DOMAINS
from ..security import accounts, audit


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


def create_user(username: str, display_name: str, department_code: str, roles: list[str], password: str, *,
                check_policy: bool = True) -> int:
    """A new account; the password must meet the policy (check_policy=False only for demo and test data)."""
    if check_policy:
        accounts.check_password_policy(password, username)
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


def issue_api_token(username: str, days: int | None = None) -> str:
    """Create a bearer token valid for `days` (default API_TOKEN_DAYS); only its hash is stored, so the token
    itself exists only in the return value."""
    user = _user_named(username)
    days = int(current_app.config.get("API_TOKEN_DAYS", 90)) if days is None else days
    if not 1 <= days <= 3660:
        raise ValidationFailed({"days": "有效期须在 1 到 3660 天之间"}, message="有效期须在 1 到 3660 天之间")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(user_id=user.id, token_sha256=_sha(token), created_at=now, expires_at=now + timedelta(days=days))
    db.session.add(row)
    db.session.flush()
    audit.record("token", user_id=user.id, detail={"token_id": row.id, "expires_at": row.expires_at.isoformat()})
    db.session.commit()
    return token


def list_api_tokens(username: str) -> list[dict]:
    """The user's tokens without the secret: id, created, expires, last used, status."""
    user = _user_named(username)
    now = utcnow()
    rows = db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    return [{"id": r.id, "created_at": r.created_at, "expires_at": r.expires_at, "last_used_at": r.last_used_at,
             "status": "revoked" if r.revoked_at else "expired" if r.expires_at <= now else "valid"} for r in rows]


def revoke_api_tokens(username: str, token_id: int | None = None) -> list[int]:
    """Revoke one token of the user (by id) or, with token_id None, all of them; returns the ids revoked."""
    user = _user_named(username)
    query = select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    if token_id is not None:
        query = query.where(ApiToken.id == token_id)
    rows = list(db.session.scalars(query))
    if token_id is not None and not rows:
        raise NotFound(f"用户 {username} 没有有效的令牌 #{token_id}")
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    audit.record("token_revoked", user_id=user.id, detail={"token_ids": [r.id for r in rows]})
    db.session.commit()
    return [r.id for r in rows]


def user_for_token(token: str) -> User | None:
    """The active user of an unexpired, unrevoked token; notes when it was last used (at most once a minute)."""
    # the user and their department in the same query: the request's service reads both
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha(token))
                            .options(joinedload(ApiToken.user).joinedload(User.department)))
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now or not row.user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        db.session.commit()
    return row.user


def _user_named(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    return user


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _hash_method() -> str:
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")


def department_codes() -> list[tuple[str, str]]:
    return [(d.code, d.name) for d in db.session.scalars(select(Department).order_by(Department.id))]
