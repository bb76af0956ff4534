"""Benchmark: the audit chain at scale — migrating N existing rows, verifying them, appending through the app.

Usage: python benchmarks/audit_verify.py [--rows 1000000] [--database-url URL]  (URL: an empty, throw-away database)

N legacy rows (no hashes) are bulk-inserted at the revision before the chain, then `upgrade` chains them (the
migration's backfill); `verify()` walks them in batches; finally 1,000 commits of one row each go through
audit.record(). Prints times and the verification's peak Python memory (tracemalloc), which must not grow with N.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flask_migrate import upgrade
from sqlalchemy import JSON, Integer, String, column, insert, table

from app import create_app
from app.extensions import db
from app.models.types import UTCDateTime
from app.services.security import audit, audit_chain
from config import Config


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='audit-bench-')) / 'bench.db'}"

    class BenchConfig(Config):
        SQLALCHEMY_DATABASE_URI = url

    app = create_app(BenchConfig)
    with app.app_context():
        upgrade(revision="5ec0a1accts0")
        legacy = table("audit_log", column("id", Integer), column("at", UTCDateTime()), column("action", String),
                       column("step", String), column("detail", JSON))
        start, t0 = datetime(2024, 1, 1, tzinfo=UTC), time.perf_counter()
        with db.engine.begin() as conn:
            for first in range(1, args.rows + 1, 10_000):
                last = min(first + 10_000, args.rows + 1)
                conn.execute(insert(legacy), [
                    {"id": i, "at": start + timedelta(seconds=i), "action": "complete", "step": f"第 {i} 步 审批",
                     "detail": {"decision": "approve", "n": i}} for i in range(first, last)])
        print(f"insert {args.rows} legacy rows: {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        upgrade(revision="5ec0b2audit0")
        print(f"migration (chain existing rows): {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        report = audit_chain.verify()
        elapsed = time.perf_counter() - t0
        print(f"verify: {report.message}")
        print(f"verify: {elapsed:.1f} s ({report.rows / elapsed:,.0f} rows/s)")
        db.session.rollback()
        tracemalloc.start()  # a second walk under tracemalloc (slower) for the peak memory
        audit_chain.verify()
        print(f"verify: peak Python memory {tracemalloc.get_traced_memory()[1] / 2**20:.1f} MiB")
        tracemalloc.stop()
        db.session.rollback()

        t0 = time.perf_counter()
        for i in range(1000):
            audit.record("urge", step=f"bench {i}")
            db.session.commit()
        print(f"append through audit.record: {time.perf_counter() - t0:.2f} ms per commit of one row")  # 1,000 commits
        assert audit_chain.verify().ok


if __name__ == "__main__":
    main()
