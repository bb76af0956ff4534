"""Task-form definitions as versioned data (issue 12), and the form versions each process version uses."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class FormSource:
    file = "file"  # imported from forms/<key>.json by `flask deploy`
    browser = "browser"  # saved in the form designer (/admin/forms)


class FormDefinition(db.Model):
    """One version of a form; rows never change (an edit is a new version)."""

    __tablename__ = "form_definition"
    __table_args__ = (UniqueConstraint("key", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(80), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    definition: Mapped[str] = mapped_column(Text, deferred=True)  # the JSON text, read when the cache misses
    sha256: Mapped[str] = mapped_column(String(64))  # of the canonical JSON: the cache key, and import's "unchanged"
    source: Mapped[str] = mapped_column(String(20), default=FormSource.file)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProcessFormVersion(db.Model):
    """The form version a process version's user tasks render (pinned at deploy)."""

    __tablename__ = "process_form_version"
    __table_args__ = (UniqueConstraint("definition_id", "form_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definition.id", ondelete="CASCADE"), index=True)
    form_key: Mapped[str] = mapped_column(String(80))
    form_version: Mapped[int] = mapped_column(Integer)
