"""Working days of the Chinese official calendar (weekends and statutory holidays off, 调休 make-up days on).

Sources, in order: an administrator's arrangement for the year, the `chinese-calendar` package's built-in data,
and for a year nobody has published yet the fixed statutory holidays of 《全国年节及纪念日放假办法》 (provisional).
Pure Python: no Flask, no database.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar
from lunardate import LunarDate

CHINA_TZ = timezone(timedelta(hours=8))
DEFAULT_OFFICE_CLOSE = time(17, 30)
HOLIDAY_NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
                 "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "Mid-autumn Festival": "中秋节",
                 "National Day": "国庆节", "Anti-Fascist 70th Day": "抗战胜利70周年纪念日"}


@dataclass(frozen=True)
class YearArrangement:
    """One year's days off (holidays, incl. weekends inside a holiday) and make-up working days."""

    year: int
    days_off: Mapping[date, str]
    make_up_days: Mapping[date, str]
    source: str  # "admin" | "builtin" | "provisional"

    @property
    def provisional(self) -> bool:
        return self.source == "provisional"


@dataclass(frozen=True)
class Deadline:
    at: datetime
    provisional: bool
    provisional_years: tuple[int, ...] = field(default=())

    def isoformat(self) -> str:
        return self.at.isoformat()


def builtin_arrangement(year: int) -> YearArrangement | None:
    """The chinese-calendar package's data for the year, or None when it does not know the year."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return None
    days_off = {d: HOLIDAY_NAMES.get(n, n) for d, n in chinese_calendar.constants.holidays.items() if d.year == year}
    make_up = {d: HOLIDAY_NAMES.get(n, n) for d, n in chinese_calendar.constants.workdays.items() if d.year == year}
    return YearArrangement(year, days_off, make_up, "builtin")


def qingming(year: int) -> date:
    """Qingming (a solar term) by the 21st-century formula."""
    y = year % 100
    return date(year, 4, int(y * 0.2422 + 4.81) - y // 4)


def statutory_arrangement(year: int) -> YearArrangement:
    """The fixed statutory holidays (2025 rules: 元旦1, 春节4 incl. 除夕, 清明1, 劳动节2, 端午1, 中秋1, 国庆3).

    Without the State Council's notice the make-up days and the bridging of weekends are unknown: provisional.
    """
    spring = LunarDate(year, 1, 1).to_solar_date()
    days: dict[date, str] = {date(year, 1, 1): "元旦"}
    for offset in range(-1, 3):
        days[spring + timedelta(days=offset)] = "春节"
    days[qingming(year)] = "清明节"
    days[date(year, 5, 1)] = days[date(year, 5, 2)] = "劳动节"
    days[LunarDate(year, 5, 5).to_solar_date()] = "端午节"
    days[LunarDate(year, 8, 15).to_solar_date()] = "中秋节"
    for day in (1, 2, 3):
        days[date(year, 10, day)] = "国庆节"
    return YearArrangement(year, days, {}, "provisional")


class ArrangementSyntaxError(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("；".join(problems))
        self.problems = problems


_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s*[~至]\s*(\d{4}-\d{2}-\d{2}))?\s+(\S+)\s+(休|班)$")


def parse_arrangement(year: int, text: str) -> YearArrangement:
    """Parse an administrator's arrangement, one line per day or range:

        2027-02-06~2027-02-12 春节 休
        2027-02-14 春节 班
    Blank lines and lines starting with # are ignored. Raises ArrangementSyntaxError with line numbers.
    """
    days_off: dict[date, str] = {}
    make_up: dict[date, str] = {}
    problems: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if not match:
            problems.append(f"第 {number} 行格式应为「YYYY-MM-DD[~YYYY-MM-DD] 名称 休|班」：{line}")
            continue
        try:
            first = date.fromisoformat(match.group(1))
            last = date.fromisoformat(match.group(2) or match.group(1))
        except ValueError:
            problems.append(f"第 {number} 行日期无效：{line}")
            continue
        if first.year != year or last.year != year or last < first:
            problems.append(f"第 {number} 行的日期不在 {year} 年内或起止颠倒：{line}")
            continue
        target = days_off if match.group(4) == "休" else make_up
        day = first
        while day <= last:
            if day in days_off or day in make_up:
                problems.append(f"第 {number} 行：{day} 重复出现")
            target[day] = match.group(3)
            day += timedelta(days=1)
    if problems:
        raise ArrangementSyntaxError(problems)
    if not days_off:
        raise ArrangementSyntaxError(["没有任何放假日期"])
    return YearArrangement(year, days_off, make_up, "admin")


def format_arrangement(arrangement: YearArrangement) -> str:
    """The text form parse_arrangement reads (consecutive days folded into ranges)."""
    lines = [f"# {arrangement.year} 年放假安排（来源：{arrangement.source}）"]
    for mapping, kind in ((arrangement.days_off, "休"), (arrangement.make_up_days, "班")):
        for first, last, name in _ranges(mapping):
            span = first.isoformat() if first == last else f"{first.isoformat()}~{last.isoformat()}"
            lines.append(f"{span} {name} {kind}")
    return "\n".join(lines) + "\n"


def _ranges(mapping: Mapping[date, str]) -> list[tuple[date, date, str]]:
    out: list[tuple[date, date, str]] = []
    for day in sorted(mapping):
        if out and out[-1][1] + timedelta(days=1) == day and out[-1][2] == mapping[day]:
            out[-1] = (out[-1][0], day, out[-1][2])
        else:
            out.append((day, day, mapping[day]))
    return out


class WorkingCalendar:
    """Answers working-day questions; `overrides` are administrator-entered years."""

    def __init__(self, overrides: Mapping[int, YearArrangement] | None = None,
                 office_close: time = DEFAULT_OFFICE_CLOSE):
        self.overrides = dict(overrides or {})
        self.office_close = office_close
        self._cache: dict[int, YearArrangement] = {}

    def arrangement(self, year: int) -> YearArrangement:
        if year not in self._cache:
            self._cache[year] = (self.overrides.get(year) or builtin_arrangement(year)
                                 or statutory_arrangement(year))
        return self._cache[year]

    def is_provisional(self, year: int) -> bool:
        return self.arrangement(year).provisional

    def is_working_day(self, day: date) -> bool:
        arrangement = self.arrangement(day.year)
        if day in arrangement.make_up_days:
            return True
        if day in arrangement.days_off:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: datetime, n: int) -> Deadline:
        """Office close (Beijing time) of the n-th working day after the start day; the start day is not counted."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if n < 1:
            raise ValueError("n must be at least 1")
        day = start.astimezone(CHINA_TZ).date()
        provisional: set[int] = set()
        counted = 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_provisional(day.year):
                provisional.add(day.year)
            if self.is_working_day(day):
                counted += 1
        due = datetime.combine(day, self.office_close, tzinfo=CHINA_TZ)
        return Deadline(due, bool(provisional), tuple(sorted(provisional)))

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Working days still available before the due time: 0 on the due day itself, negative once overdue."""
        today = now.astimezone(CHINA_TZ).date()
        due_day = due.astimezone(CHINA_TZ).date()
        if now >= due:
            return -max(1, self._count(due_day, today))
        return self._count(today, due_day)

    def _count(self, after: date, until: date) -> int:
        """Working days in (after, until]."""
        count, day = 0, after
        while day < until:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count
