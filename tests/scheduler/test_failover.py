"""Scheduler failover through the lease (operations.scheduler_lease): one active scheduler, standbys that take over
when it is killed or stops, /readyz and /metrics reading the heartbeat. The failover test runs real
`flask scheduler run` processes against PostgreSQL (TEST_DATABASE_URL) and measures the takeover."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from app.extensions import db
from app.models import SchedulerLease
from app.services.operations import scheduler_lease

from .test_scheduler import _count, _forwarded_request_with_reminder_in, _reminder_state, _start_scheduler, _wait_for

LEASE, BEAT = 3, 1  # seconds: what _start_scheduler gives its processes


@pytest.fixture(autouse=True)
def _no_lease(app):
    """No lease row before (earlier in-process schedulers left theirs, released) and none left after."""
    from app import jobs

    def delete():
        with app.app_context():
            db.session.execute(text("DELETE FROM scheduler_lease"))
            db.session.commit()

    delete()
    yield
    jobs.shutdown()
    delete()


def _holder() -> str | None:
    db.session.rollback()
    return db.session.scalar(select(SchedulerLease.holder).where(SchedulerLease.name == scheduler_lease.NAME))


def _age_lease(seconds: float) -> None:
    """Move the heartbeat and the expiry back (as if the holder stopped renewing `seconds` ago)."""
    row = db.session.get(SchedulerLease, scheduler_lease.NAME, populate_existing=True)
    back = timedelta(seconds=seconds)
    db.session.execute(update(SchedulerLease).where(SchedulerLease.name == row.name).values(
        heartbeat_at=row.heartbeat_at - back, expires_at=row.expires_at - back))
    db.session.commit()


def test_one_holder_at_a_time_renewal_expiry_and_release(ctx):
    assert scheduler_lease.try_acquire("node-a:1", 30) == 1
    assert scheduler_lease.try_acquire("node-b:2", 30) is None  # held and not expired
    assert scheduler_lease.try_acquire("node-a:1", 30) == 1  # a renewal keeps the term
    _age_lease(31)  # node-a stopped renewing: expired
    assert scheduler_lease.try_acquire("node-b:2", 30) == 2
    assert scheduler_lease.try_acquire("node-a:1", 30) is None  # a late renewal of the old holder fails
    assert _holder() == "node-b:2"
    assert scheduler_lease.release("node-a:1") is False  # only the holder releases
    assert scheduler_lease.release("node-b:2") is True
    assert _holder() is None
    assert scheduler_lease.try_acquire("node-a:1", 30) == 3  # released: taken at once


def test_readyz_and_metrics_report_the_scheduler_heartbeat(app, ctx, client):
    app.config["READY_REQUIRE_SCHEDULER"] = True
    try:
        body = client.get("/readyz").get_json()
        assert body["status"] == "unavailable" and body["checks"]["scheduler"]["ok"] is False
        assert body["checks"]["scheduler"]["error"] == "调度器从未运行"
        scheduler_lease.try_acquire("node-a:41", 10)
        resp = client.get("/readyz")
        check = resp.get_json()["checks"]["scheduler"]
        assert resp.status_code == 200 and check["ok"] and check["active"] and check["max_age_seconds"] == 20
        assert "node-a" not in resp.get_data(as_text=True)  # no host names on the unauthenticated endpoint
        metrics = client.get("/metrics").get_data(as_text=True)
        assert 'share_scheduler_leader{holder="node-a:41"} 1.0' in metrics
        assert "share_scheduler_heartbeat_age_seconds " in metrics and "share_scheduler_lease_term 1.0" in metrics
        _age_lease(15)  # expired, heartbeat 15 s old: another may take over, still within twice the lease
        resp = client.get("/readyz")
        assert resp.status_code == 200 and resp.get_json()["checks"]["scheduler"]["active"] is False
        assert "share_scheduler_leader{" not in client.get("/metrics").get_data(as_text=True)
        _age_lease(6)  # 21 s > 2 × 10 s
        resp = client.get("/readyz")
        check = resp.get_json()["checks"]["scheduler"]
        assert resp.status_code == 503 and check["ok"] is False and check["error"] == "调度器未运行或心跳超时"
    finally:
        app.config["READY_REQUIRE_SCHEDULER"] = False
    check = client.get("/readyz").get_json()["checks"]["scheduler"]
    assert check == {**check, "ok": False, "required": False}  # reported, not required (the test default)


def test_in_process_scheduler_holds_the_lease_a_second_stands_by_and_a_leader_that_lost_it_stands_down(app, ctx):
    from app import jobs

    first = jobs.start_in_process(app)
    assert first.leading and jobs._scheduler is not None and jobs._scheduler.running
    assert _holder() == first.holder
    second = jobs.LeaseRunner(app, wait_for_jobs=False)
    second.step()
    assert not second.leading and jobs._scheduler.running  # standby: it started no scheduler of its own
    jobs.shutdown()  # the clean stop releases the lease ...
    assert _holder() is None and jobs._scheduler is None
    second.step()  # ... and the standby takes it at its next try
    assert second.leading and _holder() == second.holder and jobs._scheduler.running
    db.session.execute(update(SchedulerLease).values(holder="elsewhere:1"))  # taken while second was paused
    db.session.commit()
    second.step()
    assert not second.leading and jobs._scheduler is None  # it stopped its jobs at once


def _pid_of(holder: str | None) -> int | None:
    return int(holder.split(":")[-2]) if holder else None


def _all_fired(rids: list[int]) -> bool:
    return all(_reminder_state(rid) == "fired" for rid in rids)


def test_killed_leader_is_replaced_within_the_lease_and_no_timer_is_lost_or_doubled(app, ctx, tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several scheduler processes: PostgreSQL (TEST_DATABASE_URL)")
    logs = {name: tmp_path / f"{name}.log" for name in "abc"}
    procs: dict[str, subprocess.Popen] = {}
    try:
        procs["a"] = _start_scheduler(app, logs["a"])
        assert _wait_for(lambda: _pid_of(_holder()) == procs["a"].pid, 30), logs["a"].read_text()
        procs["b"] = _start_scheduler(app, logs["b"])
        assert _wait_for(lambda: "standing by" in logs["b"].read_text(), 30), logs["b"].read_text()

        before = [_forwarded_request_with_reminder_in(2) for _ in range(3)]  # fired by a
        assert _wait_for(lambda: _all_fired(before), 20), logs["a"].read_text()

        during = [_forwarded_request_with_reminder_in(1 + i) for i in range(4)]  # due while no scheduler is active
        killed = time.monotonic()
        os.killpg(procs["a"].pid, signal.SIGKILL)
        procs["a"].wait(10)
        assert _wait_for(lambda: _pid_of(_holder()) == procs["b"].pid, 3 * LEASE), logs["b"].read_text()
        failover = time.monotonic() - killed
        assert _wait_for(lambda: _all_fired(during), 20), logs["b"].read_text()
        fired_after = time.monotonic() - killed
        print(f"\nfailover (lease {LEASE} s, heartbeat {BEAT} s): standby active {failover:.2f} s after kill -9, "
              f"the timers due meanwhile fired {fired_after:.2f} s after it")
        assert failover <= LEASE + BEAT + 1.5, failover  # the stated bound (+ slack for a busy machine)

        procs["c"] = _start_scheduler(app, logs["c"])  # the killed node comes back: it stands by
        assert _wait_for(lambda: "standing by" in logs["c"].read_text(), 30), logs["c"].read_text()
        after = [_forwarded_request_with_reminder_in(2) for _ in range(2)]
        assert _wait_for(lambda: _all_fired(after), 20), logs["b"].read_text()

        stopped = time.monotonic()
        procs["b"].send_signal(signal.SIGTERM)  # a clean stop releases the lease: c takes over at its next try
        assert procs["b"].wait(30) == 0, logs["b"].read_text()
        assert _wait_for(lambda: _pid_of(_holder()) == procs["c"].pid, 3 * BEAT + 2), logs["c"].read_text()
        handover = time.monotonic() - stopped
        last = [_forwarded_request_with_reminder_in(1)]
        assert _wait_for(lambda: _all_fired(last), 20), logs["c"].read_text()
        print(f"clean stop (SIGTERM): standby active {handover:.2f} s later")
        procs["c"].send_signal(signal.SIGINT)
        assert procs["c"].wait(30) == 0, logs["c"].read_text()
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    for rid in before + during + after + last:  # none lost, none doubled
        assert (_count(rid, "timer"), _count(rid, "notify_reminder")) == (1, 1), rid
    texts = {name: log.read_text() for name, log in logs.items()}
    for name in "bc":  # a standby ran no job before it held the lease
        standby, active = texts[name].split("took the lease", 1)
        assert "timer wake-up" not in standby and "timer wake-up" in active, texts[name]
    assert texts["b"].count("took the lease") == 1 and "released the lease" in texts["b"]
    assert "Traceback" not in texts["b"] + texts["c"] and "Aborted" not in texts["b"] + texts["c"]
    assert _holder() is None  # c released it on SIGINT


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
