"""Issue 11: 我的待办 / 我已办 / 我发起的 / 抄送我的 as tabs of one page; each tab its own URL (/inbox, /inbox/done,
/inbox/mine, /cc) so the tab, the search and the filters stay in the address and on every page link."""
from __future__ import annotations

from typing import Any

from flask import render_template, request
from flask_login import current_user, login_required

from ...models.process import INSTANCE_STATUS_LABELS
from ...services.paging import Page
from ...services.workflow import task_lists
from ..paging import list_args
from . import bp

TAB_ENDPOINTS = {"todo": "inbox.index", "done": "inbox.done_list", "mine": "inbox.mine_list", "cc": "inbox.cc_list"}
TEMPLATES = {"todo": "inbox/index.html", "done": "inbox/done.html", "mine": "inbox/mine.html", "cc": "inbox/cc.html"}
SERVICES = {"todo": task_lists.todo, "done": task_lists.done, "mine": task_lists.mine, "cc": task_lists.cc}


def tab_page(tab: str) -> Page:
    """One tab's page for the signed-in user from the query string (422 for bad paging or filter values)."""
    args = list_args()
    filters = task_lists.parse_filters(request.args)
    return SERVICES[tab](current_user.id, filters, page=args["page"], per_page=args["per_page"])


def tab_context(tab: str, page: Page) -> dict[str, Any]:
    """What the tabs and the filter form need besides the rows."""
    filters = page.filters
    kept = {k: v for k, v in filters.items() if v not in (None, "", False) and k != "unread"}
    active = any(filters.get(n) for n in task_lists.FILTER_NAMES[1:]) or bool(filters.get("unread"))
    tabs = [(t, task_lists.TAB_LABELS[t], TAB_ENDPOINTS[t]) for t in task_lists.TABS]
    return {"tab": tab, "page": page, "tabs": tabs,
            "tab_args": kept, "endpoint": TAB_ENDPOINTS[tab], "filters_active": active,
            "processes": task_lists.process_choices(), "statuses": INSTANCE_STATUS_LABELS}


def render_tab(tab: str, page: Page | None = None, **extra: Any) -> str:
    page = page if page is not None else tab_page(tab)
    return render_template(TEMPLATES[tab], items=page.items, tasks=page.items, **tab_context(tab, page), **extra)


@bp.get("/inbox/done")
@login_required
def done_list():
    """我已办."""
    return render_tab("done")


@bp.get("/inbox/mine")
@login_required
def mine_list():
    """我发起的."""
    return render_tab("mine")
