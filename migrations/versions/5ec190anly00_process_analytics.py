"""process analytics (slot reserved; fill in)

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
    pass


def downgrade():
    pass
