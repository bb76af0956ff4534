"""Several instances' timers fired in one transaction (timers.fire_due's groups): one commit for the group, every
instance still under its lock and claimed exactly once; a failure anywhere rolls the whole group back and its
instances are fired one by one, so the broken one waits for the next pass and the others fire once."""
from __future__ import annotations

from sqlalchemy import event, select

from app.extensions import db
from app.models import ProcessInstance
from app.services.workflow import progress, timers

from .test_batches import _due_reminders, _reminders, _timer_audits


class _Commits:
    """Counts the database commits while registered."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, _conn) -> None:
        self.count += 1


def test_a_group_of_instances_fires_in_one_commit_each_timer_once(ctx):
    ids = _due_reminders(12)
    versions = dict(db.session.execute(select(ProcessInstance.id, ProcessInstance.lock_version)
                                       .where(ProcessInstance.id.in_(ids))).all())
    commits = _Commits()
    event.listen(db.engine, "commit", commits)
    try:
        report = timers.fire_due(group=5)
    finally:
        event.remove(db.engine, "commit", commits)
    assert (report.fired, report.timers, report.failed) == (12, 12, 0)
    # groups of 5, 5 and 2 instances, plus the candidate statements' short transactions
    assert commits.count <= 3 + 2
    assert _reminders(ids, "pending") == 0 and _reminders(ids, "fired") == 12
    assert _timer_audits(ids) == dict.fromkeys(ids, 1)
    db.session.expire_all()
    assert all(db.session.get(ProcessInstance, i).lock_version == versions[i] + 1 for i in ids)
    assert timers.fire_due(group=5).fired == 0
    assert _timer_audits(ids) == dict.fromkeys(ids, 1)


def test_a_failure_in_a_group_keeps_nothing_of_it_and_the_others_fire_alone(ctx, monkeypatch):
    ids = _due_reminders(7)
    broken = ids[3]
    persist = progress.persist

    def failing(instance, workflow, **kwargs):
        if instance.id == broken:
            raise RuntimeError("broken instance")
        return persist(instance, workflow, **kwargs)

    monkeypatch.setattr(progress, "persist", failing)
    report = timers.fire_due(group=4)
    assert (report.fired, report.failed) == (6, 1)
    assert _reminders([broken], "pending") == 1
    assert _timer_audits(ids) == {i: 1 for i in ids if i != broken}
    monkeypatch.setattr(progress, "persist", persist)
    report = timers.fire_due(group=4)  # the next pass fires the one left, and nothing twice
    assert (report.fired, report.failed) == (1, 0)
    assert _timer_audits(ids) == dict.fromkeys(ids, 1)
