"""delegation: 委托/代理 (a principal's deputy for a date range) and the task's on-behalf-of column

Revision ID: 5ec13adelg00
Revises: 5ec129act000
Create Date: 2026-11-25 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec13adelg00'
down_revision = '5ec129act000'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'delegation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('principal_id', sa.Integer(), nullable=False),
        sa.Column('deputy_id', sa.Integer(), nullable=False),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['principal_id'], ['user_account.id']),
        sa.ForeignKeyConstraint(['deputy_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_delegation_deputy', 'delegation', ['deputy_id', 'ends_at'])
    op.create_index('ix_delegation_principal', 'delegation', ['principal_id', 'ends_at'])
    # SQLite copies the table to add the key (batch mode); PostgreSQL alters it in place
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('on_behalf_of_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('task_on_behalf_of_id_fkey', 'user_account', ['on_behalf_of_id'], ['id'])


def downgrade():
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_constraint('task_on_behalf_of_id_fkey', type_='foreignkey')
        batch_op.drop_column('on_behalf_of_id')
    op.drop_index('ix_delegation_principal', table_name='delegation')
    op.drop_index('ix_delegation_deputy', table_name='delegation')
    op.drop_table('delegation')
