"""Page timings on a big database (benchmarks/bigdb.py): p50/p95 of each read page over the Flask test client.

Usage: python benchmarks/pages.py [--db bigdb] [--rounds 30] [--only /supervision/]   (--only: the pages whose URL
holds that text, and none of the other timings)
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sqlalchemy import event

from app import create_app
from app.extensions import db
from app.models import User
from app.models.types import CHINA_TZ
from app.services.messaging import notify
from config import TestingConfig

PAGES = [("hr_head", "/inbox"), ("nic_head", "/inbox"), ("hr_head", "/api/v1/tasks"), ("cs_handler", "/requests"),
         ("hr_head", "/requests"), ("nic_head", "/requests"), ("supervisor", "/supervision/"),
         ("supervisor", "/supervision/?status=attention&page=2"), ("cs_handler", "/requests?page=20"),
         # the supervisors' charts (oversight_charts) and the process analytics (issue 12)
         ("supervisor", "/supervision/charts.json"), ("supervisor", "/supervision/report"),
         ("admin", "/admin/analytics/share_request.json"),
         ("admin", "/admin/analytics/share_request.json?version=1&from={week_ago}"),
         ("admin", "/admin/analytics/share_request.json?applicant=college_cs&provider=hr"),
         ("admin", "/admin/analytics/share_request?version=1")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=os.environ.get("BIGDB", "bigdb"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--only", default="")
    args = parser.parse_args()

    class PagesConfig(TestingConfig):
        SQLALCHEMY_DATABASE_URI = f"postgresql+psycopg://postgres@127.0.0.1:5432/{args.db}"

    app = create_app(PagesConfig)
    from conftest import Browser

    statements = [0]
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.__setitem__(0, statements[0] + 1))
    print(f"{'page':52} {'p50 ms':>8} {'p95 ms':>8} {'SQL':>5}")
    week_ago = (datetime.now(CHINA_TZ) - timedelta(days=7)).date().isoformat()
    for username, url in PAGES:
        url = url.format(week_ago=week_ago)
        if args.only not in url:
            continue
        b = Browser(app, username)
        times = []
        for _ in range(args.rounds):
            statements[0] = 0
            t0 = time.perf_counter()
            resp = b.get(url)
            times.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200, (url, resp.status_code)
        times.sort()
        print(f"{username + ' ' + url:52} {statistics.median(times):8.1f} {times[int(0.95 * len(times)) - 1]:8.1f} "
              f"{statements[0]:5d}")
    if args.only:
        return
    from app.services.oversight import analytics

    with app.app_context():  # the analytics figures after each refresh: nothing cached yet
        for label, query in (("analytics figures, cold (all requests)", {}),
                             ("analytics figures, cold (provider=hr)", {"provider": "hr"})):
            times = []
            for _ in range(args.rounds):
                analytics.clear_cache()
                t0 = time.perf_counter()
                analytics.figures("share_request", analytics.parse_filters("share_request", query))
                times.append((time.perf_counter() - t0) * 1000)
                db.session.rollback()
            times.sort()
            print(f"{label:52} {statistics.median(times):8.1f} {times[int(0.95 * len(times)) - 1]:8.1f}")
    with app.app_context():
        uid = db.session.scalar(db.select(User.id).where(User.username == "nic_head"))
        times = []
        for _ in range(args.rounds * 10):
            t0 = time.perf_counter()
            notify.unread_count(uid)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p95 = times[int(0.95 * len(times)) - 1]
        print(f"{'unread count (nic_head)':52} {statistics.median(times):8.1f} {p95:8.1f}")


if __name__ == "__main__":
    main()
