"""Which requests a department's user sees in the request list, read newest first from indexes whose cost grows
with the page, not with the department's history.

Outside the oversight roles a user sees the requests of their own department, those their department held a task
of (instance_department, kept by services.workflow.progress) and those they completed a task of themselves (a
deputy's 委托 step may belong to another department). Each of the three is read newest first with its own index and
cut at the rows the page can need; the page is then the newest of their union.

委托: while a delegation runs, the deputy also sees what the principal sees (access.can_view admits it): the same
three scopes of the principal, and every request when the principal holds an oversight role. Those branches are
driven by the (few) running delegations to the user, read inside the same statement: no delegation, no rows and
no statement of their own."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import ColumnElement, Select, and_, any_, exists, func, literal, or_, select, union
from sqlalchemy.orm import aliased

from ...extensions import db
from ...models import Delegation, Department, ProcessInstance, TaskRecord, User
from ...models.involvement import InstanceDepartment
from ...models.types import utcnow
from ..people.access import OVERSIGHT_ROLES

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
    # 委托: the principals' scopes, read only when a delegation to the user runs now (a one-time check), as one
    # branch over the ids they give: on PostgreSQL an array read once, so that the planner's guess for the (almost
    # always empty) branch stays small and the outer query keeps its plan
    deputy = running_delegation(user.id)
    scopes = union(
        select(ProcessInstance.id).where(ProcessInstance.applicant_department_id.in_(
            principals(user.id, "department_id"))),
        select(involved.instance_id).where(involved.department_code.in_(principals(user.id, "department_code"))),
        select(TaskRecord.instance_id).where(TaskRecord.completed_by_id.in_(principals(user.id, "id"))),
        branch(select(ProcessInstance.id).where(overseeing_principal(user.id)))).subquery()  # the newest only
    as_deputy = branch(select(ProcessInstance.id).where(deputy, _among(select(scopes.c.id))))
    return union(own, held, done, as_deputy)


def _among(instance_ids: Select) -> ColumnElement[bool]:
    """ProcessInstance.id in the ids. PostgreSQL reads them once (ANY of an InitPlan's array): as IN (…) it may walk
    every request newest first probing the tasks of each, not knowing how few the principals completed."""
    if db.session.get_bind().dialect.name == "postgresql":
        return ProcessInstance.id == any_(func.array(instance_ids.scalar_subquery()))
    return ProcessInstance.id.in_(instance_ids)


def running_delegation(user_id: int) -> ColumnElement[bool]:
    """Some delegation to the user runs now (uncorrelated: evaluated once per statement)."""
    now = utcnow()
    return exists(select(Delegation.id).where(Delegation.deputy_id == user_id, Delegation.revoked_at.is_(None),
                                              Delegation.starts_at <= now, Delegation.ends_at > now))


def principals(user_id: int, what: str) -> Select:
    """The id, department_id or department_code of the active principals who delegated to the user now (委托)."""
    now = utcnow()
    principal = aliased(User, name="scope_principal")
    column = {"id": principal.id, "department_id": principal.department_id}.get(what)
    query = select(column if column is not None else Department.code).select_from(Delegation).join(
        principal, principal.id == Delegation.principal_id)
    if column is None:
        query = query.join(Department, Department.id == principal.department_id)
    return query.where(Delegation.deputy_id == user_id, Delegation.revoked_at.is_(None), Delegation.starts_at <= now,
                       Delegation.ends_at > now, principal.active.is_(True))


def overseeing_principal(user_id: int) -> ColumnElement[bool]:
    """A principal with an oversight role (who sees every request) delegated to the user now (委托)."""
    now = utcnow()
    principal = aliased(User, name="overseeing_principal")
    roles = literal(",") + principal.roles_csv + literal(",")
    return exists(select(Delegation.id).join(principal, principal.id == Delegation.principal_id).where(
        Delegation.deputy_id == user_id, Delegation.revoked_at.is_(None), Delegation.starts_at <= now,
        Delegation.ends_at > now, principal.active.is_(True),
        or_(*(roles.contains(f",{role},", autoescape=True) for role in OVERSIGHT_ROLES))))


def delegated_scope(user_id: int) -> ColumnElement[bool]:
    """The principals' scopes (委托) as one condition on ProcessInstance, for lists filtered row by row."""
    held = select(TaskRecord.instance_id).where(TaskRecord.instance_id == ProcessInstance.id, or_(
        TaskRecord.completed_by_id.in_(principals(user_id, "id")),
        TaskRecord.department_code.in_(principals(user_id, "department_code"))))
    return and_(running_delegation(user_id), or_(
        ProcessInstance.applicant_department_id.in_(principals(user_id, "department_id")), held.exists(),
        overseeing_principal(user_id)))
