from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, String, Table, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db

RECORDING_POLICIES = ("all", "none", "random")
ADDRESS_KINDS = ("phone", "email", "chat_widget")

service_line_member = Table(
    "service_line_member",
    db.metadata,
    Column("service_line_id", ForeignKey("service_line.id", ondelete="CASCADE"), primary_key=True),
    Column("official_id", ForeignKey("official.id", ondelete="CASCADE"), primary_key=True),
)


class ServiceLine(db.Model):
    """A register with its own retention periods and recording policy, e.g. one phone line."""

    __tablename__ = "service_line"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    default_language: Mapped[str] = mapped_column(String(2), default="fi")
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    case_retention_days: Mapped[int | None]
    # Whether a supervisor may merge this line's cases with another line's that allows it too:
    # the registers differ in purpose and period, so it is off unless both registers permit it.
    merge_across_lines: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    recording_retention_days: Mapped[int | None]
    recording_policy: Mapped[str] = mapped_column(String(16), default="none")
    recording_share: Mapped[float | None]
    # The register's privacy notice, linked from the chat widget before a chat starts.
    privacy_notice_url: Mapped[str | None] = mapped_column(String(500))
    # The business calendar its service clocks count working time on (service.clocks).
    calendar_id: Mapped[int | None] = mapped_column(ForeignKey("business_calendar.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    addresses: Mapped[list["ServiceLineAddress"]] = relationship(
        back_populates="service_line", cascade="all, delete-orphan", order_by="ServiceLineAddress.id"
    )
    members: Mapped[list["Official"]] = relationship(  # noqa: F821
        secondary=service_line_member, back_populates="service_lines"
    )

    __table_args__ = (
        # At most one default line; intake relies on it when no address matches.
        Index("uq_service_line_default", "is_default", unique=True,
              sqlite_where=text("is_default = 1"), postgresql_where=text("is_default")),
    )

    def addresses_of(self, kind: str) -> list[str]:
        return [a.address for a in self.addresses if a.kind == kind]


class ServiceLineAddress(db.Model):
    """An address customers contact (a phone number, a mailbox, a chat widget) and its line."""

    __tablename__ = "service_line_address"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_line_id: Mapped[int] = mapped_column(ForeignKey("service_line.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(254))

    service_line: Mapped[ServiceLine] = relationship(back_populates="addresses")

    __table_args__ = (UniqueConstraint("kind", "address"),)
