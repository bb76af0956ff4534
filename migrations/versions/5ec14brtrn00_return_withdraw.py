"""return withdraw: 退回/撤回/收回 reset a step, so one engine task may own several task rows

A reset (SpiffWorkflow's reset_from_task_id) makes the target step READY again under its old engine task id; the
row of its earlier completion stays as history and a new row is projected. The (instance_id, engine_task_id) key
becomes unique among the open (ready) rows only, with a plain index for the lookups of every row.
Downgrade fails if an instance already holds two rows of one engine task (a reset happened).

Revision ID: 5ec14brtrn00
Revises: 5ec13adelg00
Create Date: 2026-11-25 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec14brtrn00'
down_revision = '5ec13adelg00'
branch_labels = None
depends_on = None

_UNNAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}  # names SQLite's reflected unnamed UNIQUE for the batch
_OPEN = "state = 'ready'"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint('task_instance_id_engine_task_id_key', 'task', type_='unique')
    else:
        with op.batch_alter_table('task', recreate='always', naming_convention=_UNNAMED) as batch_op:
            batch_op.drop_constraint('uq_task_instance_id', type_='unique')
    op.create_index('uq_task_open_engine_task', 'task', ['instance_id', 'engine_task_id'], unique=True,
                    postgresql_where=sa.text(_OPEN), sqlite_where=sa.text(_OPEN))
    op.create_index('ix_task_instance_engine_task', 'task', ['instance_id', 'engine_task_id'])


def downgrade():
    op.drop_index('ix_task_instance_engine_task', table_name='task')
    op.drop_index('uq_task_open_engine_task', table_name='task')
    if op.get_bind().dialect.name == "postgresql":
        op.create_unique_constraint('task_instance_id_engine_task_id_key', 'task', ['instance_id', 'engine_task_id'])
    else:
        with op.batch_alter_table('task', recreate='always') as batch_op:
            batch_op.create_unique_constraint('uq_task_instance_id', ['instance_id', 'engine_task_id'])
