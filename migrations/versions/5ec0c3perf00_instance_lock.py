"""read paths: indexes for the paged inbox, request list, supervision page and unread count

Revision ID: 5ec0c3perf00
Revises: 5ec0b2audit0
Create Date: 2026-11-25 11:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5ec0c3perf00'
down_revision = '5ec0b2audit0'
branch_labels = None
depends_on = None

OPEN = sa.text("state = 'ready'")
UNREAD = sa.text("read_at IS NULL")


def upgrade():
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index('ix_task_open', ['due_at', 'created_at', 'id'], postgresql_where=OPEN,
                              sqlite_where=OPEN)
        batch_op.create_index('ix_task_department_instance', ['department_code', 'instance_id'])
        batch_op.create_index('ix_task_completed_by_instance', ['completed_by_id', 'instance_id'])
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.create_index('ix_process_instance_created', ['created_at', 'id'])
        batch_op.create_index('ix_process_instance_department_created', ['applicant_department_id', 'created_at', 'id'])
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index('ix_notification_unread_only', ['user_id'], postgresql_where=UNREAD,
                              sqlite_where=UNREAD)


def downgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_unread_only')
    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_index('ix_process_instance_department_created')
        batch_op.drop_index('ix_process_instance_created')
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index('ix_task_completed_by_instance')
        batch_op.drop_index('ix_task_department_instance')
        batch_op.drop_index('ix_task_open')
