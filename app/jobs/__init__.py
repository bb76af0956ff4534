"""APScheduler wiring. Exactly one scheduler runs: in-process for `flask run`/`make run` (SCHEDULER_IN_PROCESS), or
`flask scheduler run` beside a multi-worker web server. Each job is one service call inside an app context.

Exact date jobs (one per pending timer) live in a SQLAlchemyJobStore so a restart loses none; a periodic
sync re-creates them from the timer table and sweeps anything due, so nothing is missed either way."""
from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..models.types import CHINA_TZ

log = logging.getLogger(__name__)
JOBS_TABLE = "apscheduler_jobs"
_app: Flask | None = None
_scheduler: BackgroundScheduler | BlockingScheduler | None = None


class SharedSQLAlchemyJobStore(SQLAlchemyJobStore):
    """A job store that tolerates another scheduler having removed or replaced a job first.

    Only one scheduler should run, but a second one started by mistake must not crash the first: APScheduler's
    main loop lets a JobLookupError escape when a finished date job was already removed by the other process.
    Firing stays exactly-once because every job claims its timer row before acting."""

    def start(self, scheduler, alias) -> None:
        # two schedulers starting at once race to create the job table: the loser retries
        for attempt in range(3):
            try:
                super().start(scheduler, alias)
                return
            except SQLAlchemyError:
                if attempt == 2:
                    raise
                time.sleep(0.5)

    def update_job(self, job) -> None:
        try:
            super().update_job(job)
        except JobLookupError:
            log.info("job %s was removed by another scheduler", job.id)

    def remove_job(self, job_id: str) -> None:
        try:
            super().remove_job(job_id)
        except JobLookupError:
            log.info("job %s was already removed by another scheduler", job_id)


def fire_timer_job(timer_id: int) -> None:
    from ..services import timers

    with _app.app_context():
        timers.fire_timer(timer_id)


def sync_job() -> None:
    """Sweep due timers, send queued e-mail, and make sure every pending timer has its exact date job."""
    from ..services import grants, inspections, notify, timers

    scheduler = _scheduler
    if scheduler is None:  # shut down meanwhile
        return
    with _app.app_context():
        timers.fire_due_timers()
        grants.remind_expiring()
        inspections.start_due_round()
        notify.send_pending_emails()
        schedule = timers.pending_schedule()
    wanted = {f"timer-{timer_id}": due for timer_id, due in schedule}
    for job in scheduler.get_jobs():
        if job.id.startswith("timer-") and job.id not in wanted:
            try:
                scheduler.remove_job(job.id)
            except JobLookupError:
                pass
    now = datetime.now(UTC)
    for job_id, due in wanted.items():
        if due <= now:
            continue  # the next sweep fires it
        job = scheduler.get_job(job_id)
        if job is None or job.next_run_time != due:
            scheduler.add_job(fire_timer_job, "date", run_date=due, args=[int(job_id[6:])], id=job_id,
                              replace_existing=True, misfire_grace_time=None)


def audit_verify_job() -> None:
    """Verify the audit log's hash chain (daily); the result shows on the admin page."""
    from ..services import audit_chain

    with _app.app_context():
        audit_chain.verify_and_store("scheduler")


def wake() -> None:
    """Run the sync now (after a transaction changed timers)."""
    if _scheduler is not None and _scheduler.running:
        job = _scheduler.get_job("sync")
        if job is not None:
            job.modify(next_run_time=datetime.now(UTC))


def build_scheduler(app: Flask, *, blocking: bool) -> BackgroundScheduler | BlockingScheduler:
    global _app, _scheduler
    from ..services import timers

    _app = app
    store = SharedSQLAlchemyJobStore(url=app.config["SQLALCHEMY_DATABASE_URI"], tablename=JOBS_TABLE)
    cls = BlockingScheduler if blocking else BackgroundScheduler
    _scheduler = cls(jobstores={"default": store}, timezone=UTC,
                     job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1})
    _scheduler.add_job(sync_job, "interval", seconds=app.config.get("SCHEDULER_SYNC_SECONDS", 30), id="sync",
                       replace_existing=True, next_run_time=datetime.now(UTC))
    _scheduler.add_job(audit_verify_job, "cron", hour=3, minute=17, timezone=CHINA_TZ, id="audit-verify",
                       replace_existing=True)
    if wake not in timers.on_change:
        timers.on_change.append(wake)
    return _scheduler


def start_in_process(app: Flask) -> BackgroundScheduler:
    scheduler = build_scheduler(app, blocking=False)
    scheduler.start()
    log.info("in-process scheduler started")
    return scheduler


def shutdown() -> None:
    global _scheduler
    if _scheduler is not None and _scheduler.running:
        _scheduler.shutdown(wait=False)
    _scheduler = None
