from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db

QUEUED, SENDING, SENT, DELIVERED, UNDELIVERED, FAILED, CANCELLED = (
    "queued", "sending", "sent", "delivered", "undelivered", "failed", "cancelled")
FINAL = frozenset({DELIVERED, UNDELIVERED, FAILED, CANCELLED})


class OutboxMessage(db.Model):
    """A message to deliver, written in the same transaction as the change that caused it.

    Delivery jobs claim rows by moving them from ``queued`` to ``sending``; a sweeper
    re-enqueues rows that wait past ``next_attempt_at``, so nothing is lost when the queue is.
    """

    __tablename__ = "outbox_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    # Twilio's MessageSid, or the Message-ID of an email.
    provider_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # Channel headers to send with the message (email threading).
    headers: Mapped[dict | None] = mapped_column(JSON)
    # Ids of the case's attachments to send with an email.
    attachment_ids: Mapped[list | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contact: Mapped["Contact | None"] = relationship()  # noqa: F821

    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)


class IdempotentRequest(db.Model):
    """What the first request sent with an ``Idempotency-Key`` created; a retry with the same
    key is answered with that resource instead of creating another."""

    __tablename__ = "idempotent_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int]
    key: Mapped[str] = mapped_column(String(128))
    endpoint: Mapped[str] = mapped_column(String(128))
    resource_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("actor_type", "actor_id", "key"),)
