from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..db_types import UTCDateTime, utcnow
from ..extensions import db

CONTACT_METHODS = ("email", "sms", "phone", "letter", "chat")


class Customer(db.Model):
    """The data subject. Phone (E.164) and email (lower-case) identify them across contacts."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), index=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    address: Mapped[str | None] = mapped_column(Text)
    preferred_contact_method: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(2))
    # Restriction of processing (GDPR art. 18): the data stays, but nothing is sent to the
    # customer or about them, and only the correction under review may change it.
    restricted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restriction_reason: Mapped[str | None] = mapped_column(Text)
    restriction_request_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def restricted(self) -> bool:
        return self.restricted_at is not None


class SmsOptOut(db.Model):
    """A number that replied STOP. Kept per number, not per customer: the number must stay
    blocked even when no customer record holds it."""

    __tablename__ = "sms_opt_out"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
