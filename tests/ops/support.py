"""Helpers for the operations tests: a scratch PostgreSQL database, free ports, subprocess environments."""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The server the scratch databases are created on: OPS_PG_ADMIN_URL, else TEST_DATABASE_URL's server, else local.
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    explicit = os.environ.get("OPS_PG_ADMIN_URL")
    if explicit:
        return explicit
    test_url = os.environ.get("TEST_DATABASE_URL", "")
    if test_url.startswith("postgresql"):
        return make_url(test_url).set(database="postgres").render_as_string(hide_password=False)
    return DEFAULT_ADMIN_URL


@contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one test (dropped afterwards); skip when no server answers."""
    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - no server here
        admin.dispose()
        pytest.skip(f"PostgreSQL not reachable at {make_url(admin_url()).render_as_string()}: {exc}")
    name = f"{prefix}_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(database_url: str, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "FLASK_APP": "wsgi.py", "PYTHONUNBUFFERED": "1",
           "SECRET_KEY": secrets.token_hex(32), "PATH": f"{BIN}:{os.environ.get('PATH', '')}"}
    for name in ("TEST_DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR", "APP_CONFIG", "LOG_FORMAT"):
        env.pop(name, None)
    return {**env, **extra}


def flask(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    done = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"flask {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done


def wait_http(url: str, timeout: float, status: int = 200) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == status:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False
