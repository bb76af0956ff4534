"""LDAP bind login and organisation sync against a real slapd started by the tests."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Department, User
from app.services.people.identity import ldap_sync
from tests.conftest import _csrf

from .conftest import ADMIN_DN, ADMIN_PW, SUFFIX, _configure

DEPTS = f"ou=departments,{SUFFIX}"
HEADS = f"cn=heads,ou=groups,{SUFFIX}"


def _person(uid: str, cn: str, dept: str, password: str = "ldap-pass-1") -> str:
    return f"""dn: uid={uid},ou={dept},{DEPTS}
objectClass: inetOrgPerson
uid: {uid}
cn: {cn}
sn: {cn[0]}
mail: {uid}@lut.edu.cn
mobile: 13800000000
userPassword: {password}
"""


BASE = f"""dn: {SUFFIX}
objectClass: dcObject
objectClass: organization
dc: lut
o: LUT

dn: {DEPTS}
objectClass: organizationalUnit
ou: departments

dn: ou=idt_cs,{DEPTS}
objectClass: organizationalUnit
ou: idt_cs
description: 测试计算机学院

dn: ou=idt_math,{DEPTS}
objectClass: organizationalUnit
ou: idt_math
description: 测试理学院

dn: ou=idt_ghost,{DEPTS}
objectClass: organizationalUnit
ou: idt_ghost
description: 测试未同步部门

{_person("id_li", "李四", "idt_cs")}
{_person("id_wang", "王五", "idt_cs")}
{_person("id_zhao", "赵六", "idt_math")}
dn: ou=groups,{SUFFIX}
objectClass: organizationalUnit
ou: groups

dn: {HEADS}
objectClass: groupOfNames
cn: heads
member: uid=id_li,ou=idt_cs,{DEPTS}
"""


@pytest.fixture()
def directory(app, slapd):
    slapd.reset()
    slapd.ldif(BASE)
    yield from _configure(app, {
        "LDAP_URL": slapd.url, "LDAP_BIND_DN": ADMIN_DN, "LDAP_BIND_PASSWORD": ADMIN_PW, "LDAP_USER_BASE": DEPTS,
        "LDAP_USER_FILTER": "(objectClass=inetOrgPerson)", "LDAP_USER_DN_TEMPLATE": "",
        "LDAP_DEPARTMENT_BASE": DEPTS, "LDAP_DEPARTMENT_CODE_ATTR": "ou", "LDAP_DEPARTMENT_NAME_ATTR": "description",
        "LDAP_HEAD_GROUP_DN": HEADS, "LDAP_HEAD_FILTER": "", "LDAP_ATTR_DEPARTMENT": "", "LDAP_SYNC_MINUTES": 60})


def _users(app) -> dict[str, tuple[str, str, set[str], bool, str]]:
    with app.app_context():
        return {u.username: (u.display_name, u.department.code, u.roles, u.active, u.auth_source)
                for u in db.session.scalars(select(User).where(User.username.like("id_%")))}


def _depts(app) -> dict[str, str]:
    with app.app_context():
        return {d.code: d.name for d in db.session.scalars(select(Department).where(Department.code.like("idt_%")))}


def test_dry_run_reports_and_changes_nothing_then_sync_applies(app, directory):
    with app.app_context():
        report = ldap_sync.sync(dry_run=True)
    assert report.dry_run and not report.errors
    assert len(report.created_departments) == 3 and len(report.created_users) == 3
    assert _users(app) == {} and _depts(app) == {}
    result = app.test_cli_runner().invoke(args=["org", "ldap-sync"])
    assert result.exit_code == 0, result.output
    assert "新建用户 3" in result.output
    assert _depts(app) == {"idt_cs": "测试计算机学院", "idt_math": "测试理学院", "idt_ghost": "测试未同步部门"}
    assert _users(app) == {
        "id_li": ("李四", "idt_cs", {"handler", "dept_head"}, True, "ldap"),  # member of the heads group
        "id_wang": ("王五", "idt_cs", {"handler"}, True, "ldap"),
        "id_zhao": ("赵六", "idt_math", {"handler"}, True, "ldap"),
    }
    again = app.test_cli_runner().invoke(args=["org", "ldap-sync"])  # nothing left to do
    assert "新建部门 0，更新部门 0，新建用户 0，更新用户 0，停用用户 0" in again.output


def test_sync_updates_deactivates_but_never_an_administrator(app, directory, slapd):
    with app.app_context():
        ldap_sync.sync()
        zhao = db.session.scalar(select(User).where(User.username == "id_zhao"))
        zhao.roles_csv = "admin,handler"  # made an administrator in this system
        db.session.commit()
    for dn in (f"uid=id_wang,ou=idt_cs,{DEPTS}", f"uid=id_zhao,ou=idt_math,{DEPTS}"):
        slapd.delete(dn)
    slapd.modify(f"dn: ou=idt_cs,{DEPTS}\nchangetype: modify\nreplace: description\n"
                 "description: 测试计算机与通信学院\n\n"
                 f"dn: {HEADS}\nchangetype: modify\nreplace: member\nmember: uid=nobody,{SUFFIX}\n")
    with app.app_context():
        preview = ldap_sync.sync(dry_run=True)
        assert [x.split()[0] for x in preview.deactivated_users] == ["id_wang"]
        assert _users(app)["id_wang"][3] is True  # dry run: still active
        report = ldap_sync.sync()
    users = _users(app)
    assert users["id_wang"][3] is False  # deactivated, not deleted
    assert users["id_zhao"][3] is True and "admin" in users["id_zhao"][2]  # an administrator stays
    assert users["id_li"][2] == {"handler"}  # no longer in the heads group
    assert _depts(app)["idt_cs"] == "测试计算机与通信学院"
    assert any("系统管理员" in s for s in report.skipped)
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "user_deactivated")).all()
        assert [r.detail["username"] for r in rows] == ["id_wang"]


def test_sync_leaves_local_accounts_alone(app, directory, slapd):
    slapd.ldif(_person("cs_handler", "冒名", "idt_cs"))
    with app.app_context():
        report = ldap_sync.sync()
        local = db.session.scalar(select(User).where(User.username == "cs_handler"))
        assert local.auth_source == "local" and local.display_name != "冒名"
    assert any(s.startswith("cs_handler") for s in report.skipped)


def _login(app, username: str, password: str):
    client = app.test_client()
    csrf = _csrf(client.get("/login").get_data(as_text=True))
    return client, client.post("/login", data={"username": username, "password": password, "csrf_token": csrf})


def test_login_form_binds_directory_users_and_keeps_local_passwords(app, directory):
    with app.app_context():
        ldap_sync.sync()
    client, resp = _login(app, "id_li", "ldap-pass-1")
    assert resp.status_code == 302 and client.get("/inbox").status_code == 200
    for password in ("wrong-password", "", "ldap-pass-1\x00"):
        _, resp = _login(app, "id_li", password)
        assert resp.status_code in (400, 401)
    with app.app_context():
        li = db.session.scalar(select(User).where(User.username == "id_li"))
        assert li.failed_login_count >= 1  # counted towards the lockout like a local password
        details = [r.detail for r in db.session.scalars(select(AuditLog).where(AuditLog.action == "login"))]
    assert any(d.get("source") == "ldap" for d in details)
    _, admin = _login(app, "admin", "demo12345")  # administrators keep their local password
    assert admin.status_code == 302
    _, local = _login(app, "cs_handler", "demo12345")  # local accounts too
    assert local.status_code == 302


def test_first_ldap_login_provisions_and_unknown_department_is_refused(app, directory, slapd):
    with app.app_context():
        db.session.add(Department(code="idt_cs", name="测试计算机学院"))
        db.session.commit()
    _client, resp = _login(app, "id_wang", "ldap-pass-1")  # never synced: provisioned at the first login
    assert resp.status_code == 302
    assert _users(app)["id_wang"] == ("王五", "idt_cs", {"handler"}, True, "ldap")
    _, refused = _login(app, "id_zhao", "ldap-pass-1")  # idt_math is not known here
    assert refused.status_code == 403 and "尚未在本系统登记" in refused.get_data(as_text=True)
    assert "id_zhao" not in _users(app)


def test_unreachable_directory_is_a_clear_503_and_sync_job_survives(app, directory):
    with app.app_context():
        ldap_sync.sync()
    app.config["LDAP_URL"] = "ldap://127.0.0.1:1"
    app.config["LDAP_TIMEOUT_SECONDS"] = 2
    _, resp = _login(app, "id_li", "ldap-pass-1")
    assert resp.status_code == 503 and "LDAP" in resp.get_data(as_text=True)
    with app.app_context():
        ldap_sync.run_scheduled()  # logs, never raises
    app.config["LDAP_TIMEOUT_SECONDS"] = 10
