"""Sign in and out."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import login_required, login_user, logout_user

from ...services import org

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        user = org.authenticate(request.form.get("username", "").strip(), request.form.get("password", ""))
        if user is not None:
            login_user(user)
            target = request.args.get("next") or ""
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("inbox.index")
            return redirect(target)
        error = "用户名或密码错误"
    return render_template("auth/login.html", error=error, username=request.form.get("username", "")), (
        401 if error else 200)


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash("已退出登录")
    return redirect(url_for("auth.login"))

