"""Fixtures of the HTTP tests."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server


@pytest.fixture()
def token_for(app):
    """Issue an API bearer token with the real CLI; returns the Authorization header for a username."""
    runner = app.test_cli_runner()

    def issue(username: str) -> dict[str, str]:
        result = runner.invoke(args=["users", "token", username])
        assert result.exit_code == 0, result.output
        return {"Authorization": f"Bearer {result.output.strip()}"}

    return issue


@pytest.fixture(scope="module")
def live_url(app):
    """The app on a loopback port (real HTTP, threaded), for tests racing several clients."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
