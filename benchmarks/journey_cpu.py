"""Benchmark: in-process CPU of one full conditional journey through the Flask test client, by request kind.

Usage: python benchmarks/journey_cpu.py [--journeys 30] [--profile FILE] [--database-url URL]

A journey is what a client does: POST /api/v1/requests, then for each of the 5 steps GET /api/v1/tasks as the
holder and POST /api/v1/tasks/<id>/complete, then GET /api/v1/requests/<id>. Prints the process CPU per journey
and the median CPU of each request kind (5 warm-up journeys first). --profile writes a cProfile of the measured
journeys (read it with `python -m pstats FILE` or snakeviz).
"""
from __future__ import annotations

import argparse
import cProfile
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app import create_app  # noqa: E402
from config import Config  # noqa: E402

STEPS = [("cs_head", {"decision": "approve"}), ("nic_head", {"decision": "approve"}),
         ("student_head", {"decision": "approve"}), ("hr_head", {"decision": "approve"}),
         ("nic_staff", {"method": "interface", "note": "接口"})]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journeys", type=int, default=30)
    parser.add_argument("--profile", default=None)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"

    app = create_app(BenchConfig)
    with app.app_context():
        from flask_migrate import upgrade

        from app.services.people import org
        from app.services.workflow import definitions
        from app.services.workflow import requests as share_requests

        upgrade()
        org.seed_demo()
        definitions.deploy_directory()
        tokens = {u: org.issue_api_token(u) for u in ("cs_handler", *(u for u, _ in STEPS))}
        catalog = {r["code"]: r["id"] for r in share_requests.catalogue()}
    application = {"purpose": "性能测试用途说明", "head_name": "李主任", "head_phone": "13900000000",
                   "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True,
                   "confidentiality": True,
                   "resources": [{"resource_id": catalog["student_basic"], "fields": ["xh", "xm"]},
                                 {"resource_id": catalog["staff_basic"], "fields": ["gh"]}]}
    client = app.test_client()
    parts: dict[str, list[float]] = {"submit": [], "tasks": [], "complete": [], "view": []}

    def timed(kind: str, call, *a, **k):
        start = time.process_time()
        resp = call(*a, **k)
        parts[kind].append(time.process_time() - start)
        assert resp.status_code in (200, 201), resp.get_data(as_text=True)
        return resp.json

    def auth(user: str) -> dict:
        return {"Authorization": f"Bearer {tokens[user]}"}

    def journey() -> None:
        rid = timed("submit", client.post, "/api/v1/requests", json=application, headers=auth("cs_handler"))["id"]
        for user, body in STEPS:
            listed = timed("tasks", client.get, "/api/v1/tasks", headers=auth(user))["tasks"]
            task_id = next(t["task_id"] for t in listed if t["instance_id"] == rid)
            timed("complete", client.post, f"/api/v1/tasks/{task_id}/complete", json=body, headers=auth(user))
        timed("view", client.get, f"/api/v1/requests/{rid}", headers=auth("cs_handler"))

    for _ in range(5):
        journey()
    for values in parts.values():
        values.clear()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    start = time.process_time()
    for _ in range(args.journeys):
        journey()
    cpu = (time.process_time() - start) / args.journeys
    if profiler:
        profiler.disable()
        profiler.dump_stats(args.profile)
    print(f"CPU per journey {cpu * 1000:.1f} ms ({args.journeys} journeys"
          f"{', profiled' if profiler else ''}); median per request: "
          + ", ".join(f"{k} {statistics.median(v) * 1000:.2f} ms" for k, v in parts.items()))


if __name__ == "__main__":
    main()
