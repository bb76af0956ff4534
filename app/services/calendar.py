"""The working-day calendar as the application uses it: built-in data plus administrators' arrangements."""
from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from flask import current_app, g
from sqlalchemy import func, select

from ..engine.calendar import ArrangementSyntaxError, Deadline, WorkingCalendar, format_arrangement, parse_arrangement
from ..extensions import db
from ..models import CalendarYear
from ..models.types import CHINA_TZ, utcnow
from .errors import ValidationFailed
from .inputs import has_bad_char
from .security import audit

YEARS = range(2000, 2100)  # the years an administrator may view or enter (the lunar tables end before 2100)
YEAR_MESSAGE = f"年份应为 {YEARS.start} 至 {YEARS.stop - 1} 之间的四位半角数字"

_lock = threading.Lock()
_cached: tuple[tuple, WorkingCalendar] | None = None


def revision_columns() -> list:
    """The calendar's version marker as scalar subqueries, for a caller that reads it in its own query."""
    return [select(func.count(CalendarYear.year)).scalar_subquery(),
            select(func.max(CalendarYear.updated_at)).scalar_subquery()]


def checked_calendar() -> WorkingCalendar | None:
    """The cached calendar when its version marker was already read in this application context, else None."""
    with _lock:
        cached = _cached
    return cached[1] if cached is not None and g.get("calendar_checked") is cached[1] else None


def current_calendar(revision: tuple | None = None) -> WorkingCalendar:
    """The calendar with every administrator-entered year, cached per process.

    Its version marker (count and latest change of the calendar_year rows) is read at most once per application
    context (one request, one job run), so a change made in another process is seen by that process's next
    request; a change made here (set_year_arrangement) drops the cache at once. `revision`: the marker as the
    caller just read it with revision_columns() (saves the query)."""
    global _cached
    checked = checked_calendar()
    if checked is not None:
        return checked
    if revision is None:
        revision = tuple(db.session.execute(select(func.count(CalendarYear.year),
                                                   func.max(CalendarYear.updated_at))).one())
    revision = (*revision, _office_close())
    with _lock:
        if _cached is not None and _cached[0] == revision:
            g.calendar_checked = _cached[1]
            return _cached[1]
    overrides = {row.year: parse_arrangement(row.year, row.arrangement_text)
                 for row in db.session.scalars(select(CalendarYear))}
    calendar = WorkingCalendar(overrides, office_close=_office_close())
    with _lock:
        _cached = (revision, calendar)
    g.calendar_checked = calendar
    return calendar


def invalidate_calendar() -> None:
    """Forget the cached calendar (after a change), in this process and this application context."""
    global _cached
    with _lock:
        _cached = None
    g.pop("calendar_checked", None)


def _office_close() -> time:
    return time.fromisoformat(current_app.config.get("OFFICE_CLOSE", "17:30"))


def due(start: datetime, n: int) -> Deadline:
    return current_calendar().add_working_days(start, n)


def year_overview(year: int) -> dict[str, Any]:
    """A year's source (admin/builtin/provisional), days off and make-up days, and its text form."""
    arrangement = current_calendar().arrangement(year)
    return {"year": year, "source": arrangement.source, "provisional": arrangement.provisional,
            "days_off": sorted(arrangement.days_off.items()), "make_up_days": sorted(arrangement.make_up_days.items()),
            "text": format_arrangement(arrangement)}


def provisional_warning(today: date | None = None) -> str | None:
    """A warning when the current or next year's arrangement has not been published/entered yet."""
    today = today or utcnow().astimezone(CHINA_TZ).date()
    calendar = current_calendar()
    years = [y for y in (today.year, today.year + 1) if calendar.is_provisional(y)]
    if not years:
        return None
    return (f"{'、'.join(str(y) for y in years)} 年的放假安排尚未录入：该年的工作日按周末和法定节日推算（暂定），"
            "调休上班日未知。国务院公布安排后请在「工作日历」中录入。")


def parse_year(text: str | None, default: int) -> int:
    """A year from a request parameter; full-width digits (which int() accepts) and years outside YEARS are
    refused with ValidationFailed, an empty value gives the default."""
    text = (text or "").strip()
    if not text:
        return default
    if len(text) == 4 and text.isascii() and text.isdigit() and int(text) in YEARS:
        return int(text)
    raise ValidationFailed({"year": YEAR_MESSAGE}, message=YEAR_MESSAGE)


# Called after an administrator changed the calendar with (user id, reason); each returns how many instances had a
# deadline moved. workflow/timers registers recompute_deadlines here (timers saves through progress, which reads
# this module: a hook instead of an import circle).
after_change: list[Callable[[int | None, str], int]] = []


def set_year_arrangement(year: int, text: str, user_id: int | None) -> dict[str, Any]:
    """Store an administrator's arrangement for a year and recompute pending deadlines that depend on it."""
    if year not in YEARS:
        raise ValidationFailed({"year": YEAR_MESSAGE})
    if has_bad_char(text):
        raise ValidationFailed({"text": "放假安排含有不允许的字符（空字符或不成对的 Unicode 代理字符）"},
                               values={"year": year, "text": ""}, message="放假安排有误")
    try:
        arrangement = parse_arrangement(year, text)
    except ArrangementSyntaxError as exc:
        raise ValidationFailed({"text": "；".join(exc.problems)}, values={"year": year, "text": text},
                               message="放假安排有误") from exc
    row = db.session.get(CalendarYear, year)
    before = current_calendar().arrangement(year).source
    if row is None:
        db.session.add(CalendarYear(year=year, arrangement_text=text, updated_by_id=user_id))
    else:
        row.arrangement_text = text
        row.updated_by_id = user_id
        row.updated_at = utcnow()
    audit.record("calendar_change", user_id=user_id, step=f"{year} 年放假安排",
                 detail={"year": year, "previous_source": before, "days_off": len(arrangement.days_off),
                         "make_up_days": len(arrangement.make_up_days)})
    db.session.commit()
    invalidate_calendar()
    moved = sum(recompute(user_id, f"{year} 年放假安排变更") for recompute in after_change)
    return {"year": year, "days_off": len(arrangement.days_off), "make_up_days": len(arrangement.make_up_days),
            "moved": moved}
