"""Administration: process analytics (issue 12) — the heat map of a process version's steps and flows, its figures
as JSON for the diagram and as a table under it."""
from __future__ import annotations

from flask import abort, jsonify, render_template, request

from ...services.errors import NotFound, ValidationFailed
from ...services.oversight import analytics
from . import bp


@bp.get("/analytics/<process_key>.json")
def analytics_json(process_key: str):
    try:
        filters = analytics.parse_filters(process_key, request.args.to_dict())
    except NotFound as exc:
        abort(404, str(exc))
    except ValidationFailed as exc:
        return jsonify({"error": "筛选条件有误", "errors": exc.errors}), 422
    return jsonify(analytics.figures(process_key, filters))


@bp.get("/analytics/<process_key>")
def analytics_page(process_key: str):
    args = request.args.to_dict()
    try:
        data = analytics.figures(process_key, analytics.parse_filters(process_key, args))
        errors, status = {}, 200
    except NotFound as exc:
        abort(404, str(exc))
    except ValidationFailed as exc:
        data, errors, status = None, exc.errors, 422
    options = analytics.filter_options(process_key)
    return render_template("admin/analytics.html", process_key=process_key, data=data, errors=errors, args=args,
                           options=options, query=request.query_string.decode("ascii", "replace")), status
