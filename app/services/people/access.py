"""Who may act on a task and who may see a request."""
from __future__ import annotations

from sqlalchemy import String, and_, cast, exists, false, func, literal, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import JSONB, array
from sqlalchemy.orm import joinedload

from ...extensions import db
from ...models import AddedSigner, CarbonCopy, ProcessInstance, TaskRecord, User
from ...models.countersign import VISIBLE_SIGN_STATUSES
from ...models.org import Role
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


def is_candidate(user: User, record: TaskRecord) -> bool:
    """A candidate has one of the task's roles in the task's department (lane + department from instance data)."""
    roles = set(record.candidate_roles or [record.candidate_role])
    if not user.roles & roles:
        return False
    return record.department_code is None or record.department_code == user.department.code


def require_candidate(user: User, record: TaskRecord) -> None:
    if not is_candidate(user, record):
        raise Forbidden("您不是该任务的办理人")


def department_filter(user: User):
    """SQL pre-filter for the inbox; the role check (a task may name several roles) is is_candidate()."""
    return or_(TaskRecord.department_code.is_(None), TaskRecord.department_code == user.department.code)


def candidate_filter(user: User):
    """is_candidate() as SQL, for the inbox's paging: one of the user's roles among the task's roles (the first role
    when the list is empty) and the task in no department or the user's."""
    roles = sorted(user.roles)
    if not roles:
        return false()
    listed = TaskRecord.candidate_roles
    if db.session.get_bind().dialect.name == "postgresql":
        as_jsonb = cast(listed, JSONB)
        has_role = as_jsonb.has_any(array([literal(r, String) for r in roles]))
        empty = or_(listed.is_(None), as_jsonb == cast(literal("[]"), JSONB), as_jsonb == cast(literal("null"), JSONB))
    else:  # SQLite's JSON1 functions
        element = func.json_each(listed).table_valued("value")
        has_role = exists(select(literal(1)).select_from(element).where(element.c.value.in_(roles)))
        empty = or_(listed.is_(None), func.json_type(listed).in_(["null"]), func.json_array_length(listed) == 0)
    return and_(or_(has_role, and_(empty, TaskRecord.candidate_role.in_(roles))), department_filter(user))


def can_view(user: User, instance: ProcessInstance) -> bool:
    if user.has_role(*OVERSIGHT_ROLES):
        return True
    if instance.initiator_id == user.id or instance.applicant_department_id == user.department_id:
        return True
    involved = select(TaskRecord.id).where(TaskRecord.instance_id == instance.id).where(
        or_(TaskRecord.completed_by_id == user.id, TaskRecord.department_code == user.department.code))
    copied = select(CarbonCopy.id).where(CarbonCopy.instance_id == instance.id, CarbonCopy.to_user_id == user.id)
    signing = select(AddedSigner.id).where(AddedSigner.instance_id == instance.id, AddedSigner.signer_id == user.id,
                                          AddedSigner.status.in_(VISIBLE_SIGN_STATUSES))  # 加签
    return bool(db.session.scalar(select(or_(exists(involved), exists(copied), exists(signing)))))  # 抄送, 加签


def get_viewable_instance(instance_id: int, user: User) -> ProcessInstance:
    # with what every view of it shows (version, applicant's department, initiator): one query
    instance = _fresh(ProcessInstance, instance_id, joinedload(ProcessInstance.definition),
                      joinedload(ProcessInstance.applicant_department), joinedload(ProcessInstance.initiator))
    if instance is None:
        raise NotFound("申请不存在")
    if not can_view(user, instance):
        raise Forbidden("您无权查看该申请")
    return instance
