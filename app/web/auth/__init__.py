"""Sign in and out, change the own password."""
from __future__ import annotations

import secrets
import unicodedata
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_required, login_user, logout_user

from ...extensions import csrf, limiter
from ...services.errors import ValidationFailed
from ...services.people import identity
from ...services.people.identity import cas
from ...services.security import accounts

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
        try:  # LDAP bind for directory accounts when LDAP is configured, else (and for administrators) local
            user = identity.authenticate(request.form.get("username", "").strip(), request.form.get("password", ""),
                                         request.remote_addr or "")
        except accounts.LoginRefused as exc:
            error = exc.message
        else:
            _start_session(user, "password")
            return redirect(safe_next(request.args.get("next")) or url_for("inbox.index"))
    return render_template("auth/login.html", error=error, username=request.form.get("username", ""),
                           cas_enabled=cas.configured(), next=safe_next(request.args.get("next"))), (
        401 if error else 200)


def _start_session(user, source: str) -> None:
    for key in ("cas_state", "cas_next"):
        session.pop(key, None)
    login_user(user)  # the session id carries the user's nonce: rotating it ends this session
    session.permanent = True  # idle timeout: PERMANENT_SESSION_LIFETIME, refreshed on every request
    session["auth_source"] = source


def _cas_service_url(state: str) -> str:
    base = current_app.config.get("CAS_SERVICE_URL") or url_for("auth.cas_callback", _external=True)
    return f"{base}{'&' if '?' in base else '?'}{urlencode({'state': state})}"


@bp.get("/login/cas")
def cas_login():
    """Off to the CAS server (a redirect: CSP form-action does not restrict it); back at cas_callback."""
    if not cas.configured():
        abort(404)
    state = secrets.token_urlsafe(16)  # binds the returning ticket to this browser (no login CSRF)
    session["cas_state"] = state
    session["cas_next"] = safe_next(request.args.get("next"))
    return redirect(cas.login_url(_cas_service_url(state)))


@bp.route("/login/cas/callback", methods=["GET", "POST"])
@csrf.exempt  # the POST is the CAS server's back-channel single logout, not a browser form
def cas_callback():
    if not cas.configured():
        abort(404)
    if request.method == "POST":  # <samlp:LogoutRequest> … <samlp:SessionIndex>ticket</samlp:SessionIndex>
        cas.single_logout(request.form.get("logoutRequest", ""))
        return "", 200
    ticket = request.args.get("ticket", "")
    state = request.args.get("state", "")
    expected = session.pop("cas_state", None)
    if not ticket or not expected or not secrets.compare_digest(state.encode(), expected.encode()):
        # not started in this browser (or started twice): start again; CAS signs the user in without a prompt
        return redirect(url_for("auth.cas_login"))
    target = session.pop("cas_next", None)
    user = cas.sign_in(ticket, _cas_service_url(state), request.remote_addr or "")
    _start_session(user, "cas")
    return redirect(safe_next(target) or url_for("inbox.index"))


@bp.post("/logout")
@login_required
def logout():
    user_id = current_user.id
    via_cas = session.get("auth_source") == "cas" and cas.configured()
    logout_user()
    session.pop("auth_source", None)
    accounts.end_sessions(user_id)  # a copy of this session cookie elsewhere stops working too
    if via_cas:  # single logout: end the CAS session too, then back to our login page
        return redirect(cas.logout_url(url_for("auth.login", _external=True)))
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


from . import delegations as _delegations  # noqa: E402,F401  (its routes are on bp)
from . import notifications as _notifications  # noqa: E402,F401  (its routes are on bp)
