"""catalogue: one source per data item (Art. 14), coding standards (Art. 13)

Revision ID: 5ec118cat000
Revises: 5ec107chan00
Create Date: 2026-11-25 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec118cat000'
down_revision = '5ec107chan00'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
