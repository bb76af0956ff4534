"""Benchmark: full share-request journeys over real HTTP (loopback) against a fresh database.

Usage: python benchmarks/journey_http.py [--journeys N] [--database-url URL]
Prints the time per journey (conditional request, two providers: 1 submit + 5 completions + 1 read) and per request.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from werkzeug.serving import make_server

from app import create_app
from config import Config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journeys", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(BenchConfig)
    with app.app_context():
        from flask_migrate import upgrade

        from app.services.people import org
        from app.services.workflow import definitions
        from app.services.workflow import requests as share_requests

        upgrade()
        org.seed_demo()
        definitions.deploy_directory()
        tokens = {u: org.issue_api_token(u) for u in
                  ("cs_handler", "cs_head", "nic_head", "student_head", "hr_head", "nic_staff")}
        catalog = {r["code"]: r["id"] for r in share_requests.catalogue()}
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = HTTPConnection("127.0.0.1", server.server_port)
    request_times: list[float] = []

    def call(method: str, path: str, user: str, body: dict | None = None) -> dict:
        start = time.perf_counter()
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={"Authorization": f"Bearer {tokens[user]}", "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = json.loads(resp.read())
        request_times.append(time.perf_counter() - start)
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {data}")
        return data

    def task_of(user: str, rid: int) -> int:
        return next(t["task_id"] for t in call("GET", "/api/v1/tasks", user)["tasks"] if t["instance_id"] == rid)

    application = {"purpose": "性能测试用途说明", "head_name": "李主任", "head_phone": "13900000000",
                   "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True,
                   "confidentiality": True, "resources": [
                       {"resource_id": catalog["student_basic"], "fields": ["xh", "xm"]},
                       {"resource_id": catalog["staff_basic"], "fields": ["gh"]}]}
    journey_times: list[float] = []
    for _ in range(args.journeys):
        start = time.perf_counter()
        rid = call("POST", "/api/v1/requests", "cs_handler", application)["id"]
        for user, body in [("cs_head", {"decision": "approve"}), ("nic_head", {"decision": "approve"}),
                           ("student_head", {"decision": "approve"}), ("hr_head", {"decision": "approve"}),
                           ("nic_staff", {"method": "interface", "note": "接口"})]:
            call("POST", f"/api/v1/tasks/{task_of(user, rid)}/complete", user, body)
        assert call("GET", f"/api/v1/requests/{rid}", "cs_handler")["status"] == "completed"
        journey_times.append(time.perf_counter() - start)
    server.shutdown()
    ms = [t * 1000 for t in journey_times]
    rq = sorted(t * 1000 for t in request_times)
    print(f"database: {url.split(':')[0]}; journeys: {len(ms)} (conditional, two providers; "
          f"{len(request_times) // len(ms)} HTTP requests each)")
    print(f"journey ms: mean {statistics.mean(ms):.1f}, median {statistics.median(ms):.1f}, "
          f"p95 {sorted(ms)[int(len(ms) * 0.95) - 1]:.1f}, max {max(ms):.1f}")
    print(f"request ms: mean {statistics.mean(rq):.2f}, median {statistics.median(rq):.2f}, "
          f"p95 {rq[int(len(rq) * 0.95) - 1]:.2f}")


if __name__ == "__main__":
    main()
