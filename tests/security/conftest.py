"""Fixtures of the account tests: an app with low login limits and a fresh user per test."""
from __future__ import annotations

import pytest

from .accounts_support import accounts_app, make_user, remove_users


@pytest.fixture(scope="module")
def sec_app(app):
    return accounts_app(app)


@pytest.fixture()
def user(app, sec_app):
    name = make_user(sec_app)
    yield name
    remove_users(app)
