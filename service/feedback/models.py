from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, backref, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db

SCHEDULED, SENT, ANSWERED, CANCELLED, SKIPPED = "scheduled", "sent", "answered", "cancelled", "skipped"


class FeedbackRequest(db.Model):
    """An SMS asking a customer to rate a closed case, and their answer.

    A row with ``send_after`` is the schedule itself: it survives restarts, and the sweeper
    sends whatever is due.
    """

    __tablename__ = "feedback_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id", ondelete="SET NULL"), index=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(16), default=SCHEDULED)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime)
    # Indexed: the purge deletes outbox rows, and each deletion looks here to set this NULL.
    outbox_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id", ondelete="SET NULL"), index=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    score: Mapped[int | None]
    answer_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped["Case"] = relationship(  # noqa: F821
        backref=backref("feedback_requests", order_by="FeedbackRequest.id", cascade="all, delete-orphan",
                        passive_deletes=True))

    __table_args__ = (Index("ix_feedback_request_due", "status", "send_after"),)
