"""企业微信 application messages and 钉钉 robots against loopback receivers: payloads, signatures, the token cache,
retries with backoff, rate limits, per-user preferences, and approvals that never wait for a channel."""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Notification, NotificationDelivery, User
from app.models.types import utcnow
from app.services.messaging import channels, notify

from ..web.journey import act, my_task, submit
from . import receiver as rx

APPROVE = {"decision": "approve", "opinion": "同意"}


def _user(name: str) -> User:
    return db.session.scalar(select(User).where(User.username == name))


def _deliveries(channel: str | None = None) -> list[NotificationDelivery]:
    query = select(NotificationDelivery).order_by(NotificationDelivery.id)
    if channel:
        query = query.where(NotificationDelivery.channel == channel)
    db.session.expire_all()
    return list(db.session.scalars(query))


def test_token_fetched_once_and_textcard_reaches_the_member_with_the_task_link(ctx, wecom_server):
    head = _user("cs_head")
    head.wecom_userid = "LiZhuRen"
    notify.add([head], "new_task", "请审核：学生综合测评数据 <b>", task_id=None, instance_id=None)
    notify.add([head, _user("nic_head")], "urge", "网信中心催办")
    db.session.commit()
    note = db.session.scalar(select(Notification).where(Notification.user_id == head.id,
                                                        Notification.event == "new_task"))

    counts = channels.deliver_pending()

    assert counts == {"sent": 3, "retry": 0, "failed": 0, "deferred": 0}
    assert len(wecom_server.paths("/cgi-bin/gettoken")) == 1  # cached for the other two
    sends = wecom_server.paths("/cgi-bin/message/send")
    assert [h.query["access_token"] for h in sends] == ["tok1"] * 3
    assert {h.body["touser"] for h in sends} == {"LiZhuRen", "nic_head"}  # wecom_userid, else the username
    card = sends[0].body
    assert card["msgtype"] == "textcard" and card["agentid"] == 1000002
    assert card["textcard"]["title"] == "【数据资源共享审批】新待办"
    assert card["textcard"]["description"] == "请审核：学生综合测评数据 &lt;b&gt;"  # escaped: 企业微信 renders HTML
    assert card["textcard"]["btntxt"] == "办理"
    assert card["textcard"]["url"] == "https://share.example.edu.cn/notifications"
    assert all(d.state == "sent" and d.attempts == 1 for d in _deliveries())
    assert note.deliveries[0].recipient == "LiZhuRen"


def test_task_link_points_at_the_task_page_on_this_site(login, app, wecom_server):
    handler, head = login("cs_handler"), login("cs_head")
    rid = submit(handler, {"course_schedule": ["kch", "kcm"]})
    task_id = my_task(head, rid)
    assert channels.wait_idle(30)
    sends = [h.body for h in wecom_server.paths("/cgi-bin/message/send") if h.body["touser"] == "cs_head"]
    assert len(sends) == 1
    assert sends[0]["textcard"]["url"] == f"https://share.example.edu.cn/tasks/{task_id}"
    assert f"#{rid}" in sends[0]["textcard"]["description"]


def test_expired_token_42001_is_refreshed_and_the_message_sent_again(ctx, wecom_server):
    fake = wecom_server.fake
    answers = iter([(200, {"errcode": 42001, "errmsg": "access_token expired"})])
    fake.send = lambda hit: next(answers, (200, {"errcode": 0, "errmsg": "ok"}))
    notify.add([_user("cs_head")], "new_task", "请审核")
    db.session.commit()

    assert channels.deliver_pending()["sent"] == 1

    assert fake.issued == ["tok1", "tok2"]
    assert [h.query["access_token"] for h in wecom_server.paths("/cgi-bin/message/send")] == ["tok1", "tok2"]
    # the new token is the cached one now
    fake.send = None
    notify.add([_user("cs_head")], "urge", "催办")
    db.session.commit()
    assert channels.deliver_pending()["sent"] == 1
    assert fake.issued == ["tok1", "tok2"]


def test_token_is_renewed_before_it_expires(ctx, wecom_server):
    wecom_server.fake.expires_in = 2  # renewed 1 s early, i.e. after 1 s
    notify.add([_user("cs_head")], "new_task", "一")
    db.session.commit()
    channels.deliver_pending()
    time.sleep(1.1)
    notify.add([_user("cs_head")], "new_task", "二")
    db.session.commit()
    assert channels.deliver_pending()["sent"] == 1
    assert wecom_server.fake.issued == ["tok1", "tok2"]
    assert wecom_server.paths("/cgi-bin/message/send")[-1].query["access_token"] == "tok2"


def test_unknown_member_fails_at_once_without_retries(ctx, wecom_server):
    wecom_server.fake.send = lambda hit: (200, {"errcode": 0, "errmsg": "ok", "invaliduser": hit.body["touser"]})
    notify.add([_user("cs_head")], "new_task", "请审核")
    db.session.commit()
    assert channels.deliver_pending()["failed"] == 1
    [row] = _deliveries()
    assert row.state == "failed" and row.attempts == 1 and "cs_head" in row.last_error


def test_dingtalk_robot_message_is_signed_and_links_the_task(ctx, app, monkeypatch):
    secret = "SEC0123456789abcdef"
    verdicts: list[bool] = []

    def robot(hit):
        ts = hit.query.get("timestamp", "")
        expected = base64.b64encode(hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest())
        ok = (hit.query.get("access_token") == "robot-token" and ts.isdigit()
              and abs(int(ts) - time.time() * 1000) < 3600_000 and hit.query.get("sign") == expected.decode())
        verdicts.append(ok)
        return (200, {"errcode": 0, "errmsg": "ok"}) if ok else (200, {"errcode": 310000, "errmsg": "sign not match"})

    server = rx.start(robot)
    try:
        monkeypatch.setitem(app.config, "DINGTALK_WEBHOOK", f"{server.url}/robot/send?access_token=robot-token")
        monkeypatch.setitem(app.config, "DINGTALK_SECRET", secret)
        monkeypatch.setitem(app.config, "SITE_URL", "https://share.example.edu.cn/")
        head = _user("cs_head")
        head.phone = "13900000001"
        notify.add([head], "overdue", "[点我](https://evil.example) 逾期未答复", instance_id=None)
        db.session.commit()
        assert channels.deliver_pending()["sent"] == 1
        [hit] = server.hits
        assert verdicts == [True]
        assert hit.body["msgtype"] == "markdown"
        text = hit.body["markdown"]["text"]
        assert "[办理](https://share.example.edu.cn/notifications)" in text
        assert "](https://evil.example)" not in text  # the user's text cannot make links
        assert hit.body["at"] == {"atMobiles": ["13900000001"], "isAtAll": False} and "@13900000001" in text

        monkeypatch.setitem(app.config, "DINGTALK_SECRET", "wrong-secret")  # the receiver refuses: a retry is queued
        notify.add([head], "urge", "催办")
        db.session.commit()
        assert channels.deliver_pending()["retry"] == 1
        assert verdicts == [True, False]
        assert "310000" in _deliveries()[-1].last_error
    finally:
        rx.stop(server)
        head.phone = ""
        db.session.commit()


def test_failing_receiver_is_retried_with_backoff_then_shown_to_admins_and_the_approval_completes(
        login, app, wecom_server, monkeypatch):
    monkeypatch.setitem(app.config, "CHANNEL_TIMEOUT_SECONDS", 0.5)
    monkeypatch.setitem(app.config, "CHANNEL_MAX_ATTEMPTS", 3)
    monkeypatch.setitem(app.config, "CHANNEL_RETRY_SECONDS", 60)
    wecom_server.fake.send = lambda hit: (-3, {})  # silent for 3 s: every send times out
    handler, head, nic_head = login("cs_handler"), login("cs_head"), login("nic_head")
    rid = submit(handler, {"course_schedule": ["kch", "kcm"]})
    channels.wait_idle(30)

    started = time.monotonic()
    act(head, rid, APPROVE)  # its notification to nic_head goes to the same dead receiver
    elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"the approval waited {elapsed:.1f}s for 企业微信"
    assert my_task(nic_head, rid)  # the approval went through: 网信中心 has the next task
    assert channels.wait_idle(30)

    with app.app_context():
        rows = _deliveries("wecom")
        assert {r.recipient for r in rows} >= {"cs_head", "nic_head"}
        assert all(r.state == "pending" and r.attempts == 1 and "超时" in r.last_error for r in rows)
        wecom_server.fake.send = lambda hit: (500, {"errcode": -1, "errmsg": "system busy"})
        first = {r.id: r.next_attempt_at for r in rows}
        now = max(first.values())
        assert channels.deliver_pending(now=now - timedelta(seconds=1))["sent"] == 0  # not due yet: nothing sent
        second_try = channels.deliver_pending(now=now)
        assert second_try["retry"] == len(rows)
        rows = _deliveries("wecom")
        assert all(r.attempts == 2 and r.last_error.startswith("HTTP 500") for r in rows)
        # exponential: 60 s after the first failure, 120 s after the second
        assert all(r.next_attempt_at == now + timedelta(seconds=120) for r in rows)
        third = channels.deliver_pending(now=now + timedelta(seconds=120))
        assert third["failed"] == len(rows)
        assert all(r.state == "failed" and r.attempts == 3 for r in _deliveries("wecom"))
        assert channels.deliver_pending(now=now + timedelta(days=1))["sent"] == 0  # failed stays failed

    admin = login("admin")
    page = admin.get("/admin/deliveries")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="failed-deliveries"' in html and "HTTP 500" in html and "nic_head" in html
    assert login("cs_head").get("/admin/deliveries").status_code == 403

    # an administrator puts one back after fixing the cause; it goes out
    wecom_server.fake.send = None
    with app.app_context():
        failed_id = _deliveries("wecom")[0].id
    resp = admin.post(f"/admin/deliveries/{failed_id}/retry")
    assert resp.status_code == 303
    assert admin.post("/admin/deliveries/999999/retry").status_code == 303  # unknown id: a message, no 500
    with app.app_context():
        assert channels.deliver_pending()["sent"] == 1
        assert db.session.get(NotificationDelivery, failed_id).state == "sent"
        assert db.session.scalar(select(AuditLog).where(AuditLog.action == "notification_retry")) is not None


def test_the_31st_message_in_a_minute_to_one_member_is_deferred_not_dropped(ctx, wecom_server):
    head, other = _user("cs_head"), _user("nic_head")
    for i in range(31):
        notify.add([head], "urge", f"催办 {i}")
    notify.add([other], "urge", "另一位成员")
    db.session.commit()
    start = utcnow().replace(microsecond=0) + timedelta(seconds=1)

    counts = channels.deliver_pending(now=start)

    assert counts == {"sent": 31, "retry": 0, "failed": 0, "deferred": 1}
    to_head = [h for h in wecom_server.paths("/cgi-bin/message/send") if h.body["touser"] == "cs_head"]
    assert len(to_head) == 30  # the other member is not held back by cs_head's limit
    [held] = [r for r in _deliveries() if r.state == "pending"]
    assert held.recipient == "cs_head" and held.attempts == 0 and held.next_attempt_at == start + timedelta(minutes=1)
    assert channels.deliver_pending(now=start + timedelta(seconds=59))["sent"] == 0
    assert channels.deliver_pending(now=start + timedelta(seconds=60))["sent"] == 1
    assert "催办 30" in wecom_server.paths("/cgi-bin/message/send")[-1].body["textcard"]["description"]


def test_the_hourly_limit_defers_the_1001st_message(ctx, wecom_server):
    head = _user("cs_head")
    # "now" for the sender: far enough ahead that the 1,001st message, queued after the 1,000 rows are written
    # (seconds on a loaded machine), is already due then
    start = utcnow().replace(microsecond=0) + timedelta(seconds=60)
    for i in range(1000):  # sent over the last hour, 29 or fewer a minute
        note = Notification(user_id=head.id, event="urge", message=f"{i}", email_state="none")
        sent_at = start - timedelta(seconds=3590 - i * 3)
        note.deliveries.append(NotificationDelivery(channel="wecom", recipient="cs_head", state="sent", attempts=1,
                                                    next_attempt_at=start, sent_at=sent_at))
        db.session.add(note)
    notify.add([head], "urge", "第 1001 条")
    db.session.commit()
    assert channels.deliver_pending(now=start)["deferred"] == 1
    held = _deliveries()[-1]
    assert held.next_attempt_at == start + timedelta(seconds=10)  # when the oldest of the thousand leaves the hour
    assert wecom_server.paths("/cgi-bin/message/send") == []


def test_channel_preferences_off_means_nothing_is_sent_there(login, app, wecom_server):
    head = login("cs_head")
    page = head.get("/account/notifications")
    assert page.status_code == 200 and "企业微信" in page.get_data(as_text=True)
    resp = head.post("/account/notifications", {"channel": ["email", "evil", "<script>"]})
    assert resp.status_code == 303
    with app.app_context():
        user = _user("cs_head")
        assert user.notify_channels == "email"
        assert db.session.scalar(select(AuditLog).where(AuditLog.action == "notify_channels",
                                                        AuditLog.user_id == user.id)).detail["after"] == ["email"]
        notify.add([user, _user("nic_head")], "urge", "催办")
        db.session.commit()
        assert [d.recipient for d in _deliveries()] == ["nic_head"]  # in-app still for both, 企业微信 only for one
        assert db.session.scalar(select(db.func.count()).select_from(Notification)
                                 .where(Notification.user_id == user.id)) == 1
        channels.deliver_pending()
    assert [h.body["touser"] for h in wecom_server.paths("/cgi-bin/message/send")] == ["nic_head"]
    assert head.post("/account/notifications", {}).status_code == 303  # everything off: in-app remains
    with app.app_context():
        assert _user("cs_head").notify_channels == ""


def test_no_channel_configured_writes_no_deliveries(ctx):
    assert channels.enabled_channels() == set()
    notify.add([_user("cs_head")], "urge", "催办")
    db.session.commit()
    assert _deliveries() == []
    notify.send_pending_emails()  # nothing to do, no error
