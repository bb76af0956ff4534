"""form definitions: versioned task forms (form_definition) and the versions each process version uses

Revision ID: 5ec18fform00
Revises: 5ec17elist00
Create Date: 2026-11-25 14:00:00

"""
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from app.models.types import UTCDateTime

FORMS_DIR = Path(__file__).resolve().parents[2] / "forms"


# revision identifiers, used by Alembic.
revision = '5ec18fform00'
down_revision = '5ec17elist00'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "form_definition",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_by_id", sa.Integer(), sa.ForeignKey("user_account.id"), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("key", "version"),
    )
    op.create_index("ix_form_definition_key", "form_definition", ["key"])
    op.create_table(
        "process_form_version",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("definition_id", sa.Integer(), sa.ForeignKey("process_definition.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("form_key", sa.String(80), nullable=False),
        sa.Column("form_version", sa.Integer(), nullable=False),
        sa.UniqueConstraint("definition_id", "form_key"),
    )
    op.create_index("ix_process_form_version_definition_id", "process_form_version", ["definition_id"])
    # the shipped forms as version 1, so that task pages keep working before the next `flask deploy` (which finds
    # them unchanged); process versions deployed before this migration pin nothing and render the latest version
    forms = sa.table("form_definition", sa.column("key"), sa.column("version"), sa.column("title"),
                     sa.column("definition"), sa.column("sha256"), sa.column("source"),
                     sa.column("created_at", UTCDateTime()))
    rows = []
    for path in sorted(FORMS_DIR.glob("*.json")):
        form = json.loads(path.read_text(encoding="utf-8"))
        canonical = json.dumps(form, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        rows.append({"key": form["key"], "version": 1, "title": form["title"],
                     "definition": json.dumps(form, ensure_ascii=False, indent=2),
                     "sha256": hashlib.sha256(canonical.encode("utf-8")).hexdigest(), "source": "file",
                     "created_at": datetime.now(UTC)})
    if rows:
        op.bulk_insert(forms, rows)


def downgrade():
    op.drop_index("ix_process_form_version_definition_id", table_name="process_form_version")
    op.drop_table("process_form_version")
    op.drop_index("ix_form_definition_key", table_name="form_definition")
    op.drop_table("form_definition")
