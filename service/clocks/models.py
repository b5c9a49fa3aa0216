"""Business calendars, service targets, and the history of each case's service clocks.

The clocks themselves (due times, what is left of each target) are columns of the case, so the
queue can sort on them with one index."""

from __future__ import annotations

import json
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db

# A target row for every channel of a line that has no row of its own.
ANY_CHANNEL = "*"

# What the history of a case's clocks records.
STARTED, PAUSED, RESUMED, RESPONDED, RESOLVED, RESTARTED, RECOMPUTED = (
    "started", "paused", "resumed", "responded", "resolved", "restarted", "recomputed")
CLOCK_EVENTS = (STARTED, PAUSED, RESUMED, RESPONDED, RESOLVED, RESTARTED, RECOMPUTED)


class BusinessCalendar(db.Model):
    """Opening hours per weekday in a time zone, a country's public holidays, extra closed days."""

    __tablename__ = "business_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Helsinki")
    # {"mon": ["08:00", "16:00"], ..., "sun": null}: local wall times.
    hours: Mapped[str] = mapped_column(Text)
    # Public holidays of this country (the `holidays` package) are closed; null: none.
    holiday_country: Mapped[str | None] = mapped_column(String(2), default="FI")
    # ["2027-03-11", ...]: the authority's own closed days, e.g. a staff training day.
    closed_days: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def hours_map(self) -> dict:
        return json.loads(self.hours)

    @property
    def closed_day_list(self) -> list[date]:
        return [date.fromisoformat(day) for day in json.loads(self.closed_days or "[]")]


class ServiceTarget(db.Model):
    """How soon a line answers and resolves the cases of one channel (or of every channel
    without a row of its own, ``*``); null targets mean no clock."""

    __tablename__ = "service_target"

    id: Mapped[int] = mapped_column(primary_key=True)
    service_line_id: Mapped[int] = mapped_column(ForeignKey("service_line.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    first_response_minutes: Mapped[int | None]
    resolution_days: Mapped[int | None]

    __table_args__ = (UniqueConstraint("service_line_id", "channel"),)


class ClockEvent(db.Model):
    """One moment in the life of a case's clocks, with the due times it left behind."""

    __tablename__ = "case_clock_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    event: Mapped[str] = mapped_column(String(16))
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    case: Mapped["Case"] = relationship(back_populates="clock_events")  # noqa: F821

    __table_args__ = (Index("ix_case_clock_event_case", "case_id", "at"),)
