"""gunicorn settings for the production start (`make run-prod`, scripts/run-prod.sh); every value from the environment.

WEB_BIND (127.0.0.1:8000), WEB_WORKERS (2), WEB_THREADS (4), WEB_TIMEOUT (60 s), WEB_GRACEFUL_TIMEOUT (30 s: on
SIGTERM workers finish the requests they have), PROMETHEUS_MULTIPROC_DIR (instance/prometheus: the workers' metric
files, emptied when gunicorn starts; a dead worker's files are marked so its live gauges disappear).
The timer scheduler is NOT started here: run exactly one `flask scheduler run` beside gunicorn.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

wsgi_app = "wsgi:app"
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_TIMEOUT", "60"))
graceful_timeout = int(os.environ.get("WEB_GRACEFUL_TIMEOUT", "30"))
preload_app = False  # each worker builds its own app (database pool, metrics files) after the fork
accesslog = os.environ.get("WEB_ACCESS_LOG", "-")
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s "%(a)s"'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Prometheus multiprocess mode: set before any worker imports prometheus_client.
_METRICS_DIR = Path(os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR", str(Path(__file__).resolve().parent / "instance" / "prometheus")))


def on_starting(server) -> None:
    """Start every run with an empty metrics directory (files of an earlier run would be added up forever)."""
    shutil.rmtree(_METRICS_DIR, ignore_errors=True)
    _METRICS_DIR.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
