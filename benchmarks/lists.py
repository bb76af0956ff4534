"""Issue 11 lists on a big database (benchmarks/bigdb.py): p50/p95 and statements of each tab, with no filter, with
a search (words of a title, an applicant, a resource name/code, a request number) and with the other filters.

Usage: python benchmarks/lists.py [--db bigdb] [--rounds 20] [--copies 20000]
--copies first gives me_handler that many carbon copies (抄送) cloned in SQL from existing tasks (bigdb clones none;
they are removed again at the end), so 抄送我的 is measured on a long list too.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sqlalchemy import event, text

from app import create_app
from app.extensions import db
from config import TestingConfig

SEARCHES = ["", "&q=学生基本信息", "&q=student_basic", "&q=王经办", "&q=计算机", "&q=%2399999", "&q=没有这样的申请"]
FILTERS = ["&process=share_request&status=running", "&created_from=2026-01-01&created_to=2026-06-30",
           "&completed_from=2026-11-01&completed_to=2026-11-30", "&overdue=1", "&step=审核"]
TABS = [("hr_head", "/inbox"), ("nic_head", "/inbox"), ("cs_head", "/inbox/done"), ("nic_head", "/inbox/done"),
        ("cs_handler", "/inbox/mine"), ("me_handler", "/cc"), ("cs_handler", "/api/v1/requests?scope=involved"),
        ("hr_head", "/api/v1/requests")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=os.environ.get("BIGDB", "bigdb"))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--copies", type=int, default=20000)
    args = parser.parse_args()

    class ListsConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.db}"

    app = create_app(ListsConfig)
    from conftest import Browser

    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text("""
            INSERT INTO carbon_copy (instance_id, task_id, from_user_id, to_user_id, note, created_at)
            SELECT t.instance_id, t.id, (SELECT id FROM user_account WHERE username = 'hr_head'),
                   (SELECT id FROM user_account WHERE username = 'me_handler'), 'benchmark', t.created_at
            FROM task t ORDER BY t.id LIMIT :n"""), {"n": args.copies})
        conn.execute(text("ANALYZE"))
    statements = [0]
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    print(f"{'page':76} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>5} {'rows':>5}")
    try:
        for username, url in TABS:
            b = Browser(app, username)
            for extra in SEARCHES + FILTERS:
                full = url + ("&" if "?" in url else "?") + "per_page=50" + extra
                times, rows = [], 0
                for _ in range(args.rounds):
                    statements[0] = 0
                    t0 = time.perf_counter()
                    resp = b.get(full)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert resp.status_code == 200, (full, resp.status_code)
                if full.startswith("/api/"):
                    rows = len(next(v for v in resp.get_json().values() if isinstance(v, list)))
                else:
                    body = resp.get_data(as_text=True)
                    rows = body.count("<tr data-") + body.count("<tr class=") if "<tbody>" in body else 0
                times.sort()
                print(f"{username + ' ' + full:76} {statistics.median(times):8.1f} "
                      f"{times[int(0.95 * len(times)) - 1]:8.1f} {statements[0]:5d} {rows:5d}", flush=True)
    finally:
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(text("DELETE FROM carbon_copy WHERE note = 'benchmark'"))


if __name__ == "__main__":
    main()
