"""CAS single sign-on: the real python-cas client against a CAS-protocol server on loopback, over real HTTP."""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import requests
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditLog, CasTicket, User
from tests.conftest import _csrf


def _round_trip(client, cas_server, next_url: str | None = None):
    """Our /login/cas → the CAS server's /login (real HTTP) → our callback. Returns (response, ticket)."""
    resp = client.get("/login/cas" + (f"?next={quote(next_url, safe='')}" if next_url is not None else ""))
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith(cas_server.url + "login?service=")
    at_cas = requests.get(resp.headers["Location"], allow_redirects=False, timeout=5)
    assert at_cas.status_code == 302
    back = urlsplit(at_cas.headers["Location"])
    assert back.path == "/login/cas/callback"
    ticket = back.query.rsplit("ticket=", 1)[1]
    return client.get(f"{back.path}?{back.query}"), ticket


def _user(app, username: str) -> User | None:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None:
            db.session.expunge(user)
            _ = user.roles
        return user


def _audit(app, action: str) -> list[dict]:
    with app.app_context():
        return [r.detail for r in db.session.scalars(select(AuditLog).where(AuditLog.action == action))]


def test_login_page_offers_cas_only_when_configured(app, cas_app, client):
    assert "统一身份认证登录" in client.get("/login?next=/requests/").get_data(as_text=True)
    app.config["CAS_SERVER_URL"] = ""
    assert "统一身份认证登录" not in client.get("/login").get_data(as_text=True)
    assert client.get("/login/cas").status_code == 404


def test_first_login_provisions_user_in_mapped_department(app, cas_app, cas_server, client):
    resp, _ticket = _round_trip(client, cas_server)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/inbox")
    user = _user(app, "id_alice")
    assert user is not None and user.auth_source == "cas" and user.display_name == "艾丽斯"
    with app.app_context():
        dept_code = db.session.get(User, user.id).department.code
    assert dept_code == "hr"  # deptCode 0301 mapped by CAS_DEPARTMENT_MAP
    assert user.roles == {"handler"} and user.email == "alice@example.edu.cn"
    expected = "/p3/serviceValidate" if app.config["CAS_VERSION"] == "3" else "/serviceValidate"
    assert [v["path"] for v in cas_server.validations] == [expected]
    assert client.get("/inbox").status_code == 200
    assert any(d.get("source") == "cas" and d["username"] == "id_alice" for d in _audit(app, "login"))
    assert [d["source"] for d in _audit(app, "user_provisioned")] == ["cas"]
    # the local password is unusable: the login form refuses whatever is typed
    page = client.get("/login")
    refused = app.test_client().post("/login", data={"username": "id_alice", "password": "",
                                                     "csrf_token": _csrf(page.get_data(as_text=True))})
    assert refused.status_code in (400, 401)


def test_second_login_is_the_same_user_and_roles_stay(app, cas_app, cas_server):
    _round_trip(app.test_client(), cas_server)
    first = _user(app, "id_alice")
    with app.app_context():  # an administrator made her 部门负责人 in this system
        db.session.get(User, first.id).roles_csv = "dept_head,handler"
        db.session.commit()
    cas_server.attributes["deptCode"] = "0000"  # the department is taken at the first login only
    resp, _ = _round_trip(app.test_client(), cas_server)
    assert resp.status_code == 302
    again = _user(app, "id_alice")
    assert again.id == first.id and again.roles == {"dept_head", "handler"}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.username == "id_alice")) == 1


def test_unknown_department_is_refused_and_audited(app, cas_app, cas_server, client):
    cas_server.user = "id_bob"
    cas_server.attributes["deptCode"] = "no-such-dept"
    resp, _ = _round_trip(client, cas_server)
    assert resp.status_code == 403
    assert "尚未在本系统登记" in resp.get_data(as_text=True)
    assert _user(app, "id_bob") is None
    assert any(d.get("reason") == "unknown_department" and d["department"] == "no-such-dept"
               for d in _audit(app, "login_failed"))
    assert client.get("/inbox").status_code == 302  # not signed in


def test_ticket_replay_and_forged_ticket_are_refused(app, cas_app, cas_server):
    resp, ticket = _round_trip(app.test_client(), cas_server)
    assert resp.status_code == 302
    validations = len(cas_server.validations)
    other = app.test_client()
    start = other.get("/login/cas")
    state = urlsplit(start.headers["Location"]).query.split("state%3D", 1)[1]
    replay = other.get(f"/login/cas/callback?state={state}&ticket={ticket}")
    assert replay.status_code == 403 and "已使用" in replay.get_data(as_text=True)
    assert len(cas_server.validations) == validations  # refused here, before asking the CAS server again
    # a ticket the CAS server does not know: the real client asks, the server says INVALID_TICKET
    other.get("/login/cas")
    state = urlsplit(other.get("/login/cas").headers["Location"]).query.split("state%3D", 1)[1]
    forged = other.get(f"/login/cas/callback?state={state}&ticket=ST-forged-123")
    assert forged.status_code == 403
    assert len(cas_server.validations) == validations + 1
    reasons = [d.get("reason") for d in _audit(app, "login_failed")]
    assert "ticket_replayed" in reasons and "ticket_invalid" in reasons
    assert other.get("/inbox").status_code == 302


def test_callback_not_started_here_restarts_login(app, cas_app, cas_server, client):
    """A ticket arriving without this browser's state (login CSRF) signs nobody in."""
    resp = client.get("/login/cas/callback?ticket=ST-someone-elses&state=x")
    assert resp.status_code == 302 and urlsplit(resp.headers["Location"]).path == "/login/cas"
    assert cas_server.validations == []
    assert client.get("/inbox").status_code == 302


def test_next_is_kept_but_only_on_this_site(app, cas_app, cas_server):
    resp, _ = _round_trip(app.test_client(), cas_server, "/requests/?page=2")
    assert resp.headers["Location"] == "/requests/?page=2"
    for hostile in ("//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        resp, _ = _round_trip(app.test_client(), cas_server, hostile)
        assert resp.status_code == 302
        assert urlsplit(resp.headers["Location"]).netloc in ("", "localhost")
        assert urlsplit(resp.headers["Location"]).path == "/inbox", hostile


def test_local_account_cannot_be_taken_over_by_cas(app, cas_app, cas_server, client):
    cas_server.user = "admin"
    resp, _ = _round_trip(client, cas_server)
    assert resp.status_code == 403 and "本地账号" in resp.get_data(as_text=True)
    assert client.get("/inbox").status_code == 302


def test_logout_goes_through_cas_logout(app, cas_app, cas_server, client):
    _round_trip(client, cas_server)
    csrf = _csrf(client.get("/account/password").get_data(as_text=True))
    cookie = client.get_cookie("session").value
    resp = client.post("/logout", data={"csrf_token": csrf})
    assert resp.status_code == 302
    param = "service" if app.config["CAS_VERSION"] == "3" else "url"
    assert resp.headers["Location"] == f"{cas_server.url}logout?{param}=http%3A%2F%2Flocalhost%2Flogin"
    copy = app.test_client()
    copy.set_cookie("session", cookie, domain="localhost")
    assert copy.get("/inbox").status_code == 302  # the old cookie no longer works anywhere


def _logout_request(ticket: str) -> str:
    return ('<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
            'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-1" Version="2.0" '
            'IssueInstant="2026-11-25T10:00:00Z"><saml:NameID>@NOT_USED@</saml:NameID>'
            f'<samlp:SessionIndex>{ticket}</samlp:SessionIndex></samlp:LogoutRequest>')


def test_back_channel_single_logout_ends_the_session(app, cas_app, cas_server, client):
    _round_trip(client, cas_server)
    cookie = client.get_cookie("session").value
    copy = app.test_client()
    copy.set_cookie("session", cookie, domain="localhost")
    assert copy.get("/inbox").status_code == 200
    ticket = cas_server.validations[-1]["ticket"]
    server = app.test_client()  # the CAS server: no session, no CSRF token
    hostile = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               + _logout_request("&x;"))
    for body in ("", "<not-xml", hostile, _logout_request("ST-unknown")):
        assert server.post("/login/cas/callback", data={"logoutRequest": body}).status_code == 200
    assert copy.get("/inbox").status_code == 200  # none of those ended anything
    assert server.post("/login/cas/callback", data={"logoutRequest": _logout_request(ticket)}).status_code == 200
    assert copy.get("/inbox").status_code == 302
    assert client.get("/inbox").status_code == 302
    assert _audit(app, "cas_single_logout")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CasTicket)) == 0
