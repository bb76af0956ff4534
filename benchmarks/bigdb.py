"""Build a big PostgreSQL database for the read-path benchmark: a few real journeys run through the services, then
cloned in SQL (INSERT ... SELECT over generate_series) into N instances with their tasks and notifications, spread
over departments, states and dates (~2% open).

Usage: python benchmarks/bigdb.py [--db bigdb] [--instances 100000]   (env BIGDB also names the database)
The database is dropped and created again on 127.0.0.1:5432 (user postgres). Audit rows are not cloned: the audit
log is hash-chained and append-only, and no benchmarked page reads it. The process-analytics tables are cloned with
the instances; at the end the analytics refresh job is timed over the 1,000 newest instances, and the supervisors'
deadline sums (oversight.deadline_stats) are built as their scheduler job does.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from app import create_app
from app.extensions import db
from app.services.oversight import analytics, deadline_stats
from config import TestingConfig

APPROVE = {"decision": "approve"}


def url_for_db(name: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def real_journeys(app) -> None:
    """Finished and open requests made by the people in them, over the Flask test client."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from conftest import Browser
    from web.journey import act, submit

    handler, head, nic = Browser(app, "cs_handler"), Browser(app, "cs_head"), Browser(app, "nic_head")
    for _ in range(4):  # open at the providers (two departments)
        rid = submit(handler, {"student_basic": ["xh"], "staff_basic": ["gh"]})
        act(head, rid, APPROVE)
        act(nic, rid, APPROVE)
    for _ in range(2):  # open at the department head
        submit(handler, {"student_basic": ["xh"]})


def clone(n: int) -> None:
    """Clone the real instances (with their tasks) until there are n; ~2% stay open, the rest are closed."""
    conn = db.session.connection()
    conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
    sources = conn.execute(text("SELECT count(*) FROM process_instance")).scalar()
    departments = [r[0] for r in conn.execute(text("SELECT id FROM department ORDER BY id"))]
    codes = [r[0] for r in conn.execute(text("SELECT code FROM department ORDER BY id"))]
    base = conn.execute(text("SELECT max(id) FROM process_instance")).scalar()
    copies = -(-(n - sources) // sources)
    conn.execute(text("""
        CREATE TEMP TABLE src AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM process_instance"""))
    # instance id = base + g * sources + k + 1; every 50th copy stays open, the others are closed
    conn.execute(text("""
        INSERT INTO process_instance (id, definition_id, title, status, outcome, current_step, status_reason,
            error_element, error_message, initiator_id, applicant_department_id, workflow_json, serializer_version,
            lock_version, created_at, updated_at, completed_at)
        SELECT :base + g * :sources + s.k + 1, p.definition_id, p.title || ' #' || g,
               CASE WHEN g % 50 = 0 THEN p.status ELSE 'completed' END, p.outcome,
               CASE WHEN g % 50 = 0 THEN p.current_step ELSE '数据已提供' END, p.status_reason,
               p.error_element, p.error_message, p.initiator_id,
               (:departments)[1 + (g * 7 + s.k) % cardinality(:departments)], p.workflow_json, p.serializer_version,
               p.lock_version, now() - make_interval(mins => (:copies - g) * 3),
               now() - make_interval(mins => (:copies - g) * 3), CASE WHEN g % 50 = 0 THEN NULL ELSE now() END
        FROM src s JOIN process_instance p ON p.id = s.id CROSS JOIN generate_series(1, :copies) g
        WHERE :base + g * :sources + s.k + 1 <= :base + :n - :sources"""),
                 {"base": base, "sources": sources, "departments": departments, "copies": copies, "n": n})
    conn.execute(text("""
        INSERT INTO task (instance_id, engine_task_id, element_id, title, lane, form_key, candidate_role,
            candidate_roles, department_code, state, claimed_by_id, completed_by_id, opinion, created_at,
            completed_at, due_at)
        SELECT i.id, t.engine_task_id, t.element_id, t.title, t.lane, t.form_key, t.candidate_role, t.candidate_roles,
               CASE WHEN t.department_code IS NULL THEN NULL
                    ELSE (CAST(:codes AS text[]))[1 + (i.id * 3 + t.id) % cardinality(CAST(:codes AS text[]))] END,
               CASE WHEN i.status = 'completed' THEN 'completed' ELSE t.state END, t.claimed_by_id,
               COALESCE(t.completed_by_id, CASE WHEN i.status = 'completed' THEN i.initiator_id END), t.opinion,
               i.created_at + (t.created_at - p.created_at),
               CASE WHEN i.status = 'completed' THEN i.created_at + interval '2 days' ELSE t.completed_at END,
               i.created_at + (t.due_at - p.created_at)
        FROM process_instance i JOIN src s ON (i.id - :base - 1) % :sources = s.k AND i.id > :base
        JOIN process_instance p ON p.id = s.id JOIN task t ON t.instance_id = p.id"""),
                 {"codes": codes, "base": base, "sources": sources})
    # the request list's involvement rows (migration 5ec1a1perf02), as services.workflow.progress keeps them
    conn.execute(text("""
        INSERT INTO instance_department (instance_id, department_code, created_at)
        SELECT DISTINCT t.instance_id, t.department_code, i.created_at FROM task t
        JOIN process_instance i ON i.id = t.instance_id
        WHERE i.id > :base AND t.department_code IS NOT NULL"""), {"base": base})
    # notifications: every new task told its holders; a few hundred stay unread per person
    conn.execute(text("""
        INSERT INTO notification (user_id, instance_id, event, message, created_at, read_at, email_state)
        SELECT u.id, i.id, 'new_task', '新待办：' || i.title, i.created_at,
               CASE WHEN i.id % 200 = 0 THEN NULL ELSE i.created_at + interval '1 hour' END, 'none'
        FROM process_instance i JOIN user_account u ON u.username IN ('nic_head', 'hr_head', 'cs_head')
        WHERE i.id > :base"""), {"base": base})
    # process analytics: each copy took the flows of its source instance; its completed steps get their durations
    # from the cloned timestamps (weekdays only, roughly: the benchmark reads these rows, it does not check them)
    conn.execute(text("""
        INSERT INTO analytics_flow (instance_id, flow_id, definition_id, applicant_department_id, submitted_at, day,
            taken)
        SELECT i.id, f.flow_id, i.definition_id, i.applicant_department_id, i.created_at,
               CAST(i.created_at AT TIME ZONE 'Asia/Shanghai' AS date), f.taken
        FROM process_instance i JOIN src s ON (i.id - :base - 1) % :sources = s.k AND i.id > :base
        JOIN analytics_flow f ON f.instance_id = s.id"""), {"base": base, "sources": sources})
    conn.execute(text("""
        INSERT INTO analytics_step (task_id, instance_id, definition_id, applicant_department_id, submitted_at, day,
            element_id, working_days, negative)
        SELECT t.id, i.id, i.definition_id, i.applicant_department_id, i.created_at,
               CAST(i.created_at AT TIME ZONE 'Asia/Shanghai' AS date), t.element_id,
               round(CAST(extract(epoch FROM t.completed_at - t.created_at) / 86400 * 5 / 7 AS numeric), 2),
               t.id % 9 = 0
        FROM task t JOIN process_instance i ON i.id = t.instance_id
        WHERE i.id > :base AND t.state = 'completed' AND t.completed_at IS NOT NULL"""), {"base": base})
    conn.execute(text("DELETE FROM analytics_step_day"))  # the daily sums again, over everything
    conn.execute(text("DELETE FROM analytics_flow_day"))
    conn.execute(text("""
        INSERT INTO analytics_step_day (definition_id, day, applicant_department_id, element_id, working_days, negative,
            passed)
        SELECT definition_id, day, applicant_department_id, element_id, working_days, negative, count(*)
        FROM analytics_step
        GROUP BY definition_id, day, applicant_department_id, element_id, working_days, negative"""))
    conn.execute(text("""
        INSERT INTO analytics_flow_day (definition_id, day, applicant_department_id, flow_id, taken)
        SELECT definition_id, day, applicant_department_id, flow_id, sum(taken)
        FROM analytics_flow GROUP BY definition_id, day, applicant_department_id, flow_id"""))
    conn.execute(text("UPDATE analytics_refresh SET changed_to = now(), last_id = 0, refreshed_at = now()"))
    conn.execute(text("SELECT setval(pg_get_serial_sequence('process_instance', 'id'), "
                      "(SELECT max(id) FROM process_instance))"))
    conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER USER"))
    db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=os.environ.get("BIGDB", "bigdb"))
    parser.add_argument("--instances", type=int, default=100_000)
    args = parser.parse_args()
    started = time.perf_counter()
    for cmd in (["dropdb", "--if-exists"], ["createdb"]):
        subprocess.run([*cmd, "-h", "127.0.0.1", "-U", "postgres", args.db], check=True)  # noqa: S603

    class BigConfig(TestingConfig):  # the seeded demo users sign in as in the tests
        SQLALCHEMY_DATABASE_URI = url_for_db(args.db)
        SCHEDULER_ENABLED = False

    app = create_app(BigConfig)
    with app.app_context():
        from flask_migrate import upgrade

        from app.services.people import org
        from app.services.workflow import definitions

        upgrade()
        org.seed_demo()
        definitions.deploy_directory()
    real_journeys(app)
    with app.app_context():
        analytics.refresh(settle=timedelta(0))  # the real journeys' flows and steps, cloned with them
        clone(args.instances)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as auto:
            auto.execute(text("VACUUM ANALYZE"))
        conn = db.session.connection()
        counts = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                  for t in ("process_instance", "task", "notification")}
        open_tasks = conn.execute(text("SELECT count(*) FROM task WHERE state = 'ready'")).scalar()
    print(f"{args.db}: {counts}, open tasks {open_tasks}, built in {time.perf_counter() - started:.0f} s")
    with app.app_context():  # the analytics refresh job after 1,000 instances changed
        db.session.execute(text("UPDATE process_instance SET updated_at = now() "
                                "WHERE id > (SELECT max(id) - 1000 FROM process_instance)"))
        db.session.commit()
        t0 = time.perf_counter()
        counted = analytics.refresh(settle=timedelta(0))
        took = time.perf_counter() - t0
    print(f"analytics refresh: {counted} changed instances in {took:.1f} s ({counted / took:.0f}/s)")
    with app.app_context():  # the supervisors' daily deadline sums, as the scheduler job keeps them
        t0 = time.perf_counter()
        summed = deadline_stats.refresh()
    print(f"deadline sums: {summed} closed tasks in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
