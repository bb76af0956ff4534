"""Error pages (HTML) and JSON errors under /api; never a bare 500."""
from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from ..extensions import db
from ..services.errors import DomainError, ValidationFailed

MESSAGES = {400: "请求有误", 401: "请先登录", 403: "您无权执行此操作", 404: "页面或数据不存在", 405: "不支持的请求方法",
            409: "操作冲突", 413: "上传内容过大", 422: "提交的数据有误", 500: "服务器内部错误，已记录"}


def too_large_message() -> str:
    """413 for a body over MAX_CONTENT_LENGTH (werkzeug refuses it before any view): how much may be sent."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") or 0
    return (f"上传内容过大：一次提交（含全部附件）不能超过 {limit / 1024 / 1024:.0f} MB，"
            "单个附件不能超过表单规定的大小（默认 20 MB）。本次提交未保存，请压缩或减少文件后重新选择文件提交")


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, message: str, **extra):
    # A failed request stores nothing, and after a database error the session must be usable again before the
    # page's context processors (e.g. the unread-notification count) query it.
    _rollback()
    if _wants_json():
        return jsonify({"error": message, **extra}), status
    try:
        return render_template("error.html", status=status, message=message), status
    except Exception:  # the database is unreachable: still answer with a page, never a bare traceback
        current_app.logger.exception("error page could not be rendered")
        return (f"<!doctype html><meta charset=utf-8><title>{status}</title><h1>{status}</h1><p>{escape(message)}</p>",
                status, {"Content-Type": "text/html; charset=utf-8"})


def _rollback() -> None:
    try:
        db.session.rollback()
    except Exception:  # a dead connection: the pool replaces it on the next checkout
        current_app.logger.exception("rollback after an error failed")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        extra = {"errors": exc.errors} if isinstance(exc, ValidationFailed) else {}
        return error_response(exc.status, exc.message, **extra)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return error_response(400, "表单已过期或缺少 CSRF 令牌，请刷新页面后重试")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = exc.code or 500
        own = exc.description and exc.description != type(exc).description  # abort(400, "...") from our code
        if code == 413 and not own:
            return error_response(413, too_large_message())
        return error_response(code, exc.description if own else MESSAGES.get(code, exc.name))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        app.logger.exception("unhandled error")
        return error_response(500, MESSAGES[500])
