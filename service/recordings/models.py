from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db


class Recording(db.Model):
    """A call recording. Never altered once stored: corrections go in notes on the case.

    It has its own retention clock, counted from the recording time, independent of its
    case: when the case's period ends first, the purge deletes the case and keeps the recording,
    detached (``case_id`` and ``contact_id`` NULL), until its own date. ``service_line_id`` and
    ``caller`` stay with it for that time, so access is still scoped to the register and an
    access request still finds it. A recording reported before its call (callbacks arrive out
    of order) waits with ``call_sid`` until the call's contact exists.
    """

    __tablename__ = "recording"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="SET NULL"), index=True)
    service_line_id: Mapped[int | None] = mapped_column(ForeignKey("service_line.id"), index=True)
    # The calling number, as on the call's contact: personal data, gone with the recording.
    caller: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default="completed")
    duration_seconds: Mapped[int | None]
    channels: Mapped[int | None]
    source_url: Mapped[str | None] = mapped_column(String(1000))
    storage_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    content_type: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    retention_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The integration (API key) that reported this recording: the only one that may upload
    # its audio. None for recordings the phone system's own callbacks reported.
    reported_by_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id", ondelete="SET NULL"))
    # Set when the audio came by upload rather than from the phone system.
    audio_uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contact: Mapped["Contact | None"] = relationship()  # noqa: F821
    service_line: Mapped["ServiceLine | None"] = relationship()  # noqa: F821

    __table_args__ = (Index("ix_recording_retention_until", "retention_until"),)
