"""approval actions: transfer, carbon copies

Revision ID: 5ec129act000
Revises: 5ec118cat000
Create Date: 2026-11-25 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec129act000'
down_revision = '5ec118cat000'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'carbon_copy',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('from_user_id', sa.Integer(), nullable=False),
        sa.Column('to_user_id', sa.Integer(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id']),
        sa.ForeignKeyConstraint(['task_id'], ['task.id']),
        sa.ForeignKeyConstraint(['from_user_id'], ['user_account.id']),
        sa.ForeignKeyConstraint(['to_user_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_carbon_copy_recipient', 'carbon_copy', ['to_user_id', 'id'])
    op.create_index('ix_carbon_copy_instance_recipient', 'carbon_copy', ['instance_id', 'to_user_id'])


def downgrade():
    op.drop_index('ix_carbon_copy_instance_recipient', table_name='carbon_copy')
    op.drop_index('ix_carbon_copy_recipient', table_name='carbon_copy')
    op.drop_table('carbon_copy')
