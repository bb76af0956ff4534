"""A small JSON-over-HTTP client for the channels (stdlib only); every problem becomes a DeliveryError."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class DeliveryError(Exception):
    """A send that did not reach the channel. permanent: retrying cannot help (e.g. an unknown member)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent


def request_json(url: str, payload: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
    """GET (payload None) or POST JSON; the answer must be a JSON object with HTTP 200."""
    data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=data,  # noqa: S310  (http/https URLs from the settings) method="GET" if data is None else "POST",
                                 headers={"Content-Type": "application/json; charset=utf-8",
                                          "Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310  (http/https from settings)
            body = resp.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from exc
    except TimeoutError as exc:
        raise DeliveryError(f"超时（{timeout:g} 秒内无应答）") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise DeliveryError(f"超时（{timeout:g} 秒内无应答）") from exc
        raise DeliveryError(f"连接失败：{reason}") from exc
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DeliveryError(f"应答不是 JSON：{body[:200]!r}") from exc
    if not isinstance(answer, dict):
        raise DeliveryError(f"应答不是 JSON 对象：{body[:200]!r}")
    return answer
