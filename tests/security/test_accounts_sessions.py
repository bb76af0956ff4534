"""Issue 8 item 4: cookie flags, logout (and a password change, and disabling) ends the user's sessions everywhere,
idle timeout enforced by the server."""
from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import time_machine

from app import create_app
from config import ProductionConfig

from .accounts_support import (
    PASSWORD,
    REFUSED,
    accounts_app,
    audit_rows,
    client_for,
    csrf_token,
    make_user,
    post_login,
    signed_in,
    user_row,
)


def copy_of(app, client):
    """A second browser holding a copy of the first one's session cookie (a stolen or shared cookie)."""
    thief = client_for(app)
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def test_session_cookie_is_httponly_samesite_lax_and_persistent_for_the_idle_time(sec_app, user):
    resp = post_login(client_for(sec_app), user, PASSWORD)
    [cookie] = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain http in tests; production sets it
    assert "Expires=" in cookie  # a permanent session: PERMANENT_SESSION_LIFETIME applies


def test_production_cookies_are_secure(app, user):
    config = type("Prod", (ProductionConfig,), {"SECRET_KEY": secrets.token_hex(32), "TESTING": True,
                                                  "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                                                  "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    prod = create_app(config)
    assert prod.config["REMEMBER_COOKIE_SECURE"] and prod.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    resp = post_login(client_for(prod), user, PASSWORD)
    [cookie] = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_ends_a_copied_session_cookie(sec_app, user):
    browser = signed_in(sec_app, user)
    thief = copy_of(sec_app, browser)
    old_cookie = browser.get_cookie("session").value
    assert thief.get("/inbox").status_code == 200  # the copy works while the user is signed in

    resp = browser.post("/logout", data={"csrf_token": csrf_token(browser)})
    assert resp.status_code == 302
    assert thief.get("/inbox").status_code == 302  # ... and not after the user signed out
    assert thief.get("/api/v1/tasks").status_code == 401
    replay = client_for(sec_app)
    replay.set_cookie("session", old_cookie)
    assert replay.get("/inbox").status_code == 302
    [logout] = audit_rows(sec_app, "logout")
    assert logout.user_id == user_row(sec_app, user).id
    assert signed_in(sec_app, user).get("/inbox").status_code == 200  # signing in again works


def test_logout_ends_every_session_of_the_user_but_not_of_others(sec_app, user):
    other = make_user(sec_app)
    office, home, colleague = signed_in(sec_app, user), signed_in(sec_app, user), signed_in(sec_app, other)
    office.post("/logout", data={"csrf_token": csrf_token(office)})
    assert home.get("/inbox").status_code == 302
    assert colleague.get("/inbox").status_code == 200


def test_password_change_keeps_this_browser_and_ends_the_others(sec_app, user):
    browser = signed_in(sec_app, user)
    thief = copy_of(sec_app, browser)
    new_password = "Gansu-Share-4321"
    resp = browser.post("/account/password", data={"current": PASSWORD, "new": new_password, "repeat": new_password,
                                                    "csrf_token": csrf_token(browser)})
    assert resp.status_code == 302
    assert browser.get("/inbox").status_code == 200
    assert thief.get("/inbox").status_code == 302
    assert post_login(client_for(sec_app), user, PASSWORD).status_code == 401
    assert post_login(client_for(sec_app), user, new_password).status_code == 302
    assert [r.user_id for r in audit_rows(sec_app, "password_change")] == [user_row(sec_app, user).id]


def test_disabling_a_user_ends_sessions_logins_and_tokens(sec_app, user):
    browser = signed_in(sec_app, user)
    token = sec_app.test_cli_runner().invoke(args=["users", "token", user]).output.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    assert browser.get("/api/v1/tasks", headers=auth).status_code == 200

    result = sec_app.test_cli_runner().invoke(args=["users", "disable", user])
    assert result.exit_code == 0, result.output
    assert browser.get("/inbox").status_code == 302
    assert client_for(sec_app).get("/api/v1/tasks", headers=auth).status_code == 401
    refused = post_login(client_for(sec_app), user, PASSWORD)
    assert refused.status_code == 401 and REFUSED in refused.get_data(as_text=True)
    assert audit_rows(sec_app, "login_failed")[-1].detail["reason"] == "disabled"
    assert [r.detail["username"] for r in audit_rows(sec_app, "user_disabled")] == [user]

    assert sec_app.test_cli_runner().invoke(args=["users", "enable", user]).exit_code == 0
    assert post_login(client_for(sec_app), user, PASSWORD).status_code == 302
    unknown = sec_app.test_cli_runner().invoke(args=["users", "disable", "secacct_nobody"])
    assert unknown.exit_code == 1 and "不存在" in unknown.output


def test_an_idle_session_ends_after_the_lifetime_and_activity_keeps_it(sec_app, user):
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        browser = signed_in(sec_app, user)
        copy = copy_of(sec_app, browser)  # a cookie that is never refreshed by a request of its own
        clock.move_to(start + timedelta(minutes=20))
        assert browser.get("/inbox").status_code == 200  # activity re-signs the cookie ...
        clock.move_to(start + timedelta(minutes=45))
        assert browser.get("/inbox").status_code == 200  # ... so 45 minutes after login it still works
        assert copy.get("/inbox").status_code == 302  # the copy signed at login is 45 minutes old: refused
        clock.move_to(start + timedelta(minutes=45 + 31))
        resp = browser.get("/inbox")  # 31 idle minutes: the server refuses the signed cookie (max_age)
        assert resp.status_code == 302 and "/login" in resp.headers["Location"]


def test_the_idle_lifetime_is_configurable(app, user):
    short = accounts_app(app, PERMANENT_SESSION_LIFETIME=timedelta(minutes=5))
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False) as clock:
        browser = signed_in(short, user)
        clock.move_to(start + timedelta(minutes=4))
        assert browser.get("/inbox").status_code == 200
        clock.move_to(start + timedelta(minutes=10))
        assert browser.get("/inbox").status_code == 302


def test_a_stale_or_malformed_session_id_is_refused(sec_app, user):
    browser = signed_in(sec_app, user)
    uid = user_row(sec_app, user).id
    for forged in [str(uid), f"{uid}:", f"{uid}:0000", "x:y", f"{'9' * 30}:abc", ""]:
        with browser.session_transaction() as session:
            session["_user_id"] = forged
        assert browser.get("/inbox").status_code == 302, forged
