"""Benchmark: N pending timers falling due at the same moment, fired by the real in-process scheduler.

Usage: python benchmarks/timers_due.py [--timers 10000] [--lead 90] [--database-url URL]

One share request is taken to the provider-review step with the real services; its reminder timer is set to fall
due at T0 = now + lead seconds, and the instance (its workflow JSON, task rows and timer rows) is copied N-1 times.
The scheduler then starts: its first sync creates one exact date job per timer; at T0 the jobs fire on its worker
threads (a sweep every 5 s picks up anything a busy database made wait). Prints the time to create the jobs, the
time from T0 until every timer fired, and the firing lag (fired_at - due_at) percentiles.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, insert, select

from app import create_app, jobs
from app.extensions import db
from app.models import ProcessInstance, TaskRecord, TimerRecord, User
from config import Config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--lead", type=float, default=90.0, help="seconds from now until the timers fall due")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        SCHEDULER_SYNC_SECONDS = 5
        PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105

    app = create_app(BenchConfig)
    with app.app_context():
        from flask_migrate import upgrade

        from app.services import definitions, org, progress, requests, tasks

        upgrade()
        org.seed_demo()
        definitions.deploy_directory()
        uid = {u.username: u.id for u in db.session.scalars(select(User))}
        catalogue = {r["code"]: r for r in requests.catalogue()}
        rid = requests.submit_share_request(uid["cs_handler"], {
            "purpose": "定时器性能测试", "head_name": "李主任", "head_phone": "13900000000", "handler_name": "王经办",
            "handler_phone": "13800000000", "commitment": True, "confidentiality": True,
            "resources": [{"resource_id": catalogue["student_basic"]["id"], "fields": ["xh"]}]})
        for user in ("cs_head", "nic_head"):
            task = requests.request_view(rid, uid[user])["current_tasks"][0]
            tasks.complete_task(task["task_id"], uid[user], {"decision": "approve"})
        t0 = datetime.now(UTC) + timedelta(seconds=args.lead)
        instance = db.session.get(ProcessInstance, rid)
        workflow = progress.load(instance)
        for task in workflow.get_tasks():
            if getattr(task.task_spec, "bpmn_id", None) == "reminder_timer" and "event_value" in task.internal_data:
                task.internal_data["event_value"] = t0.isoformat()
        progress.persist(instance, workflow, actor_id=None, action="bench_adjust")
        db.session.commit()
        started = time.perf_counter()
        _clone(rid, args.timers - 1)
        print(f"database: {url.split(':')[0]}; {args.timers} timers due at T0 (copies made in "
              f"{time.perf_counter() - started:.1f} s)")
        pending = db.session.scalar(select(func.count(TimerRecord.id)).where(
            TimerRecord.state == "pending", TimerRecord.element_id == "reminder_timer"))
        assert pending == args.timers, pending
        all_pending = db.session.scalar(select(func.count(TimerRecord.id)).where(TimerRecord.state == "pending"))

    sync_started = time.perf_counter()
    jobs.start_in_process(app)
    with app.app_context():
        while True:
            stored = db.session.execute(db.text("SELECT count(*) FROM apscheduler_jobs")).scalar()
            if stored >= all_pending + 1 or datetime.now(UTC) >= t0:
                break
            time.sleep(0.5)
        print(f"exact date jobs stored: {stored - 1} of {all_pending} pending timers (reminders and deadlines) in "
              f"{time.perf_counter() - sync_started:.1f} s "
              f"({'before' if datetime.now(UTC) < t0 else 'not all before'} T0)")
        while datetime.now(UTC) < t0:
            time.sleep(0.05)
        while True:
            db.session.expire_all()
            left = db.session.scalar(select(func.count(TimerRecord.id)).where(
                TimerRecord.state == "pending", TimerRecord.element_id == "reminder_timer"))
            if left == 0:
                break
            time.sleep(0.2)
        all_fired = (datetime.now(UTC) - t0).total_seconds()
        lags = sorted((f - d).total_seconds() for f, d in db.session.execute(
            select(TimerRecord.fired_at, TimerRecord.due_at).where(TimerRecord.element_id == "reminder_timer")))
    jobs.shutdown()
    print(f"all {len(lags)} fired {all_fired:.1f} s after T0 ({len(lags) / all_fired:.0f} timers/s)")
    print(f"firing lag s: median {statistics.median(lags):.2f}, p95 {lags[int(len(lags) * 0.95) - 1]:.2f}, "
          f"max {lags[-1]:.2f}, min {lags[0]:.2f}")


def _clone(rid: int, copies: int) -> None:
    """Copy the instance with its ready tasks and pending timers `copies` times (bulk inserts)."""
    source = db.session.get(ProcessInstance, rid)
    task_rows = db.session.scalars(select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                            TaskRecord.state == "ready")).all()
    timer_rows = db.session.scalars(select(TimerRecord).where(TimerRecord.instance_id == rid,
                                                              TimerRecord.state == "pending")).all()
    first = (db.session.scalar(select(func.max(ProcessInstance.id))) or 0) + 1
    columns = [c.key for c in ProcessInstance.__table__.columns if c.key != "id"]
    for start in range(0, copies, 1000):
        ids = range(first + start, first + min(copies, start + 1000))
        db.session.execute(insert(ProcessInstance), [
            {"id": i, **{c: getattr(source, c) for c in columns}} for i in ids])
        db.session.execute(insert(TaskRecord), [
            {c.key: (i if c.key == "instance_id" else getattr(t, c.key)) for c in TaskRecord.__table__.columns
             if c.key != "id"} for i in ids for t in task_rows])
        db.session.execute(insert(TimerRecord), [
            {c.key: (i if c.key == "instance_id" else getattr(t, c.key)) for c in TimerRecord.__table__.columns
             if c.key != "id"} for i in ids for t in timer_rows])
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(db.text("SELECT setval('process_instance_id_seq', (SELECT max(id) FROM process_instance))"))
        db.session.commit()


if __name__ == "__main__":
    main()
