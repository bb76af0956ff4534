"""audit log hash chain; PostgreSQL refuses UPDATE/DELETE on audit_log

Revision ID: 5ec0b2audit0
Revises: 5ec0a1accts0
Create Date: 2026-11-25 11:00:00

"""
import sqlalchemy as sa
from alembic import op

from app.models.types import UTCDateTime

# revision identifiers, used by Alembic.
revision = '5ec0b2audit0'
down_revision = '5ec0a1accts0'
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
BATCH = 5000

PG_GUARDS = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
"""


def upgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('row_hash', sa.String(length=64), nullable=True))
    head = op.create_table('audit_chain_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('last_id', sa.Integer(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_chain_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=20), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('head_id', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.Column('broken_id', sa.Integer(), nullable=True),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    last_id, last_hash = _chain_existing_rows(op.get_bind())
    op.bulk_insert(head, [{"id": 1, "last_id": last_id, "last_hash": last_hash}])
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('row_hash', existing_type=sa.String(length=64), nullable=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_GUARDS)


def _chain_existing_rows(bind) -> tuple[int, str]:
    """Hash the rows already there, in id order, in batches (the format is the application's: audit_chain)."""
    from app.services.security.audit_chain import row_digest

    log = sa.table("audit_log", sa.column("id", sa.Integer()), sa.column("at", UTCDateTime()),
                   sa.column("user_id", sa.Integer()), sa.column("instance_id", sa.Integer()),
                   sa.column("task_id", sa.Integer()), sa.column("action", sa.String()),
                   sa.column("step", sa.String()), sa.column("opinion", sa.Text()), sa.column("detail", sa.JSON()),
                   sa.column("prev_hash", sa.String()), sa.column("row_hash", sa.String()))
    stamp = sa.update(log).where(log.c.id == sa.bindparam("row_id")).values(
        prev_hash=sa.bindparam("p"), row_hash=sa.bindparam("h"))
    last_id, last_hash = 0, GENESIS_HASH
    while True:
        rows = bind.execute(sa.select(log.c.id, log.c.at, log.c.user_id, log.c.instance_id, log.c.task_id,
                                      log.c.action, log.c.step, log.c.opinion, log.c.detail)
                            .where(log.c.id > last_id).order_by(log.c.id).limit(BATCH)).all()
        if not rows:
            return last_id, last_hash
        params = []
        for r in rows:
            digest = row_digest(id=r.id, at=r.at, user_id=r.user_id, instance_id=r.instance_id, task_id=r.task_id,
                                action=r.action, step=r.step, opinion=r.opinion, detail=r.detail, prev_hash=last_hash)
            params.append({"row_id": r.id, "p": last_hash, "h": digest})
            last_id, last_hash = r.id, digest
        bind.execute(stamp, params)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_chain_head_no_truncate ON audit_chain_head")
        op.execute("DROP TRIGGER audit_chain_head_no_delete ON audit_chain_head")
        op.execute("DROP TRIGGER audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER audit_log_no_update_delete ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    op.drop_table('audit_chain_check')
    op.drop_table('audit_chain_head')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_column('row_hash')
        batch_op.drop_column('prev_hash')
