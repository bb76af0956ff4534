"""Operations endpoints without login: /healthz (the process answers), /readyz (ready to serve), /metrics
(Prometheus; loopback or `Authorization: Bearer <METRICS_TOKEN>` only)."""
from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint, Response, abort, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from ...services.operations import ops

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    ready, report = ops.readiness()
    return jsonify(report), 200 if ready else 503


def _metrics_allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN")
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return True
    if not current_app.config.get("METRICS_ALLOW_LOOPBACK", True):
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


class _DatabaseCollector:
    """Gauges read from the database at scrape time (the same answer from every worker)."""

    def collect(self):
        open_tasks, overdue_tasks, timers = ops.database_gauges()
        open_g = GaugeMetricFamily("share_tasks_open", "Open (ready) user tasks by department.", labels=["department"])
        overdue_g = GaugeMetricFamily("share_tasks_overdue", "Open user tasks past their due time, by department.",
                                      labels=["department"])
        for code, n in sorted(open_tasks.items()):
            open_g.add_metric([code], n)
        for code, n in sorted(overdue_tasks.items()):
            overdue_g.add_metric([code], n)
        yield open_g
        yield overdue_g
        yield GaugeMetricFamily("share_timers_pending", "Timers armed and not yet fired.", value=timers["pending"])
        yield GaugeMetricFamily("share_timer_firing_lag_seconds",
                                "How long the oldest pending timer is past its due time (0 when none is due).",
                                value=timers["lag_seconds"])
        yield from _scheduler_gauges()


def _scheduler_gauges():
    from ...extensions import db
    from ...services.operations import scheduler_lease

    try:
        state = scheduler_lease.status()
    finally:
        db.session.rollback()
    leader = GaugeMetricFamily("share_scheduler_leader", "1 for the scheduler holding an unexpired lease (the active "
                               "one); no sample when none is active.", labels=["holder"])
    if state.holder is not None:
        leader.add_metric([state.holder], 1)
    yield leader
    if state.heartbeat_age_seconds is not None:
        yield GaugeMetricFamily("share_scheduler_heartbeat_age_seconds",
                                "Seconds since the active scheduler last renewed its lease.",
                                value=state.heartbeat_age_seconds)
    yield GaugeMetricFamily("share_scheduler_lease_term", "How many schedulers have held the lease so far (a "
                            "takeover adds one).", value=state.term)


def _process_registry() -> CollectorRegistry:
    """The counters and histograms of this process, or of every worker in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    from prometheus_client import REGISTRY

    return REGISTRY


@bp.get("/metrics")
def metrics():
    if not _metrics_allowed():
        abort(404)  # not advertised to the outside
    database = CollectorRegistry(auto_describe=False)
    database.register(_DatabaseCollector())
    body = generate_latest(_process_registry()) + generate_latest(database)
    return Response(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
