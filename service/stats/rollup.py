"""Counting facts into the daily contacts table and the cells of calls, cases and feedback,
and rebuilding them.

A day is always recounted whole from its facts (delete, then INSERT ... SELECT ... GROUP BY for
contacts, ``cells.recount_day`` for the rest), never incremented: running it twice, or after a
crash half-way, gives the same numbers. The job takes the contact facts intake has added or a
call's end has changed since its last run, marks them, and recounts the days they fall on; and
it takes the moments the recorder queued when a case fact changed (old and new times), so a
first response or a close lands on its own day and leaves the day it no longer holds. Only the
job writes the rollups, and one run at a time (an advisory lock on PostgreSQL; SQLite's write
lock already does it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Date, delete, func, insert, literal, select, text, update
from sqlalchemy.orm import joinedload

from ..cases.models import Case, Contact
from ..db_types import EVENT_TIME_FLOOR, utcnow
from ..extensions import db
from .calendar import local_day, month_of, utc_bounds, week_of
from . import cells
from .models import CaseFact, ContactDaily, ContactFact, StatsRecount
from .recorder import sync_case, sync_contact, sync_feedback

# Any fixed number; it names "the statistics rollup" among PostgreSQL's advisory locks.
_ROLLUP_LOCK = 7_342_001
_DIMENSIONS = (ContactFact.channel, ContactFact.direction, ContactFact.language, ContactFact.service_line_id)

Progress = Callable[[str], None]

log = logging.getLogger(__name__)


def _one_rollup_at_a_time() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROLLUP_LOCK})


def recount_day(day: date, zone: ZoneInfo) -> None:
    start, end = utc_bounds(day, day, zone)
    db.session.execute(delete(ContactDaily).where(ContactDaily.day == day))
    counts = (select(literal(day, Date), literal(week_of(day), Date), literal(month_of(day), Date),
                     *_DIMENSIONS, func.count())
              .where(ContactFact.occurred_at >= start, ContactFact.occurred_at < end)
              .group_by(*_DIMENSIONS))
    db.session.execute(insert(ContactDaily).from_select(
        ["day", "week", "month", "channel", "direction", "language", "service_line_id", "contacts"], counts))


def _service_level() -> int:
    # The cells keep the count within the configured level; another level is counted from
    # their summaries at query time, so changing the setting needs no rebuild to stay right.
    return current_app.config["STATS_SERVICE_LEVEL_SECONDS"]


def roll_up(zone: ZoneInfo, *, batch_size: int = 5000) -> int:
    """Count the contact facts and case changes since the last run; returns how many contact
    facts were taken."""
    taken, level = 0, _service_level()
    while True:
        _one_rollup_at_a_time()
        pending = db.session.execute(select(ContactFact.id, ContactFact.occurred_at, ContactFact.channel,
                                            ContactFact.direction)
                                     .where(ContactFact.rolled_up.is_(False))
                                     .order_by(ContactFact.id).limit(batch_size)).all()
        if pending:
            db.session.execute(update(ContactFact).where(ContactFact.id.in_([row.id for row in pending]))
                               .values(rolled_up=True))
            days = {row.id: _countable_day(row.id, row.occurred_at, zone) for row in pending}
            for day in sorted({day for day in days.values() if day is not None}):
                recount_day(day, zone)
            calls = {days[row.id] for row in pending
                     if row.channel == "phone" and row.direction == "inbound" and days[row.id] is not None}
            cells.recount(calls, zone, level, ("calls",))
        recounts = db.session.execute(select(StatsRecount.id, StatsRecount.at)
                                      .order_by(StatsRecount.id).limit(batch_size)).all()
        if recounts:
            db.session.execute(delete(StatsRecount).where(StatsRecount.id.in_([row.id for row in recounts])))
            cells.recount({day for day in (_countable_day(row.id, row.at, zone) for row in recounts) if day},
                          zone, level)
        db.session.commit()
        taken += len(pending)
        if len(pending) < batch_size and len(recounts) < batch_size:
            return taken


def _countable_day(fact_id: int, occurred_at: datetime, zone: ZoneInfo) -> date | None:
    """The local day a fact counts on, or None for a time no calendar day can be made of.

    Such a fact (year 1 or 9999, stored before input times were bounded) is left out and marked
    taken: counting it would fail the whole run, and with it every contact after it."""
    if EVENT_TIME_FLOOR <= occurred_at <= utcnow() + timedelta(days=1):
        return local_day(occurred_at, zone)
    log.warning("statistics fact %s left out of the counts: its time is outside %s..now", fact_id,
                EVENT_TIME_FLOOR.date().isoformat())
    return None


def backfill(*, progress: Progress, batch_size: int = 1000) -> tuple[int, int]:
    """Give a fact to every case and contact that has none (data from before statistics
    existed). Returns (cases, contacts) given one."""
    counts = []
    for model, options, sync in ((Case, joinedload(Case.feedback_requests), _sync_case_and_feedback),
                                 (Contact, joinedload(Contact.case), sync_contact)):
        done = 0
        while True:
            batch = list(db.session.scalars(select(model).options(options).where(model.stats_fact_id.is_(None))
                                            .order_by(model.id).limit(batch_size)).unique())
            for obj in batch:
                sync(obj)
            db.session.commit()
            done += len(batch)
            if batch:
                progress(f"{model.__tablename__}: {done} given a statistics fact")
            if len(batch) < batch_size:
                break
        counts.append(done)
    return counts[0], counts[1]


def _sync_case_and_feedback(case: Case) -> None:
    sync_case(case)
    for request in case.feedback_requests:
        sync_feedback(request)


def fact_day_range(zone: ZoneInfo) -> tuple[date, date] | None:
    # Facts outside the countable times are left out, as in the rollup.
    countable = (EVENT_TIME_FLOOR, utcnow() + timedelta(days=1))
    contacts = db.session.execute(select(func.min(ContactFact.occurred_at), func.max(ContactFact.occurred_at))
                                  .where(ContactFact.occurred_at.between(*countable))).one()
    cases = db.session.execute(select(func.min(CaseFact.opened_at))
                               .where(CaseFact.opened_at.between(*countable))).one()
    firsts = [at for at in (contacts[0], cases[0]) if at is not None]
    if not firsts:
        return None
    last = max(local_day(contacts[1], zone) if contacts[1] else local_day(min(firsts), zone), local_day(utcnow(), zone))
    return local_day(min(firsts), zone), last


def rebuild(zone: ZoneInfo, *, first: date | None = None, last: date | None = None,
            progress: Progress, days_per_commit: int = 31) -> int:
    """Backfill missing facts, then recount every day of the range; returns days recounted."""
    backfill(progress=progress)
    bounds = fact_day_range(zone)
    if bounds is None and (first is None or last is None):
        progress("no contacts to count")
        return 0
    first = first or bounds[0]
    last = last or bounds[1]
    level = _service_level()
    total = (last - first).days + 1
    day, done = first, 0
    while day <= last:
        _one_rollup_at_a_time()
        for _ in range(days_per_commit):
            if day > last:
                break
            recount_day(day, zone)
            for report in cells.SUMMARISED:
                cells.recount_day(report, day, zone, level)
            day += timedelta(days=1)
            done += 1
        db.session.commit()
        progress(f"recounted {done}/{total} days (to {day - timedelta(days=1)})")
    days = [first + timedelta(days=n) for n in range(total)]
    for report in cells.SUMMARISED:
        _one_rollup_at_a_time()
        cells.recount_spans(report, days, level)
        db.session.commit()
        progress(f"{report}: weeks and months merged")
    # What the backfill and intake queued meanwhile, outside the range too.
    roll_up(zone)
    return done
