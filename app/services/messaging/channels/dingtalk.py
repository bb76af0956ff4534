"""钉钉 group robots: a markdown message with the task link, signed (加签) with HMAC-SHA256."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus

from .http import DeliveryError, request_json

RATE_LIMITED = {130101}  # sent too fast: retried later like any other failure


def sign(secret: str, timestamp_ms: int) -> str:
    """钉钉's 加签: urlencode(base64(hmac_sha256(secret, "{timestamp}\\n{secret}")))."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def signed_url(webhook: str, secret: str, timestamp_ms: int | None = None) -> str:
    if not secret:
        return webhook
    timestamp_ms = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
    return f"{webhook}{'&' if '?' in webhook else '?'}timestamp={timestamp_ms}&sign={sign(secret, timestamp_ms)}"


def _plain(text: str) -> str:
    """User text inside markdown: no links, images or headings of its own."""
    return text.translate(str.maketrans({"[": "［", "]": "］", "(": "（", ")": "）", "<": "＜", ">": "＞", "#": "＃",
                                         "!": "！", "\n": " "}))


def send_markdown(webhook: str, secret: str, title: str, text: str, url: str, mobile: str = "",
                  timeout: float = 5.0) -> None:
    body = f"#### {_plain(title)}\n\n{_plain(text)}\n\n[办理]({url})"
    if mobile:
        body += f"\n\n@{mobile}"
    payload = {"msgtype": "markdown", "markdown": {"title": title, "text": body},
               "at": {"atMobiles": [mobile] if mobile else [], "isAtAll": False}}
    answer = request_json(signed_url(webhook, secret), payload, timeout)
    if answer.get("errcode", 0) != 0:
        raise DeliveryError(f"钉钉机器人发送失败：errcode {answer.get('errcode')} {answer.get('errmsg', '')}")
