"""委托/代理: a principal names a deputy for a date range; meanwhile the deputy sees and acts on the principal's
tasks (access.is_candidate / candidate_filter), and every such action records on whose behalf ("李四（代 张处长）").

Dates are the university's (China time) and inclusive; a delegation is stored as [00:00 of the first day, 00:00 of
the day after the last) in UTC. A principal names one deputy at a time: no two unrevoked delegations of the same
principal overlap. A deputy's own deputy is not followed.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from ...extensions import db
from ...models import Delegation, Department, User
from ...models.types import CHINA_TZ, utcnow
from ..errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..messaging import notify
from ..security import audit
from .access import get_user

MAX_REASON = 500
LIST_LIMIT = 100  # of each list (given, received), newest first

STATUS_LABELS = {"active": "生效中", "scheduled": "未开始", "ended": "已结束", "revoked": "已撤销"}


LAST_YEAR = 9000  # far beyond any real delegation; keeps the range's end + 1 year + 1 day a valid date


def today() -> date:
    return utcnow().astimezone(CHINA_TZ).date()


def day_start(day: date) -> datetime:
    """00:00 China time of the day, in UTC."""
    return datetime.combine(day, time(0), CHINA_TZ).astimezone(UTC)


def one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28)


def _invalid(errors: dict[str, str], values: dict[str, Any] | None = None) -> ValidationFailed:
    return ValidationFailed(errors, values=values, message=next(iter(errors.values())))


def _date(raw: Any, label: str) -> date | str:
    """The date, or the error's words."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return f"请填写{label}"
    text = raw.strip() if isinstance(raw, str) else ""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        return f"{label}应为 YYYY-MM-DD 格式的日期"
    if day.year > LAST_YEAR:  # one_year_after and the day after the range must still be dates
        return f"{label}不能晚于 {LAST_YEAR} 年"
    return day


def create_delegation(principal_id: int, deputy: Any, starts_on: Any, ends_on: Any, reason: Any = "") -> dict[str, Any]:
    """The principal names a deputy from starts_on to ends_on (China dates, inclusive). ValidationFailed (422) for
    bad input: the deputy must be an active user other than oneself, the range must start today or later, end on or
    after its start and last at most a year; Conflict (409) when it overlaps an unrevoked delegation of the same
    principal. Audited; the deputy is notified."""
    principal = get_user(principal_id)
    values = {"deputy": deputy if isinstance(deputy, str) else "", "starts_on": starts_on if isinstance(starts_on, str)
              else "", "ends_on": ends_on if isinstance(ends_on, str) else "",
              "reason": reason if isinstance(reason, str) else ""}
    errors: dict[str, str] = {}
    person: User | None = None
    if not isinstance(deputy, str) or not deputy.strip():
        errors["deputy"] = "请填写受托人（用户名）"
    else:
        person = db.session.scalar(select(User).where(User.username == deputy.strip())
                                   .options(joinedload(User.department)))
        if person is None:
            errors["deputy"] = f"用户「{deputy.strip()[:60]}」不存在"
        elif not person.active:
            errors["deputy"] = f"{person.display_name}的账号已停用，不能受托"
        elif person.id == principal.id:
            errors["deputy"] = "不能委托给自己"
    start, end = _date(starts_on, "开始日期"), _date(ends_on, "结束日期")
    if isinstance(start, str):
        errors["starts_on"] = start
    if isinstance(end, str):
        errors["ends_on"] = end
    if isinstance(start, date) and isinstance(end, date):
        if start < today():
            errors["starts_on"] = "开始日期不能早于今天"
        elif end < start:
            errors["ends_on"] = "结束日期不能早于开始日期"
        elif end > one_year_after(start):
            errors["ends_on"] = "委托期限不能超过一年"
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        errors["reason"] = "委托事由应为文字"
    elif len(reason.strip()) > MAX_REASON:
        errors["reason"] = f"委托事由不能超过 {MAX_REASON} 个字"
    if errors:
        raise _invalid(errors, values)
    assert person is not None and isinstance(start, date) and isinstance(end, date) and isinstance(reason, str)
    starts_at, ends_at = day_start(start), day_start(end + timedelta(days=1))
    # one deputy at a time: two requests of the same principal wait for each other here (PostgreSQL)
    db.session.execute(select(User.id).where(User.id == principal.id).with_for_update())
    clash = db.session.scalar(select(Delegation).where(
        Delegation.principal_id == principal.id, Delegation.revoked_at.is_(None),
        Delegation.starts_at < ends_at, Delegation.ends_at > starts_at).options(joinedload(Delegation.deputy))
        .order_by(Delegation.starts_at).limit(1))
    if clash is not None:
        first, last = _dates(clash)
        raise Conflict(f"该时段与已有的委托重叠（{clash.deputy.display_name}，{first} 至 {last}），"
                       "同一时间只能委托一人，请先撤销原委托")
    row = Delegation(principal_id=principal.id, deputy_id=person.id, starts_at=starts_at, ends_at=ends_at,
                     reason=reason.strip(), created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    span = f"{start.isoformat()} 至 {end.isoformat()}"
    audit.record("delegate", user_id=principal.id, detail={
        "summary": f"委托 {person.display_name} 代为办理（{span}）", "delegation_id": row.id,
        "deputy": person.username, "starts_on": start.isoformat(), "ends_on": end.isoformat(),
        "reason": row.reason})
    notify.add([person], "delegation", f"{principal.department.name}{principal.display_name}委托您在 {span} 代为办理其"
                                       f"待办事项" + (f"：{row.reason}" if row.reason else ""))
    view = _view(row, principal.id, principal=principal, deputy=person)
    db.session.commit()
    notify.send_pending_emails()
    return view


def revoke_delegation(delegation_id: int, user_id: int) -> dict[str, Any]:
    """The principal revokes a delegation that has not ended (NotFound, Forbidden for anyone else, Conflict when
    already revoked or ended). From then on the deputy no longer holds the principal's tasks. Audited; the deputy
    is notified."""
    user = get_user(user_id)
    row = db.session.get(Delegation, delegation_id, with_for_update=True)  # two revocations: the second waits
    if row is None:
        raise NotFound("委托不存在")
    if row.principal_id != user.id:
        raise Forbidden("只有委托人本人可以撤销该委托")
    if row.revoked_at is not None:
        raise Conflict("该委托已撤销")
    now = utcnow()
    if row.ends_at <= now:
        raise Conflict("该委托已结束，无需撤销")
    row.revoked_at = now
    first, last = _dates(row)
    audit.record("delegation_revoked", user_id=user.id, detail={
        "summary": f"撤销对 {row.deputy.display_name} 的委托（{first} 至 {last}）", "delegation_id": row.id,
        "deputy": row.deputy.username})
    notify.add([row.deputy], "delegation", f"{user.display_name}撤销了对您的委托（{first} 至 {last}），"
                                           "其待办事项不再由您代办")
    view = _view(row, user.id, principal=user, deputy=row.deputy)
    db.session.commit()
    notify.send_pending_emails()
    return view


def list_delegations(user_id: int) -> dict[str, list[dict[str, Any]]]:
    """委托 the user gave (given) and received (received), newest first, at most LIST_LIMIT each."""
    user = get_user(user_id)
    rows = db.session.scalars(
        select(Delegation).where(or_(Delegation.principal_id == user.id, Delegation.deputy_id == user.id))
        .options(joinedload(Delegation.principal).joinedload(User.department),
                 joinedload(Delegation.deputy).joinedload(User.department))
        .order_by(Delegation.starts_at.desc(), Delegation.id.desc()).limit(2 * LIST_LIMIT)).all()
    given = [_view(r, user.id) for r in rows if r.principal_id == user.id][:LIST_LIMIT]
    received = [_view(r, user.id) for r in rows if r.deputy_id == user.id][:LIST_LIMIT]
    return {"given": given, "received": received}


def delegation_page(user_id: int) -> dict[str, Any]:
    """The account page: both lists, the people who may be named (active users but oneself) and today's date."""
    user = get_user(user_id)
    rows = db.session.execute(select(User.username, User.display_name, Department.name).join(Department)
                              .where(User.active.is_(True), User.id != user.id)
                              .order_by(Department.name, User.display_name, User.username)).all()
    return {**list_delegations(user_id), "today": today().isoformat(),
            "max_end": one_year_after(today()).isoformat(),
            "choices": [{"username": r[0], "name": r[1], "department": r[2]} for r in rows]}


def _dates(row: Delegation) -> tuple[str, str]:
    """The China dates the delegation covers (inclusive)."""
    first = row.starts_at.astimezone(CHINA_TZ).date()
    last = (row.ends_at.astimezone(CHINA_TZ) - timedelta(days=1)).date()
    return first.isoformat(), last.isoformat()


def status(row: Delegation, now: datetime | None = None) -> str:
    now = now or utcnow()
    if row.revoked_at is not None:
        return "revoked"
    if row.ends_at <= now:
        return "ended"
    return "active" if row.starts_at <= now else "scheduled"


def _view(row: Delegation, user_id: int, *, principal: User | None = None,
          deputy: User | None = None) -> dict[str, Any]:
    principal = principal or row.principal
    deputy = deputy or row.deputy
    first, last = _dates(row)
    state = status(row)
    return {"id": row.id, "principal": principal.username, "principal_name": principal.display_name,
            "principal_department": principal.department.name, "deputy": deputy.username,
            "deputy_name": deputy.display_name, "deputy_department": deputy.department.name,
            "starts_on": first, "ends_on": last, "reason": row.reason, "status": state,
            "status_label": STATUS_LABELS[state], "created_at": row.created_at, "revoked_at": row.revoked_at,
            "can_revoke": row.principal_id == user_id and state in ("active", "scheduled")}


# --- on whose behalf ------------------------------------------------------------------------------------------------

def behalf(principal: User | None) -> dict[str, Any]:
    """What an audit row's detail (or a step's stamp) carries when a deputy acted: {} for one's own task."""
    if principal is None:
        return {}
    return {"on_behalf_of": {"username": principal.username, "name": principal.display_name}}


def acting_name(name: str, detail: dict[str, Any] | None) -> str:
    """"李四（代 张处长）" when the audit detail says the action was a deputy's, else the name."""
    on_behalf = (detail or {}).get("on_behalf_of")
    if isinstance(on_behalf, dict) and on_behalf.get("name"):
        return f"{name}（代 {on_behalf['name']}）"
    return name
