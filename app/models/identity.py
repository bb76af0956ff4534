"""CAS service tickets of current sessions, for single logout (the CAS server names the ticket it logs out)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .types import UTCDateTime, utcnow


class CasTicket(db.Model):
    """Only the SHA-256 of the ticket is kept: a used ticket is refused again, and a back-channel logoutRequest
    naming it ends the user's sessions."""

    __tablename__ = "cas_ticket"
    ticket_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
