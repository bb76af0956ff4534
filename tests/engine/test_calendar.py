"""The working-day calendar: 2025/2026 arrangements (make-up weekends included), provisional 2027, admin years."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.engine.calendar import (
    CHINA_TZ,
    ArrangementSyntaxError,
    WorkingCalendar,
    builtin_arrangement,
    format_arrangement,
    parse_arrangement,
    qingming,
    statutory_arrangement,
)

CAL = WorkingCalendar()


def bj(*args) -> datetime:
    return datetime(*args, tzinfo=CHINA_TZ)


@pytest.mark.parametrize(("start", "n", "due"), [
    # National Day + Mid-Autumn 2025: Oct 1-8 off, Sat Oct 11 is a make-up working day
    (bj(2025, 9, 30, 10, 0), 5, bj(2025, 10, 14, 17, 30)),
    (bj(2025, 9, 30, 23, 59), 5, bj(2025, 10, 14, 17, 30)),
    (bj(2025, 10, 9, 9, 0), 2, bj(2025, 10, 11, 17, 30)),
    # Sun Sep 28 2025 is a make-up working day
    (bj(2025, 9, 26, 15, 0), 1, bj(2025, 9, 28, 17, 30)),
    # Spring Festival 2025: Jan 28 - Feb 4 off, Sun Jan 26 and Sat Feb 8 make-up days
    (bj(2025, 1, 24, 10, 0), 1, bj(2025, 1, 26, 17, 30)),
    (bj(2025, 1, 26, 10, 0), 2, bj(2025, 2, 5, 17, 30)),
    (bj(2025, 2, 6, 10, 0), 2, bj(2025, 2, 8, 17, 30)),
    # New Year 2026: Jan 1-3 off, Sun Jan 4 make-up
    (bj(2025, 12, 31, 10, 0), 1, bj(2026, 1, 4, 17, 30)),
    # Spring Festival 2026: Feb 15-23 off, Sat Feb 14 and Sat Feb 28 make-up
    (bj(2026, 2, 12, 10, 0), 2, bj(2026, 2, 14, 17, 30)),
    (bj(2026, 2, 13, 10, 0), 2, bj(2026, 2, 24, 17, 30)),
    (bj(2026, 2, 26, 10, 0), 2, bj(2026, 2, 28, 17, 30)),
    # National Day 2026: Oct 1-7 off, Sun Sep 20 and Sat Oct 10 make-up
    (bj(2026, 9, 30, 10, 0), 5, bj(2026, 10, 13, 17, 30)),
    (bj(2026, 9, 18, 10, 0), 1, bj(2026, 9, 20, 17, 30)),
])
def test_add_working_days_follows_the_official_arrangement(start, n, due):
    deadline = CAL.add_working_days(start, n)
    assert deadline.at == due
    assert not deadline.provisional


def test_the_start_day_is_the_beijing_date():
    # 2025-10-08T20:00Z is 04:00 on Oct 9 in Beijing: Oct 9 is the start day, so one working day later is Oct 10
    start = datetime(2025, 10, 8, 20, 0, tzinfo=UTC)
    assert CAL.add_working_days(start, 1).at == bj(2025, 10, 10, 17, 30)
    with pytest.raises(ValueError):
        CAL.add_working_days(datetime(2025, 10, 8, 20, 0), 1)


def test_office_close_is_configurable():
    cal = WorkingCalendar(office_close=datetime.strptime("18:00", "%H:%M").time())
    assert cal.add_working_days(bj(2025, 9, 30, 10, 0), 5).at == bj(2025, 10, 14, 18, 0)


def test_unknown_year_uses_statutory_holidays_and_is_provisional():
    deadline = CAL.add_working_days(bj(2026, 12, 31, 10, 0), 1)
    assert deadline.at == bj(2027, 1, 4, 17, 30)  # Jan 1 (元旦) off, then the weekend
    assert deadline.provisional and deadline.provisional_years == (2027,)
    # Spring Festival 2027 starts Sat Feb 6: 除夕 Feb 5 and Feb 6-8 are off
    assert CAL.add_working_days(bj(2027, 2, 4, 10, 0), 1).at == bj(2027, 2, 9, 17, 30)
    assert CAL.is_provisional(2027) and not CAL.is_provisional(2026)
    arrangement = statutory_arrangement(2027)
    assert arrangement.days_off[date(2027, 10, 3)] == "国庆节" and arrangement.make_up_days == {}


def test_statutory_rules_reproduce_the_published_holidays_of_2025_and_2026():
    for year in (2025, 2026):
        published = builtin_arrangement(year)
        assert set(statutory_arrangement(year).days_off) <= set(published.days_off), year


def test_qingming_formula_matches_the_published_years():
    for year in range(2008, 2027):
        assert qingming(year) in builtin_arrangement(year).days_off


def test_administrator_arrangement_overrides_and_is_not_provisional():
    text = """# 2027 年（示例）
2027-01-01~2027-01-03 元旦 休
2027-02-05~2027-02-11 春节 休
2027-02-20 春节 班
"""
    cal = WorkingCalendar({2027: parse_arrangement(2027, text)})
    assert cal.add_working_days(bj(2027, 2, 4, 10, 0), 1) .at == bj(2027, 2, 12, 17, 30)
    deadline = cal.add_working_days(bj(2027, 2, 19, 10, 0), 1)
    assert deadline.at == bj(2027, 2, 20, 17, 30) and not deadline.provisional  # Saturday make-up day
    assert not cal.is_provisional(2027)


def test_arrangement_text_errors_name_the_line():
    with pytest.raises(ArrangementSyntaxError) as info:
        parse_arrangement(2027, "2027-01-01 元旦 休\n2027-13-01 元旦 休\n2026-05-01 劳动节 休\n2027-01-01 元旦 班\nfoo")
    problems = "\n".join(info.value.problems)
    assert "第 2 行日期无效" in problems and "第 3 行的日期不在 2027 年内" in problems
    assert "第 4 行：2027-01-01 重复出现" in problems and "第 5 行格式应为" in problems


def test_text_form_round_trips():
    arrangement = builtin_arrangement(2026)
    again = parse_arrangement(2026, format_arrangement(arrangement))
    assert dict(again.days_off) == dict(arrangement.days_off)
    assert dict(again.make_up_days) == dict(arrangement.make_up_days)


def test_working_days_left():
    due = bj(2025, 10, 14, 17, 30)
    assert CAL.working_days_left(bj(2025, 9, 30, 12, 0), due) == 5
    assert CAL.working_days_left(bj(2025, 10, 13, 12, 0), due) == 1
    assert CAL.working_days_left(bj(2025, 10, 14, 9, 0), due) == 0
    assert CAL.working_days_left(bj(2025, 10, 15, 10, 0), due) == -1
    assert CAL.working_days_left(due + timedelta(minutes=1), due) == -1
