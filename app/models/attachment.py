"""Files attached to task and start forms: metadata here, content outside the database by SHA-256."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .org import User
from .types import UTCDateTime, utcnow


class Attachment(db.Model):
    """One uploaded file. Unbound (instance_id NULL) while an API upload waits to be named in a submission; bound to
    the instance (and the task, NULL for a start form) whose form carried it. Content lives at
    <ATTACHMENT_DIR>/<sha256[:2]>/<sha256[2:4]>/<sha256>, shared by every row of the same content."""

    __tablename__ = "attachment"
    __table_args__ = (Index("ix_attachment_instance", "instance_id", "id"),
                      Index("ix_attachment_unbound", "uploaded_by_id", "instance_id"),
                      Index("ix_attachment_sha256", "sha256"),
                      Index("ix_attachment_uploaded_at", "uploaded_at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255))  # sanitised: shown, and the download's file name
    original_name: Mapped[str] = mapped_column(String(255), default="")  # as sent (bad characters removed)
    content_type: Mapped[str] = mapped_column(String(100))  # from the content check, never the client's word
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("task.id"))
    field: Mapped[str] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    uploaded_by: Mapped[User] = relationship()

    def value(self) -> dict:
        """What task data keeps of it (never the content)."""
        return {"id": self.id, "name": self.filename, "size": self.size, "sha256": self.sha256}
