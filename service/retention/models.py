from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db_types import UTCDateTime, utcnow
from ..extensions import db


class ProviderCopy(db.Model):
    """A provider's copy (Twilio's recording or message) of something the purge has deleted
    here, still to be deleted there.

    Written in the purge batch's own transaction, so a crash between our delete and the
    provider's cannot leave their copy behind unnoticed; deleted once the provider confirms.
    It holds the provider's id only, never the content or the number.
    """

    __tablename__ = "provider_copy"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "recording" | "message"
    provider_sid: Mapped[str] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("kind", "provider_sid"),)
