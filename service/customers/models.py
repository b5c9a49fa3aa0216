from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
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
    # Set when an official confirmed that this record and another are one person
    # (service/customers/linking.py): this record's phone and email are then identities of that
    # person. Never set automatically. Set to null when that person's record is purged.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"),
                                                       index=True)
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


class RectificationHistory(db.Model):
    """A customer detail as it was before a correction, kept out of the audit log.

    The audit log is hash-chained and kept AUDIT_RETENTION_DAYS; an old name, phone or email
    written into it would outlive its period by years. The audit entry names this row's id
    only. The row goes with its customer, and at the latest CASE_RETENTION_DAYS after the
    correction (service/privacy/retention.py): as long as the case data it was part of.
    """

    __tablename__ = "rectification_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    corrected_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
