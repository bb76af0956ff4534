"""Security headers on every response (pages, JSON, static files, errors, redirects) from one after_request hook.

The Content-Security-Policy allows scripts and styles from this site only: no inline script, no eval, no inline
style attributes (bpmn-js styles its SVG through the CSSOM, which CSP does not govern). Templates therefore carry
no inline JS; data for scripts travels in `<script type="application/json">` blocks or data- attributes.
"""
from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",  # bpmn-js.css draws some icons from data: SVG URIs
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
))

PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer", "microphone", "payment", "usb"))

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

HSTS = "max-age=31536000"


def register_security_headers(app: Flask) -> None:
    app.after_request(_add_security_headers)


def _add_security_headers(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)  # a download keeps its own sandboxing CSP
    if request.is_secure:  # only over HTTPS: a browser ignores HSTS on plain HTTP anyway
        response.headers["Strict-Transport-Security"] = HSTS
    return response
