"""Loopback HTTP receivers standing in for 企业微信 and a 钉钉 robot: they record every request and answer as the
test tells them (a JSON answer, an HTTP status, or silence until the client times out)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Hit:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    raw_query: str


# answer(hit) -> (status, json body) ; a negative status means: sleep that many seconds, then answer 200 {}
Answer = Callable[[Hit], tuple[int, dict]]


@dataclass
class Receiver:
    answer: Answer
    hits: list[Hit] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def paths(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


def start(answer: Answer) -> Receiver:
    receiver = Receiver(answer)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            hit = Hit(self.command, parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()},
                      json.loads(raw.decode("utf-8")) if raw else None, parts.query)
            with lock:
                receiver.hits.append(hit)
            status, body = receiver.answer(hit)
            if status < 0:
                time.sleep(-status)
                status, body = 200, {"errcode": 0}
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout)
                pass

        do_GET = do_POST = _handle

        def log_message(self, *args) -> None:
            pass

    receiver.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.server.daemon_threads = True
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver


def stop(receiver: Receiver) -> None:
    receiver.server.shutdown()
    receiver.server.server_close()
