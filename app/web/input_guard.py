"""The one input boundary: ids in URLs fit the database, and no request carrying text the database cannot store
(NUL, lone surrogates), absurdly nested JSON or non-standard JSON (NaN, Infinity) reaches a view."""
from __future__ import annotations

import json
from typing import Any

from flask import Flask, request
from werkzeug.routing import IntegerConverter, ValidationError

from ..services.inputs import DB_ID_MAX, TOO_DEEP_REASON, UnsafeInput, check_value, safe_name
from .errors import error_response


class DbIdConverter(IntegerConverter):
    """`<int:...>` in every route: ASCII digits only, at most DB_ID_MAX, so an out-of-range id is a 404."""

    regex = r"[0-9]{1,10}"

    def to_python(self, value: str) -> int:
        number = super().to_python(value)
        if number > DB_ID_MAX:
            raise ValidationError()
        return number


def install(app: Flask) -> None:
    """Call before the blueprints are registered (rules bind their converters when added)."""
    app.url_map.converters["int"] = DbIdConverter
    app.before_request(reject_unsafe_input)


def _reject_constant(name: str) -> Any:
    raise UnsafeInput("_body", f"JSON 中不能使用 {name}")


def _json_body() -> Any:
    """The JSON body parsed strictly; UnsafeInput for NaN/Infinity and for nesting Python's parser cannot take.
    A body that is simply not JSON is left to the view (the API answers 422)."""
    data = request.get_data(cache=True)
    if not data.strip():
        return None
    try:
        return json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise UnsafeInput("_body", TOO_DEEP_REASON) from None
    except ValueError:
        return None


def reject_unsafe_input():
    """before_request for the whole application: 400 with the offending field, nothing reaches a view."""
    try:
        for name, value in (request.view_args or {}).items():
            check_value(value, name)
        for source in (request.args, request.form):
            for key, values in source.lists():
                check_value(key, "参数名")
                for value in values:
                    check_value(value, key)
        for key, upload in request.files.items(multi=True):
            check_value(key, "参数名")
            check_value(upload.filename or "", key)
        if request.is_json:
            check_value(_json_body())
    except UnsafeInput as exc:
        field = safe_name(exc.field)
        return error_response(400, f"提交的数据有误：「{field}」{exc.reason}，请修改后重试", errors={field: exc.reason})
    return None
