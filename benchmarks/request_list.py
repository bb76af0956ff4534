"""Benchmark: the request list (/requests) of department heads at 100,000 instances, the department-involvement
index (instance_department, migration 5ec1a1perf02) against the query it replaced (an EXISTS over every task row
of each instance, newest first).

Usage: python benchmarks/request_list.py [--db perf_reqlist] [--instances 100000] [--runs 20] [--reuse]

Builds the database as benchmarks/bigdb.py does (real journeys cloned in SQL; dropped and created again on
127.0.0.1:5432, user postgres; --reuse keeps one built before), then makes the 图书馆 (library) a rarely involved
department: it holds a task in one request of 2,000 and applies for none, the case whose old query walked the whole
history. Prints p50/p95 ms and SQL statements of list_requests() page 1 and page 5 for a rarely involved head
(library_head) and a busy one (hr_head), new and old query side by side.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import bigdb
from sqlalchemy import event, or_, select, text
from sqlalchemy.orm import aliased

from app import create_app
from app.extensions import db
from app.models import Department, ProcessDefinition, ProcessInstance, TaskRecord, User
from config import TestingConfig


def old_list(user_id: int, page: int, per_page: int = 50) -> list[int]:
    """The request list's scope as it was read before instance_department (requests.list_requests, 2026-11-25)."""
    user = db.session.get(User, user_id)
    applicant = aliased(Department)
    query = (select(ProcessInstance.id, ProcessInstance.title, ProcessInstance.status, ProcessInstance.current_step,
                    ProcessInstance.created_at, ProcessInstance.updated_at, ProcessDefinition.name,
                    applicant.name, User.display_name)
             .join(ProcessDefinition, ProcessDefinition.id == ProcessInstance.definition_id)
             .join(applicant, applicant.id == ProcessInstance.applicant_department_id)
             .outerjoin(User, User.id == ProcessInstance.initiator_id)
             .order_by(ProcessInstance.created_at.desc(), ProcessInstance.id.desc()))
    involved = select(TaskRecord.instance_id).where(TaskRecord.instance_id == ProcessInstance.id,
                                                    or_(TaskRecord.completed_by_id == user.id,
                                                        TaskRecord.department_code == user.department.code))
    query = query.where(or_(ProcessInstance.applicant_department_id == user.department_id, involved.exists()))
    return [r[0] for r in db.session.execute(query.limit(per_page + 1).offset((page - 1) * per_page))]


def make_rare(department: str, every: int) -> int:
    """The department holds a task in one instance of `every` and applies for none; instance_department rebuilt."""
    conn = db.session.connection()
    other = conn.execute(text("SELECT code FROM department WHERE code NOT IN (:d, 'nic') ORDER BY id LIMIT 1"),
                         {"d": department}).scalar()
    conn.execute(text("UPDATE task SET department_code = :o WHERE department_code = :d"), {"o": other, "d": department})
    conn.execute(text("""UPDATE process_instance
                         SET applicant_department_id = (SELECT id FROM department WHERE code = :o)
                         WHERE applicant_department_id = (SELECT id FROM department WHERE code = :d)"""),
                 {"o": other, "d": department})
    conn.execute(text("""UPDATE task SET department_code = :d WHERE id IN (
                           SELECT min(id) FROM task WHERE instance_id % :every = 0 AND department_code IS NOT NULL
                           GROUP BY instance_id)"""), {"d": department, "every": every})
    conn.execute(text("DELETE FROM instance_department"))
    conn.execute(text("""INSERT INTO instance_department (instance_id, department_code, created_at)
                         SELECT DISTINCT t.instance_id, t.department_code, p.created_at FROM task t
                         JOIN process_instance p ON p.id = t.instance_id WHERE t.department_code IS NOT NULL"""))
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
        auto.execute(text("VACUUM ANALYZE"))
    return db.session.scalar(text("SELECT count(*) FROM instance_department WHERE department_code = :d"),
                             {"d": department})


def timed(fn, runs: int) -> tuple[float, float, int, list[int]]:
    statements = [0]

    def count(*_args) -> None:
        statements[0] += 1

    fn()  # warm
    times = []
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for _ in range(runs):
            statements[0] = 0
            db.session.expire_all()
            start = time.perf_counter()
            ids = fn()
            times.append((time.perf_counter() - start) * 1000)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], statements[0], ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="perf_reqlist")
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--reuse", action="store_true")
    args = parser.parse_args()
    if not args.reuse:
        sys.argv = [sys.argv[0], "--db", args.db, "--instances", str(args.instances)]
        bigdb.main()

    class Config(TestingConfig):
        SQLALCHEMY_DATABASE_URI = bigdb.url_for_db(args.db)

    app = create_app(Config)
    with app.app_context():
        from app.services.workflow import requests

        rare = make_rare("library", 2000)
        total = db.session.scalar(text("SELECT count(*) FROM process_instance"))
        busy = db.session.scalar(text("SELECT count(*) FROM instance_department WHERE department_code = 'hr'"))
        print(f"{total} instances; library holds a task in {rare} of them, hr in {busy}")
        print(f"{'user, page':<22}{'new p50':>9}{'p95':>8}{'SQL':>5}{'old p50':>10}{'p95':>8}{'SQL':>5}  same rows")
        for username in ("library_head", "hr_head"):
            uid = db.session.scalar(select(User.id).where(User.username == username))
            for page in (1, 5):
                new = timed(lambda u=uid, p=page: [i["id"] for i in requests.list_requests(u, page=p).items],
                            args.runs)
                old = timed(lambda u=uid, p=page: old_list(u, p)[:50], args.runs)
                print(f"{username + ' p' + str(page):<22}{new[0]:>9.1f}{new[1]:>8.1f}{new[2]:>5}"
                      f"{old[0]:>10.1f}{old[1]:>8.1f}{old[2]:>5}  {new[3] == old[3]}")


if __name__ == "__main__":
    main()
