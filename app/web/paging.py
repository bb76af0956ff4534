"""Query-string arguments of paged lists (page, per_page, search and filters) and page links."""
from __future__ import annotations

from typing import Any

from flask import request

from ..services.paging import search_words, window

TRUE = ("1", "on", "true", "yes")


def list_args(*filters: str) -> dict[str, Any]:
    """page/per_page (422 when not integers in range), q (trimmed, ≤ 100 characters) and the named text filters."""
    page, per_page = window(request.args.get("page"), request.args.get("per_page"))
    args: dict[str, Any] = {"page": page, "per_page": per_page, "q": search_words(request.args.get("q"))}
    for name in filters:
        args[name] = search_words(request.args.get(name))
    return args


def flag(name: str) -> bool:
    return request.args.get(name, "").strip().lower() in TRUE

