"""Process analytics (issue 12) with known data: two share requests walked through at fixed Beijing times around
the 2025 Dragon Boat holiday (Sat 31 May – Mon 2 June), then the refresh job and the figures: counts, median/p90 in
working days, open and overdue now, the share of returns, flows taken, filters; the HTTP endpoints' 403/422/404."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from sqlalchemy import delete

from app.engine.calendar import WorkingCalendar
from app.engine.paths import working_days_between
from app.extensions import db
from app.models import AnalyticsFlow, AnalyticsRefresh, AnalyticsStep
from app.models.analytics import AnalyticsFlowDay, AnalyticsStepDay
from app.models.types import CHINA_TZ
from app.services.errors import ValidationFailed
from app.services.oversight import analytics

from ..web.journey import act, application_form, submit

APPROVE = {"decision": "approve"}


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


def _reset(app) -> None:
    with app.app_context():
        for model in (AnalyticsStep, AnalyticsFlow, AnalyticsStepDay, AnalyticsFlowDay, AnalyticsRefresh):
            db.session.execute(delete(model))
        db.session.commit()
    analytics.clear_cache()


@pytest.fixture()
def journeys(app, login):
    """A: course schedule (no providers) submitted Fri 30 May 09:00, signed Tue 3 June 09:00 (1.0 working day over
    the weekend and the holiday), returned by 网信中心 15:00 (0.25), resubmitted Wed 09:00 (0.75), signed 12:00
    (0.125), approved Thu 12:00 (1.0): 网信中心提供数据 open. B: student data submitted Tue 10 June 09:00, signed 21:00
    (0.5), approved Wed 09:00 (0.5): the 学生处 review open, due Wed 18 June 17:30."""
    _reset(app)

    def at(when: datetime, username: str, action, *args):
        with time_machine.travel(when, tick=False):  # signed in then: sessions end after a while without use
            return action(login(username), *args)

    a = at(bj(2025, 5, 30, 9, 0), "cs_handler", submit, {"course_schedule": ["kch"]})
    at(bj(2025, 6, 3, 9, 0), "cs_head", act, a, APPROVE)
    at(bj(2025, 6, 3, 15, 0), "nic_head", act, a, {"decision": "return", "opinion": "请补充用途"})
    at(bj(2025, 6, 4, 9, 0), "cs_handler", lambda b: act(b, a, application_form(b, {"course_schedule": ["kch"]})))
    at(bj(2025, 6, 4, 12, 0), "cs_head", act, a, APPROVE)
    at(bj(2025, 6, 5, 12, 0), "nic_head", act, a, APPROVE)
    b = at(bj(2025, 6, 10, 9, 0), "cs_handler", submit, {"student_basic": ["xh"]})
    at(bj(2025, 6, 10, 21, 0), "cs_head", act, b, APPROVE)
    at(bj(2025, 6, 11, 9, 0), "nic_head", act, b, APPROVE)
    yield a, b
    _reset(app)


def _figures(**args) -> dict:
    return analytics.figures("share_request", analytics.parse_filters("share_request", args), now=bj(2025, 6, 20))


def _steps(data: dict) -> dict[str, dict]:
    return {s["element_id"]: s for s in data["steps"]}


def _flows(data: dict) -> dict[tuple[str, str], int]:
    return {(f["source"], f["target"]): f["taken"] for f in data["flows"]}


def test_working_days_skip_weekends_and_holidays_and_count_make_up_days():
    calendar = WorkingCalendar()
    assert working_days_between(calendar, bj(2025, 5, 30, 10), bj(2025, 6, 3, 10)) == 1.0  # Sat–Mon off
    assert working_days_between(calendar, bj(2025, 6, 3, 9), bj(2025, 6, 3, 15)) == 0.25
    # Sunday 28 September 2025 is a make-up working day before the National Day holiday
    assert working_days_between(calendar, bj(2025, 9, 27, 10), bj(2025, 9, 29, 10)) == pytest.approx(34 / 24, 1e-3)
    assert working_days_between(calendar, bj(2025, 6, 3, 15), bj(2025, 6, 3, 9)) == 0.0


def test_refresh_counts_steps_returns_and_flows(app, journeys, ctx):
    assert analytics.refresh() == 2
    assert analytics.refresh() == 0  # nothing changed since
    data = _figures()
    assert data["requests"] == 2
    steps = _steps(data)
    fill, sign, review = steps["fill_application"], steps["dept_head_sign"], steps["nic_review"]
    assert (fill["passed"], fill["median_days"], fill["p90_days"]) == (3, 0.0, 0.6)  # 0, 0.75, 0
    assert (sign["passed"], sign["median_days"], sign["p90_days"]) == (3, 0.5, 0.9)  # 1.0, 0.125, 0.5
    assert (review["passed"], review["median_days"], review["p90_days"]) == (3, 0.5, 0.9)  # 0.25, 1.0, 0.5
    assert (review["negative"], review["negative_share"]) == (1, pytest.approx(1 / 3, abs=1e-3))
    assert (sign["negative"], sign["negative_share"]) == (0, 0.0)
    assert (steps["deliver"]["open"], steps["deliver"]["overdue"], steps["deliver"]["passed"]) == (1, 0, 0)
    assert (steps["provider_review"]["open"], steps["provider_review"]["overdue"]) == (1, 1)  # due 18 June
    assert steps["nic_coordinate"]["passed"] == 0 and steps["nic_coordinate"]["median_days"] is None
    assert sign["heat"] == review["heat"] == 5 and fill["heat"] == 1 and steps["deliver"]["heat"] == 0
    flows = _flows(data)
    assert flows[("start", "fill_application")] == 2
    assert flows[("fill_application", "gw_fill")] == 3
    assert flows[("gw_head", "nic_review")] == 3
    assert flows[("gw_nic", "fill_application")] == 1  # the return
    assert flows[("gw_class", "deliver")] == 1
    assert flows[("gw_class", "provider_review")] == 1  # through the boundary events' split
    assert ("gw_fill", "end_withdrawn") not in flows
    assert max(f["level"] for f in data["flows"]) == 5
    assert {f["level"] for f in data["flows"] if f["taken"] == 1} == {2}  # 1 of 3 → level 2


def test_refresh_is_incremental(app, login, journeys, ctx):
    a, _b = journeys
    assert analytics.refresh() == 2
    with time_machine.travel(bj(2025, 6, 12, 9, 0), tick=False):
        act(login("nic_staff"), a, {"method": "interface", "note": "接口"})  # the record_grants script runs
    assert analytics.refresh() == 1  # only the delivered request
    data = _figures()
    deliver = _steps(data)["deliver"]
    assert (deliver["passed"], deliver["open"], deliver["median_days"]) == (1, 0, 4.88)  # Thu 12:00 → Thu 09:00
    assert _flows(data)[("deliver", "record_grants")] == 1
    assert db.session.get(AnalyticsRefresh, 1).refreshed_at is not None


def test_filters(app, journeys, ctx):
    analytics.refresh()
    later = _figures(**{"from": "2025-06-10"})
    assert later["requests"] == 1
    assert _steps(later)["dept_head_sign"]["passed"] == 1 and _steps(later)["dept_head_sign"]["median_days"] == 0.5
    assert _steps(later)["deliver"]["open"] == 0 and _steps(later)["provider_review"]["open"] == 1
    assert _flows(later).get(("gw_nic", "fill_application")) is None
    earlier = _figures(to="2025-06-09")
    assert earlier["requests"] == 1 and _steps(earlier)["nic_review"]["negative"] == 1
    student = _figures(provider="student")
    assert student["requests"] == 1 and _steps(student)["provider_review"]["open"] == 1
    assert _steps(student)["fill_application"]["passed"] == 1
    assert _figures(applicant="college_cs")["requests"] == 2
    other = _figures(applicant="hr")
    assert other["requests"] == 0 and all(s["passed"] == s["open"] == 0 for s in other["steps"]) and not other["flows"]
    assert _figures(version="1")["requests"] == 2


@pytest.mark.parametrize("args, field", [({"version": "9"}, "version"), ({"version": "x"}, "version"),
                                         ({"from": "2025-13-01"}, "from"), ({"to": "yesterday"}, "to"),
                                         ({"from": "2025-06-10", "to": "2025-06-01"}, "to"),
                                         ({"applicant": "nowhere"}, "applicant"), ({"provider": "x'--"}, "provider")])
def test_bad_filters_are_refused(app, ctx, args, field):
    with pytest.raises(ValidationFailed) as failed:
        analytics.parse_filters("share_request", args)
    assert field in failed.value.errors


def test_http_admin_only_422_and_404(app, login, journeys):
    with app.app_context():
        analytics.refresh()
    admin = login("admin")
    resp = admin.get("/admin/analytics/share_request.json?version=1&applicant=college_cs")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["requests"] == 2 and {s["element_id"] for s in body["steps"]} >= {"nic_review", "deliver"}
    page = admin.get("/admin/analytics/share_request?version=1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="analytics-table"' in html and "网信中心审核" in html and 'data-analytics-url="/admin/analytics/' in html
    assert "流程分析" in admin.get("/admin/processes/share_request").get_data(as_text=True)
    bad = admin.get("/admin/analytics/share_request.json?from=2025-02-30")
    assert bad.status_code == 422 and "from" in bad.get_json()["errors"]
    assert admin.get("/admin/analytics/share_request?version=7").status_code == 422
    assert admin.get("/admin/analytics/nothing.json").status_code == 404
    for user in ("cs_head", "supervisor", "nic_head"):
        denied = login(user).get("/admin/analytics/share_request.json")
        assert denied.status_code == 403
        assert login(user).get("/admin/analytics/share_request").status_code == 403



def test_a_step_sent_back_by_return_counts_as_a_return(app, login):
    """退回 (rollback.return_to) cancels the holder's task instead of completing it: it still counts as a step that
    was handled, and returned."""
    from app.models import TaskRecord, User
    from app.services.workflow import rollback

    _reset(app)
    handler = login("cs_handler")
    rid = submit(handler, {"course_schedule": ["kch"]})
    act(login("cs_head"), rid, APPROVE)
    with app.app_context():
        task = db.session.scalar(db.select(TaskRecord).where(TaskRecord.instance_id == rid,
                                                             TaskRecord.element_id == "nic_review"))
        nic = db.session.scalar(db.select(User.id).where(User.username == "nic_head"))
        rollback.return_to(task.id, nic, "dept_head_sign", "承诺书签字不清，请重新签署")
        assert analytics.refresh(settle=timedelta(0)) == 1
        review = _steps(analytics.figures("share_request", analytics.parse_filters("share_request", {})))["nic_review"]
        assert (review["passed"], review["negative"], review["negative_share"]) == (1, 1, 1.0)
    _reset(app)
