"""Administration: the audit log's hash chain (last verification, verify now)."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from ...services.security import audit_chain
from . import bp


@bp.get("/audit")
def audit():
    return render_template("admin/audit.html", **audit_chain.status())


@bp.post("/audit/verify")
def audit_verify():
    report = audit_chain.verify_and_store("admin", current_user.id)
    flash(report.message, "success" if report.ok else "error")
    return redirect(url_for("admin.audit"), 303)
