"""process analytics: completed steps in working days, flows taken, their daily sums, the refresh mark

Revision ID: 5ec190anly00
Revises: 5ec18fform00
Create Date: 2026-11-25 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec190anly00'
down_revision = '5ec18fform00'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'analytics_step',
        sa.Column('task_id', sa.Integer(), nullable=False),
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('applicant_department_id', sa.Integer(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('element_id', sa.String(length=80), nullable=False),
        sa.Column('working_days', sa.Float(), nullable=False),
        sa.Column('negative', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['task_id'], ['task.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('task_id'),
    )
    op.create_index('ix_analytics_step_instance_id', 'analytics_step', ['instance_id'])
    op.create_index('ix_analytics_step_day', 'analytics_step', ['definition_id', 'day'])
    op.create_table(
        'analytics_flow',
        sa.Column('instance_id', sa.Integer(), nullable=False),
        sa.Column('flow_id', sa.String(length=80), nullable=False),
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('applicant_department_id', sa.Integer(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('taken', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['instance_id'], ['process_instance.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('instance_id', 'flow_id'),
    )
    op.create_index('ix_analytics_flow_day', 'analytics_flow', ['definition_id', 'day'])
    op.create_table(
        'analytics_step_day',
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('applicant_department_id', sa.Integer(), nullable=False),
        sa.Column('element_id', sa.String(length=80), nullable=False),
        sa.Column('working_days', sa.Float(), nullable=False),
        sa.Column('negative', sa.Boolean(), nullable=False),
        sa.Column('passed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('definition_id', 'day', 'applicant_department_id', 'element_id', 'working_days',
                                'negative'),
    )
    op.create_table(
        'analytics_flow_day',
        sa.Column('definition_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('applicant_department_id', sa.Integer(), nullable=False),
        sa.Column('flow_id', sa.String(length=80), nullable=False),
        sa.Column('taken', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('definition_id', 'day', 'applicant_department_id', 'flow_id'),
    )
    op.create_table(
        'analytics_refresh',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('changed_to', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.Column('refreshed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    # instances are found by what changed since the last refresh
    op.create_index('ix_process_instance_updated', 'process_instance', ['updated_at', 'id'])


def downgrade():
    op.drop_index('ix_process_instance_updated', table_name='process_instance')
    op.drop_table('analytics_refresh')
    op.drop_table('analytics_flow_day')
    op.drop_table('analytics_step_day')
    op.drop_index('ix_analytics_flow_day', table_name='analytics_flow')
    op.drop_table('analytics_flow')
    op.drop_index('ix_analytics_step_day', table_name='analytics_step')
    op.drop_index('ix_analytics_step_instance_id', table_name='analytics_step')
    op.drop_table('analytics_step')
