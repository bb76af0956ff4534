"""supervisors' charts: deadline_day (settled tasks summed per deadline day), its refresh mark, task.completed_at index

Revision ID: 5ec1b2chrt00
Revises: 5ec1a1perf02
Create Date: 2026-11-25 14:30:00

The charts' figures (deadlines met and missed per department, week and month) summed the tasks of six months at
every view. A closed task never changes, so once both its deadline and its end lie before a mark the refresh job
adds it to deadline_day; the charts read those sums and only the tasks after the mark (open, due later, or closed
later: ix_task_due, ix_task_open and ix_task_closed_with_deadline). Filled by the first refresh.
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5ec1b2chrt00'
down_revision = '5ec1a1perf02'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'deadline_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('department_code', sa.String(length=40), nullable=False),
        sa.Column('provider', sa.Boolean(), nullable=False),
        sa.Column('due', sa.Integer(), nullable=False),
        sa.Column('missed', sa.Integer(), nullable=False),
        sa.Column('on_time', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'department_code', 'provider'),
    )
    op.create_table(
        'deadline_refresh',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('settled_before', sa.DateTime(timezone=True), nullable=True),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_task_closed_with_deadline', 'task', ['completed_at'],
                    postgresql_where=sa.text('due_at IS NOT NULL'), sqlite_where=sa.text('due_at IS NOT NULL'))


def downgrade():
    op.drop_index('ix_task_closed_with_deadline', table_name='task')
    op.drop_table('deadline_refresh')
    op.drop_table('deadline_day')
