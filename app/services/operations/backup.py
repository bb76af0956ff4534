"""Backup and restore of the whole database: SQLite through its online backup API (a consistent copy while the
application keeps writing), PostgreSQL through pg_dump -Fc / pg_restore (a consistent snapshot by MVCC).

The connection parameters come from the application's database URL; a PostgreSQL password travels in PGPASSWORD,
never on a command line.

Attachment content lives outside the database (ATTACHMENT_DIR, files named by their SHA-256, never changed once
written). A backup copies that store beside the backup file, into `<backup>.attachments/`, after the database: every
attachment row in the database copy had its content written before the row committed, so the copy holds all of it.
Only files missing from the copy are copied, so backing up to the same name again is incremental. A restore copies
`<backup>.attachments/` back into ATTACHMENT_DIR when it is there."""
from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import URL, make_url

from ...extensions import db
from ..errors import DomainError
from ..workflow import attachment_files

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


class BackupError(DomainError):
    """A backup or restore that cannot be done; the message says why, in Chinese."""


@dataclass
class Result:
    dialect: str
    path: Path
    tables: int
    bytes: int
    attachments: int = 0  # attachment content files copied (to <backup>.attachments/ or back into ATTACHMENT_DIR)


def _url() -> URL:
    return make_url(db.engine.url.render_as_string(hide_password=False))


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise BackupError("内存数据库无法备份或恢复，请使用文件数据库")
    return Path(url.database)


def _pg_env_and_dsn(url: URL) -> tuple[dict[str, str], str]:
    """libpq's own URL form (no SQLAlchemy driver suffix, no password) and an environment carrying the password."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return env, plain.render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"找不到 {name}：请安装 PostgreSQL 客户端（Debian/Ubuntu：apt install postgresql-client），"
                          "其主版本不低于数据库服务器")
    return found


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - fixed tools
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} 失败：{done.stderr.strip()[-2000:]}")


def table_count() -> int:
    """Tables in the target database (its default schema); 0 means empty, so a restore may go ahead."""
    with db.engine.connect() as conn:
        return len(inspect(conn).get_table_names())


def backup(path: str | Path) -> Result:
    """Write a consistent copy of the whole database to `path` (replaced atomically when complete)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    url = _url()
    tables = table_count()
    if url.get_backend_name() == "sqlite":
        source = sqlite3.connect(_sqlite_file(url), timeout=30)
        partial.unlink(missing_ok=True)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # in one step: a read transaction over the whole copy, so writers cannot tear it
            if copy.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise BackupError("备份文件校验失败")
        finally:
            copy.close()
            source.close()
    elif url.get_backend_name() == "postgresql":
        env, dsn = _pg_env_and_dsn(url)
        _run([_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", f"--file={partial}",
              f"--dbname={dsn}"], env)
    else:
        raise BackupError(f"不支持的数据库类型：{url.get_backend_name()}")
    partial.replace(target)
    copied = copy_attachments(attachment_files.root(), attachments_dir(target))
    return Result(url.get_backend_name(), target, tables, target.stat().st_size, copied)


def attachments_dir(backup_path: str | Path) -> Path:
    """Where a backup keeps the attachment content: beside it, `<backup>.attachments/`."""
    path = Path(backup_path)
    return path.with_name(path.name + ".attachments")


def copy_attachments(source: Path, target: Path) -> int:
    """Copy the content files (ab/cd/<sha256>) that `target` lacks, each through a temporary name; returns how many."""
    if not source.is_dir():
        return 0
    copied = 0
    for path in sorted(source.glob("??/??/*")):
        if not re.fullmatch(r"[0-9a-f]{64}", path.name):
            continue
        dest = target / path.relative_to(source)
        if dest.is_file() and dest.stat().st_size == path.stat().st_size:
            continue  # named by its hash: the same name is the same content
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.partial")
        shutil.copyfile(path, partial)
        partial.replace(dest)
        copied += 1
    return copied


def restore(path: str | Path, *, force: bool = False) -> Result:
    """Load a backup made by `backup` into the configured database. Refuses a database that already has tables
    unless `force` (then everything in it is replaced)."""
    source = Path(path)
    if not source.is_file():
        raise BackupError(f"备份文件不存在：{source}")
    with source.open("rb") as f:
        magic = f.read(16)
    url = _url()
    backend = url.get_backend_name()
    existing = table_count()
    if existing and not force:
        raise BackupError(f"目标数据库不是空的（{existing} 张表），拒绝覆盖；确认要替换其全部内容时加 --force")
    db.session.remove()
    db.engine.dispose()  # no pooled connection of ours keeps the old contents or locks
    if backend == "sqlite":
        if magic != SQLITE_MAGIC:
            raise BackupError("该文件不是 SQLite 备份")
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        target = sqlite3.connect(_sqlite_file(url), timeout=30)
        try:
            backup_db.backup(target)  # replaces every page of the target
        finally:
            target.close()
            backup_db.close()
    elif backend == "postgresql":
        if not magic.startswith(PGDUMP_MAGIC):
            raise BackupError("该文件不是 pg_dump -Fc 备份")
        env, dsn = _pg_env_and_dsn(url)
        if existing:
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            db.engine.dispose()
        _run([_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
              f"--dbname={dsn}", str(source)], env)
    else:
        raise BackupError(f"不支持的数据库类型：{backend}")
    copied = copy_attachments(attachments_dir(source), attachment_files.root())
    return Result(backend, source, table_count(), source.stat().st_size, copied)
