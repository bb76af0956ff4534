"""数据资源共享审批系统: the application factory."""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from .extensions import csrf, db, limiter, login_manager, migrate


def create_app(config: object | str | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config or os.environ.get("APP_CONFIG", "config.Config"))
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config["SECRET_KEY"] = _secret_key(app)
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
    from .services.resources import catalog, grants  # noqa: F401  # they register their script actions
    from .services.workflow import processes  # noqa: F401

    @login_manager.user_loader
    def load_user(session_id: str):
        from .services.security.accounts import load_session_user

        return load_session_user(session_id)  # "<id>:<nonce>": a rotated nonce ends the session

    from .observability import install as install_observability
    from .web import register_blueprints
    from .web.errors import register_error_handlers
    from .web.filters import register_filters
    from .web.input_guard import install as install_input_guard
    from .web.security_headers import register_security_headers

    install_observability(app)  # first: request ids and timing also for requests a later hook answers early
    install_input_guard(app)  # before the blueprints: routes bind the app-wide `int` converter when registered
    register_blueprints(app)
    register_error_handlers(app)
    register_filters(app)
    register_security_headers(app)

    from .cli import register_cli

    register_cli(app)
    return app


# keys that have been published (in this repository's history or in examples) and must never sign a session
KNOWN_KEYS = frozenset({"dev-only-change-me", "testing", "dev", "secret", "changeme", "change-me", "secret-key",
                        "your-secret-key", "development"})
MIN_KEY_LENGTH = 32


class InsecureSecretKey(RuntimeError):
    """The configuration would sign sessions and CSRF tokens with a missing, known or weak key."""


def _secret_key(app: Flask) -> str:
    """The explicit SECRET_KEY when strong; otherwise (embedded default only) a random key made once and kept in
    the instance folder, so every process of this installation (web, scheduler, CLI) signs with the same one."""
    key = app.config.get("SECRET_KEY")
    if key:
        if key in KNOWN_KEYS or len(key) < MIN_KEY_LENGTH:
            raise InsecureSecretKey(f"SECRET_KEY 是公开的或过短的密钥（至少 {MIN_KEY_LENGTH} 个字符），拒绝启动。"
                                    "请用 python -c 'import secrets; print(secrets.token_hex(32))' 生成")
        return key
    if app.config.get("REQUIRE_EXPLICIT_SECRET_KEY"):
        raise InsecureSecretKey("生产配置必须设置环境变量 SECRET_KEY（至少 32 个字符的随机值），拒绝启动。"
                                "请用 python -c 'import secrets; print(secrets.token_hex(32))' 生成")
    path = Path(app.config.get("SECRET_KEY_FILE") or Path(app.instance_path) / "secret_key")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = ""
        for _attempt in range(40):  # another process may have created the file a moment ago and be writing it
            key = path.read_text(encoding="ascii").strip()
            if key:
                break
            time.sleep(0.05)
        if len(key) < MIN_KEY_LENGTH:
            raise InsecureSecretKey(f"{path} 中的密钥过短，请删除该文件后重启") from None
        return key
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key + "\n")
    return key


def _sqlite_pragmas(app: Flask) -> None:
    """SQLite waits for the write lock; PostgreSQL runs without JIT (our queries are short: compiling a plan for a
    page costs more than it saves)."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}))
    connect_args = dict(options.get("connect_args", {}))
    if uri.startswith("sqlite"):
        connect_args["timeout"] = 15
    elif uri.startswith("postgresql"):
        connect_args.setdefault("options", "-c jit=off")
    options["connect_args"] = connect_args
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
        # WAL with synchronous=NORMAL: a commit is durable against a crash of the process (kill -9) but syncs the
        # disk at checkpoints instead of on every commit; a power cut may lose the last commits, never consistency
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", wal)
