"""Which requests a department's user sees in the request list, read newest first from indexes whose cost grows
with the page, not with the department's history.

Outside the oversight roles a user sees the requests of their own department, those their department held a task
of (instance_department, kept by services.workflow.progress) and those they completed a task of themselves (a
deputy's 委托 step may belong to another department). Each of the three is read newest first with its own index and
cut at the rows the page can need; the page is then the newest of their union."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Select, select, union
from sqlalchemy.orm import aliased

from ...models import Department, ProcessInstance, TaskRecord, User
from ...models.involvement import InstanceDepartment

Filters = Callable[[type[Department]], list]


def visible_ids(user: User, filters: Filters, limit: int) -> Select:
    """The ids of the newest `limit` requests of each of the user's three scopes that pass `filters` (given the
    applicant department's alias, it returns the list's search/status/department conditions)."""
    newest = (ProcessInstance.created_at.desc(), ProcessInstance.id.desc())

    def branch(query: Select, order=newest) -> Select:
        applicant = aliased(Department)
        query = query.join(applicant, applicant.id == ProcessInstance.applicant_department_id).where(
            *filters(applicant))
        inner = query.order_by(*order).limit(limit).subquery()
        return select(inner.c.id)

    own = branch(select(ProcessInstance.id).where(ProcessInstance.applicant_department_id == user.department_id))
    involved = InstanceDepartment
    held = branch(select(ProcessInstance.id).join(involved, involved.instance_id == ProcessInstance.id)
                  .where(involved.department_code == user.department.code),
                  order=(involved.created_at.desc(), involved.instance_id.desc()))
    done = branch(select(ProcessInstance.id).where(ProcessInstance.id.in_(
        select(TaskRecord.instance_id).where(TaskRecord.completed_by_id == user.id))))
    return union(own, held, done)
