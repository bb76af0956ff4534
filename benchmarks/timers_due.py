"""Benchmark: N pending timers falling due at the same moment, fired by real scheduler processes.

Usage: python benchmarks/timers_due.py [--timers 10000] [--lead 20] [--schedulers 1] [--kill-at S]
                                       [--database-url URL]

One share request is taken to the provider-review step with the real services; its reminder timer is set to fall
due at T0 = now + lead seconds, and the instance (its workflow JSON, task rows and timer rows) is copied N-1 times.
Then `--schedulers` processes run `flask scheduler run` (several share the load on PostgreSQL). Each sets one
wake-up at T0 and fires the due timers from the timer table in batches. With --kill-at S every scheduler is killed
with SIGKILL S seconds after T0 and started again. Prints the time from T0 until every timer fired, the firing lag
(fired_at - due_at) percentiles, and the exactly-once audit: every reminder fired, each with one 'timer' audit row.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import AuditLog, ProcessInstance, TaskRecord, TimerRecord, User  # noqa: E402
from config import Config  # noqa: E402

# The approach before (one APScheduler date job per timer in the SQLAlchemyJobStore), measured on the same 2-core
# machine with this benchmark's previous version (issue 9): time from T0 until all 10,000 fired, median lag.
BEFORE = {"sqlite": (197.0, 118.0), "postgresql": (146.0, 74.0)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--lead", type=float, default=20.0, help="seconds from now until the timers fall due")
    parser.add_argument("--schedulers", type=int, default=1, help="scheduler processes (more than 1: PostgreSQL)")
    parser.add_argument("--kill-at", type=float, default=None, help="SIGKILL every scheduler S s after T0, restart")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    dialect = url.split(":")[0].split("+")[0]

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105

    app = create_app(BenchConfig)
    with app.app_context():
        from flask_migrate import upgrade

        from app.services.people import org
        from app.services.workflow import definitions, progress, requests, tasks

        if dialect == "postgresql":  # a clean database each run
            db.session.execute(db.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
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
        print(f"database: {dialect}; {args.timers} timers due at T0 (copies made in "
              f"{time.perf_counter() - started:.1f} s); {args.schedulers} scheduler process(es)"
              + (f"; SIGKILL + restart {args.kill_at:g} s after T0" if args.kill_at is not None else ""))
        pending = db.session.scalar(select(func.count(TimerRecord.id)).where(
            TimerRecord.state == "pending", TimerRecord.element_id == "reminder_timer"))
        assert pending == args.timers, pending
        if datetime.now(UTC) >= t0 - timedelta(seconds=3):
            sys.exit("the copies took too long: T0 has passed or is too close; use a larger --lead")

    logs = Path(tempfile.mkdtemp())
    procs = [_start(url, logs / f"s{i}.log") for i in range(args.schedulers)]
    killed = False
    try:
        with app.app_context():
            while True:
                db.session.expire_all()
                left = db.session.scalar(select(func.count(TimerRecord.id)).where(
                    TimerRecord.state == "pending", TimerRecord.element_id == "reminder_timer"))
                now = datetime.now(UTC)
                if left == 0 and now >= t0:
                    break
                if args.kill_at is not None and not killed and now >= t0 + timedelta(seconds=args.kill_at):
                    for proc in procs:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait(10)
                    killed = True
                    print(f"killed {len(procs)} scheduler(s) at T0+{(now - t0).total_seconds():.1f} s with "
                          f"{left} of {args.timers} timers still pending; restarting")
                    procs = [_start(url, logs / f"r{i}.log") for i in range(args.schedulers)]
                time.sleep(0.1)
            all_fired = (datetime.now(UTC) - t0).total_seconds()
            time.sleep(2)  # a sync round more: nothing fires again
            lags = sorted((f - d).total_seconds() for f, d in db.session.execute(
                select(TimerRecord.fired_at, TimerRecord.due_at).where(TimerRecord.element_id == "reminder_timer")))
            reminders = select(TimerRecord.instance_id).where(TimerRecord.element_id == "reminder_timer")
            audits = dict(db.session.execute(select(AuditLog.instance_id, func.count(AuditLog.id)).where(
                AuditLog.action == "timer", AuditLog.instance_id.in_(reminders)).group_by(AuditLog.instance_id)).all())
            fired_rows = db.session.scalar(select(func.count(TimerRecord.id)).where(
                TimerRecord.element_id == "reminder_timer", TimerRecord.state == "fired"))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    lost = args.timers - len(audits)
    doubled = sum(1 for n in audits.values() if n > 1)
    median, p95 = statistics.median(lags), lags[int(len(lags) * 0.95) - 1]
    print(f"all {len(lags)} fired {all_fired:.1f} s after T0 ({len(lags) / all_fired:.0f} timers/s)")
    print(f"firing lag s: median {median:.2f}, p95 {p95:.2f}, max {lags[-1]:.2f}, min {lags[0]:.2f}")
    print(f"exactly once: {fired_rows} reminder rows fired, 'timer' audit rows per instance: "
          f"{lost} lost, {doubled} doubled")
    before = BEFORE.get(dialect)
    if before and args.timers == 10_000:
        print(f"{'':28}{'before (job per timer)':>24}{'now (batches)':>16}")
        print(f"{'all fired after T0, s':28}{before[0]:>24.1f}{all_fired:>16.1f}")
        print(f"{'median lag, s':28}{before[1]:>24.1f}{median:>16.2f}")
    if lost or doubled or fired_rows != args.timers:
        sys.exit("exactly-once violated")


def _start(url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": url, "SCHEDULER_SYNC_SECONDS": "5", "FLASK_APP": "wsgi.py",
           "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "flask", "scheduler", "run"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


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
