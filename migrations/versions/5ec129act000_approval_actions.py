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
    pass


def downgrade():
    pass
