from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db


class ReplyTemplate(db.Model):
    """A standard answer of one service line in one language, with ``{variables}`` filled from
    the case it is used on."""

    __tablename__ = "reply_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_line_id: Mapped[int] = mapped_column(ForeignKey("service_line.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(2))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    service_line: Mapped["ServiceLine"] = relationship()  # noqa: F821

    __table_args__ = (UniqueConstraint("service_line_id", "language", "title"),)
