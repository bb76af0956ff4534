"""notification channels: 企业微信, 钉钉, per-user preferences

Revision ID: 5ec107chan00
Revises: 5ec0f6ops000
Create Date: 2026-11-25 11:00:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '5ec107chan00'
down_revision = '5ec0f6ops000'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wecom_userid', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('notify_channels', sa.String(length=60), nullable=False,
                                      server_default='email,wecom,dingtalk'))
    op.create_table(
        'notification_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('notification_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('recipient', sa.String(length=120), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['notification_id'], ['notification.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notification_delivery_notification_id', 'notification_delivery', ['notification_id'])
    op.create_index('ix_delivery_due', 'notification_delivery', ['state', 'next_attempt_at'])
    op.create_index('ix_delivery_rate', 'notification_delivery', ['channel', 'recipient', 'sent_at'])


def downgrade():
    op.drop_index('ix_delivery_rate', table_name='notification_delivery')
    op.drop_index('ix_delivery_due', table_name='notification_delivery')
    op.drop_index('ix_notification_delivery_notification_id', table_name='notification_delivery')
    op.drop_table('notification_delivery')
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_column('notify_channels')
        batch_op.drop_column('wecom_userid')
