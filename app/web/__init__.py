"""Blueprint packages, one per feature."""
from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .inbox import bp as inbox_bp
    from .ops import bp as ops_bp
    from .requests import bp as requests_bp
    from .supervision import bp as supervision_bp

    app.register_blueprint(admin_bp)
    app.register_blueprint(supervision_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(requests_bp)
    app.register_blueprint(inbox_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(api_bp, url_prefix="/api/v1")
