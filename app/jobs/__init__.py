"""APScheduler wiring. Exactly one scheduler is active: in-process for `flask serve`/`make run`, or `flask scheduler
run` (on one or more nodes) beside a multi-worker web server. Each job is one service call inside an app context.

The `timer` table is the only schedule. One wake-up date job (in memory) runs at the earliest pending due time and
fires everything due in batches (timers.fire_due), then moves itself to the next due time; timers.changed() moves
it too. The periodic sync (in the SQLAlchemyJobStore with the daily audit check) wakes it as well, so after a
restart or a timer written by another process nothing waits longer than one sync interval.

Only the holder of the scheduler lease (operations.scheduler_lease) runs an APScheduler at all: `flask scheduler run`
may run on every node, the others stand by and take over when the holder stops renewing. So the jobs that are not
exactly-once by a claim (inspection round start, grant reminders, audit check, LDAP sync) run on one node only."""
from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..models.types import CHINA_TZ

log = logging.getLogger(__name__)
JOBS_TABLE = "apscheduler_jobs"
WAKEUP = "timers-wakeup"
RETRY_SECONDS = 0.5  # a pass that left due timers behind (locked elsewhere, busy database) looks again after this
_app: Flask | None = None
_scheduler: BackgroundScheduler | BlockingScheduler | None = None
_runner: LeaseRunner | None = None


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
    """Left for per-timer jobs stored by an earlier version until the first sync removes them."""
    wake()


class _Pass:
    """At most one firing pass per process; a wake-up during a pass makes that pass look again."""
    lock = threading.Lock()
    running = False
    again = False


def wakeup_job() -> None:
    """Fire every due timer, then set the wake-up to the next due time."""
    with _Pass.lock:
        if _Pass.running:
            _Pass.again = True  # the running pass looks again before it sets the next wake-up
            return
        _Pass.running = True
    from ..services.workflow import timers

    try:
        while True:
            with _Pass.lock:
                _Pass.again = False
            with _app.app_context():
                report = timers.fire_due()  # no timers.changed(): the next due time is read right here
                following = timers.next_due()
            with _Pass.lock:
                if not _Pass.again:
                    at = following
                    if at is not None and (report.skipped or report.failed or not report.fired):
                        # something due could not be fired now: do not spin on it
                        at = max(at, datetime.now(UTC) + timedelta(seconds=RETRY_SECONDS))
                    _schedule_wakeup(at)
                    _Pass.running = False
                    return
    except BaseException:
        with _Pass.lock:
            _Pass.running = False
        _schedule_wakeup(datetime.now(UTC) + timedelta(seconds=RETRY_SECONDS))
        raise


def _schedule_wakeup(at: datetime | None) -> None:
    scheduler = _scheduler
    if scheduler is None:
        return
    if at is None:
        try:
            scheduler.remove_job(WAKEUP, jobstore="memory")
        except JobLookupError:
            pass
        return
    at = max(at, datetime.now(UTC))
    scheduler.add_job(wakeup_job, "date", run_date=at, id=WAKEUP, jobstore="memory", replace_existing=True,
                      misfire_grace_time=None, max_instances=3)
    log.info("timer wake-up at %s", at.isoformat())


def sync_job() -> None:
    """Wake the timer pass, send queued e-mail, remind of expiring grants, start a due inspection round."""
    from ..services.messaging import notify
    from ..services.oversight import inspections
    from ..services.resources import grants

    scheduler = _scheduler
    if scheduler is None:  # shut down meanwhile
        return
    for job in scheduler.get_jobs(jobstore="default"):
        if job.id.startswith("timer-"):  # per-timer jobs of an earlier version
            try:
                scheduler.remove_job(job.id, jobstore="default")
            except JobLookupError:
                pass
    wake()
    with _app.app_context():
        grants.remind_expiring()
        inspections.start_due_round()
        notify.send_pending_emails()


def audit_verify_job() -> None:
    """Verify the audit log's hash chain (daily); the result shows on the admin page."""
    from ..services.security import audit_chain

    with _app.app_context():
        audit_chain.verify_and_store("scheduler")


def analytics_refresh_job() -> None:
    """Count the completed steps and flows taken of the instances changed since the last run (process analytics)."""
    from ..services.oversight import analytics

    with _app.app_context():
        analytics.refresh()


def deadline_refresh_job() -> None:
    """Sum the tasks closed since the last run into the supervisors' daily deadline figures (deadline_stats)."""
    from ..services.oversight import deadline_stats

    with _app.app_context():
        deadline_stats.refresh()


def attachment_cleanup_job() -> None:
    """Delete API uploads never named in a submission within 24 hours, and content no attachment refers to (daily)."""
    from ..services.workflow import attachments

    with _app.app_context():
        attachments.cleanup_unbound()


def ldap_sync_job() -> None:
    """Bring departments, users and heads in line with the directory (LDAP_SYNC_MINUTES); never raises."""
    from ..services.people.identity import ldap_sync

    with _app.app_context():
        ldap_sync.run_scheduled()


def wake() -> None:
    """Run the timer pass now (after a transaction changed timers); it sets the wake-up to the next due time."""
    scheduler = _scheduler
    if scheduler is not None and scheduler.running:
        _schedule_wakeup(datetime.now(UTC))


def build_scheduler(app: Flask, *, blocking: bool) -> BackgroundScheduler | BlockingScheduler:
    global _app, _scheduler
    from ..services.workflow import timers

    _app = app
    if blocking:  # its own process: it says when it wakes next (through the app's log handler)
        app.logger.debug("scheduler starting")
        log.setLevel(logging.INFO)
    # the app's connect arguments (SQLite: wait for the write lock like the app does, not pysqlite's 5 s: a busy
    # timer pass must not make APScheduler's own thread die on "database is locked")
    connect_args = app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}).get("connect_args", {})
    store = SharedSQLAlchemyJobStore(url=app.config["SQLALCHEMY_DATABASE_URI"], tablename=JOBS_TABLE,
                                     engine_options={"connect_args": dict(connect_args)})
    cls = BlockingScheduler if blocking else BackgroundScheduler
    _scheduler = cls(jobstores={"default": store, "memory": MemoryJobStore()}, timezone=UTC,
                     job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1})
    _scheduler.add_job(sync_job, "interval", seconds=app.config.get("SCHEDULER_SYNC_SECONDS", 30), id="sync",
                       replace_existing=True, next_run_time=datetime.now(UTC))
    _scheduler.add_job(audit_verify_job, "cron", hour=3, minute=17, timezone=CHINA_TZ, id="audit-verify",
                       replace_existing=True)
    _scheduler.add_job(attachment_cleanup_job, "cron", hour=3, minute=41, timezone=CHINA_TZ, id="attachment-cleanup",
                       replace_existing=True)
    _scheduler.add_job(analytics_refresh_job, "interval", id="analytics-refresh", replace_existing=True,
                       minutes=max(app.config.get("ANALYTICS_REFRESH_MINUTES", 10), 1))
    _scheduler.add_job(deadline_refresh_job, "interval", id="deadline-refresh", replace_existing=True,
                       minutes=max(app.config.get("DEADLINE_REFRESH_MINUTES", 10), 1))
    if app.config.get("LDAP_URL") and app.config.get("LDAP_SYNC_MINUTES"):
        _scheduler.add_job(ldap_sync_job, "interval", minutes=max(app.config["LDAP_SYNC_MINUTES"], 1),
                           id="ldap-sync", replace_existing=True)
    if wake not in timers.on_change:
        timers.on_change.append(wake)
    return _scheduler


class LeaseRunner:
    """Stand by until this process holds the scheduler lease, then run the scheduler and renew the lease every
    heartbeat; stop the scheduler as soon as the lease is another's, or when it could not be renewed for so long
    that it may have expired (before a standby can take it). On stop: end the jobs, release the lease."""

    def __init__(self, app: Flask, *, wait_for_jobs: bool) -> None:
        from ..services.operations import scheduler_lease

        self.app = app
        self.holder = scheduler_lease.new_holder_id()
        self.wait_for_jobs = wait_for_jobs
        self.stopping = threading.Event()
        self.leading = False
        self.thread: threading.Thread | None = None
        self._renewed = 0.0  # time.monotonic() of the last renewal
        self._standby_logged = False
        with app.app_context():
            self.lease, self.beat = scheduler_lease.lease_seconds(), scheduler_lease.heartbeat_seconds()

    def step(self) -> None:
        """One try: take or renew the lease, then start or stop the scheduler to match."""
        from ..extensions import db
        from ..services.operations import scheduler_lease

        with self.app.app_context():
            try:
                term, answered = scheduler_lease.try_acquire(self.holder, self.lease), True
            except Exception:  # database unreachable or busy: the next beat tries again
                log.warning("scheduler lease: cannot reach the database", exc_info=True)
                db.session.rollback()
                term, answered = None, False
        now = time.monotonic()
        if term is not None:
            self._renewed = now
            if not self.leading:
                self._lead(term)
        elif self.leading and (answered or now - self._renewed >= self.lease - self.beat):
            self._stand_down("the lease was taken by another scheduler" if answered else "the lease cannot be renewed")
        elif not self.leading and not self._standby_logged:
            log.info("scheduler %s standing by: another scheduler holds the lease", self.holder)
            self._standby_logged = True

    def _lead(self, term: int) -> None:
        log.info("scheduler %s took the lease (term %d): active", self.holder, term)
        self.leading, self._standby_logged = True, False
        build_scheduler(self.app, blocking=False).start()

    def _stand_down(self, reason: str) -> None:
        global _scheduler
        log.warning("scheduler %s standing down: %s", self.holder, reason)
        self.leading = False
        scheduler, _scheduler = _scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)

    def _loop(self) -> None:
        while not self.stopping.wait(self.beat):
            self.step()
        self._finish()

    def _finish(self) -> None:
        global _scheduler
        from ..extensions import db
        from ..services.operations import scheduler_lease

        scheduler, _scheduler = _scheduler, None
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=self.wait_for_jobs)
        if self.leading:
            self.leading = False
            with self.app.app_context():
                try:
                    scheduler_lease.release(self.holder)
                    log.info("scheduler %s released the lease", self.holder)
                except Exception:  # it expires by itself
                    log.warning("scheduler lease: could not release", exc_info=True)
                    db.session.rollback()

    def run(self) -> None:
        """In this thread until stop()."""
        self.step()
        self._loop()

    def start(self) -> None:
        """The first try here (so a free lease is held on return), the heartbeat in a daemon thread."""
        self.step()
        self.thread = threading.Thread(target=self._loop, name="scheduler-lease", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)


def run_standalone(app: Flask) -> None:
    """`flask scheduler run`: stand by or run the jobs until SIGINT or SIGTERM, then end the jobs, release the lease
    and return."""
    global _runner
    app.logger.debug("scheduler starting")  # its own process: it logs through the app's log handler
    log.setLevel(logging.INFO)
    runner = _runner = LeaseRunner(app, wait_for_jobs=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: runner.stopping.set())
    try:
        runner.run()
    finally:
        _runner = None


def start_in_process(app: Flask) -> LeaseRunner:
    """The embedded scheduler (`flask serve`): the same lease, renewed by a thread, so /readyz sees its heartbeat
    and a `flask scheduler run` beside it stands by."""
    global _runner
    shutdown()
    _runner = LeaseRunner(app, wait_for_jobs=False)
    _runner.start()
    log.info("in-process scheduler started")
    return _runner


def shutdown() -> None:
    global _scheduler, _runner
    runner, _runner = _runner, None
    if runner is not None:
        runner.stop()
    if _scheduler is not None and _scheduler.running:
        _scheduler.shutdown(wait=False)
    _scheduler = None
