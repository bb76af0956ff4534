"""Applying an organisation (departments, people, heads) from LDAP or an import file, with a dry-run report.

Rules: departments are created or renamed, never deleted; users are created or updated, never deleted — a managed
user missing from the source is deactivated (audited, sessions end); an administrator is never deactivated and
never loses the admin role; roles other than those the source states stay as this system has them."""
from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from ....extensions import db
from ....models import Department, Role, User
from ...security import audit

ADMIN = Role.admin.value
HEAD = Role.dept_head.value


@dataclass
class DeptRecord:
    code: str
    name: str


@dataclass
class PersonRecord:
    username: str
    display_name: str
    department: str  # our department code
    email: str = ""
    phone: str = ""
    roles: set[str] | None = None  # None: the source does not state roles
    head: bool | None = None  # None: the source does not state heads
    external_id: str | None = None
    row: str = ""  # where it came from, for messages ("第 3 行", a DN)


@dataclass
class SyncReport:
    source: str
    dry_run: bool
    created_departments: list[str] = field(default_factory=list)
    updated_departments: list[str] = field(default_factory=list)
    created_users: list[str] = field(default_factory=list)
    updated_users: list[str] = field(default_factory=list)
    deactivated_users: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        prefix = "（试运行，未保存）" if self.dry_run else ""
        return (f"{prefix}新建部门 {len(self.created_departments)}，更新部门 {len(self.updated_departments)}，"
                f"新建用户 {len(self.created_users)}，更新用户 {len(self.updated_users)}，"
                f"停用用户 {len(self.deactivated_users)}，跳过 {len(self.skipped)}，错误 {len(self.errors)}")

    def lines(self) -> list[str]:
        out = [f"新建部门 {x}" for x in self.created_departments] + [f"更新部门 {x}" for x in self.updated_departments]
        out += [f"新建用户 {x}" for x in self.created_users] + [f"更新用户 {x}" for x in self.updated_users]
        out += [f"停用用户 {x}" for x in self.deactivated_users] + [f"跳过 {x}" for x in self.skipped]
        out += [f"错误 {x}" for x in self.errors]
        return [*out, self.summary()]

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def unusable_password_hash() -> str:
    """A hash of a random secret nobody knows: the account has no usable password of this system, and a password
    attempt costs the same time as for any other account."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return generate_password_hash(secrets.token_urlsafe(32), method=method)


def find_department(value: str) -> Department | None:
    """A department by code, else by its exact name."""
    if not value or len(value) > 100:
        return None
    return (db.session.scalar(select(Department).where(Department.code == value))
            or db.session.scalar(select(Department).where(Department.name == value)))


def provision(username: str, display_name: str, department: Department, source: str, roles: Iterable[str], *,
              external_id: str | None = None, email: str = "", phone: str = "", by: str = "") -> User:
    """A new externally managed account (no usable local password); audited. The caller commits."""
    user = User(username=username, display_name=(display_name or username)[:60], department=department,
                roles_csv=",".join(sorted(set(roles))), auth_source=source, external_id=external_id,
                email=email[:120], phone=phone[:30], password_hash=unusable_password_hash())
    db.session.add(user)
    db.session.flush()
    audit.record("user_provisioned", user_id=user.id,
                 detail={"username": username, "source": source, "department": department.code,
                         "roles": user.roles_csv, **({"by": by} if by else {})})
    return user


def apply(depts: list[DeptRecord], people: list[PersonRecord], *, source: str, dry_run: bool, default_role: str,
          update_local: bool, deactivate_scope: set[str] | None = None, errors: list[str] | None = None) -> SyncReport:
    """Bring the database in line with the records. `update_local`: whether accounts of this system's own (local)
    source are updated (an administrator's import) or left alone (a directory sync). `deactivate_scope`: the
    department codes whose managed users missing from `people` are deactivated (None: every department).
    Everything is one transaction, rolled back on a dry run."""
    report = SyncReport(source=source, dry_run=dry_run, errors=list(errors or []))
    by_code = {d.code: d for d in db.session.scalars(select(Department))}
    names = {d.name: d.code for d in by_code.values()}
    for rec in depts:
        dept = by_code.get(rec.code)
        if dept is None:
            if rec.name in names:
                report.errors.append(f"部门 {rec.code}：名称“{rec.name}”已被部门 {names[rec.name]} 使用")
                continue
            dept = Department(code=rec.code, name=rec.name)
            db.session.add(dept)
            by_code[rec.code] = dept
            names[rec.name] = rec.code
            report.created_departments.append(f"{rec.code} {rec.name}")
            audit.record("department_created", detail={"code": rec.code, "name": rec.name, "source": source})
        elif rec.name and dept.name != rec.name:
            if rec.name in names:
                report.errors.append(f"部门 {rec.code}：名称“{rec.name}”已被部门 {names[rec.name]} 使用")
                continue
            audit.record("department_renamed", detail={"code": rec.code, "from": dept.name, "to": rec.name,
                                                       "source": source})
            report.updated_departments.append(f"{rec.code} {dept.name} → {rec.name}")
            names.pop(dept.name, None)
            dept.name = rec.name
            names[rec.name] = rec.code
    db.session.flush()

    users = {u.username: u for u in db.session.scalars(select(User))}
    seen: set[str] = set()
    for rec in people:
        dept = by_code.get(rec.department)
        if dept is None:
            report.errors.append(f"{rec.row or rec.username}：部门 {rec.department or '（空）'} 不存在")
            continue
        if rec.username in seen:
            report.errors.append(f"{rec.row or rec.username}：用户名 {rec.username} 重复")
            continue
        seen.add(rec.username)
        user = users.get(rec.username)
        if user is None:
            roles = set(rec.roles) if rec.roles else {default_role}
            if rec.head:
                roles.add(HEAD)
            user = provision(rec.username, rec.display_name, dept, source, roles, external_id=rec.external_id,
                             email=rec.email, phone=rec.phone, by=source)
            users[rec.username] = user
            report.created_users.append(f"{rec.username} {rec.display_name} {dept.code} [{user.roles_csv}]")
            continue
        if user.auth_source == "local" and not update_local:
            report.skipped.append(f"{rec.username}（本系统本地账号，不由 {source} 管理）")
            continue
        changes = _update_user(user, rec, dept)
        if not user.active:
            report.skipped.append(f"{rec.username}（已停用，需要时请管理员启用）")
        if changes:
            audit.record("user_updated", user_id=user.id,
                         detail={"username": user.username, "source": source, "changes": changes})
            report.updated_users.append(f"{rec.username}：" + "；".join(changes))
    db.session.flush()

    managed = [u for u in users.values() if u.auth_source == source and u.active and u.username not in seen
               and (deactivate_scope is None or u.department.code in deactivate_scope)]
    for user in managed:
        if user.has_role(ADMIN):
            report.skipped.append(f"{user.username}（系统管理员，不停用）")
            continue
        user.active = False
        user.rotate_session_nonce()
        audit.record("user_deactivated", user_id=user.id, detail={"username": user.username, "source": source})
        report.deactivated_users.append(f"{user.username} {user.display_name}")
    if dry_run:
        db.session.rollback()
    else:
        if report.created_users or report.updated_users or report.deactivated_users or report.created_departments \
                or report.updated_departments:
            audit.record("org_sync", detail={"source": source, "summary": report.summary()})
        db.session.commit()
    return report


def _update_user(user: User, rec: PersonRecord, dept: Department) -> list[str]:
    changes: list[str] = []
    if rec.display_name and user.display_name != rec.display_name[:60]:
        changes.append(f"姓名 {user.display_name} → {rec.display_name}")
        user.display_name = rec.display_name[:60]
    if user.department_id != dept.id:
        changes.append(f"部门 {user.department.code} → {dept.code}")
        user.department = dept
    if rec.email and user.email != rec.email[:120]:
        changes.append(f"邮箱 {user.email or '（空）'} → {rec.email}")
        user.email = rec.email[:120]
    if rec.phone and user.phone != rec.phone[:30]:
        changes.append(f"手机 {user.phone or '（空）'} → {rec.phone}")
        user.phone = rec.phone[:30]
    roles = set(user.roles)
    if rec.roles is not None and rec.roles:
        roles = set(rec.roles) | (roles & {ADMIN})  # never removes an administrator
    if rec.head is True:
        roles.add(HEAD)
    elif rec.head is False:
        roles.discard(HEAD)
    if roles and roles != user.roles:
        changes.append(f"角色 {user.roles_csv or '（无）'} → {','.join(sorted(roles))}")
        user.roles_csv = ",".join(sorted(roles))
    if rec.external_id and user.external_id != rec.external_id:
        user.external_id = rec.external_id
    return changes
