"""Summarising the calls, cases and feedback of a day into cells, and days into weeks and months.

A day is always summarised whole from the facts that have an event on it (delete, then insert),
never incremented, like the contacts' daily table: running it twice gives the same cells. A
week or month is the merge of its day cells, redone whenever one of its days is. Each fact
counts in every combination of breakdowns at once, so no report ever merges across groups.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, or_, select

from ..extensions import db
from .calendar import local_day, month_of, utc_bounds, week_of
from .models import CaseFact, ContactFact, StatsCell
from .reports import COLUMNS, GROUPS, groupings, measures, pack
from .sketch import Summary

SUMMARISED = ("calls", "cases", "feedback")
SPANS = ("week", "month")


def span_end(span: str, key: date) -> date:
    if span == "day":
        return key
    if span == "week":
        return key + timedelta(days=6)
    return (key.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def grouping_name(names: Iterable[str]) -> str:
    return ",".join(names)


# --- the events of one fact, each at its moment ------------------------------------------------

Event = tuple[datetime, str, int | None]


def _call_events(fact: ContactFact) -> Iterator[Event]:
    at = fact.occurred_at
    yield at, "offered", None
    if fact.call_outcome == "answered":
        yield at, "answered", None
        if fact.queue_seconds is not None:
            yield at, "queue_seconds", fact.queue_seconds
        if fact.handling_seconds is not None:
            yield at, "handling_seconds", fact.handling_seconds
    elif fact.call_outcome == "abandoned":
        yield at, "abandoned", None


def _case_events(fact: CaseFact) -> Iterator[Event]:
    yield fact.opened_at, "opened", None
    if fact.first_response_at is not None:
        yield fact.first_response_at, "first_response_seconds", fact.first_response_seconds
        yield from clock_events("first_response", fact.first_response_at, fact.first_response_met,
                                fact.first_response_working_seconds)
    if fact.forwarded_at is not None:
        yield fact.forwarded_at, "forwarded", None
    if fact.closed_at is not None:
        yield fact.closed_at, "closed", fact.close_seconds
        yield from clock_events("resolution", fact.closed_at, fact.resolution_met, fact.resolution_working_seconds)


def clock_events(clock: str, at: datetime, met: bool | None, working_seconds: int | None) -> Iterator[Event]:
    """A service clock stopped at ``at`` (service.clocks): target met or missed, working time."""
    if met is None:
        return
    yield at, f"{clock}_target_{'met' if met else 'missed'}", None
    if working_seconds is not None:
        yield at, f"{clock}_working_seconds", working_seconds


def _feedback_events(fact: CaseFact) -> Iterator[Event]:
    if fact.feedback_sent_at is not None:
        yield fact.feedback_sent_at, "sent", None
    if fact.feedback_score is not None and fact.feedback_answered_at is not None:
        yield fact.feedback_answered_at, "answered", fact.feedback_score
        yield fact.feedback_answered_at, f"score_{fact.feedback_score}", None


_EVENTS = {"calls": _call_events, "cases": _case_events, "feedback": _feedback_events}
_CALL_COLUMNS = (ContactFact.occurred_at, ContactFact.language, ContactFact.service_line_id,
                 ContactFact.call_outcome, ContactFact.queue_seconds, ContactFact.handling_seconds)
# Columns, not entities: a rebuild reads millions of facts, and rows cost a fraction of objects.
_CASE_COLUMNS = (CaseFact.channel, CaseFact.language, CaseFact.service_line_id, CaseFact.opened_at,
                 CaseFact.first_response_at, CaseFact.first_response_seconds, CaseFact.forwarded_at,
                 CaseFact.closed_at, CaseFact.close_seconds, CaseFact.feedback_sent_at,
                 CaseFact.feedback_answered_at, CaseFact.feedback_score, CaseFact.first_response_met,
                 CaseFact.first_response_working_seconds, CaseFact.resolution_met,
                 CaseFact.resolution_working_seconds)


def _facts_on(report: str, start: datetime, end: datetime):
    """Facts with an event in [start, end): one indexed range per kind of moment."""
    if report == "calls":
        return db.session.execute(select(*_CALL_COLUMNS).where(
            ContactFact.occurred_at >= start, ContactFact.occurred_at < end,
            ContactFact.channel == "phone", ContactFact.direction == "inbound")).all()
    moments = ((CaseFact.opened_at, CaseFact.first_response_at, CaseFact.forwarded_at, CaseFact.closed_at)
               if report == "cases" else (CaseFact.feedback_sent_at, CaseFact.feedback_answered_at))
    return db.session.execute(select(*_CASE_COLUMNS).where(
        or_(*((column >= start) & (column < end) for column in moments)))).all()


# --- writing cells ------------------------------------------------------------------------------

def _row(report: str, span: str, period: date, names: tuple[str, ...], group: tuple, summary: Summary,
         level: int) -> dict:
    row = {"report": report, "span": span, "period": period, "grouping": grouping_name(names),
           "channel": None, "language": None, "service_line_id": None,
           "open_change": summary.counts.get("opened", 0) - summary.counts.get("closed", 0),
           "measures": json.dumps(pack(report, measures(report, summary, level), level), separators=(",", ":")),
           "summary": json.dumps(summary.to_json(), separators=(",", ":"))}
    for name, value in zip(names, group):
        row[COLUMNS[name]] = value
    return row


def _write(report: str, span: str, period: date, summaries: dict[tuple, Summary], level: int) -> None:
    db.session.execute(delete(StatsCell).where(StatsCell.report == report, StatsCell.span == span,
                                               StatsCell.period == period))
    rows = [_row(report, span, period, names, group, summary, level)
            for (names, group), summary in summaries.items()]
    if rows:
        # Core executemany, batched into few statements; the ORM's bulk insert sent one per row.
        db.session.connection().execute(insert(StatsCell.__table__), rows)


def _every_grouping(report: str, finest: dict[tuple, Summary]) -> dict[tuple, Summary]:
    """From the summaries of the finest breakdown, those of every combination of breakdowns:
    merging a few dozen summaries costs less than adding each event several times."""
    names_all = GROUPS[report]
    result: dict[tuple, Summary] = {}
    for names in groupings(report):
        if names == names_all:
            result.update({(names, group): summary for group, summary in finest.items()})
            continue
        positions = [names_all.index(name) for name in names]
        for group, summary in finest.items():
            key = (names, tuple(group[i] for i in positions))
            target = result.get(key)
            if target is None:
                target = result[key] = Summary()
            target.merge(summary)
    return result


def recount_day(report: str, day: date, zone: ZoneInfo, level: int) -> None:
    start, end = utc_bounds(day, day, zone)
    columns = [COLUMNS[name] for name in GROUPS[report]]
    finest: dict[tuple, Summary] = defaultdict(Summary)
    for fact in _facts_on(report, start, end):
        summary = None
        for at, measure, sample in _EVENTS[report](fact):
            if start <= at < end:
                if summary is None:
                    summary = finest[tuple(getattr(fact, column) for column in columns)]
                summary.add(measure, sample)
    _write(report, "day", day, _every_grouping(report, finest), level)


def cell_group(cell, names: tuple[str, ...]) -> tuple:
    return tuple(getattr(cell, COLUMNS[name]) for name in names)


def recount_span(report: str, span: str, key: date, level: int) -> None:
    """A week or month as the merge of its days' cells of the finest breakdown."""
    names = GROUPS[report]
    finest: dict[tuple, Summary] = defaultdict(Summary)
    cells = db.session.execute(select(StatsCell.channel, StatsCell.language, StatsCell.service_line_id,
                                      StatsCell.summary).where(
        StatsCell.report == report, StatsCell.grouping == grouping_name(names), StatsCell.span == "day",
        StatsCell.period >= key, StatsCell.period <= span_end(span, key)))
    for cell in cells:
        finest[cell_group(cell, names)].merge(Summary.from_json(json.loads(cell.summary)))
    _write(report, span, key, _every_grouping(report, finest), level)


def recount(days: Iterable[date], zone: ZoneInfo, level: int, reports: Iterable[str] = SUMMARISED) -> None:
    """Recount the given days of the given reports, then the weeks and months they fall in."""
    days = sorted(set(days))
    for report in reports:
        for day in days:
            recount_day(report, day, zone, level)
        recount_spans(report, days, level)


def recount_spans(report: str, days: Iterable[date], level: int) -> None:
    days = set(days)
    for key in sorted({week_of(day) for day in days}):
        recount_span(report, "week", key, level)
    for key in sorted({month_of(day) for day in days}):
        recount_span(report, "month", key, level)


def days_of(moments: Iterable[datetime], zone: ZoneInfo) -> set[date]:
    return {local_day(at, zone) for at in moments}
