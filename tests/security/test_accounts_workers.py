"""Two server processes (as with several workers) on one database and one Redis: the per-client throttle, the
per-account lockout and the end of a session on logout hold across workers."""
from __future__ import annotations

import http.client
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from .accounts_support import PASSWORD, make_user, remove_users, user_row

ROOT = Path(__file__).resolve().parents[2]
REDIS = ("127.0.0.1", 6379)
SERVER = "from app import create_app; from werkzeug.serving import run_simple; import sys; " \
         "run_simple('127.0.0.1', int(sys.argv[1]), create_app(), threaded=True)"


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """One browser (one cookie jar, one address) talking to several servers on 127.0.0.1."""

    def __init__(self):
        self.cookies: dict[str, str] = {}

    def request(self, port: int, method: str, path: str, form: dict | None = None,
                cookies: dict | None = None) -> tuple[int, str, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in (cookies or self.cookies).items())}
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read().decode()
        if cookies is None:
            for header in resp.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
        conn.close()
        return resp.status, text, dict(resp.headers)

    def login(self, port: int, username: str, password: str) -> int:
        _, page, _ = self.request(port, "GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status, _, _ = self.request(port, "POST", "/login",
                                    {"username": username, "password": password, "csrf_token": token})
        return status


@pytest.fixture()
def two_workers(app, tmp_path):
    if not _redis_up():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"test-{secrets.token_hex(6)}"
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": secrets.token_hex(32),
           "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379", "RATELIMIT_KEY_PREFIX": prefix,
           "LOGIN_RATE_LIMIT": "5 per minute", "LOGIN_MAX_FAILURES": "3", "APP_CONFIG": "config.Config"}
    env.pop("TEST_DATABASE_URL", None)
    ports, procs, logs = [_free_port(), _free_port()], [], []
    for port in ports:
        log = tmp_path / f"worker-{port}.log"
        logs.append(log)
        procs.append(subprocess.Popen([sys.executable, "-c", SERVER, str(port)], cwd=ROOT, env=env,
                                      stdout=log.open("w"), stderr=subprocess.STDOUT))
    try:
        for port, log in zip(ports, logs, strict=True):
            for _ in range(150):
                try:
                    if Browser().request(port, "GET", "/login")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.2)
            else:
                pytest.fail(log.read_text())
        yield ports, prefix
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        remove_users(app)
        import redis

        client = redis.Redis(*REDIS)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)
    for log in logs:
        assert "Traceback" not in log.read_text(), log.read_text()


def test_throttle_lockout_and_logout_hold_across_two_workers(app, two_workers):
    (a, b), prefix = two_workers
    victim, colleague = make_user(app), make_user(app)
    browser = Browser()

    # a session made by worker A is ended by a logout on worker B
    assert browser.login(a, colleague, PASSWORD) == 302  # attempt 1 of this address
    assert browser.request(b, "GET", "/inbox")[0] == 200
    copied = dict(browser.cookies)
    _, inbox, _ = browser.request(b, "GET", "/inbox")
    token = re.search(r'name="csrf_token" value="([^"]+)"', inbox).group(1)
    assert browser.request(b, "POST", "/logout", {"csrf_token": token})[0] == 302
    assert browser.request(a, "GET", "/inbox", cookies=copied)[0] == 302

    # three failures spread over both workers lock the account in the database
    assert [browser.login(port, victim, "wrong-password-1") for port in (a, b, a)] == [401, 401, 401]
    assert user_row(app, victim).locked_until is not None
    assert browser.login(b, victim, PASSWORD) == 401  # attempt 5: locked, whichever worker answers
    # attempt 6: the address's counter lives in Redis, so neither worker lets it through (in memory:// each worker
    # would have counted only three)
    status, page, _ = browser.request(a, "POST", "/login", {"username": victim, "password": PASSWORD,
                                                            "csrf_token": token})
    assert status == 429 and "过于频繁" in page
    import redis

    assert any(redis.Redis(*REDIS).scan_iter(f"*{prefix}*"))  # the counters really are in Redis
