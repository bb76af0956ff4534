"""LDAP (ldap3): bind authentication for the login form and the organisation sync (departments, users, heads)."""
from __future__ import annotations

import ssl

from flask import current_app
from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn

from ....extensions import db
from ....models import Role, User
from ...errors import DomainError, Forbidden
from ...security import audit
from . import orgsync

UNAVAILABLE = "目录服务（LDAP）暂时无法访问，请稍后再试"


class LdapUnavailable(DomainError):
    status = 503


def configured() -> bool:
    return bool(current_app.config.get("LDAP_URL"))


def _connection(user: str | None, password: str | None) -> Connection:
    cfg = current_app.config
    timeout = float(cfg.get("LDAP_TIMEOUT_SECONDS", 10))
    tls = Tls(validate=ssl.CERT_REQUIRED) if cfg["LDAP_URL"].startswith("ldaps:") or cfg.get("LDAP_START_TLS") \
        else None
    server = Server(cfg["LDAP_URL"], connect_timeout=timeout, get_info=NONE, tls=tls)
    conn = Connection(server, user=user, password=password, receive_timeout=max(1, int(timeout)),  # ldap3: an int
                      raise_exceptions=False, read_only=True, auto_referrals=False)
    try:
        conn.open()
        if cfg.get("LDAP_START_TLS"):
            conn.start_tls()
    except LDAPException as exc:
        current_app.logger.warning("LDAP connection failed: %s", exc)
        raise LdapUnavailable(UNAVAILABLE) from exc
    return conn


def _service_connection() -> Connection:
    cfg = current_app.config
    conn = _connection(cfg.get("LDAP_BIND_DN") or None, cfg.get("LDAP_BIND_PASSWORD") or None)
    try:
        ok = conn.bind()
    except LDAPException as exc:
        raise LdapUnavailable(UNAVAILABLE) from exc
    if not ok:
        current_app.logger.error("LDAP service bind refused: %s", conn.result.get("description"))
        raise LdapUnavailable(UNAVAILABLE)
    return conn


def _attrs() -> list[str]:
    cfg = current_app.config
    names = [cfg.get(k) for k in ("LDAP_ATTR_USERNAME", "LDAP_ATTR_DISPLAY_NAME", "LDAP_ATTR_EMAIL",
                                   "LDAP_ATTR_PHONE", "LDAP_ATTR_DEPARTMENT")]
    return [n for n in names if n]


def _value(entry: dict, name: str | None) -> str:
    if not name:
        return ""
    value = entry.get("attributes", {}).get(name)
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return "" if value is None else str(value).strip()


def _user_entry(conn: Connection, username: str) -> dict | None:
    """The one directory entry of `username` (exactly one match, else None)."""
    cfg = current_app.config
    filt = f"(&{cfg['LDAP_USER_FILTER']}({cfg['LDAP_ATTR_USERNAME']}={escape_filter_chars(username)}))"
    conn.search(cfg["LDAP_USER_BASE"], filt, SUBTREE, attributes=_attrs(), size_limit=2)
    found = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
    return found[0] if len(found) == 1 else None


def bind_user(username: str, password: str) -> dict | None:
    """The user's directory entry when `password` binds as that user; None for a wrong name or password."""
    cfg = current_app.config
    if not username or not password or len(password) > 1024 or "\x00" in password:
        return None  # an empty password would be an anonymous ("unauthenticated") bind that succeeds
    try:
        if cfg.get("LDAP_USER_DN_TEMPLATE"):
            dn = cfg["LDAP_USER_DN_TEMPLATE"].format(username=escape_rdn(username))
        else:
            lookup = _service_connection()
            entry = _user_entry(lookup, username)
            lookup.unbind()
            if entry is None:
                return None
            dn = entry["dn"]
        conn = _connection(dn, password)
        if not conn.bind():
            return None
        try:
            if cfg.get("LDAP_USER_BASE"):
                entry = _user_entry(conn, username)
            else:
                conn.search(dn, "(objectClass=*)", "BASE", attributes=_attrs())
                entry = next((e for e in conn.response or [] if e.get("type") == "searchResEntry"), None)
        finally:
            conn.unbind()
    except LDAPException as exc:
        current_app.logger.warning("LDAP bind failed: %s", exc)
        raise LdapUnavailable(UNAVAILABLE) from exc
    return entry or {"dn": dn, "attributes": {}}


def _department_codes(conn: Connection) -> dict[str, orgsync.DeptRecord]:
    """OU DN (lower case) → department, from the OUs under LDAP_DEPARTMENT_BASE."""
    cfg = current_app.config
    base = cfg.get("LDAP_DEPARTMENT_BASE")
    if not base:
        return {}
    code_attr, name_attr = cfg["LDAP_DEPARTMENT_CODE_ATTR"], cfg["LDAP_DEPARTMENT_NAME_ATTR"]
    conn.search(base, "(objectClass=organizationalUnit)", SUBTREE, attributes=[code_attr, name_attr])
    out: dict[str, orgsync.DeptRecord] = {}
    for e in conn.response or []:
        if e.get("type") != "searchResEntry" or e["dn"].lower() == base.lower():
            continue
        code = _value(e, code_attr)
        if code:
            out[e["dn"].lower()] = orgsync.DeptRecord(code=code[:40], name=(_value(e, name_attr) or code)[:100])
    return out


def _department_of(entry: dict, ous: dict[str, orgsync.DeptRecord]) -> str:
    attr = current_app.config.get("LDAP_ATTR_DEPARTMENT")
    if attr:
        return _value(entry, attr)
    dn = entry["dn"].lower()
    parents = [ou for ou in ous if dn.endswith("," + ou)]
    return ous[max(parents, key=len)].code if parents else ""


def _heads(conn: Connection) -> set[str] | None:
    """DNs (lower case) of the department heads; None when no head rule is configured."""
    cfg = current_app.config
    group, filt = cfg.get("LDAP_HEAD_GROUP_DN"), cfg.get("LDAP_HEAD_FILTER")
    if not group and not filt:
        return None
    heads: set[str] = set()
    if group:
        conn.search(group, "(objectClass=*)", "BASE", attributes=["member", "uniqueMember"])
        for e in conn.response or []:
            for name in ("member", "uniqueMember"):
                heads |= {str(m).lower() for m in e.get("attributes", {}).get(name) or []}
    if filt:
        conn.search(cfg["LDAP_USER_BASE"], f"(&{cfg['LDAP_USER_FILTER']}{filt})", SUBTREE, attributes=["1.1"])
        heads |= {e["dn"].lower() for e in conn.response or [] if e.get("type") == "searchResEntry"}
    return heads


def read_directory() -> tuple[list[orgsync.DeptRecord], list[orgsync.PersonRecord]]:
    cfg = current_app.config
    conn = _service_connection()
    try:
        ous = _department_codes(conn)
        heads = _heads(conn)
        entries = conn.extend.standard.paged_search(cfg["LDAP_USER_BASE"], cfg["LDAP_USER_FILTER"], SUBTREE,
                                                    attributes=_attrs(), paged_size=500, generator=False)
        people = []
        for e in entries or []:
            if e.get("type") != "searchResEntry":
                continue
            username = _value(e, cfg["LDAP_ATTR_USERNAME"])
            if not username or len(username) > 60:
                continue
            people.append(orgsync.PersonRecord(
                username=username, display_name=_value(e, cfg["LDAP_ATTR_DISPLAY_NAME"]) or username,
                department=_department_of(e, ous), email=_value(e, cfg.get("LDAP_ATTR_EMAIL")),
                phone=_value(e, cfg.get("LDAP_ATTR_PHONE")), head=None if heads is None else e["dn"].lower() in heads,
                external_id=e["dn"][:255], row=e["dn"]))
    except LDAPException as exc:
        raise LdapUnavailable(UNAVAILABLE) from exc
    finally:
        conn.unbind()
    return list({d.code: d for d in ous.values()}.values()), people


def _default_role() -> str:
    role = current_app.config.get("LDAP_DEFAULT_ROLE") or Role.handler.value
    return role if role in {r.value for r in Role} and role != Role.admin.value else Role.handler.value


def sync(dry_run: bool = False) -> orgsync.SyncReport:
    """Departments, users and heads from the directory. Users of source ldap missing from it are deactivated
    (never an administrator); nothing is deleted. A directory that returns no user changes nothing."""
    depts, people = read_directory()
    if not people:
        report = orgsync.SyncReport(source="ldap", dry_run=dry_run)
        report.errors.append("目录中没有找到任何用户（检查 LDAP_USER_BASE / LDAP_USER_FILTER），未做任何修改")
        return report
    return orgsync.apply(depts, people, source="ldap", dry_run=dry_run, default_role=_default_role(),
                         update_local=False)


def run_scheduled() -> None:
    """The scheduler's job (every LDAP_SYNC_MINUTES, inside an app context): a sync that logs, never raises."""
    if not configured() or int(current_app.config.get("LDAP_SYNC_MINUTES", 0)) <= 0:
        return
    try:
        report = sync(dry_run=False)
    except Exception:  # the next run tries again; the scheduler must keep running
        db.session.rollback()
        current_app.logger.exception("scheduled LDAP sync failed")
        return
    current_app.logger.info("LDAP sync: %s", report.summary())
    for error in report.errors:
        current_app.logger.warning("LDAP sync: %s", error)


def provision_from_entry(entry: dict, client: str) -> User:
    """First login of a directory user: an account in the department the directory names (refused, audited, if this
    system does not know it), with the default role."""
    cfg = current_app.config
    username = _value(entry, cfg["LDAP_ATTR_USERNAME"])
    ous: dict[str, orgsync.DeptRecord] = {}
    if not cfg.get("LDAP_ATTR_DEPARTMENT") and cfg.get("LDAP_DEPARTMENT_BASE"):
        conn = _service_connection()
        try:
            ous = _department_codes(conn)
        finally:
            conn.unbind()
    code = _department_of(entry, ous)
    department = orgsync.find_department(code)
    if department is None or not username:
        audit.record("login_failed", detail={"username": username[:60], "client": client, "source": "ldap",
                                             "reason": "unknown_department", "department": code[:100]})
        db.session.commit()
        raise Forbidden(f"您所在的部门（{code[:60] or '目录未提供'}）尚未在本系统登记，无法自动开通账号，请联系管理员")
    return orgsync.provision(username, _value(entry, cfg["LDAP_ATTR_DISPLAY_NAME"]) or username, department,
                             "ldap", [_default_role()], external_id=entry["dn"][:255],
                             email=_value(entry, cfg.get("LDAP_ATTR_EMAIL")),
                             phone=_value(entry, cfg.get("LDAP_ATTR_PHONE")), by="ldap_first_login")
