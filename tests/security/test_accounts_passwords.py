"""Issue 8 item 3: the password policy for `flask users create`, `flask users set-password` and the own password
change page (/account/password)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from app.models import User
from app.services.security.accounts import password_problem

from .accounts_support import (
    PASSWORD,
    audit_rows,
    client_for,
    csrf_token,
    post_login,
    remove_users,
    signed_in,
    user_row,
)


@pytest.mark.parametrize(("password", "problem"), [
    ("short1", "至少 10 个字符"),
    ("onlyletterspassword", "字母和数字"),
    ("12345678901234", "字母和数字"),
    ("SecAcct9999", "用户名"),
    ("Password123", "常见"),
    ("qwerty123456", "常见"),
    ("a1" * 70, "最多 128"),
    ("abc\x00defgh123", "控制字符"),
    ("abc\tdefgh123", "控制字符"),
])
def test_weak_passwords_are_refused_with_the_reason(password, problem):
    assert problem in (password_problem(password, "secacct9999") or "")


@pytest.mark.parametrize("password", [PASSWORD, "数据共享审批2026abc", "correct horse battery 9"])
def test_good_passwords_pass(password):
    assert password_problem(password, "secacct9999") is None


def _user_exists(app, username: str) -> bool:
    with app.app_context():
        found = db.session.scalar(select(User.id).where(User.username == username)) is not None
        db.session.remove()
        return found


def test_cli_create_applies_the_policy(app, sec_app):
    runner = sec_app.test_cli_runner()
    try:
        weak = runner.invoke(args=["users", "create", "secacctcli", "命令行", "college_cs", "--role", "handler"],
                             input="demo12345\ndemo12345\n")
        assert weak.exit_code == 1 and "至少 10 个字符" in weak.output
        assert not _user_exists(sec_app, "secacctcli")
        ok = runner.invoke(args=["users", "create", "secacctcli", "命令行", "college_cs", "--role", "handler"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
        assert ok.exit_code == 0, ok.output
        assert post_login(client_for(sec_app), "secacctcli", PASSWORD).status_code == 302
    finally:
        remove_users(app)


def test_cli_set_password_applies_the_policy_ends_sessions_and_clears_a_lock(sec_app, user):
    browser = signed_in(sec_app, user)
    for _ in range(3):
        post_login(client_for(sec_app), user, "wrong-password-1")
    assert user_row(sec_app, user).locked_until is not None
    runner = sec_app.test_cli_runner()
    weak = runner.invoke(args=["users", "set-password", user], input="short1\nshort1\n")
    assert weak.exit_code == 1 and "至少 10 个字符" in weak.output
    assert browser.get("/inbox").status_code == 200  # a refused change changes nothing

    new_password = "Reset-By-Admin-77"
    ok = runner.invoke(args=["users", "set-password", user], input=f"{new_password}\n{new_password}\n")
    assert ok.exit_code == 0, ok.output
    assert browser.get("/inbox").status_code == 302
    row = user_row(sec_app, user)
    assert row.locked_until is None and row.failed_login_count == 0
    assert post_login(client_for(sec_app), user, new_password).status_code == 302
    assert [r.detail["username"] for r in audit_rows(sec_app, "password_set")] == [user]
    missing = runner.invoke(args=["users", "set-password", "secacct_nobody"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert missing.exit_code == 1 and "不存在" in missing.output


def test_password_page_checks_current_policy_and_repeat(sec_app, user):
    browser = signed_in(sec_app, user)
    page = browser.get("/account/password")
    assert page.status_code == 200 and 'name="current"' in page.get_data(as_text=True)
    assert "修改密码" in browser.get("/inbox").get_data(as_text=True)  # linked from every page

    def change(current: str, new: str, repeat: str):
        return browser.post("/account/password", data={"current": current, "new": new, "repeat": repeat,
                                                       "csrf_token": csrf_token(browser)})

    for (current, new, repeat), message in [
        (("wrong-current-1", "Brand-New-Pass-1", "Brand-New-Pass-1"), "当前密码不正确"),
        ((PASSWORD, "short1", "short1"), "至少 10 个字符"),
        ((PASSWORD, "Brand-New-Pass-1", "Brand-New-Pass-2"), "两次输入的新密码不一致"),
        ((PASSWORD, PASSWORD, PASSWORD), "不能与当前密码相同"),
    ]:
        resp = change(current, new, repeat)
        assert resp.status_code == 422 and message in resp.get_data(as_text=True), message
    throttled = change(PASSWORD, "qwerty12345", "qwerty12345")  # 4 attempts a minute, like the login
    assert throttled.status_code == 429 and "过于频繁" in throttled.get_data(as_text=True)
    assert post_login(client_for(sec_app), user, PASSWORD).status_code == 302  # unchanged
    failed = audit_rows(sec_app, "password_change_failed")
    assert len(failed) == 1 and failed[0].user_id == user_row(sec_app, user).id

    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61), tick=True):
        common = change(PASSWORD, "qwerty12345", "qwerty12345")
        assert common.status_code == 422 and "常见" in common.get_data(as_text=True)
        assert change(PASSWORD, "Brand-New-Pass-1", "Brand-New-Pass-1").status_code == 302
    assert post_login(client_for(sec_app), user, "Brand-New-Pass-1").status_code == 302


def test_password_page_needs_login_and_csrf(sec_app, user):
    anonymous = client_for(sec_app)
    assert anonymous.get("/account/password").status_code == 302
    browser = signed_in(sec_app, user)
    resp = browser.post("/account/password", data={"current": PASSWORD, "new": "Brand-New-Pass-1",
                                                   "repeat": "Brand-New-Pass-1"})
    assert resp.status_code == 400
    assert post_login(client_for(sec_app), user, PASSWORD).status_code == 302


def test_guessing_the_current_password_counts_towards_the_lockout(sec_app, user):
    browser = signed_in(sec_app, user)
    for _ in range(3):
        browser.post("/account/password", data={"current": "guess-number-1", "new": "Brand-New-Pass-1",
                                                "repeat": "Brand-New-Pass-1", "csrf_token": csrf_token(browser)})
    assert user_row(sec_app, user).locked_until is not None
    assert post_login(client_for(sec_app), user, PASSWORD).status_code == 401
