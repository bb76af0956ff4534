"""CAS single sign-on (python-cas): ticket validation with attributes, first-login provisioning, single logout."""
from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any
from xml.etree.ElementTree import ParseError

import requests
from cas import CASClient
from flask import current_app
from lxml import etree
from sqlalchemy import delete, select

from ....extensions import db
from ....models import CasTicket, Role, User
from ....models.types import utcnow
from ...errors import DomainError
from ...security import accounts, audit
from . import orgsync

TICKET_INVALID = "统一身份认证票据无效、已过期或已使用，请重新登录"
UNAVAILABLE = "统一身份认证服务暂时无法访问，请稍后再试"
SLO_MAX_BYTES = 16 * 1024
TICKET_KEEP = timedelta(days=30)  # longer than any session lives (idle timeout), for single logout
SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"


class CasUnavailable(DomainError):
    status = 502


class CasRefused(DomainError):
    status = 403


class _TimeoutSession(requests.Session):
    """python-cas calls session.get without a timeout; a hanging CAS server must not hold a worker forever."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


def configured() -> bool:
    return bool(current_app.config.get("CAS_SERVER_URL"))


def _server_url() -> str:
    url = current_app.config["CAS_SERVER_URL"]
    return url if url.endswith("/") else url + "/"  # urljoin(…/authserver, "login") would drop "authserver"


def _client(service_url: str) -> Any:
    cfg = current_app.config
    return CASClient(version=str(cfg.get("CAS_VERSION", "3")), service_url=service_url, server_url=_server_url(),
                     verify_ssl_certificate=cfg.get("CAS_VERIFY_TLS", True),
                     session=_TimeoutSession(float(cfg.get("CAS_TIMEOUT_SECONDS", 10))))


def login_url(service_url: str) -> str:
    return _client(service_url).get_login_url()


def logout_url(return_url: str) -> str:
    """CAS /logout?service=… (CAS 3; `url=` for CAS 2, as python-cas knows)."""
    return _client(return_url).get_logout_url(return_url)


def _sha(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def _first(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return "" if value is None else str(value).strip()


def _department_map() -> dict[str, str]:
    raw = current_app.config.get("CAS_DEPARTMENT_MAP") or ""
    if isinstance(raw, dict):
        return raw
    try:
        mapping = json.loads(raw) if raw else {}
    except ValueError:
        current_app.logger.error("CAS_DEPARTMENT_MAP is not JSON; ignored")
        return {}
    return {str(k): str(v) for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def _refuse(message: str, reason: str, detail: dict, user_id: int | None = None) -> CasRefused:
    audit.record("login_failed", user_id=user_id, detail={**detail, "source": "cas", "reason": reason})
    db.session.commit()
    return CasRefused(message)


def sign_in(ticket: str, service_url: str, client: str) -> User:
    """Validate `ticket` at the CAS server for `service_url`, find or provision the user, start nothing yet (the
    route starts the session); every refusal is audited."""
    cfg = current_app.config
    detail: dict[str, Any] = {"client": client}
    if not (0 < len(ticket) <= 256 and ticket.isascii() and ticket.isprintable()):
        raise _refuse(TICKET_INVALID, "ticket_malformed", detail)
    sha = _sha(ticket)
    if db.session.get(CasTicket, sha) is not None:  # the CAS server refuses a replay too; never ask it twice
        raise _refuse(TICKET_INVALID, "ticket_replayed", detail)
    try:
        cas_user, attributes, _pgtiou = _client(service_url).verify_ticket(ticket)
    except requests.RequestException as exc:
        current_app.logger.warning("CAS validation failed: %s", exc)
        raise CasUnavailable(UNAVAILABLE) from exc
    except (ParseError, IndexError, AttributeError, ValueError, TypeError) as exc:  # not a CAS answer
        current_app.logger.warning("CAS validation answer unreadable: %s", exc)
        raise CasUnavailable(UNAVAILABLE) from exc
    if not cas_user:
        raise _refuse(TICKET_INVALID, "ticket_invalid", detail)
    attributes = attributes or {}
    username = _first(attributes.get(cfg["CAS_ATTRIBUTE_USERNAME"])) if cfg.get("CAS_ATTRIBUTE_USERNAME") else ""
    username = username or str(cas_user).strip()
    detail["username"] = username[:60]
    if not (0 < len(username) <= 60 and username.isprintable()):
        raise _refuse("统一身份认证返回的用户名无法使用，请联系管理员", "username_unusable", detail)
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        user = _provision(username, str(cas_user), attributes, detail)
    elif user.auth_source == "local":
        raise _refuse("该账号是本系统的本地账号，请使用用户名和密码登录", "local_account", detail, user.id)
    elif not user.active:
        raise _refuse("您的账号已停用，请联系管理员", "disabled", detail, user.id)
    db.session.execute(delete(CasTicket).where(CasTicket.created_at < utcnow() - TICKET_KEEP))
    db.session.add(CasTicket(ticket_sha256=sha, user_id=user.id))
    return accounts.external_sign_in(user, "cas", client)  # commits the ticket with the login row


def _provision(username: str, cas_user: str, attributes: dict, detail: dict) -> User:
    cfg = current_app.config
    value = _first(attributes.get(cfg.get("CAS_ATTRIBUTE_DEPARTMENT") or "")) if attributes else ""
    mapped = _department_map().get(value, value)
    department = orgsync.find_department(mapped)
    if department is None:
        raise _refuse(f"您所在的部门（{value[:60] or '统一身份认证未提供'}）尚未在本系统登记，无法自动开通账号，"
                      "请联系管理员", "unknown_department", {**detail, "department": value[:100]})
    role = cfg.get("CAS_DEFAULT_ROLE") or Role.handler.value
    if role not in {r.value for r in Role} or role == Role.admin.value:  # never an administrator by default
        role = Role.handler.value
    display = _first(attributes.get(cfg.get("CAS_ATTRIBUTE_DISPLAY_NAME") or "")) or username
    email = _first(attributes.get(cfg.get("CAS_ATTRIBUTE_EMAIL") or ""))
    return orgsync.provision(username, display, department, "cas", [role], external_id=cas_user[:255],
                             email=email if "@" in email else "", by="cas_first_login")


_SAFE_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def single_logout(logout_request: str) -> bool:
    """A back-channel logoutRequest from the CAS server: the session that ticket (SessionIndex) started ends, by
    rotating its user's session nonce. True when a session was found."""
    if not logout_request or len(logout_request) > SLO_MAX_BYTES or "<!DOCTYPE" in logout_request.upper():
        return False
    try:
        root = etree.fromstring(logout_request.encode(), parser=_SAFE_PARSER)
    except etree.XMLSyntaxError:
        return False
    indexes = root.xpath("//samlp:SessionIndex/text()", namespaces={"samlp": SAMLP})
    if len(indexes) != 1 or not str(indexes[0]).strip():
        return False
    row = db.session.get(CasTicket, _sha(str(indexes[0]).strip()))
    if row is None:
        return False
    user_id = row.user_id
    db.session.delete(row)
    accounts.end_sessions(user_id, reason="cas_single_logout")  # audits and commits
    return True
