"""notification channels: 企业微信, 钉钉, per-user preferences

Revision ID: 5ec107chan00
Revises: 5ec0f6ops000
Create Date: 2026-11-25 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec107chan00'
down_revision = '5ec0f6ops000'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
