"""Sign in and out, change the own password."""
from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_required, login_user, logout_user

from ...extensions import limiter
from ...services import accounts
from ...services.errors import ValidationFailed

bp = Blueprint("auth", __name__)

THROTTLED = "登录尝试过于频繁，请稍后再试"


def _login_rate_limit() -> str:
    return current_app.config.get("LOGIN_RATE_LIMIT", "10 per minute;100 per hour")


@bp.errorhandler(RateLimitExceeded)
def throttled(_exc: RateLimitExceeded):
    if request.endpoint == "auth.change_password":
        return render_template("auth/password.html", errors={"current": THROTTLED}), 429
    return render_template("auth/login.html", error=THROTTLED, username=""), 429


def safe_next(target: str | None) -> str | None:
    """`target` if it is a path on this site ("/..." but not "//..."), else None.

    Browsers ignore tabs and newlines inside URLs and read a backslash as a slash, so `/%09/evil.example` or
    `/\\evil.example` would leave the site: any whitespace, control character or backslash is refused."""
    if not target or len(target) > 2000:
        return None
    if any(c == "\\" or c.isspace() or unicodedata.category(c)[0] in "CZ" for c in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_rate_limit, methods=["POST"])
def login():
    error = None
    if request.method == "POST":
        try:
            user = accounts.sign_in(request.form.get("username", "").strip(), request.form.get("password", ""),
                                    request.remote_addr or "")
        except accounts.LoginRefused as exc:
            error = exc.message
        else:
            login_user(user)
            session.permanent = True  # idle timeout: PERMANENT_SESSION_LIFETIME, refreshed on every request
            return redirect(safe_next(request.args.get("next")) or url_for("inbox.index"))
    return render_template("auth/login.html", error=error, username=request.form.get("username", "")), (
        401 if error else 200)


@bp.post("/logout")
@login_required
def logout():
    user_id = current_user.id
    logout_user()
    accounts.end_sessions(user_id)  # a copy of this session cookie elsewhere stops working too
    flash("已退出登录，所有设备上的登录均已结束")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
@limiter.limit(_login_rate_limit, methods=["POST"])
def change_password():
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            accounts.change_password(current_user.id, request.form.get("current", ""), request.form.get("new", ""),
                                     request.form.get("repeat", ""), request.remote_addr or "")
        except ValidationFailed as exc:
            errors = exc.errors
        else:
            login_user(current_user._get_current_object())  # this browser carries on with the new nonce
            session.permanent = True
            flash("密码已修改，其他设备上的登录已结束")
            return redirect(url_for("inbox.index"))
    return render_template("auth/password.html", errors=errors), (422 if errors else 200)
