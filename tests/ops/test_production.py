"""The production start for real: scripts/run-prod.sh (what `make run-prod` runs) with ProductionConfig against a
new PostgreSQL database — gunicorn with 2 workers plus exactly one `flask scheduler run` — and a journey over HTTP.

ProductionConfig marks cookies Secure; over the plain HTTP of the test the client passes the session cookie back
itself (as a browser behind the TLS-terminating proxy would) and the API uses bearer tokens."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import time

from .support import BIN, ROOT, env_for, flask, free_port, scratch_postgres, wait_http

APPLICATION = {"purpose": "科研统计分析使用", "head_name": "李主任", "head_phone": "13900000000",
               "handler_name": "王经办", "handler_phone": "13800000000", "commitment": True, "confidentiality": True}


class Http:
    """Plain http.client requests; keeps the session cookie although it is marked Secure."""

    def __init__(self, port: int):
        self.port = port
        self.cookie = ""

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            hdrs = {**(headers or {})}
            if self.cookie:
                hdrs["Cookie"] = self.cookie
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            for value in resp.headers.get_all("Set-Cookie") or []:
                if value.startswith("session="):
                    assert "Secure" in value and "HttpOnly" in value, value
                    self.cookie = value.split(";", 1)[0]
            return resp.status, resp.headers, data
        finally:
            conn.close()

    def json(self, method: str, path: str, token: str, payload: dict | None = None):
        body = json.dumps(payload).encode() if payload is not None else None
        status, _headers, data = self.request(method, path, body, {
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        return status, json.loads(data)


def _session_processes(sid: int) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-s", str(sid), "-o", "args="], capture_output=True, text=True,
                         check=False).stdout
    return [line.strip() for line in out.splitlines() if line.strip()]


def test_run_prod_refuses_to_start_without_a_strong_secret_key(tmp_path):
    env = env_for("postgresql+psycopg://nobody@127.0.0.1:1/none")
    for key in (None, "short-key"):
        if key is None:
            env.pop("SECRET_KEY", None)
        else:
            env["SECRET_KEY"] = key
        done = subprocess.run(["scripts/run-prod.sh"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=30, check=False)
        assert done.returncode == 2 and "SECRET_KEY" in done.stderr, done.stderr
    env = env_for("")
    done = subprocess.run(["scripts/run-prod.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30,
                          check=False)
    assert done.returncode == 2 and "DATABASE_URL" in done.stderr


def test_gunicorn_two_workers_and_one_scheduler_serve_a_journey_and_stop_cleanly(tmp_path):
    with scratch_postgres("share_ops_prod") as url:
        port = free_port()
        env = env_for(url, APP_CONFIG="config.ProductionConfig", WEB_WORKERS="2", WEB_BIND=f"127.0.0.1:{port}",
                      PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"), SCHEDULER_SYNC_SECONDS="1",
                      LOG_FORMAT="json", BIN=str(BIN))
        flask(env, "db", "upgrade")
        flask(env, "seed-demo")
        tokens = {u: flask(env, "users", "token", u).stdout.strip() for u in ("cs_handler", "cs_head")}
        log = tmp_path / "run-prod.log"
        proc = subprocess.Popen(["scripts/run-prod.sh"], cwd=ROOT, env=env, stdout=log.open("w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        standby = None
        try:
            assert wait_http(f"http://127.0.0.1:{port}/readyz", 60), log.read_text()
            procs = _session_processes(proc.pid)
            assert len([p for p in procs if "gunicorn" in p]) == 3, procs  # the master and 2 workers
            assert len([p for p in procs if "scheduler run" in p]) == 1, procs
            # a second node's scheduler: it must stand by while the first holds the lease
            standby_log = tmp_path / "standby.log"
            standby = subprocess.Popen([str(BIN / "flask"), "scheduler", "run"], cwd=ROOT, env=env,
                                       stdout=standby_log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
            client = Http(port)

            # a person signs in with the CSRF token of the login page
            status, _h, page = client.request("GET", "/login")
            token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
            form = f"username=cs_handler&password=demo12345&csrf_token={token}".encode()
            status, headers, _ = client.request("POST", "/login", form, {
                "Content-Type": "application/x-www-form-urlencoded"})
            assert status == 302, (status, log.read_text()[-3000:])
            status, headers, page = client.request("GET", "/inbox", headers={"X-Request-ID": "journey-1"})
            assert status == 200  # not sent back to the login page: the session works across the workers
            assert headers["X-Request-ID"] == "journey-1"

            # submit through the API, approve as the department head
            status, catalog = client.json("GET", "/api/v1/catalog", tokens["cs_handler"])
            resource = next(r for r in catalog["resources"] if r["code"] == "research_projects")
            status, created = client.json("POST", "/api/v1/requests", tokens["cs_handler"], {
                **APPLICATION, "resources": [{"resource_id": resource["id"], "fields": ["xmbh"]}]})
            assert status == 201, created
            rid = created["id"]
            status, listing = client.json("GET", "/api/v1/tasks", tokens["cs_head"])
            task = next(t for t in listing["tasks"] if t["instance_id"] == rid)
            status, done = client.json("POST", f"/api/v1/tasks/{task['task_id']}/complete", tokens["cs_head"],
                                       {"decision": "approve"})
            assert status == 200, done
            status, view = client.json("GET", f"/api/v1/requests/{rid}", tokens["cs_handler"])
            assert [h["action"] for h in view["history"]] == ["submit", "complete"]

            # the metrics add up the counters every worker wrote to PROMETHEUS_MULTIPROC_DIR
            for _ in range(20):
                client.request("GET", "/healthz")
            _s, _h, body = client.request("GET", "/metrics")
            text = body.decode()
            assert 'share_task_completions_total{step="部门负责人签署承诺"} 1.0' in text, text[:3000]
            assert re.search(r'share_tasks_open\{department="[^"]+"\} 1\.0', text)
            assert list((tmp_path / "prometheus").glob("histogram_*.db"))
            assert re.search(r'share_http_request_duration_seconds_count\{endpoint="ops.healthz",method="GET",'
                             r'status="200"\} 2[0-9]\.0', text), text[:3000]
            status, _h, ready = client.request("GET", "/readyz")
            assert status == 200 and json.loads(ready)["checks"]["timers"]["overdue"] == 0
            deadline = time.monotonic() + 30
            while "standing by" not in standby_log.read_text() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert "standing by" in standby_log.read_text(), standby_log.read_text()[-2000:]
            leaders = re.findall(r'share_scheduler_leader\{holder="([^"]+)"\} 1\.0', text)
            assert len(leaders) == 1 and f":{standby.pid}:" not in f"{leaders[0]}:", (leaders, standby.pid)
        finally:
            if standby is not None:
                standby.send_signal(signal.SIGTERM)
                assert standby.wait(30) == 0, standby_log.read_text()[-2000:]
            os.kill(proc.pid, signal.SIGTERM)  # the script stops the scheduler (SIGINT) and gunicorn (SIGTERM)
            try:
                code = proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                raise
        output = log.read_text()
        assert code == 0, output[-3000:]
        assert _session_processes(proc.pid) == [], "processes left running"
        assert "Traceback" not in output, output
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        journey = [doc for doc in lines if doc.get("request_id") == "journey-1"]
        assert journey and journey[0]["path"] == "/inbox" and journey[0]["status"] == 200
        assert isinstance(journey[0]["user_id"], int)
