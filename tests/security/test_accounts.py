"""Issue 8 item 3: login throttling per client, lockout per account (in the database), the same answer and the same
work for unknown users, logins in the audit log, and `next=` kept on this site."""
from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
import time_machine

from app.web.auth import safe_next

from .accounts_support import (
    PASSWORD,
    REFUSED,
    accounts_app,
    audit_rows,
    client_for,
    csrf_token,
    make_user,
    new_address,
    post_login,
    signed_in,
    user_row,
)


def test_account_locks_after_failures_from_any_client_and_unlocks_after_the_lockout(sec_app, user):
    for _ in range(3):  # three different clients: the per-client throttle does not see a distributed guess
        resp = post_login(client_for(sec_app), user, "wrong-password-1")
        assert resp.status_code == 401 and REFUSED in resp.get_data(as_text=True)
    row = user_row(sec_app, user)
    assert row.failed_login_count == 3
    assert timedelta(minutes=14) < row.locked_until - datetime.now(UTC) <= timedelta(minutes=15)

    locked = post_login(client_for(sec_app), user, PASSWORD)  # the right password does not help while locked
    unknown = post_login(client_for(sec_app), "secacct_nobody", PASSWORD)
    assert locked.status_code == unknown.status_code == 401
    # the same message for a locked account and an account that does not exist: nothing tells them apart
    assert _error(locked) == _error(unknown) and REFUSED in _error(locked)
    assert "锁定" in _error(locked)  # ... and it says that repeated failures lock accounts, without saying whose

    reasons = [(r.user_id is not None, r.detail["reason"]) for r in audit_rows(sec_app, "login_failed")]
    assert reasons == [(True, "password")] * 3 + [(True, "locked"), (False, "unknown")]
    [lock] = audit_rows(sec_app, "account_locked")
    assert lock.detail["failures"] == 3 and lock.detail["username"] == user

    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=16), tick=True):
        assert post_login(client_for(sec_app), user, PASSWORD).status_code == 302
    row = user_row(sec_app, user)
    assert row.failed_login_count == 0 and row.locked_until is None


def test_a_failure_after_an_expired_lock_starts_a_fresh_count(sec_app, user):
    for _ in range(3):
        post_login(client_for(sec_app), user, "wrong-password-1")
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=16), tick=True):
        post_login(client_for(sec_app), user, "wrong-password-1")
        row = user_row(sec_app, user)
        assert row.failed_login_count == 1 and row.locked_until is None
        assert post_login(client_for(sec_app), user, PASSWORD).status_code == 302


def test_lockout_settings_come_from_the_configuration(app, user):
    strict = accounts_app(app, LOGIN_MAX_FAILURES=1, LOGIN_LOCKOUT_MINUTES=60)
    post_login(client_for(strict), user, "wrong-password-1")
    row = user_row(strict, user)
    assert timedelta(minutes=59) < row.locked_until - datetime.now(UTC) <= timedelta(minutes=60)


def test_one_client_is_throttled_after_the_limit_and_others_are_not(sec_app, user):
    address = new_address()
    client = client_for(sec_app, address)
    for _ in range(4):  # LOGIN_RATE_LIMIT = 4 per minute; unknown names so that no account locks
        assert post_login(client, "secacct_nobody", "whatever-1").status_code == 401
    throttled = post_login(client, user, PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert "登录尝试过于频繁" in throttled.get_data(as_text=True)
    assert client.get("/inbox").status_code == 302  # not signed in
    assert client.get("/login").status_code == 200  # only attempts are throttled, not the page
    assert post_login(client_for(sec_app), user, PASSWORD).status_code == 302  # another client is not affected
    assert user_row(sec_app, user).failed_login_count == 0  # a throttled attempt never reached the account
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=61), tick=True):
        assert post_login(client_for(sec_app, address), user, PASSWORD).status_code == 302


def test_a_forged_forwarded_for_header_does_not_escape_the_throttle(sec_app):
    client = client_for(sec_app)
    statuses = [post_login(client, "secacct_nobody", "whatever-1").status_code for _ in range(2)]
    for n in range(3):
        client.environ_base["HTTP_X_FORWARDED_FOR"] = f"192.0.2.{n}"
        statuses.append(post_login(client, "secacct_nobody", "whatever-1").status_code)
    assert statuses == [401, 401, 401, 401, 429]


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(app, user):
    proxied = accounts_app(app, TRUSTED_PROXY_COUNT=1, LOGIN_RATE_LIMIT="2 per minute")
    proxy = new_address()
    first, second = client_for(proxied, proxy), client_for(proxied, proxy)
    first.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.7"
    second.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.8"
    assert [post_login(first, user, "wrong-password-1").status_code for _ in range(3)] == [401, 401, 429]
    assert post_login(second, user, PASSWORD).status_code == 302
    assert {r.detail["client"] for r in audit_rows(proxied, "login_failed")} == {"198.51.100.7"}


def test_logins_and_failures_are_in_the_audit_log_with_user_and_client(sec_app, user):
    address = new_address()
    client = client_for(sec_app, address)
    post_login(client, user, "wrong-password-1")
    post_login(client, "secacct_nobody", "wrong-password-1")
    assert post_login(client, user, PASSWORD).status_code == 302
    uid = user_row(sec_app, user).id
    failed = audit_rows(sec_app, "login_failed")
    assert [(r.user_id, r.detail["username"], r.detail["client"], r.detail["reason"]) for r in failed] == [
        (uid, user, address, "password"), (None, "secacct_nobody", address, "unknown")]
    [login] = audit_rows(sec_app, "login")
    assert (login.user_id, login.detail) == (uid, {"username": user, "client": address})


def test_hostile_usernames_and_passwords_are_refused_cleanly(sec_app, user):
    quoted_user = quote(user)
    for name, password in [("a%00b", "x"), ("%ED%A0%80", "x"), ("x" * 5000, "x"), (quoted_user, "%00%ED%A0%80" * 3000),
                           (quoted_user, "%E2%80%AE" * 10)]:
        client = client_for(sec_app)
        body = f"username={name}&password={password}&csrf_token={csrf_token(client)}"
        resp = client.post("/login", data=body, content_type="application/x-www-form-urlencoded")
        assert resp.status_code in (400, 401), (name[:10], resp.status_code)  # the input boundary or the login
    assert post_login(client_for(sec_app), user, PASSWORD).status_code == 302


def test_an_unknown_user_costs_the_same_password_verification(app, user):
    """Timing: without the dummy verification an unknown name answers ~100x faster than a known one."""
    slow = accounts_app(app, PASSWORD_HASH_METHOD="pbkdf2:sha256:400000", LOGIN_RATE_LIMIT="1000 per minute",
                        LOGIN_MAX_FAILURES=1000)
    name = make_user(slow)  # hashed with the slow method too
    client = client_for(slow)

    def timed(username: str) -> float:
        start = time.perf_counter()
        assert post_login(client, username, "wrong-password-1").status_code == 401
        return time.perf_counter() - start

    known, unknown = [], []
    for _ in range(5):
        known.append(timed(name))
        unknown.append(timed("secacct_nobody"))
    assert statistics.median(unknown) > 0.5 * statistics.median(known), (known, unknown)


@pytest.mark.parametrize("target", [
    "/%09/evil.example", "/\t/evil.example", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil",
    "https://evil.example", "http:/evil.example", "javascript:alert(1)", "evil.example", "/ /evil.example",
    "/%0a/evil.example", "/%E3%80%80/evil.example", "/%E2%80%8B/evil.example", " /inbox", "",
])
def test_next_outside_this_site_goes_to_the_inbox(sec_app, user, target):
    resp = post_login(client_for(sec_app), user, PASSWORD, next_url=target)
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/inbox"


def test_next_on_this_site_is_followed(sec_app, user):
    resp = post_login(client_for(sec_app), user, PASSWORD, next_url="/requests%3Fstatus%3Dopen")
    assert resp.headers["Location"] == "/requests?status=open"
    client = client_for(sec_app)
    login_page = client.get("/grants")  # flask-login sends the user to the login page with a relative next
    assert login_page.status_code == 302 and "next=%2Fgrants" in login_page.headers["Location"]
    assert post_login(client, user, PASSWORD, next_url="%2Fgrants").headers["Location"] == "/grants"


def test_safe_next_checks_the_decoded_value():
    for target in ["/\x00x", "/\u3000/evil", "/\u200b/evil", "/\x7f/evil", "/ok\\..\\x", "/" * 3000]:
        assert safe_next(target) is None, repr(target)
    assert safe_next("/requests/5?tab=history#top") == "/requests/5?tab=history#top"
    assert safe_next(None) is None


def test_a_signed_in_user_reaches_the_page(sec_app, user):
    assert signed_in(sec_app, user).get("/inbox").status_code == 200


def _error(resp) -> str:
    html = resp.get_data(as_text=True)
    start = html.index('role="alert">') + len('role="alert">')
    return html[start:html.index("<", start)]
