"""企业微信 and 钉钉 receivers on loopback, the settings pointing at them, and a clean slate after each test."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from app.extensions import db
from app.services.messaging import channels
from app.services.messaging.channels import wecom

from . import receiver as rx


class WecomFake:
    """Answers gettoken with tok1, tok2, ... and message/send per `send` (default: ok while the token is current)."""

    def __init__(self):
        self.issued: list[str] = []
        self.expires_in = 7200
        self.send = None  # callable(hit) -> (status, body) overriding the default

    def __call__(self, hit):
        if hit.path == "/cgi-bin/gettoken":
            if hit.query.get("corpid") != "wwcorp" or hit.query.get("corpsecret") != "s3cret":
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            self.issued.append(f"tok{len(self.issued) + 1}")
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": self.issued[-1], "expires_in": self.expires_in}
        if hit.path == "/cgi-bin/message/send":
            if self.send is not None:
                return self.send(hit)
            if not self.issued or hit.query.get("access_token") != self.issued[-1]:
                return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
            return 200, {"errcode": 0, "errmsg": "ok", "invaliduser": ""}
        return 404, {"errcode": -1}


@pytest.fixture()
def wecom_server(app, monkeypatch):
    fake = WecomFake()
    server = rx.start(fake)
    server.fake = fake
    for key, value in {"WECOM_CORP_ID": "wwcorp", "WECOM_AGENT_ID": "1000002", "WECOM_SECRET": "s3cret",
                       "WECOM_API_BASE": server.url, "WECOM_USERID_FROM_USERNAME": True,
                       "SITE_URL": "https://share.example.edu.cn", "CHANNEL_TIMEOUT_SECONDS": 2}.items():
        monkeypatch.setitem(app.config, key, value)
    wecom.forget_tokens()
    yield server
    rx.stop(server)


@pytest.fixture(autouse=True)
def _reset_channels(app):
    yield
    channels.wait_idle(60)
    wecom.forget_tokens()
    with app.app_context():
        db.session.execute(text("DELETE FROM notification_delivery"))
        db.session.execute(text("UPDATE user_account SET wecom_userid = NULL, "
                                "notify_channels = 'email,wecom,dingtalk'"))
        db.session.commit()
