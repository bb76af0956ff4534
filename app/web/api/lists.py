"""The API's lists (issue 11): /api/v1/tasks?scope=todo|done, /api/v1/requests?scope=mine|involved, /api/v1/cc,
all with the search and filters of the web tabs (app/services/workflow/task_lists.py) and page/per_page."""
from __future__ import annotations

from flask import request

from ...services.paging import Page
from ...services.workflow import requests as share_requests
from ...services.workflow import task_lists
from ..paging import list_args


def _window() -> tuple[task_lists.ListFilters, dict[str, int]]:
    args = list_args()
    return task_lists.parse_filters(request.args), {"page": args["page"], "per_page": args["per_page"]}


def tasks_page(user_id: int) -> Page:
    scope = task_lists.scope(request.args.get("scope"), task_lists.TASK_SCOPES) or "todo"
    filters, window = _window()
    return (task_lists.done if scope == "done" else task_lists.todo)(user_id, filters, **window)


# filters the request list had no parameter for before issue 11: with one of them the lists' query answers
NEW_FILTERS = ("process", "step", "created_from", "created_to", "completed_from", "completed_to", "overdue")


def requests_page(user_id: int) -> Page:
    """scope=mine|involved: the lists' queries; no scope: today's request list (requests.list_requests, the same
    visibility rule) unless one of the new filters is given, then task_lists.visible with every filter."""
    scope = task_lists.scope(request.args.get("scope"), task_lists.REQUEST_SCOPES)
    filters, window = _window()
    if scope == "mine":
        return task_lists.mine(user_id, filters, **window)
    if scope == "involved":
        return task_lists.involved(user_id, filters, **window)
    args = list_args("status", "department")
    if not any(request.args.get(name) for name in NEW_FILTERS):  # today's list, exactly as before
        return share_requests.list_requests(user_id, **args)
    return task_lists.visible(user_id, filters, department=args["department"], **window)


def cc_page(user_id: int) -> Page:
    filters, window = _window()
    return task_lists.cc(user_id, filters, **window)
