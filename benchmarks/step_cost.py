"""Benchmark: the cost of one task completion at every layer, side by side, against a fresh database.

Usage: python benchmarks/step_cost.py [--journeys N] [--database-url URL]

One conditional share-request journey = submission + 5 completions (department head, 网信中心, two providers,
delivery). Each completion is measured at four layers, each on its own journeys:
  engine   SpiffWorkflow alone, same diagram, in memory (+ a variant with a JSON save/load around each step)
  service  tasks.complete_task() in an application context
  api      POST /api/v1/tasks/<id>/complete through the Flask test client (bearer token)
  http     the same over loopback HTTP to a werkzeug server in this process
The floor of an API completion is the engine step plus two null requests (a client lists its tasks, then completes
one); the null request is a bearer-authenticated route doing nothing else, added to the app by this benchmark.
Also printed: SQL statements per API completion, stored workflow bytes per instance (mid-journey and finished).
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flask import jsonify, request  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from app import create_app  # noqa: E402
from config import Config  # noqa: E402

APPLICATION = {"purpose": "性能测试用途说明", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True,
               "confidentiality": True}
STEPS = [("cs_head", {"decision": "approve"}), ("nic_head", {"decision": "approve"}),
         ("student_head", {"decision": "approve"}), ("hr_head", {"decision": "approve"}),
         ("nic_staff", {"method": "interface", "note": "接口"})]
ENGINE_STEPS = [("dept_head_sign", None, {"decision": "approve"}), ("nic_review", None, {"decision": "approve"}),
                ("provider_review", "student", {"decision": "approve"}),
                ("provider_review", "hr", {"decision": "approve"}),
                ("deliver", None, {"method": "interface", "note": "接口"})]


def ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def engine_steps(journeys: int, with_json: bool) -> list[float]:
    from app.engine import runtime
    from app.engine.parser import parse_bpmn
    from app.engine.serializer import dump_workflow, load_workflow

    parsed = parse_bpmn((ROOT / "bpmn" / "share_request.bpmn").read_bytes(), "share_request.bpmn")
    resources = [{"owner_department": "student", "share_class": "conditional", "resource_id": 1},
                 {"owner_department": "hr", "share_class": "conditional", "resource_id": 2}]
    times = []
    for _ in range(journeys):
        wf = runtime.start_workflow(parsed.spec, parsed.subprocess_specs, {"applicant_department": "college_cs"})
        (first,) = runtime.ready_user_tasks(wf)
        runtime.complete_user_task(wf, first.task_id, {"action": "submit", "resources": resources})
        for element_id, department, result in ENGINE_STEPS:
            start = time.perf_counter()
            if with_json:
                wf = _load(load_workflow, dump_workflow, wf, parsed)
            view = next(v for v in runtime.ready_user_tasks(wf)
                        if v.element_id == element_id and department in (None, v.department))
            runtime.complete_user_task(wf, view.task_id, result)
            if with_json:
                dump_workflow(wf)
            times.append(time.perf_counter() - start)
    return times


def _load(load_workflow, dump_workflow, wf, parsed):
    try:  # stored without its spec: attach the parsed one
        return load_workflow(dump_workflow(wf), spec=(parsed.spec, parsed.subprocess_specs))
    except TypeError:  # the serializer before specs were stored per version
        return load_workflow(dump_workflow(wf))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--journeys", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(BenchConfig)

    def null():  # the floor of a request: routing, bearer authentication, a JSON answer
        from app.services.people import org

        if org.user_for_token(request.headers.get("Authorization", "").removeprefix("Bearer ").strip()) is None:
            return jsonify({"error": "401"}), 401
        return jsonify({})

    app.add_url_rule("/_bench/null", "bench_null", null)
    with app.app_context():
        from flask_migrate import upgrade

        from app.extensions import db
        from app.models import ProcessInstance, TaskRecord, User
        from app.services.people import org
        from app.services.people.access import is_candidate
        from app.services.workflow import definitions, tasks
        from app.services.workflow import requests as share_requests

        upgrade()
        org.seed_demo()
        definitions.deploy_directory()
        users = ("cs_handler", *(u for u, _ in STEPS))
        tokens = {u: org.issue_api_token(u) for u in users}
        uid = {u: db.session.scalar(select(User.id).where(User.username == u)) for u in users}
        catalog = {r["code"]: r["id"] for r in share_requests.catalogue()}
    application = {**APPLICATION, "resources": [{"resource_id": catalog["student_basic"], "fields": ["xh", "xm"]},
                                                {"resource_id": catalog["staff_basic"], "fields": ["gh"]}]}

    def task_for(user: str, rid: int) -> int:
        with app.app_context():
            person = db.session.get(User, uid[user])
            ready = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                                TaskRecord.state == "ready")).all()
            return next(t.id for t in ready if is_candidate(person, t))

    def submit() -> int:
        with app.app_context():
            return share_requests.submit_share_request(uid["cs_handler"], application)

    # engine
    bare = engine_steps(args.journeys, with_json=False)
    with_json = engine_steps(args.journeys, with_json=True)

    # service layer
    service: list[float] = []
    for _ in range(args.journeys):
        rid = submit()
        for user, body in STEPS:
            task_id = task_for(user, rid)
            with app.app_context():
                start = time.perf_counter()
                tasks.complete_task(task_id, uid[user], body)
                service.append(time.perf_counter() - start)

    # API through the test client, with statements counted
    client = app.test_client()
    statements = [0]
    with app.app_context():
        engine = db.engine

    def count(*_a, **_k):
        statements[0] += 1

    def auth(user: str) -> dict:
        return {"Authorization": f"Bearer {tokens[user]}"}

    null_client = []
    for _ in range(args.journeys * 5):
        start = time.perf_counter()
        assert client.get("/_bench/null", headers=auth("cs_head")).status_code == 200
        null_client.append(time.perf_counter() - start)
    api: list[float] = []
    api_statements: list[int] = []
    sizes_mid: list[int] = []
    sizes_end: list[int] = []
    for _ in range(args.journeys):
        rid = submit()
        for i, (user, body) in enumerate(STEPS):
            task_id = task_for(user, rid)
            event.listen(engine, "before_cursor_execute", count)
            statements[0] = 0
            start = time.perf_counter()
            resp = client.post(f"/api/v1/tasks/{task_id}/complete", json=body, headers=auth(user))
            api.append(time.perf_counter() - start)
            event.remove(engine, "before_cursor_execute", count)
            api_statements.append(statements[0])
            assert resp.status_code == 200, resp.get_data(as_text=True)
            if i == 1:
                sizes_mid.append(_stored_bytes(app, db, ProcessInstance, rid))
        sizes_end.append(_stored_bytes(app, db, ProcessInstance, rid))

    # over HTTP
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = HTTPConnection("127.0.0.1", server.server_port)

    def call(method: str, path: str, user: str, body: dict | None = None) -> tuple[int, float]:
        start = time.perf_counter()
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers={**auth(user), "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.perf_counter() - start

    null_http = [call("GET", "/_bench/null", "cs_head")[1] for _ in range(args.journeys * 5)]
    http: list[float] = []
    for _ in range(args.journeys):
        rid = submit()
        for user, body in STEPS:
            status, took = call("POST", f"/api/v1/tasks/{task_for(user, rid)}/complete", user, body)
            assert status == 200
            http.append(took)
    server.shutdown()
    with app.app_context():
        spec_bytes = _spec_bytes(db)
        instances = db.session.scalar(select(func.count(ProcessInstance.id)))

    floor_client = ms(bare) + 2 * ms(null_client)
    floor_http = ms(bare) + 2 * ms(null_http)
    print(f"database: {url.split(':')[0]}; {args.journeys} conditional journeys per layer, 5 completions each "
          f"({instances} instances); medians per completion")
    print(f"{'layer':<34}{'ms':>8}{'× engine':>10}{'× floor':>10}")
    rows = [("engine step (bare SpiffWorkflow)", ms(bare), None),
            ("engine step + JSON save/load", ms(with_json), None),
            ("null request (test client)", ms(null_client), None),
            ("null request (HTTP)", ms(null_http), None),
            ("service step (complete_task)", ms(service), floor_client),
            ("API step (test client)", ms(api), floor_client),
            ("API step (HTTP)", ms(http), floor_http)]
    for name, value, floor in rows:
        ratio = f"{value / floor:>9.1f}×" if floor else f"{'':>10}"
        print(f"{name:<34}{value:>8.2f}{value / ms(bare):>9.1f}×{ratio}")
    print(f"floor (engine + 2 null requests): test client {floor_client:.2f} ms, HTTP {floor_http:.2f} ms")
    print(f"SQL statements per API completion: median {statistics.median(api_statements):.0f}, "
          f"max {max(api_statements)}")
    print(f"stored workflow bytes per instance: mid-journey median {statistics.median(sizes_mid):.0f}, "
          f"finished median {statistics.median(sizes_end):.0f}; stored specs {spec_bytes} bytes in all")


def _stored_bytes(app, db, model, rid: int) -> int:
    with app.app_context():
        return len(db.session.scalar(select(model.workflow_json).where(model.id == rid)).encode("utf-8"))


def _spec_bytes(db) -> int:
    from app.models import ProcessDefinition

    column = getattr(ProcessDefinition, "spec_json", None)
    if column is None:
        return 0
    return sum(len(s.encode("utf-8")) for s in db.session.scalars(select(column)) if s)


if __name__ == "__main__":
    main()
