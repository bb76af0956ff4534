"""企业微信 application messages: gettoken with a cached access token, message/send with a textcard."""
from __future__ import annotations

import hashlib
import html
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from .http import DeliveryError, request_json

TOKEN_ERRORS = {40014, 42001}  # invalid / expired access_token: fetch a new one and send again
REFRESH_MARGIN_SECONDS = 300  # renew this long before expires_in runs out

_tokens: dict[str, tuple[str, float]] = {}  # per process: key → (token, monotonic expiry)
_lock = threading.Lock()


@dataclass(frozen=True)
class WecomApp:
    api_base: str
    corp_id: str
    agent_id: str
    secret: str
    timeout: float = 5.0

    @property
    def _key(self) -> str:
        return hashlib.sha256(f"{self.api_base}\n{self.corp_id}\n{self.secret}".encode()).hexdigest()

    def token(self, *, refresh: bool = False) -> str:
        """The cached access token, fetched when missing, near expiry or when refresh is asked for."""
        with _lock:  # one fetch at a time per process: 企业微信 limits gettoken calls
            cached = _tokens.get(self._key)
            if cached and not refresh and time.monotonic() < cached[1]:
                return cached[0]
            query = urlencode({"corpid": self.corp_id, "corpsecret": self.secret})
            answer = request_json(f"{self.api_base.rstrip('/')}/cgi-bin/gettoken?{query}", None, self.timeout)
            if answer.get("errcode", 0) != 0 or not answer.get("access_token"):
                raise DeliveryError(f"企业微信 gettoken 失败：{_code(answer)}")
            expires_in = int(answer.get("expires_in") or 7200)
            margin = min(REFRESH_MARGIN_SECONDS, expires_in // 2)
            _tokens[self._key] = (answer["access_token"], time.monotonic() + expires_in - margin)
            return answer["access_token"]

    def send_textcard(self, userid: str, title: str, description: str, url: str) -> None:
        payload = {"touser": userid, "msgtype": "textcard", "agentid": int(self.agent_id),
                   "textcard": {"title": _cut(title, 128), "description": _cut(html.escape(description), 512),
                                "url": url, "btntxt": "办理"}}
        answer = self._send(payload, self.token())
        if answer.get("errcode") in TOKEN_ERRORS:
            answer = self._send(payload, self.token(refresh=True))
        if answer.get("errcode", 0) != 0:
            raise DeliveryError(f"企业微信 message/send 失败：{_code(answer)}")
        if answer.get("invaliduser"):  # accepted, but not for this member: sending again cannot help
            raise DeliveryError(f"企业微信中没有成员 {answer['invaliduser']}", permanent=True)

    def _send(self, payload: dict, token: str) -> dict:
        query = urlencode({"access_token": token})
        return request_json(f"{self.api_base.rstrip('/')}/cgi-bin/message/send?{query}", payload, self.timeout)


def forget_tokens() -> None:
    with _lock:
        _tokens.clear()


def _code(answer: dict) -> str:
    return f"errcode {answer.get('errcode')} {answer.get('errmsg', '')}".strip()


def _cut(text: str, max_bytes: int) -> str:
    """At most max_bytes of UTF-8 (企业微信's field limits), cut on a character boundary."""
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    return raw[:max_bytes - 3].decode("utf-8", errors="ignore") + "…"
