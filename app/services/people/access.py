"""Who may act on a task and who may see a request."""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import String, and_, bindparam, case, cast, exists, false, func, literal, null, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.orm import aliased, joinedload

from ...extensions import db
from ...models import AddedSigner, CarbonCopy, Delegation, Department, ProcessInstance, TaskRecord, User
from ...models.countersign import VISIBLE_SIGN_STATUSES
from ...models.org import Role
from ...models.types import utcnow
from ..errors import Forbidden, NotFound

OVERSIGHT_ROLES = (Role.nic_reviewer, Role.nic_head, Role.cac_office, Role.supervisor, Role.admin)


def _fresh(model, ident: int, *options):
    """db.session.get(), but an instance expired by a commit is read again in one query with `options`
    (a plain get() would refresh its columns, then lazy-load each relationship the caller reads)."""
    held = db.session.identity_map.get(db.session.identity_key(model, ident))
    if held is not None and not sa_inspect(held).expired:  # not wholly expired: nothing to read, or changes kept
        return held
    return db.session.get(model, ident, options=list(options), populate_existing=True)


def get_user(user_id: int) -> User:
    user = _fresh(User, user_id, joinedload(User.department))
    if user is None or not user.active:
        raise Forbidden("用户不存在或已停用")
    return user


def is_candidate(user: User, record: TaskRecord, *, delegated: bool = True) -> bool:
    """A candidate has one of the task's roles in the task's department (lane + department from instance data).
    With `delegated`, also a deputy of such a candidate while the delegation runs (委托; a deputy's own deputy is not
    followed): at most one query, for all users, per transaction (delegators())."""
    return _own_candidate(user, record) or (delegated and acting_for(user, record) is not None)


def _own_candidate(user: User, record: TaskRecord) -> bool:
    roles = set(record.candidate_roles or [record.candidate_role])
    if not user.roles & roles:
        return False
    return record.department_code is None or record.department_code == user.department.code


def acting_for(user: User, record: TaskRecord) -> User | None:
    """The principal on whose behalf the user holds the task: None when the user is a candidate in their own right
    (or not at all). Several principals: the first by name."""
    if _own_candidate(user, record):
        return None
    return next((p for p in delegators(user) if _own_candidate(p, record)), None)


def delegators(user: User) -> list[User]:
    """The active principals who delegated to the user now (委托), by name, with their departments. Every running
    delegation is read in one query per transaction (a handful at a time), so checking many users costs one."""
    transaction = db.session().get_transaction()
    cached = db.session.info.get("delegators")
    if transaction is None or cached is None or cached[0] is not transaction:
        now = utcnow()
        rows = db.session.execute(
            select(Delegation.deputy_id, User).join(User, User.id == Delegation.principal_id)
            .where(Delegation.revoked_at.is_(None), Delegation.starts_at <= now, Delegation.ends_at > now,
                   User.active.is_(True))
            .options(joinedload(User.department)).order_by(User.display_name, User.id)).all()
        by_deputy: dict[int, list[User]] = {}
        for deputy_id, principal in rows:
            by_deputy.setdefault(deputy_id, []).append(principal)
        cached = (db.session().get_transaction(), by_deputy)
        db.session.info["delegators"] = cached
    return cached[1].get(user.id, [])


def holds_claim(user: User, record: TaskRecord) -> bool:
    """The open task is unclaimed, claimed by the user, or claimed by the user's deputy on the user's behalf (委托: the
    principal keeps the tasks a deputy took, also after the delegation ends)."""
    return record.claimed_by_id in (None, user.id) or record.on_behalf_of_id == user.id


def claim_filter(user: User):
    """holds_claim() as SQL."""
    return or_(TaskRecord.claimed_by_id.is_(None), TaskRecord.claimed_by_id == user.id,
               TaskRecord.on_behalf_of_id == user.id)


def require_candidate(user: User, record: TaskRecord) -> None:
    if not is_candidate(user, record):
        raise Forbidden("您不是该任务的办理人")


def department_filter(user: User):
    """SQL pre-filter for the inbox; the role check (a task may name several roles) is is_candidate()."""
    return _department_filter(user.department.code)


def _department_filter(code: str):
    return or_(TaskRecord.department_code.is_(None), TaskRecord.department_code == code)


# Building these filters costs ~1 ms of Python each (JSON functions, aliased columns): they are built once per
# (dialect, user id, roles, department) and shared, immutable; "now" is a bind evaluated at each execution.
def _key(user: User) -> tuple[str, int, tuple[str, ...], str | None]:
    roles = tuple(sorted(user.roles))
    return (db.session.get_bind().dialect.name, user.id, roles, user.department.code if roles else None)


def candidate_filter(user: User):
    """is_candidate() as SQL, for the inbox's paging: the user's own tasks, or those of a principal who delegated to
    the user now (委托), checked inside the same statement (no query of its own)."""
    return _candidate_filter(*_key(user))


def delegated_label(user: User):
    """SQL: the name of the principal through whom the user sees a task (委托), NULL for the user's own tasks."""
    return _delegated_label(*_key(user))


@lru_cache(maxsize=1024)
def _candidate_filter(dialect: str, user_id: int, roles: tuple[str, ...], code: str | None):
    return or_(_own_filter(dialect, roles, code), _delegated(dialect, user_id, select(literal(1))).exists())


@lru_cache(maxsize=1024)
def _delegated_label(dialect: str, user_id: int, roles: tuple[str, ...], code: str | None):
    principal_name = (_delegated(dialect, user_id, select(_PRINCIPAL.display_name))
                      .order_by(_PRINCIPAL.display_name).limit(1))
    return case((_own_filter(dialect, roles, code), null()), else_=principal_name.scalar_subquery())


_PRINCIPAL, _PRINCIPAL_DEPARTMENT = aliased(User, name="principal"), aliased(Department, name="principal_department")


def _delegated(dialect: str, user_id: int, query):
    """`query` from the delegations to the user running now whose (active) principal is a candidate of the task in
    the enclosing statement; the principal's own deputies are not followed."""
    now = bindparam(None, callable_=_now, type_=Delegation.starts_at.type)  # read at each execution
    p, dept = _PRINCIPAL, _PRINCIPAL_DEPARTMENT
    listed = TaskRecord.candidate_roles
    roles = literal(",") + p.roles_csv + literal(",")
    if dialect == "postgresql":
        has_role = cast(listed, JSONB).has_any(func.string_to_array(p.roles_csv, ","))
        first_role = func.strpos(roles, literal(",") + TaskRecord.candidate_role + literal(",")) > 0
    else:
        element = func.json_each(listed).table_valued("value")
        has_role = exists(select(literal(1)).select_from(element).where(
            func.instr(roles, literal(",") + element.c.value + literal(",")) > 0))
        first_role = func.instr(roles, literal(",") + TaskRecord.candidate_role + literal(",")) > 0
    return (query.select_from(Delegation).join(p, p.id == Delegation.principal_id)
            .join(dept, dept.id == p.department_id)
            .where(Delegation.deputy_id == user_id, Delegation.revoked_at.is_(None), Delegation.starts_at <= now,
                   Delegation.ends_at > now, p.active.is_(True),
                   or_(has_role, and_(_no_roles_listed(dialect), first_role)),
                   or_(TaskRecord.department_code.is_(None), TaskRecord.department_code == dept.code)))


def _now():
    return utcnow()  # looked up when called (tests move the clock by patching this module's utcnow)


def _no_roles_listed(dialect: str):
    listed = TaskRecord.candidate_roles
    if dialect == "postgresql":
        as_jsonb = cast(listed, JSONB)
        return or_(listed.is_(None), as_jsonb == cast(literal("[]"), JSONB), as_jsonb == cast(literal("null"), JSONB))
    return or_(listed.is_(None), func.json_type(listed).in_(["null"]), func.json_array_length(listed) == 0)


def _own_filter(dialect: str, roles: tuple[str, ...], code: str | None):
    """One of the user's roles among the task's roles (the first role when the list is empty) and the task in no
    department or the user's."""
    if not roles:
        return false()
    listed = TaskRecord.candidate_roles
    if dialect == "postgresql":
        has_role = cast(listed, JSONB).has_any(array([literal(r, String) for r in roles]))
    else:  # SQLite's JSON1 functions
        element = func.json_each(listed).table_valued("value")
        has_role = exists(select(literal(1)).select_from(element).where(element.c.value.in_(roles)))
    return and_(or_(has_role, and_(_no_roles_listed(dialect), TaskRecord.candidate_role.in_(roles))),
                _department_filter(code))


def can_view(user: User, instance: ProcessInstance, *, delegated: bool = True) -> bool:
    if user.has_role(*OVERSIGHT_ROLES):
        return True
    if instance.initiator_id == user.id or instance.applicant_department_id == user.department_id:
        return True
    involved = select(TaskRecord.id).where(TaskRecord.instance_id == instance.id).where(
        or_(TaskRecord.completed_by_id == user.id, TaskRecord.department_code == user.department.code))
    copied = select(CarbonCopy.id).where(CarbonCopy.instance_id == instance.id, CarbonCopy.to_user_id == user.id)
    signing = select(AddedSigner.id).where(AddedSigner.instance_id == instance.id, AddedSigner.signer_id == user.id,
                                          AddedSigner.status.in_(VISIBLE_SIGN_STATUSES))  # 加签
    if db.session.scalar(select(or_(exists(involved), exists(copied), exists(signing)))):  # 抄送, 加签: they see it
        return True
    # a deputy sees what the principal sees while the delegation runs (not a deputy's deputy)
    return delegated and any(can_view(p, instance, delegated=False) for p in delegators(user))


def get_viewable_instance(instance_id: int, user: User, *, completed_by_user: bool = False) -> ProcessInstance:
    """completed_by_user: the user has just completed a task of the instance, so may see it (can_view's involvement
    rule): no query to check it."""
    # with what every view of it shows (version, applicant's department, initiator): one query
    instance = _fresh(ProcessInstance, instance_id, joinedload(ProcessInstance.definition),
                      joinedload(ProcessInstance.applicant_department), joinedload(ProcessInstance.initiator))
    if instance is None:
        raise NotFound("申请不存在")
    if not completed_by_user and not can_view(user, instance):
        raise Forbidden("您无权查看该申请")
    return instance
