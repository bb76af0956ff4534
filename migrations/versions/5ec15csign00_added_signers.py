"""added signers (加签): before / after signatures on a task

Revision ID: 5ec15csign00
Revises: 5ec14brtrn00
Create Date: 2026-11-25 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec15csign00'
down_revision = '5ec14brtrn00'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'added_signer',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('requested_by_id', sa.Integer(), nullable=False),
        sa.Column('signer_id', sa.Integer(), nullable=False),
        sa.Column('position', sa.String(length=10), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('opinion', sa.Text(), nullable=True),
        sa.Column('held_data', sa.JSON(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['task_id'], ['task.id']),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id']),
        sa.ForeignKeyConstraint(['requested_by_id'], ['user_account.id']),
        sa.ForeignKeyConstraint(['signer_id'], ['user_account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_added_signer_signer', 'added_signer', ['signer_id', 'status', 'id'])
    op.create_index('ix_added_signer_instance_signer', 'added_signer', ['instance_id', 'signer_id'])
    op.create_index('ix_added_signer_task', 'added_signer', ['task_id', 'id'])
    # at most one pending 加签 per task, whatever races
    op.create_index('uq_added_signer_pending', 'added_signer', ['task_id'], unique=True,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))


def downgrade():
    op.drop_index('uq_added_signer_pending', table_name='added_signer')
    op.drop_index('ix_added_signer_task', table_name='added_signer')
    op.drop_index('ix_added_signer_instance_signer', table_name='added_signer')
    op.drop_index('ix_added_signer_signer', table_name='added_signer')
    op.drop_table('added_signer')
