"""operations: scheduler lease, notification channels

Revision ID: 5ec0f6ops000
Revises: 5ec0e5ident0
Create Date: 2026-11-25 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec0f6ops000'
down_revision = '5ec0e5ident0'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
