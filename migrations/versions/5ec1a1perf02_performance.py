"""performance: instance_department (the departments each request involved, newest first per department)

Revision ID: 5ec1a1perf02
Revises: 5ec190anly00
Create Date: 2026-11-25 14:00:00

The request list of a department head reads its department's requests and those its department held a task of
newest first; probing every instance's tasks grew with the department's history. instance_department keeps one row
per (instance, department of one of its tasks) with the instance's created_at, indexed (department, created_at,
instance); services.workflow.progress maintains it where tasks are projected. Filled here from the task table.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5ec1a1perf02'
down_revision = '5ec190anly00'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'instance_department',
        sa.Column('instance_id', sa.Integer(), sa.ForeignKey('process_instance.id'), nullable=False),
        sa.Column('department_code', sa.String(length=40), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('instance_id', 'department_code'),
    )
    op.create_index('ix_instance_department_created', 'instance_department',
                    ['department_code', 'created_at', 'instance_id'])
    op.execute(sa.text(
        "INSERT INTO instance_department (instance_id, department_code, created_at) "
        "SELECT DISTINCT t.instance_id, t.department_code, p.created_at FROM task t "
        "JOIN process_instance p ON p.id = t.instance_id WHERE t.department_code IS NOT NULL"))


def downgrade():
    op.drop_index('ix_instance_department_created', table_name='instance_department')
    op.drop_table('instance_department')
