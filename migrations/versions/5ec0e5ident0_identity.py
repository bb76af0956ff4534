"""identity: CAS and LDAP accounts, organisation sync

Revision ID: 5ec0e5ident0
Revises: 5ec0d4perf01
Create Date: 2026-11-25 11:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5ec0e5ident0'
down_revision = '5ec0d4perf01'
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
