"""Accounts: sign-in with per-account lockout, the password policy, password changes, session epochs, disabling.

Every refusal to sign in gives the same message and costs the same password-hash verification, so a caller learns
neither whether an account exists nor whether it is locked or disabled; the audit log records the real reason."""
from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ...extensions import db
from ...models import User
from ...models.types import utcnow
from ..errors import DomainError, NotFound, ValidationFailed
from . import audit

LOGIN_REFUSED = "用户名或密码错误；连续多次失败后账号将被暂时锁定，请稍后再试或联系管理员"
PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128  # hashing cost stays bounded
# Lower-cased; only entries of 10+ characters with letters and digits matter (the rest fail the other rules anyway).
COMMON_PASSWORDS = frozenset({
    "password123", "password1234", "passw0rd123", "abc1234567", "abcd123456", "abcde12345", "a123456789",
    "a1234567890", "aa123456789", "1234567890a", "123456789a", "qwerty12345", "qwerty123456", "qwer123456",
    "qwert12345", "1qaz2wsx3edc", "1q2w3e4r5t", "q1w2e3r4t5", "zxcvbnm123", "asdfgh12345", "asd123456789",
    "iloveyou123", "woaini1314", "woaini123456", "admin123456", "admin12345", "administrator1", "welcome123",
    "welcome1234", "letmein123", "changeme123", "p@ssw0rd123", "test123456", "demo123456", "lut123456789",
    "lanzhou123456", "root123456", "user123456", "china123456", "123456abcd", "123qweasdzxc", "1234qwer1234",
})


class LoginRefused(DomainError):
    status = 401


def _login_config() -> tuple[int, timedelta]:
    cfg = current_app.config
    return int(cfg.get("LOGIN_MAX_FAILURES", 5)), timedelta(minutes=int(cfg.get("LOGIN_LOCKOUT_MINUTES", 15)))


def _hash_method() -> str:
    return current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")


@cache
def _dummy_hash(method: str) -> str:
    return generate_password_hash("not-a-real-password-0", method=method)


def _storable(text: str, limit: int) -> bool:
    """Text a database can take and a hash function can encode (no NUL, no lone surrogate, bounded)."""
    return len(text) <= limit and not any(c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def _printable(text: str) -> str:
    return "".join(c for c in text[:60] if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF)


def sign_in(username: str, password: str, client: str) -> User:
    """The user for a correct password of an active, unlocked account; otherwise LoginRefused (always the same)."""
    now = utcnow()
    if not _storable(password, 4096):
        password = ""
    user = db.session.scalar(select(User).where(User.username == username)) if _storable(username, 60) else None
    detail = {"username": _printable(username), "client": client}
    if user is None:
        check_password_hash(_dummy_hash(_hash_method()), password)  # the same work as for a real account
        audit.record("login_failed", detail={**detail, "reason": "unknown"})
        db.session.commit()
        raise LoginRefused(LOGIN_REFUSED)
    correct = user.check_password(password)  # verified in every case: the answer takes the same time
    locked = user.locked_until is not None and user.locked_until > now
    if correct and user.active and not locked:
        user.failed_login_count = 0
        user.locked_until = None
        audit.record("login", user_id=user.id, detail=detail)
        db.session.commit()
        return user
    reason = "disabled" if not user.active else "locked" if locked else "password"
    audit.record("login_failed", user_id=user.id, detail={**detail, "reason": reason})
    if reason == "password":
        _count_failure(user.id, now, detail)
    db.session.commit()
    raise LoginRefused(LOGIN_REFUSED)


def external_sign_in(user: User, source: str, client: str) -> User:
    """A user whose identity CAS or LDAP has just confirmed: the same disabled/lockout rules and audit rows as
    sign_in (detail.source says where the identity was confirmed)."""
    now = utcnow()
    detail = {"username": user.username, "client": client, "source": source}
    locked = user.locked_until is not None and user.locked_until > now
    if user.active and not locked:
        user.failed_login_count = 0
        user.locked_until = None
        audit.record("login", user_id=user.id, detail=detail)
        db.session.commit()
        return user
    audit.record("login_failed", user_id=user.id,
                 detail={**detail, "reason": "disabled" if not user.active else "locked"})
    db.session.commit()
    raise LoginRefused(LOGIN_REFUSED)


def external_sign_in_failed(user_id: int | None, username: str, source: str, client: str, reason: str) -> None:
    """A password the directory refused: audited and counted towards the lockout like a local one."""
    detail = {"username": _printable(username), "client": client, "source": source}
    audit.record("login_failed", user_id=user_id, detail={**detail, "reason": reason})
    if user_id is not None and reason == "password":
        _count_failure(user_id, utcnow(), detail)
    db.session.commit()
    raise LoginRefused(LOGIN_REFUSED)


def _count_failure(user_id: int, now: datetime, detail: dict) -> None:
    """One more failure, counted in the database so that every worker sees it; locks the account at the limit."""
    max_failures, lockout = _login_config()
    db.session.execute(  # a lock that ran out starts a fresh count
        update(User).where(User.id == user_id, User.locked_until.is_not(None), User.locked_until <= now)
        .values(failed_login_count=0, locked_until=None).execution_options(synchronize_session=False))
    db.session.execute(update(User).where(User.id == user_id)
                       .values(failed_login_count=User.failed_login_count + 1)
                       .execution_options(synchronize_session=False))
    count = db.session.scalar(select(User.failed_login_count).where(User.id == user_id))
    if count >= max_failures:
        until = now + lockout
        db.session.execute(update(User).where(User.id == user_id).values(locked_until=until)
                           .execution_options(synchronize_session=False))
        audit.record("account_locked", user_id=user_id,
                     detail={**detail, "failures": count, "until": until.isoformat()})
    db.session.expire_all()


def load_session_user(session_id: str) -> User | None:
    """flask-login's user_loader: "<id>:<nonce>"; a stale nonce or a disabled account ends the session."""
    user_id, _, nonce = session_id.partition(":")
    if not (user_id.isascii() and user_id.isdigit() and len(user_id) <= 10 and nonce):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_nonce != nonce:
        return None
    return user


def end_sessions(user_id: int, reason: str = "logout") -> None:
    """Sign the user out everywhere: every cookie carrying the old nonce stops working."""
    user = db.session.get(User, user_id)
    if user is None:
        return
    user.rotate_session_nonce()
    audit.record(reason, user_id=user.id, detail={"username": user.username})
    db.session.commit()


def password_problem(password: str, username: str) -> str | None:
    """Why the password is not acceptable, in Chinese; None when it is."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"密码至少 {PASSWORD_MIN_LENGTH} 个字符"
    if len(password) > PASSWORD_MAX_LENGTH or not _storable(password, PASSWORD_MAX_LENGTH):
        return f"密码最多 {PASSWORD_MAX_LENGTH} 个字符，且不能含有控制字符"
    if any(unicodedata.category(c) == "Cc" for c in password):
        return "密码不能含有控制字符"
    if not any(c.isalpha() for c in password) or not any(c.isdigit() for c in password):
        return "密码须同时包含字母和数字"
    if password.casefold() == username.casefold():
        return "密码不能与用户名相同"
    if password.casefold() in COMMON_PASSWORDS:
        return "密码过于常见，请换一个"
    return None


def check_password_policy(password: str, username: str, field: str = "password") -> None:
    problem = password_problem(password, username)
    if problem:
        raise ValidationFailed({field: problem}, message=problem)


def change_password(user_id: int, current: str, new: str, repeat: str, client: str) -> None:
    """The signed-in user's own change: the current password, then the policy; every other session ends."""
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound("用户不存在")
    errors: dict[str, str] = {}
    if not user.check_password(current if _storable(current, 4096) else ""):
        audit.record("password_change_failed", user_id=user.id, detail={"client": client})
        _count_failure(user.id, utcnow(), {"username": user.username, "client": client})
        db.session.commit()
        raise ValidationFailed({"current": "当前密码不正确"}, message="当前密码不正确")
    problem = password_problem(new, user.username)
    if problem:
        errors["new"] = problem
    elif new != repeat:
        errors["repeat"] = "两次输入的新密码不一致"
    elif user.check_password(new):
        errors["new"] = "新密码不能与当前密码相同"
    if errors:
        raise ValidationFailed(errors, message=next(iter(errors.values())))
    user.set_password(new, _hash_method())
    user.rotate_session_nonce()
    user.failed_login_count = 0
    user.locked_until = None
    audit.record("password_change", user_id=user.id, detail={"client": client})
    db.session.commit()


def set_password(username: str, password: str) -> None:
    """An administrator sets a user's password (CLI); ends the user's sessions and clears a lockout."""
    user = _by_name(username)
    check_password_policy(password, user.username)
    user.set_password(password, _hash_method())
    user.rotate_session_nonce()
    user.failed_login_count = 0
    user.locked_until = None
    audit.record("password_set", user_id=user.id, detail={"username": user.username})
    db.session.commit()


def disable_user(username: str) -> None:
    """The user can no longer sign in or use API tokens; current sessions end."""
    user = _by_name(username)
    user.active = False
    user.rotate_session_nonce()
    audit.record("user_disabled", user_id=user.id, detail={"username": user.username})
    db.session.commit()


def enable_user(username: str) -> None:
    user = _by_name(username)
    user.active = True
    user.failed_login_count = 0
    user.locked_until = None
    audit.record("user_enabled", user_id=user.id, detail={"username": user.username})
    db.session.commit()


def _by_name(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username)) if _storable(username, 60) else None
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    return user
