"""委托/代理 in a real browser at desktop size and at phone size (390×844): 学生处's head names 赵经办 as deputy on
/account/delegations (from the account menu), the deputy signs in, finds the head's task labelled "代 张处长（学生处）"
in the inbox, approves it, and the history says "赵经办（代 张处长（学生处））". No CSP violation, no page wider
than the phone. Screenshots test-artifacts/issue11-delegation-{desktop,phone}.png (the deputy's inbox) and
issue11-delegation-{set,done}-{desktop,phone}.png."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.web.test_delegation import (  # noqa: F401  (_no_delegations: the autouse fixture)
    ACTING,
    DEPUTY,
    PRINCIPAL,
    PRINCIPAL_NAME,
    _at_provider,
    _no_delegations,
    _today,
)

from .test_transfer_cc_ui import _clean, _page


def _account_link(page, size: str) -> None:
    if size == "phone":  # the account links sit behind the collapsed menu
        page.locator("#nav-toggle").click()
    page.locator("#account-menu summary").click()
    page.locator("#delegations-link").click()
    expect(page.locator("h1")).to_have_text("工作委托")


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_the_principal_sets_a_deputy_who_approves_as_dai(browser, live_server, login, screenshots, size):
    rid = _at_provider(login)
    page, errors = _page(browser, live_server, PRINCIPAL, size)
    _account_link(page, size)
    page.select_option("#deputy", DEPUTY)
    expect(page.locator("#starts_on")).to_have_value(_today().isoformat())
    page.fill("#ends_on", (_today() + timedelta(days=3)).isoformat())
    page.fill("#reason", "出差")
    page.locator("#delegation-form button[type=submit]").click()
    expect(page.locator(".flash-success")).to_contain_text("已委托赵经办")
    row = page.locator("#delegations-given tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("生效中")
    page.screenshot(path=str(screenshots / f"issue11-delegation-set-{size}.png"), full_page=True)
    _clean(page, errors, size)
    page.context.close()

    page, errors = _page(browser, live_server, DEPUTY, size)
    row = page.locator("#inbox tbody tr", has_text=f"#{rid} ")
    expect(row).to_have_count(1)
    expect(row.locator(".tag.delegated")).to_have_text(f"代 {PRINCIPAL_NAME}")
    page.screenshot(path=str(screenshots / f"issue11-delegation-{size}.png"), full_page=True)
    _clean(page, errors, size)
    row.get_by_role("link", name="办理").click()
    expect(page.locator("#on-behalf")).to_contain_text(ACTING)
    page.check("input[name=decision][value=approve]")
    page.fill("textarea[name=opinion]", "代为同意提供")
    page.locator("#task-form button.primary").click()
    expect(page.locator("h1")).to_contain_text(f"#{rid}")
    expect(page.locator("table.history")).to_contain_text(ACTING)
    page.screenshot(path=str(screenshots / f"issue11-delegation-done-{size}.png"), full_page=True)
    _clean(page, errors, size)
    page.context.close()
