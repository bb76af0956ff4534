"""Flask CLI: deploy, seed-demo, users token."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from .engine.parser import BpmnInvalid
from .models.types import CHINA_TZ
from .services.errors import DomainError, ValidationFailed


@contextmanager
def _domain_errors() -> Iterator[None]:
    """A refused command prints the reason in Chinese and exits 1, no traceback."""
    try:
        yield
    except ValidationFailed as exc:
        raise click.ClickException("；".join(exc.errors.values())) from exc
    except DomainError as exc:
        raise click.ClickException(exc.message) from exc


def _local(moment: datetime) -> str:
    return moment.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def register_cli(app: Flask) -> None:
    from .services.people import org
    from .services.workflow import definitions, form_definitions

    @app.cli.command("deploy")
    def deploy() -> None:
        """Import forms/*.json (new content only; never over a form saved in the designer), then deploy bpmn/*.bpmn
        (a changed file becomes a new version)."""
        org.seed_reference_data()
        try:
            for f in form_definitions.import_directory():
                if f.status != "unchanged":
                    click.echo(f"表单 {f.message}", err=f.status == "skipped")
            results = definitions.deploy_directory(import_forms=False)
        except ValidationFailed as exc:
            click.echo(f"错误 {exc.message}", err=True)
            raise SystemExit(1) from exc
        except BpmnInvalid as exc:
            for p in exc.problems:
                click.echo(f"错误 {p.element_id or '-'}: {p.reason}", err=True)
            raise SystemExit(1) from exc
        for r in results:
            click.echo(f"{r.process_key} v{r.version} {'已部署' if r.created else '未变化'}")

    @app.cli.command("seed-demo")
    def seed_demo() -> None:
        """Create the demo organisation, users for every role and a small catalogue; print the logins."""
        users = org.seed_demo()
        definitions.deploy_directory()
        click.echo("演示账号（密码均为 demo12345）：")
        for username, name, dept, roles in users:
            click.echo(f"  {username:<14} {name:<16} {dept:<16} {roles}")

    users = AppGroup("users", help="User management.")

    @users.command("token")
    @click.argument("username")
    @click.option("--days", type=int, default=None, help="Days until the token expires (default API_TOKEN_DAYS, 90).")
    def token(username: str, days: int | None) -> None:
        """Print a new API bearer token for USERNAME (shown only this once; only its SHA-256 is stored)."""
        with _domain_errors():
            secret = org.issue_api_token(username, days)
        click.echo(secret)  # the only output, so that scripts can take it as it is; `users tokens` shows the expiry

    @users.command("tokens")
    @click.argument("username")
    def tokens(username: str) -> None:
        """List USERNAME's API tokens: id, created, expires, last used, status (never the token)."""
        with _domain_errors():
            rows = org.list_api_tokens(username)
        status = {"valid": "有效", "expired": "已过期", "revoked": "已吊销"}
        click.echo("id\t创建\t到期\t最近使用\t状态")
        for r in rows:
            click.echo(f"{r['id']}\t{_local(r['created_at'])}\t{_local(r['expires_at'])}\t"
                       f"{_local(r['last_used_at']) if r['last_used_at'] else '从未使用'}\t{status[r['status']]}")

    @users.command("revoke-token")
    @click.argument("username")
    @click.option("--id", "token_id", type=int, help="The token to revoke (see `users tokens`).")
    @click.option("--all", "revoke_all", is_flag=True, help="Revoke every token of the user.")
    def revoke_token(username: str, token_id: int | None, revoke_all: bool) -> None:
        """Revoke one API token of USERNAME (--id ID) or all of them (--all)."""
        if (token_id is None) == (not revoke_all):
            raise click.UsageError("请指定 --id ID 或 --all 之一")
        with _domain_errors():
            revoked = org.revoke_api_tokens(username, token_id)
        click.echo(f"已吊销 {len(revoked)} 个令牌" + (f"：{', '.join(f'#{i}' for i in revoked)}" if revoked else ""))

    @users.command("create")
    @click.argument("username")
    @click.argument("display_name")
    @click.argument("department_code")
    @click.option("--role", "roles", multiple=True, required=True)
    @click.password_option()
    def create(username: str, display_name: str, department_code: str, roles: tuple[str, ...], password: str) -> None:
        """Create a user (password: 10+ characters with letters and digits, not the username, not a common one)."""
        with _domain_errors():
            org.create_user(username, display_name, department_code, list(roles), password)
        click.echo(f"已创建用户 {username}")

    @users.command("set-password")
    @click.argument("username")
    @click.password_option()
    def set_password(username: str, password: str) -> None:
        """Set USERNAME's password (the policy applies); ends the user's sessions and clears a lockout."""
        from .services.security import accounts

        with _domain_errors():
            accounts.set_password(username, password)
        click.echo(f"已为 {username} 设置新密码，其所有登录已结束")

    @users.command("disable")
    @click.argument("username")
    def disable(username: str) -> None:
        """Disable USERNAME: no sign-in, no API tokens, current sessions end."""
        from .services.security import accounts

        with _domain_errors():
            accounts.disable_user(username)
        click.echo(f"已停用 {username}")

    @users.command("enable")
    @click.argument("username")
    def enable(username: str) -> None:
        """Enable USERNAME again (and clear a lockout)."""
        from .services.security import accounts

        with _domain_errors():
            accounts.enable_user(username)
        click.echo(f"已启用 {username}")

    app.cli.add_command(users)

    org_group = AppGroup("org", help="Organisation: import from CSV/Excel, sync from LDAP.")

    def _print_report(report) -> None:
        for line in report.lines():
            click.echo(line)
        if report.errors and not report.dry_run:
            raise SystemExit(1)

    @org_group.command("import")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--dry-run", is_flag=True, help="Only report what would be created, updated or deactivated.")
    def org_import(path: str, dry_run: bool) -> None:
        """Import departments and users from a .csv or .xlsx file (columns 部门代码, 部门名称, 用户名, 姓名, 角色,
        邮箱, 手机); never removes an administrator."""
        from .services.people.identity import org_import as importer

        with _domain_errors():
            report = importer.import_file(path, dry_run=dry_run)
        _print_report(report)

    @org_group.command("ldap-sync")
    @click.option("--dry-run", is_flag=True, help="Only report what would be created, updated or deactivated.")
    def org_ldap_sync(dry_run: bool) -> None:
        """Sync departments, users and heads from LDAP (LDAP_* settings); never deletes, never removes an admin."""
        from .services.people.identity import ldap_sync

        if not ldap_sync.configured():
            raise click.ClickException("未配置 LDAP_URL")
        with _domain_errors():
            report = ldap_sync.sync(dry_run=dry_run)
        _print_report(report)

    app.cli.add_command(org_group)

    from .services import calendar as calendar_service

    calendar = AppGroup("calendar", help="Working-day calendar.")

    @calendar.command("due")
    @click.argument("start")
    @click.argument("n", type=int)
    def due(start: str, n: int) -> None:
        """Print the due time of N working days after START (e.g. 2025-09-30T10:00, Beijing time if no zone)."""
        moment = datetime.fromisoformat(start)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=CHINA_TZ)
        deadline = calendar_service.due(moment, n)
        click.echo(deadline.isoformat())
        if deadline.provisional:
            years = "、".join(map(str, deadline.provisional_years))
            click.echo(f"注意：{years} 年放假安排未录入，结果为暂定", err=True)

    @calendar.command("show")
    @click.argument("year", type=int)
    def show(year: int) -> None:
        """List the year's days off and make-up working days."""
        overview = calendar_service.year_overview(year)
        label = {"admin": "管理员录入", "builtin": "内置数据（chinese-calendar）", "provisional": "暂定：仅法定节日"}
        click.echo(f"{year} 年 来源：{label[overview['source']]}")
        click.echo("放假：" + " ".join(f"{d.isoformat()}({n})" for d, n in overview["days_off"]))
        click.echo("调休上班：" + (" ".join(f"{d.isoformat()}({n})" for d, n in overview["make_up_days"]) or "无"))

    @calendar.command("import")
    @click.argument("year", type=int)
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    def import_year(year: int, path: str) -> None:
        """Load a year's arrangement from a text file (lines: 2027-02-06~2027-02-12 春节 休 / 2027-02-14 春节 班)."""
        try:
            result = calendar_service.set_year_arrangement(year, Path(path).read_text(encoding="utf-8"), None)
        except ValidationFailed as exc:
            raise click.ClickException("；".join(exc.errors.values())) from exc
        click.echo(f"{year} 年：放假 {result['days_off']} 天，调休上班 {result['make_up_days']} 天；"
                   f"重新计算了 {result['moved']} 个在办申请的期限")

    app.cli.add_command(calendar)

    scheduler = AppGroup("scheduler", help="The timer scheduler.")

    @scheduler.command("run")
    def scheduler_run() -> None:
        """Run a scheduler as its own process (beside a multi-worker web server; one per node is fine: the one holding
        the scheduler lease is active, the others stand by). SIGINT/SIGTERM: stop cleanly, exit 0."""
        from .jobs import run_standalone

        click.echo("scheduler running; Ctrl-C to stop")
        run_standalone(app)
        click.echo("scheduler stopped")

    app.cli.add_command(scheduler)

    audit_group = AppGroup("audit", help="The tamper-evident audit log.")

    @audit_group.command("verify")
    @click.option("--batch-size", default=2000, show_default=True, type=click.IntRange(1, 100_000))
    def audit_verify(batch_size: int) -> None:
        """Check the audit log's hash chain; exit 1 and name the first broken row when a row was edited or deleted."""
        from .services.security import audit_chain

        report = audit_chain.verify_and_store("cli", batch_size=batch_size)
        if not report.ok:
            click.echo(report.message, err=True)
            raise SystemExit(1)
        click.echo(report.message)

    app.cli.add_command(audit_group)

    @app.cli.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False))
    def backup_command(path: str) -> None:
        """Back up the whole database to PATH (SQLite: online backup API; PostgreSQL: pg_dump -Fc)."""
        from .services.operations import backup

        with _domain_errors():
            result = backup.backup(path)
        click.echo(f"已备份 {result.dialect} 数据库（{result.tables} 张表）到 {result.path}，{result.bytes} 字节；"
                   f"附件内容新复制 {result.attachments} 个文件到 {backup.attachments_dir(result.path)}")

    @app.cli.command("restore")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False))
    @click.option("--force", is_flag=True, help="Replace a database that already has tables.")
    def restore_command(path: str, force: bool) -> None:
        """Restore PATH (made by `flask backup`) into DATABASE_URL's database, which must be empty unless --force."""
        from .services.operations import backup

        with _domain_errors():
            result = backup.restore(path, force=force)
        click.echo(f"已从 {result.path} 恢复 {result.dialect} 数据库（{result.tables} 张表），"
                   f"附件内容 {result.attachments} 个文件")

    @app.cli.command("inspections-start")
    def inspections_start() -> None:
        """Start this quarter's security inspection round now (Art. 31); does nothing if it exists."""
        from .services.oversight import inspections

        new_id = inspections.start_round_now()
        click.echo(f"已发起 #{new_id}" if new_id else "本季度检查已发起过")

    @app.cli.command("serve")
    @click.option("--host", default="127.0.0.1")
    @click.option("--port", default=5000, type=int)
    def serve(host: str, port: int) -> None:
        """Serve the web UI with the in-process scheduler (the embedded default)."""
        from werkzeug.serving import run_simple

        from .jobs import start_in_process

        start_in_process(app)
        click.echo(f"数据资源共享审批系统：http://{host}:{port}/ （演示账号见 flask seed-demo 的输出）")
        # app.run() refuses to run inside the flask command; the server itself is what it would start
        run_simple(host, port, app, threaded=True, use_reloader=False)
