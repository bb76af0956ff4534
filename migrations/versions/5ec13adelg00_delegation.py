"""delegation (slot reserved; fill in)

Revision ID: 5ec13adelg00
Revises: 5ec129act000
Create Date: 2026-11-25 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec13adelg00'
down_revision = '5ec129act000'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
