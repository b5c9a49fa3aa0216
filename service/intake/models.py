from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..db_types import UTCDateTime, utcnow
from ..extensions import db


class InboundEnvelope(db.Model):
    """A provider's message as it arrived, its signature checked, waiting to become a contact.

    The webhook answers as soon as this row is committed; a job turns the row into a contact
    and deletes it in the same transaction. A row whose processing fails stays and is tried
    again later, so nothing accepted is lost between the provider and its case. It holds only
    the fields processing needs, and only until then.
    """

    __tablename__ = "inbound_envelope"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The provider's id of the message (Twilio's MessageSid): a repeated webhook lands once.
    external_id: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (UniqueConstraint("channel", "external_id"),
                      Index("ix_inbound_envelope_due", "next_attempt_at"))


class UsedRequestKey(db.Model):
    """A key a provider's signed request may be presented with only once: a Mailgun signature
    token, the MessageSid of an SMS keyword. Kept in the database, so every web process of a
    deployment sees the others' keys; rows with an expiry are pruned once it passes."""

    __tablename__ = "used_request_key"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    # What the key was used for (a hash of the body): the provider's retry of the same request
    # is not a replay, the same key with another body is.
    digest: Mapped[str | None] = mapped_column(String(64))
    # None: remembered for good (a provider's signature that never goes stale).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_used_request_key_expires", "expires_at"),)
