"""Benchmark: full conditional journeys per second with 1, 4 and 8 concurrent clients over HTTP against real gunicorn.

Usage: python benchmarks/journey_throughput.py [--clients 1,4,8] [--seconds 15] [--backends sqlite,postgresql]
                                               [--pg-db journeybench] [--workers 2]

For each backend a fresh database is made (SQLite in a temporary directory; PostgreSQL database --pg-db on
127.0.0.1:5432, user postgres, dropped and created again), migrated and seeded with the production commands
(`flask db upgrade`, `flask seed-demo`, `flask users token`), and served by gunicorn with gunicorn.conf.py and
APP_CONFIG=config.ProductionConfig (WEB_WORKERS workers, a random SECRET_KEY). No scheduler runs: the journey has
no timer falling due. One journey = what the people in it do over the API with bearer tokens:
  submit (POST /api/v1/requests), then for each of the 5 steps (department head, 网信中心, two providers, delivery)
  list my tasks (GET /api/v1/tasks) and complete mine (POST /api/v1/tasks/<id>/complete), then read the request
  (GET /api/v1/requests/<id>, which must say completed) — 12 requests.
Each client is a thread with its own keep-alive connection, running journeys back to back for --seconds after one
warm-up journey. Printed side by side: journeys/s per backend and client count, and the p50/p95 journey time.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("BIN", ROOT / ".venv" / "bin"))
USERS = ("cs_handler", "cs_head", "nic_head", "student_head", "hr_head", "nic_staff")
STEPS = [("cs_head", {"decision": "approve"}), ("nic_head", {"decision": "approve"}),
         ("student_head", {"decision": "approve"}), ("hr_head", {"decision": "approve"}),
         ("nic_staff", {"method": "interface", "note": "接口"})]
APPLICATION = {"purpose": "性能测试用途说明", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True,
               "confidentiality": True}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A migrated, seeded database served by gunicorn (production config) on a free loopback port."""

    def __init__(self, url: str, workers: int) -> None:
        self.tmp = tempfile.mkdtemp(prefix="journeybench-")
        self.port = free_port()
        self.env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": secrets.token_hex(32),
                    "APP_CONFIG": "config.ProductionConfig", "FLASK_APP": "wsgi.py", "PYTHONUNBUFFERED": "1",
                    "WEB_BIND": f"127.0.0.1:{self.port}", "WEB_WORKERS": str(workers),
                    "PROMETHEUS_MULTIPROC_DIR": str(Path(self.tmp) / "prometheus"), "LOG_LEVEL": "WARNING"}
        self.env.pop("WEB_ACCESS_LOG", None)
        self.flask("db", "upgrade")
        self.flask("seed-demo")
        self.tokens = {u: self.flask("users", "token", u).strip().splitlines()[-1] for u in USERS}
        self.log = open(Path(self.tmp) / "gunicorn.log", "w")  # closed in stop()
        self.proc = subprocess.Popen(  # noqa: S603
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py"], cwd=ROOT, env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                conn = HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer; see {self.log.name}")

    def flask(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=self.env, capture_output=True,  # noqa: S603
                              text=True)
        if done.returncode:
            raise RuntimeError(f"flask {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def stop(self) -> None:
        self.proc.terminate()  # gunicorn's own pid: a graceful stop of its workers
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Client:
    def __init__(self, port: int, tokens: dict[str, str], application: dict) -> None:
        self.conn = HTTPConnection("127.0.0.1", port, timeout=60)
        self.tokens, self.application = tokens, application

    def call(self, method: str, path: str, user: str, body: dict | None = None) -> dict:
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers={"Authorization": f"Bearer {self.tokens[user]}",
                                   "Content-Type": "application/json"})
        resp = self.conn.getresponse()
        data = json.loads(resp.read())
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {data}")
        return data

    def journey(self) -> None:
        rid = self.call("POST", "/api/v1/requests", "cs_handler", self.application)["id"]
        for user, body in STEPS:
            listed = self.call("GET", "/api/v1/tasks?per_page=100", user)["tasks"]
            task_id = next(t["task_id"] for t in listed if t["instance_id"] == rid)
            self.call("POST", f"/api/v1/tasks/{task_id}/complete", user, body)
        status = self.call("GET", f"/api/v1/requests/{rid}", "cs_handler")["status"]
        if status != "completed":
            raise RuntimeError(f"request {rid} ended {status!r}")


def run_clients(server: Server, clients: int, seconds: float) -> tuple[float, list[float]]:
    catalog = {r["code"]: r["id"] for r in Client(server.port, server.tokens, {}).call(
        "GET", "/api/v1/catalog", "cs_handler")["resources"]}
    application = {**APPLICATION, "resources": [{"resource_id": catalog["student_basic"], "fields": ["xh", "xm"]},
                                                {"resource_id": catalog["staff_basic"], "fields": ["gh"]}]}
    durations: list[float] = []
    errors: list[BaseException] = []
    ready = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def work() -> None:
        client = Client(server.port, server.tokens, application)
        try:
            client.journey()  # warm-up: connection, worker caches
        except BaseException as exc:  # noqa: BLE001 - reported after the run
            errors.append(exc)
        ready.wait()
        while not errors and time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            try:
                client.journey()
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return
            durations.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + 3600
    ready.wait()
    start = time.perf_counter()
    stop_at[0] = start + seconds
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start  # the last journeys end after the deadline: counted in full
    if errors:
        raise RuntimeError(f"{len(errors)} journeys failed, first: {errors[0]!r}")
    return len(durations) / elapsed, durations


def database_url(backend: str, pg_db: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='journeybench-')}/bench.db"
    for command in (["dropdb", "--if-exists"], ["createdb"]):
        subprocess.run([*command, "-h", "127.0.0.1", "-U", "postgres", pg_db], check=True)  # noqa: S603
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{pg_db}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="1,4,8")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-db", default=os.environ.get("JOURNEY_DB", "journeybench"))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    backends = args.backends.split(",")
    results: dict[tuple[str, int], tuple[float, list[float]]] = {}
    for backend in backends:
        server = Server(database_url(backend, args.pg_db), args.workers)
        try:
            for clients in counts:
                results[backend, clients] = run_clients(server, clients, args.seconds)
                rate, durations = results[backend, clients]
                print(f"  {backend} {clients} clients: {rate:.1f} journeys/s", file=sys.stderr)
        finally:
            server.stop()
    print(f"journeys/s (conditional, 12 API requests each), gunicorn {args.workers} workers x "
          f"{os.environ.get('WEB_THREADS', '4')} threads, {args.seconds:.0f} s per cell, {os.cpu_count()} CPUs")
    print(f"{'clients':>8}" + "".join(f"{b + ' /s':>14}{'p50 ms':>9}{'p95 ms':>9}" for b in backends))
    for clients in counts:
        row = f"{clients:>8}"
        for backend in backends:
            rate, durations = results[backend, clients]
            ms = sorted(d * 1000 for d in durations)
            p95 = ms[max(0, int(len(ms) * 0.95) - 1)] if ms else float("nan")
            row += f"{rate:>14.1f}{statistics.median(ms) if ms else float('nan'):>9.0f}{p95:>9.0f}"
        print(row)


if __name__ == "__main__":
    main()
