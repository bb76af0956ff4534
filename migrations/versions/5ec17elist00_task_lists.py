"""task lists: indexes for 我已办 (a user's completed tasks) and 我发起的 (a user's requests), newest first

Revision ID: 5ec17elist00
Revises: 5ec16dattc00
Create Date: 2026-11-25 14:00:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5ec17elist00'
down_revision = '5ec16dattc00'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index('ix_task_completed_by_at', ['completed_by_id', 'completed_at', 'id'])
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.create_index('ix_process_instance_initiator_created', ['initiator_id', 'created_at', 'id'])


def downgrade():
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_index('ix_process_instance_initiator_created')
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_completed_by_at')
