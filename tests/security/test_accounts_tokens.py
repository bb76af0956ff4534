"""Issue 8 item 5: API tokens expire, are shown once, listed without the secret, revoked one by one or all."""
from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import text

from app.extensions import db

from .accounts_support import accounts_app, audit_rows, client_for, make_user, user_row


def cli(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def issue(app, username: str, *extra: str) -> str:
    result = cli(app, "users", "token", username, *extra)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def api_status(app, token: str) -> int:
    return client_for(app).get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code


def test_token_is_printed_once_stored_as_sha256_and_expires_after_90_days(sec_app, user):
    result = cli(sec_app, "users", "token", user)
    token = result.output.strip()
    assert len(token) >= 40 and "\n" not in token  # the token alone, for scripts
    with sec_app.app_context():
        rows = db.session.execute(text("SELECT * FROM api_token")).mappings().all()
        db.session.remove()
    [row] = rows
    assert row["token_sha256"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(dict(row))  # only the hash is kept
    listing = cli(sec_app, "users", "tokens", user)
    assert token not in listing.output and hashlib.sha256(token.encode()).hexdigest() not in listing.output
    assert f"{row['id']}\t" in listing.output and "有效" in listing.output and "从未使用" in listing.output

    assert api_status(sec_app, token) == 200
    listing = cli(sec_app, "users", "tokens", user).output
    assert "从未使用" not in listing  # last use recorded
    with time_machine.travel(datetime.now(UTC) + timedelta(days=89), tick=True):
        assert api_status(sec_app, token) == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(days=90, minutes=1), tick=True):
        assert api_status(sec_app, token) == 401
        assert "已过期" in cli(sec_app, "users", "tokens", user).output
    [issued] = audit_rows(sec_app, "token")
    assert issued.detail["token_id"] == row["id"] and issued.user_id == user_row(sec_app, user).id


def test_days_option_and_configured_default(app, sec_app, user):
    short = issue(sec_app, user, "--days", "2")
    with time_machine.travel(datetime.now(UTC) + timedelta(days=2, minutes=1), tick=True):
        assert api_status(sec_app, short) == 401
    monthly = accounts_app(app, API_TOKEN_DAYS=30)
    default = issue(monthly, user)
    with time_machine.travel(datetime.now(UTC) + timedelta(days=29), tick=True):
        assert api_status(monthly, default) == 200
    with time_machine.travel(datetime.now(UTC) + timedelta(days=30, minutes=1), tick=True):
        assert api_status(monthly, default) == 401
    for bad in ("0", "-5", "100000"):
        result = cli(sec_app, "users", "token", user, "--days", bad)
        assert result.exit_code == 1 and "有效期" in result.output


def test_revoke_one_token_or_all(sec_app, user):
    first, second, third = issue(sec_app, user), issue(sec_app, user), issue(sec_app, user)
    ids = [line.split("\t")[0] for line in cli(sec_app, "users", "tokens", user).output.splitlines()[1:]]
    assert len(ids) == 3

    result = cli(sec_app, "users", "revoke-token", user, "--id", ids[0])
    assert result.exit_code == 0 and f"#{ids[0]}" in result.output
    assert (api_status(sec_app, first), api_status(sec_app, second), api_status(sec_app, third)) == (401, 200, 200)
    assert "已吊销" in cli(sec_app, "users", "tokens", user).output

    result = cli(sec_app, "users", "revoke-token", user, "--all")
    assert result.exit_code == 0 and "已吊销 2 个令牌" in result.output
    assert (api_status(sec_app, second), api_status(sec_app, third)) == (401, 401)
    assert [r.detail["token_ids"] for r in audit_rows(sec_app, "token_revoked")] == [
        [int(ids[0])], [int(ids[1]), int(ids[2])]]


def test_revoke_token_refuses_unclear_requests(sec_app, user):
    token = issue(sec_app, user)
    assert cli(sec_app, "users", "revoke-token", user).exit_code == 2  # neither --id nor --all
    assert cli(sec_app, "users", "revoke-token", user, "--id", "1", "--all").exit_code == 2
    missing = cli(sec_app, "users", "revoke-token", user, "--id", "999999")
    assert missing.exit_code == 1 and "没有有效的令牌" in missing.output
    other = make_user(sec_app)
    mine = cli(sec_app, "users", "tokens", user).output.splitlines()[1].split("\t")[0]
    assert cli(sec_app, "users", "revoke-token", other, "--id", mine).exit_code == 1  # not someone else's token
    assert api_status(sec_app, token) == 200
    assert cli(sec_app, "users", "tokens", "secacct_nobody").exit_code == 1


def test_bad_bearer_tokens_are_401(sec_app, user):
    issue(sec_app, user)
    for header in ["Bearer ", "Bearer x", "Bearer " + "a" * 5000, "Bearer \u00e9\u00e9"]:
        resp = client_for(sec_app).get("/api/v1/tasks", headers={"Authorization": header})
        assert resp.status_code == 401 and "error" in resp.get_json()
