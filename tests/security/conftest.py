"""Fixtures of the security tests: an app with low login limits and a fresh user per test (the account tests);
delegations, which the shared wipe keeps, removed after every test that may have created one."""
from __future__ import annotations

import pytest
from sqlalchemy import delete

from app.extensions import db
from app.models import Delegation

from .accounts_support import accounts_app, make_user, remove_users


@pytest.fixture(scope="module")
def sec_app(app):
    return accounts_app(app)


@pytest.fixture()
def user(app, sec_app):
    name = make_user(sec_app)
    yield name
    remove_users(app)


@pytest.fixture(autouse=True)
def _no_delegations(request):
    yield
    if "app" in request.fixturenames:
        app = request.getfixturevalue("app")
        with app.app_context():
            db.session.execute(delete(Delegation))
            db.session.commit()
            db.session.remove()
