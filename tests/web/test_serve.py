"""The README's run command: `flask serve` answers over HTTP with the in-process scheduler running."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import text

from app.extensions import db

ROOT = Path(__file__).resolve().parents[2]


def test_flask_serve_answers_and_runs_the_scheduler(app, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "FLASK_APP": "wsgi.py",
           "SCHEDULER_SYNC_SECONDS": "1"}
    env.pop("TEST_DATABASE_URL", None)
    log = tmp_path / "serve.log"
    proc = subprocess.Popen([sys.executable, "-m", "flask", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        body = ""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "<title>登录" in body, log.read_text()
        assert proc.poll() is None
        with app.app_context(), db.engine.connect() as conn:  # the in-process scheduler stored its sync job
            assert conn.execute(text("SELECT count(*) FROM apscheduler_jobs WHERE id = 'sync'")).scalar() == 1
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in log.read_text(), log.read_text()
