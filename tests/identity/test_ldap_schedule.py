"""The scheduler runs the LDAP sync every LDAP_SYNC_MINUTES when a directory is configured, and not otherwise."""
from __future__ import annotations

from app import jobs


def _job_ids(app) -> dict:
    scheduler = jobs.build_scheduler(app, blocking=False)
    try:
        return {job.id: job for job in scheduler.get_jobs()}
    finally:
        jobs.shutdown()


def test_ldap_sync_is_scheduled_only_when_configured(app, monkeypatch):
    assert "ldap-sync" not in _job_ids(app)
    monkeypatch.setitem(app.config, "LDAP_URL", "ldap://127.0.0.1:1")
    monkeypatch.setitem(app.config, "LDAP_SYNC_MINUTES", 15)
    job = _job_ids(app)["ldap-sync"]
    assert job.func is jobs.ldap_sync_job
    assert job.trigger.interval.total_seconds() == 15 * 60
    monkeypatch.setitem(app.config, "LDAP_SYNC_MINUTES", 0)
    assert "ldap-sync" not in _job_ids(app)
