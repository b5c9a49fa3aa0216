from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db


class Authority(db.Model):
    """Another authority matters are forwarded to."""

    __tablename__ = "authority"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Disclosure(db.Model):
    """Personal data given to someone outside: who got which fields, on what legal basis,
    from whom and when. Made by forwarding, or recorded by hand (e.g. to the police by law)."""

    __tablename__ = "disclosure"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"), index=True)
    authority_id: Mapped[int | None] = mapped_column(ForeignKey("authority.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(254))
    fields: Mapped[list] = mapped_column(JSON)
    legal_basis: Mapped[str] = mapped_column(String(500))
    note: Mapped[str | None] = mapped_column(Text)
    # The forwarding email, when the disclosure was sent by this service.
    # Indexed: the purge deletes outbox rows, and each deletion looks here to set this NULL.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id", ondelete="SET NULL"), index=True)
    disclosed_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_hand: Mapped[bool] = mapped_column(default=False)

    authority: Mapped[Authority | None] = relationship()
    outbox: Mapped["OutboxMessage | None"] = relationship()  # noqa: F821
    disclosed_by: Mapped["Official | None"] = relationship()  # noqa: F821
