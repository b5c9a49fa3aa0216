from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db_types import UTCDateTime, utcnow
from ..extensions import db

REQUEST_TYPES = ("access", "rectification", "restriction", "erasure", "objection", "portability")
# Rights that do not apply to processing resting on a legal obligation or a public task (GDPR
# art. 17(3)(b), 20(1)(a) and 21(1) as the authority reads them); the person is still owed a
# reasoned answer within the deadline, so the request is logged and answered with the reason.
ANSWERED_WITH_A_REASON = ("erasure", "objection", "portability")
NOTIFIED_VIA = ("letter", "email", "sms", "phone", "in_person", "online_service")
OPEN, COMPLETED = "open", "completed"


class PrivacyRequest(db.Model):
    """A data-subject request: due one month from receipt, extendable once by up to two.

    The request names the person, so it has a period of its own: PRIVACY_REQUEST_RETENTION_DAYS
    after it was answered, its personal fields are deleted and the row stays as a record of
    when a request of which type was received and answered."""

    __tablename__ = "privacy_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    # How to find the person: phone, email, name, contacted_between {from, to}.
    subject: Mapped[dict] = mapped_column(JSON)
    details: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    extended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_reason: Mapped[str | None] = mapped_column(Text)
    # The person must be told of an extension and its reasons within the first month.
    extension_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    extension_notified_via: Mapped[str | None] = mapped_column(String(16))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # The official's legal reasoning given with the answer (required for ANSWERED_WITH_A_REASON).
    answer_reason: Mapped[str | None] = mapped_column(Text)
    # Set by the purge (service/privacy/retention.py) when the personal fields were deleted.
    personal_data_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Items kept out of the access export, each with its legal reason.
    withheld: Mapped[list | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_privacy_request_open_due", "status", "due_at"),)
