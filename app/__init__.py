"""数据资源共享审批系统: the application factory."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import csrf, db, limiter, login_manager, migrate


def create_app(config: object | str | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config or os.environ.get("APP_CONFIG", "config.Config"))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    _sqlite_pragmas(app)
    if app.config.get("TRUSTED_PROXY_COUNT"):  # behind a reverse proxy: the client address for login throttling
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXY_COUNT"],
                                x_proto=app.config["TRUSTED_PROXY_COUNT"])

    db.init_app(app)
    _sqlite_wal(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    limiter.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "请先登录"

    from . import models  # noqa: F401  # every model registered before the first query

    @login_manager.user_loader
    def load_user(session_id: str):
        from .services.accounts import load_session_user

        return load_session_user(session_id)  # "<id>:<nonce>": a rotated nonce ends the session

    from .web import register_blueprints
    from .web.errors import register_error_handlers
    from .web.filters import register_filters
    from .web.input_guard import install as install_input_guard
    from .web.security_headers import register_security_headers

    install_input_guard(app)  # before the blueprints: routes bind the app-wide `int` converter when registered
    register_blueprints(app)
    register_error_handlers(app)
    register_filters(app)
    register_security_headers(app)

    from .cli import register_cli

    register_cli(app)
    return app


def _sqlite_pragmas(app: Flask) -> None:
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
        options.setdefault("connect_args", {})["timeout"] = 15
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _sqlite_wal(app: Flask) -> None:
    """File SQLite databases run in WAL mode: readers (inboxes, request pages) go on while one writer commits, and
    the writers queue on the database lock (busy timeout above) instead of failing."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return

    def wal(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    event.listen(engine, "connect", wal)
