"""Flask CLI: deploy, seed-demo, users token."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from .engine.parser import BpmnInvalid


def register_cli(app: Flask) -> None:
    from .services import definitions, org

    @app.cli.command("deploy")
    def deploy() -> None:
        """Deploy bpmn/*.bpmn (a changed file becomes a new version)."""
        org.seed_reference_data()
        try:
            results = definitions.deploy_directory()
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
    def token(username: str) -> None:
        """Print a new API bearer token for USERNAME."""
        click.echo(org.issue_api_token(username))

    @users.command("create")
    @click.argument("username")
    @click.argument("display_name")
    @click.argument("department_code")
    @click.option("--role", "roles", multiple=True, required=True)
    @click.password_option()
    def create(username: str, display_name: str, department_code: str, roles: tuple[str, ...], password: str) -> None:
        """Create a user."""
        org.create_user(username, display_name, department_code, list(roles), password)
        click.echo(f"已创建用户 {username}")

    app.cli.add_command(users)
