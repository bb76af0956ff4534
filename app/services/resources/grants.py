"""Grants: what a delivered share request allows its department to use, until when (Art. 22, 23, 30)."""
from __future__ import annotations

import calendar as months_calendar
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from ...extensions import db
from ...models import DataGrant, DataResource, ProcessInstance
from ...models.types import CHINA_TZ, utcnow
from ..messaging import notify
from ..people.access import OVERSIGHT_ROLES, get_user
from ..security import audit
from ..workflow import script_actions

RENEWAL_NOTICE_DAYS = 30
METHOD_LABELS = {"interface": "数据接口", "sync": "数据同步", "export": "数据导出"}


def add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, months_calendar.monthrange(year, month)[1]))


@script_actions.handles("record_grants")
def _record_from_script(instance: ProcessInstance, data: dict[str, Any], _open: dict[str, list[str]]) -> None:
    record_grants(instance, data["application"], data["delivery"], data["months"])


def record_grants(instance: ProcessInstance, application: dict[str, Any], delivery: dict[str, Any],
                  months: int) -> int:
    """One grant per delivered resource, with the fields asked for and the purpose. Callers commit."""
    now = utcnow()
    count = 0
    for item in application.get("resources", []):
        db.session.add(DataGrant(instance_id=instance.id, grantee_department_id=instance.applicant_department_id,
                                 resource_id=item["resource_id"], fields=item.get("field_labels", []),
                                 purpose=application.get("purpose", ""), method=delivery.get("method", ""),
                                 granted_at=now, expires_at=add_months(now, months)))
        count += 1
    audit.record("grant", instance_id=instance.id, step="登记数据使用授权",
                 detail={"summary": f"{count} 项授权，有效期 {months} 个月", "months": months})
    return count


def status(grant: DataGrant, now: datetime) -> tuple[str, str]:
    if now >= grant.expires_at:
        return "expired", "已过期"
    if grant.expires_at - now <= timedelta(days=RENEWAL_NOTICE_DAYS):
        return "expiring", "即将到期"
    return "active", "有效"


def list_grants(user_id: int) -> list[dict[str, Any]]:
    """Grants the user may see: their department's, those on resources their department provides, or all."""
    user = get_user(user_id)
    query = select(DataGrant).join(DataResource).order_by(DataGrant.expires_at)
    if not user.has_role(*OVERSIGHT_ROLES):
        query = query.where(or_(DataGrant.grantee_department_id == user.department_id,
                                DataResource.owner_department_id == user.department_id))
    now = utcnow()
    out = []
    for grant in db.session.scalars(query):
        code, label = status(grant, now)
        out.append({"id": grant.id, "instance_id": grant.instance_id, "resource": grant.resource.name,
                    "provider": grant.resource.owner_department.name, "grantee": grant.grantee_department.name,
                    "grantee_code": grant.grantee_department.code, "fields": grant.fields, "purpose": grant.purpose,
                    "method": METHOD_LABELS.get(grant.method, grant.method), "granted_at": grant.granted_at,
                    "expires_at": grant.expires_at, "status": code, "status_label": label})
    return out


def remind_expiring(now: datetime | None = None) -> int:
    """Remind grantees once, RENEWAL_NOTICE_DAYS before expiry, to renew (a new share request). Returns how many."""
    now = now or utcnow()
    due = db.session.scalars(select(DataGrant).where(
        DataGrant.renewal_reminded_at.is_(None), DataGrant.expires_at > now,
        DataGrant.expires_at <= now + timedelta(days=RENEWAL_NOTICE_DAYS))).all()
    reminded = 0
    for grant in due:
        claimed = db.session.execute(update(DataGrant).where(
            DataGrant.id == grant.id, DataGrant.renewal_reminded_at.is_(None)).values(renewal_reminded_at=now))
        if claimed.rowcount != 1:
            continue
        users = notify.users_for(grant.grantee_department.code, ["handler", "dept_head"])
        notify.add(users, "renewal", f"「{grant.resource.name}」的数据使用授权将于 "
                   f"{grant.expires_at.astimezone(CHINA_TZ):%Y-%m-%d} 到期，如需继续使用请提出续期申请",
                   instance_id=grant.instance_id)
        reminded += 1
    db.session.commit()
    return reminded
