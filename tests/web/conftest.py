"""Fixtures of the HTTP tests."""
from __future__ import annotations

import pytest


@pytest.fixture()
def token_for(app):
    """Issue an API bearer token with the real CLI; returns the Authorization header for a username."""
    runner = app.test_cli_runner()

    def issue(username: str) -> dict[str, str]:
        result = runner.invoke(args=["users", "token", username])
        assert result.exit_code == 0, result.output
        return {"Authorization": f"Bearer {result.output.strip()}"}

    return issue
