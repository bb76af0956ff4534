"""identity: CAS and LDAP accounts, organisation sync

Revision ID: 5ec0e5ident0
Revises: 5ec0d4perf01
Create Date: 2026-11-25 11:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5ec0e5ident0'
down_revision = '5ec0d4perf01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('auth_source', sa.String(length=16), nullable=False, server_default='local'))
        batch_op.add_column(sa.Column('external_id', sa.String(length=255), nullable=True))
    op.create_table(
        'cas_ticket',
        sa.Column('ticket_sha256', sa.String(length=64), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('ticket_sha256'),
    )
    with op.batch_alter_table('cas_ticket', schema=None) as batch_op:
        batch_op.create_index('ix_cas_ticket_user_id', ['user_id'], unique=False)
        batch_op.create_index('ix_cas_ticket_created_at', ['created_at'], unique=False)


def downgrade():
    op.drop_table('cas_ticket')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('external_id')
        batch_op.drop_column('auth_source')
