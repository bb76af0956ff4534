"""Request ids, structured (JSON) logs and the Prometheus metrics the processes record themselves.

Request ids: a valid `X-Request-ID` header (1-64 of A-Z a-z 0-9 . _ -) is kept, anything else is replaced by a new
random id; it is echoed in the response header and in every log line written while the request runs.

Metrics: with several gunicorn workers set PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py does) so that every worker
writes its counters to files in that directory and /metrics adds them up. Gauges about the database (open tasks,
timers) are not kept here: app/services/operations/ops.py computes them at scrape time.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from prometheus_client import Counter, Histogram
from sqlalchemy import event
from sqlalchemy.orm import Session

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_COMPLETED_KEY = "ops_completed_steps"

REQUEST_LATENCY = Histogram(
    "share_http_request_duration_seconds", "Time to answer an HTTP request, by endpoint, method and status.",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
TASK_COMPLETIONS = Counter(
    "share_task_completions_total", "User tasks completed (committed), by step title.", ["step"])

request_log = logging.getLogger("app.request")


def request_id() -> str | None:
    return g.get("request_id") if has_request_context() else None


def install(app: Flask) -> None:
    """Call first in create_app: the hooks must run before any before_request that may answer early."""
    app.before_request(_start)
    app.after_request(_finish)
    if app.config.get("LOG_FORMAT", "text") == "json":
        configure_json_logging(app.config.get("LOG_LEVEL", "INFO"))
    _count_completions()


def _start() -> None:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    rid = g.get("request_id") or uuid.uuid4().hex
    response.headers[REQUEST_ID_HEADER] = rid
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started is not None else 0.0
    endpoint = request.endpoint or ("static" if request.path.startswith("/static/") else "unmatched")
    REQUEST_LATENCY.labels(endpoint, request.method, str(response.status_code)).observe(seconds)
    if endpoint != "ops.metrics":  # scrapes every few seconds would drown the log
        request_log.info("%s %s %s", request.method, request.path, response.status_code,
                         extra={"status": response.status_code, "duration_ms": round(seconds * 1000, 1)})
    return response


def _current_user_id() -> int | None:
    user = g.get("_login_user") if has_request_context() else None  # only when loaded already: no query for a log
    return getattr(user, "id", None) if getattr(user, "is_authenticated", False) else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, path, status, duration_ms, user_id."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if has_request_context():
            doc.update(request_id=g.get("request_id"), path=request.path, user_id=_current_user_id())
        for key in ("status", "duration_ms"):
            if hasattr(record, key):
                doc[key] = getattr(record, key)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def configure_json_logging(level: str = "INFO") -> None:
    """Root logger → stderr as JSON lines (gunicorn, the scheduler and the CLI all log to stderr)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.set_name("json")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "json"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


_listening = False


def _count_completions() -> None:
    """Count task completions after their commit: the `complete` audit rows seen in a flush of the transaction,
    counted when it commits and forgotten when it rolls back (services/tasks.py stays unaware of metrics)."""
    global _listening
    if _listening:
        return
    _listening = True
    from .models import AuditLog

    @event.listens_for(Session, "after_flush")
    def _seen(session: Session, _context) -> None:
        steps = [o.step for o in session.new if isinstance(o, AuditLog) and o.action == "complete"]
        if steps:
            session.info.setdefault(_COMPLETED_KEY, []).extend(steps)

    @event.listens_for(Session, "after_commit")
    def _committed(session: Session) -> None:
        for step in session.info.pop(_COMPLETED_KEY, ()):
            TASK_COMPLETIONS.labels(step or "-").inc()

    @event.listens_for(Session, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_COMPLETED_KEY, None)
