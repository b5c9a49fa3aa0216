"""Anonymous facts and the daily rollup they feed.

A fact holds no identifier, no content and no link to a person: the live contact or case
points at its fact (``stats_fact_id``), never the other way round, so when the purge deletes
the case nothing leads from the fact back to anyone and the numbers stay as they were. Times
are kept to the minute, which is all a calendar-day statistic needs; durations are taken
from the exact times first.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Index, SmallInteger, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ..db_types import UTCDateTime
from ..extensions import db


class ContactFact(db.Model):
    """One contact: when, on which channel and line, in which direction and language.

    Inserted with the contact (one new row per contact, so intake never waits on a shared
    counter) and counted into ``ContactDaily`` by the rollup job, which flips ``rolled_up``.
    Calls also carry their outcome and times.
    """

    __tablename__ = "stats_contact_fact"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    language: Mapped[str | None] = mapped_column(String(2))
    service_line_id: Mapped[int | None]
    rolled_up: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    # Calls only: "answered", "abandoned" (hung up before an official took it) or None (in progress).
    call_outcome: Mapped[str | None] = mapped_column(String(16))
    queue_seconds: Mapped[int | None]
    handling_seconds: Mapped[int | None]

    __table_args__ = (
        Index("ix_stats_contact_fact_occurred", "occurred_at"),
        # The rollup job's work list stays small however large the table grows.
        Index("ix_stats_contact_fact_pending", "id", postgresql_where=text("NOT rolled_up"),
              sqlite_where=text("NOT rolled_up")),
    )


class CaseFact(db.Model):
    """One case's life in times: opened, first answered, forwarded, closed, and its feedback.

    Updated as the case moves (one row per case, never shared). A reopened case loses its
    close time until it closes again, so the numbers describe each case's latest state.
    """

    __tablename__ = "stats_case_fact"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(2))
    service_line_id: Mapped[int | None]
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    forwarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Durations from the exact times, before those are cut to the minute.
    first_response_seconds: Mapped[int | None]
    close_seconds: Mapped[int | None]
    # Service clocks (service.clocks): whether each target was met, and the working time taken.
    first_response_met: Mapped[bool | None]
    resolution_met: Mapped[bool | None]
    first_response_working_seconds: Mapped[int | None]
    resolution_working_seconds: Mapped[int | None]
    feedback_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    feedback_score: Mapped[int | None] = mapped_column(SmallInteger)

    __table_args__ = (
        Index("ix_stats_case_fact_opened", "opened_at"),
        Index("ix_stats_case_fact_closed", "closed_at"),
        Index("ix_stats_case_fact_feedback", "feedback_sent_at"),
        # A day's recount finds every fact with an event on that day through these.
        Index("ix_stats_case_fact_first_response", "first_response_at"),
        Index("ix_stats_case_fact_forwarded", "forwarded_at"),
        Index("ix_stats_case_fact_feedback_answered", "feedback_answered_at"),
    )


class ContactDaily(db.Model):
    """Contacts per local calendar day and breakdown; the week and month the day belongs to
    are stored beside it so any interval is one GROUP BY on an indexed range."""

    __tablename__ = "stats_contact_daily"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    week: Mapped[date] = mapped_column(Date)  # the Monday of the day's ISO week
    month: Mapped[date] = mapped_column(Date)  # the first of the day's month
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    language: Mapped[str | None] = mapped_column(String(2))
    service_line_id: Mapped[int | None]
    contacts: Mapped[int]

    __table_args__ = (Index("ix_stats_contact_daily_day", "day"),)


class StatsCell(db.Model):
    """The calls, cases or feedback of one day, ISO week or month and one breakdown, summarised.

    Kept for every combination of the report's breakdowns (``grouping`` names them in the
    report's order, "" for the whole), so a report reads the cells of its own breakdown and
    merges nothing when its periods are whole. ``measures`` is the row as the report shows it
    before suppression; ``summary`` the mergeable counts, sums and histograms
    (``sketch.Summary``) that partial periods and range totals are merged from.
    """

    __tablename__ = "stats_cell"

    id: Mapped[int] = mapped_column(primary_key=True)
    report: Mapped[str] = mapped_column(String(8))
    span: Mapped[str] = mapped_column(String(5))  # "day", "week" or "month"
    period: Mapped[date] = mapped_column(Date)  # the day, the week's Monday or the month's first
    grouping: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(2))
    service_line_id: Mapped[int | None]
    # Cases only: opened less closed, summed over the days before a range for those still open.
    open_change: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    measures: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_stats_cell_lookup", "report", "grouping", "span", "period"),)


class StatsRecount(db.Model):
    """A moment whose day's calls, cases and feedback must be recounted: a case fact gained,
    changed or lost a time there (or changed its breakdown), or the upgrade to rollups queued
    it. Appended by the recorder, taken by the rollup job; a case fact changes after it was
    counted, unlike a contact, so a flag on it would not say which days held its old times."""

    __tablename__ = "stats_recount"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
