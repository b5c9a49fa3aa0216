"""The four reports: contacts, calls, cases and feedback, per period and breakdown.

Contacts are read from the daily rollup, which is what makes a year of ten million contacts a
query of milliseconds. Calls, cases and feedback are read from their facts and tallied here;
there are far fewer of them, and medians and percentiles need the values themselves.
Every report goes through the same suppression before anyone sees it.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, true

from ..extensions import db
from ..lines.models import ServiceLine
from .calendar import Period, local_day, period_key, periods, utc_bounds
from .models import CaseFact, ContactDaily, ContactFact
from .suppression import hidden_cells, is_small

REPORTS = ("contacts", "calls", "cases", "feedback")
GROUPS = {
    "contacts": ("channel", "direction", "language", "service_line"),
    "calls": ("language", "service_line"),
    "cases": ("channel", "language", "service_line"),
    "feedback": ("channel", "language", "service_line"),
}
COUNTS = {
    "contacts": ("contacts",),
    "calls": ("offered", "answered", "abandoned", "answered_within_service_level"),
    "cases": ("opened", "closed", "forwarded", "open_at_end"),
    "feedback": ("sent", "answered", "score_1", "score_2", "score_3", "score_4", "score_5"),
}
FIGURES = {
    "contacts": (),
    "calls": ("service_level_share", "queue_seconds_mean", "queue_seconds_median", "queue_seconds_p90",
              "handling_seconds_mean", "handling_seconds_median", "handling_seconds_p90"),
    "cases": ("first_response_seconds_median", "first_response_seconds_p90", "close_seconds_median",
              "close_seconds_p90"),
    "feedback": ("score_mean",),
}
# Counts that add up to another count shown in the same row: hiding one of them alone would
# not hide it.
_ROW_PARTS = {
    "calls": (("answered", "abandoned"),),
    "feedback": (("score_1", "score_2", "score_3", "score_4", "score_5"),),
}


@dataclass(frozen=True)
class StatsSettings:
    zone: ZoneInfo
    threshold: int
    service_level_seconds: int
    max_range_days: int

    @classmethod
    def from_config(cls, config) -> "StatsSettings":
        return cls(zone=ZoneInfo(config["STATS_TIME_ZONE"]), threshold=config["STATS_SUPPRESSION_THRESHOLD"],
                   service_level_seconds=config["STATS_SERVICE_LEVEL_SECONDS"],
                   max_range_days=config["STATS_MAX_RANGE_DAYS"])


@dataclass(frozen=True)
class StatsQuery:
    first: date
    last: date
    interval: str = "day"
    group_by: tuple[str, ...] = ()
    service_level_seconds: int | None = None
    # Only these lines' contacts and cases (a supervisor limited to lines); None: every line.
    service_line_ids: frozenset[int] | None = None


def _on_lines(column, query: StatsQuery):
    """The condition keeping ``query`` to its lines; every fact carries its line, so it is cheap."""
    return true() if query.service_line_ids is None else column.in_(sorted(query.service_line_ids))


@dataclass
class Table:
    report: str
    query: StatsQuery
    settings: StatsSettings
    periods: list[Period]
    rows: list[dict]
    totals: list[dict]
    total: dict

    @property
    def counts(self) -> tuple[str, ...]:
        return COUNTS[self.report]

    @property
    def figures(self) -> tuple[str, ...]:
        return FIGURES[self.report]

    @property
    def service_level_seconds(self) -> int:
        return self.query.service_level_seconds or self.settings.service_level_seconds


class _Tally:
    __slots__ = ("counts", "samples")

    def __init__(self, counts: dict | None = None):
        self.counts = counts if counts is not None else Counter()
        self.samples: defaultdict | None = None

    def add(self, measure: str, sample: float | None = None) -> None:
        self.counts[measure] += 1
        if sample is not None:
            if self.samples is None:
                self.samples = defaultdict(list)
            self.samples[measure].append(sample)


# --- reading the facts ------------------------------------------------------------------------

_FACT_GROUP_COLUMNS = {"channel": "channel", "direction": "direction", "language": "language",
                       "service_line": "service_line_id"}
_DAILY_COLUMNS = {"channel": ContactDaily.channel, "direction": ContactDaily.direction,
                  "language": ContactDaily.language, "service_line": ContactDaily.service_line_id}


def _group(fact, group_by: tuple[str, ...]) -> tuple:
    return tuple(getattr(fact, _FACT_GROUP_COLUMNS[name]) for name in group_by)


def _contact_counts(query: StatsQuery) -> Iterator[tuple[date, tuple, int]]:
    period_column = {"day": ContactDaily.day, "week": ContactDaily.week, "month": ContactDaily.month}[query.interval]
    dimensions = [_DAILY_COLUMNS[name] for name in query.group_by]
    rows = db.session.execute(select(period_column, *dimensions, func.sum(ContactDaily.contacts))
                              .where(ContactDaily.day >= query.first, ContactDaily.day <= query.last,
                                     _on_lines(ContactDaily.service_line_id, query))
                              .group_by(period_column, *dimensions))
    for row in rows:
        yield row[0], tuple(row[1:-1]), int(row[-1])


def _call_events(query: StatsQuery, settings: StatsSettings, level: int) -> Iterator[tuple[date, tuple, str, float | None]]:
    start, end = utc_bounds(query.first, query.last, settings.zone)
    facts = db.session.execute(select(ContactFact).where(
        ContactFact.channel == "phone", ContactFact.direction == "inbound",
        ContactFact.occurred_at >= start, ContactFact.occurred_at < end,
        _on_lines(ContactFact.service_line_id, query))).scalars()
    for fact in facts:
        key = period_key(local_day(fact.occurred_at, settings.zone), query.interval)
        group = _group(fact, query.group_by)
        yield key, group, "offered", None
        if fact.call_outcome == "answered":
            yield key, group, "answered", None
            if fact.queue_seconds is not None:
                yield key, group, "queue_seconds", fact.queue_seconds
                if fact.queue_seconds <= level:
                    yield key, group, "answered_within_service_level", None
            if fact.handling_seconds is not None:
                yield key, group, "handling_seconds", fact.handling_seconds
        elif fact.call_outcome == "abandoned":
            yield key, group, "abandoned", None


def _case_events(query: StatsQuery, settings: StatsSettings) -> Iterator[tuple[date | None, tuple, str, float | None]]:
    start, end = utc_bounds(query.first, query.last, settings.zone)

    def key(at):
        return period_key(local_day(at, settings.zone), query.interval)

    def inside(at):
        return at is not None and start <= at < end

    facts = db.session.execute(select(CaseFact).where(
        CaseFact.opened_at < end, or_(CaseFact.closed_at.is_(None), CaseFact.closed_at >= start),
        _on_lines(CaseFact.service_line_id, query))).scalars()
    for fact in facts:
        group = _group(fact, query.group_by)
        if fact.opened_at < start:
            yield None, group, "open_before", None
        else:
            yield key(fact.opened_at), group, "opened", None
        if inside(fact.first_response_at):
            yield key(fact.first_response_at), group, "first_response_seconds", fact.first_response_seconds
        if inside(fact.forwarded_at):
            yield key(fact.forwarded_at), group, "forwarded", None
        if inside(fact.closed_at):
            yield key(fact.closed_at), group, "closed", fact.close_seconds


def _feedback_events(query: StatsQuery, settings: StatsSettings) -> Iterator[tuple[date, tuple, str, float | None]]:
    start, end = utc_bounds(query.first, query.last, settings.zone)
    facts = db.session.execute(select(CaseFact).where(or_(
        (CaseFact.feedback_sent_at >= start) & (CaseFact.feedback_sent_at < end),
        (CaseFact.feedback_answered_at >= start) & (CaseFact.feedback_answered_at < end)),
        _on_lines(CaseFact.service_line_id, query))).scalars()
    for fact in facts:
        group = _group(fact, query.group_by)
        if fact.feedback_sent_at is not None and start <= fact.feedback_sent_at < end:
            yield period_key(local_day(fact.feedback_sent_at, settings.zone), query.interval), group, "sent", None
        if fact.feedback_score is not None and start <= fact.feedback_answered_at < end:
            key = period_key(local_day(fact.feedback_answered_at, settings.zone), query.interval)
            yield key, group, "answered", fact.feedback_score
            yield key, group, f"score_{fact.feedback_score}", None


# --- tallying ----------------------------------------------------------------------------------

def _tally(events: Iterable[tuple[date | None, tuple, str, float | None]]):
    cells: dict[tuple, _Tally] = defaultdict(_Tally)
    totals: dict[date | None, _Tally] = defaultdict(_Tally)
    grand = _Tally()
    for key, group, measure, sample in events:
        for tally in (cells[(key, group)], totals[(key, ())], grand):
            tally.add(measure, sample)
    return cells, totals, grand


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _spread(values: list[float], name: str, *, mean: bool = True) -> dict[str, tuple[float | None, int]]:
    n = len(values)
    result = {}
    if mean:
        result[f"{name}_mean"] = (round(statistics.fmean(values), 1) if n else None, n)
    result[f"{name}_median"] = (statistics.median(values) if n else None, n)
    result[f"{name}_p90"] = (_percentile(values, 0.9) if n else None, n)
    return result


def _figures(report: str, tally: _Tally) -> dict[str, tuple[float | None, int]]:
    counts, samples = tally.counts, tally.samples or defaultdict(list)
    if report == "calls":
        offered = counts["offered"]
        share = round(counts["answered_within_service_level"] / offered, 3) if offered else None
        return {"service_level_share": (share, offered), **_spread(samples["queue_seconds"], "queue_seconds"),
                **_spread(samples["handling_seconds"], "handling_seconds")}
    if report == "cases":
        return {**_spread(samples["first_response_seconds"], "first_response_seconds", mean=False),
                **_spread(samples["closed"], "close_seconds", mean=False)}
    if report == "feedback":
        scores = samples["answered"]
        return {"score_mean": (round(statistics.fmean(scores), 2) if scores else None, len(scores))}
    return {}


def _open_at_end(cells, totals, grand, period_list: list[Period]) -> None:
    """Cases still open at each period's end: those open when the range began, plus those
    opened since, less those closed since."""
    for store in (cells, totals):
        for group in {group for (_, group) in store}:
            before = store.pop((None, group), None)
            open_now = before.counts["open_before"] if before is not None else 0
            for period in period_list:
                tally = store.get((period.key, group))
                if tally is not None:
                    open_now += tally.counts["opened"] - tally.counts["closed"]
                if open_now:
                    store[(period.key, group)].counts["open_at_end"] = open_now
    grand.counts["open_at_end"] = grand.counts["open_before"] + grand.counts["opened"] - grand.counts["closed"]


# --- suppression and output --------------------------------------------------------------------

def _measures(report: str, tally: _Tally) -> dict:
    values = {name: tally.counts.get(name, 0) for name in COUNTS[report]}
    values.update(_figures(report, tally))
    return values


def _suppress_row(report: str, values: dict, hidden: set[str], threshold: int) -> dict:
    hidden = set(hidden) | {name for name in COUNTS[report] if is_small(values[name], threshold)}
    for parts in _ROW_PARTS.get(report, ()):
        if sum(name in hidden for name in parts) == 1:
            others = [(values[name], name) for name in parts if values[name] > 0 and name not in hidden]
            if others:
                hidden.add(min(others)[1])
    out = {}
    for name in COUNTS[report]:
        out[name] = None if name in hidden else values[name]
    for name in FIGURES[report]:
        value, n = values[name]
        if value is not None and n < threshold:
            hidden.add(name)
            value = None
        out[name] = value
    out["suppressed"] = [name for name in (*COUNTS[report], *FIGURES[report]) if name in hidden]
    return out


def _column_hidden(report: str, groups: dict[tuple, dict], threshold: int) -> dict[tuple, set[str]]:
    """Per count: hide small cells among those that add up to a published total."""
    hidden: dict[tuple, set[str]] = defaultdict(set)
    slots = list(groups)
    for name in COUNTS[report]:
        values = [groups[slot][name] for slot in slots]
        for i in hidden_cells(values, threshold, sum_published=True):
            hidden[slots[i]].add(name)
    return hidden


def _line_names() -> dict[int, str]:
    return dict(db.session.execute(select(ServiceLine.id, ServiceLine.name)).all())


def _label_group(group_by: tuple[str, ...], group: tuple, lines: dict[int, str]) -> dict:
    labelled = {}
    for name, value in zip(group_by, group):
        if name == "service_line" and value is not None:
            value = lines.get(value, f"#{value}")
        labelled[name] = value
    return labelled


def _sort_key(group: tuple) -> tuple:
    return tuple((value is not None, str(value)) for value in group)


def _frame(period: Period) -> dict:
    return {"period": period.label, "start": period.start.isoformat(), "end": period.end.isoformat()}


def _labelled_groups(group_by: tuple[str, ...], groups: set[tuple]) -> dict[tuple, tuple[tuple, dict]]:
    """Each breakdown's sort key and labels, made once: a quarter by day is thousands of cells
    over a few dozen breakdowns."""
    lines = _line_names() if "service_line" in group_by else {}
    return {group: (_sort_key(group), _label_group(group_by, group, lines)) for group in groups}


def _contacts_table(query: StatsQuery, settings: StatsSettings, period_list: list[Period]) -> Table:
    """The contacts report by the short road: one count per cell, no samples. It is the one
    read over years of busy lines (thousands of cells), so it skips the general tallying."""
    threshold = settings.threshold
    cells_by_period: dict[date, list] = defaultdict(list)
    for key, group, count in _contact_counts(query):
        cells_by_period[key].append((group, count))
    groups = _labelled_groups(query.group_by, {group for cells in cells_by_period.values() for group, _ in cells})

    def shown(count: int, hidden: bool) -> dict:
        return {"contacts": None, "suppressed": ["contacts"]} if hidden else {"contacts": count, "suppressed": []}

    rows, period_totals = [], []
    for period in period_list:
        cells = sorted(cells_by_period.get(period.key, ()), key=lambda cell: groups[cell[0]][0])
        if not cells:
            continue
        hidden = hidden_cells([count for _, count in cells], threshold, sum_published=True)
        frame = _frame(period)
        for i, (group, count) in enumerate(cells):
            rows.append({**frame, **groups[group][1], **shown(count, i in hidden)})
        period_totals.append((frame, sum(count for _, count in cells)))
    hidden = hidden_cells([count for _, count in period_totals], threshold, sum_published=True)
    totals = [{**frame, **shown(count, i in hidden)} for i, (frame, count) in enumerate(period_totals)]
    grand = sum(count for _, count in period_totals)
    return Table(report="contacts", query=query, settings=settings, periods=period_list, rows=rows, totals=totals,
                 total=shown(grand, is_small(grand, threshold)))


def report(name: str, query: StatsQuery, settings: StatsSettings) -> Table:
    period_list = periods(query.first, query.last, query.interval)
    if name == "contacts":
        return _contacts_table(query, settings, period_list)
    if name == "calls":
        level = query.service_level_seconds or settings.service_level_seconds
        cells, totals, grand = _tally(_call_events(query, settings, level))
    elif name == "cases":
        cells, totals, grand = _tally(_case_events(query, settings))
        _open_at_end(cells, totals, grand, period_list)
    else:
        cells, totals, grand = _tally(_feedback_events(query, settings))

    threshold = settings.threshold
    frames = {period.key: _frame(period) for period in period_list}
    groups = _labelled_groups(query.group_by, {group for _, group in cells})

    slots_by_period = defaultdict(list)
    for slot in cells:
        slots_by_period[slot[0]].append(slot)
    rows = []
    for period in period_list:
        in_period = {slot: _measures(name, cells[slot]) for slot in slots_by_period.get(period.key, ())}
        hidden = _column_hidden(name, in_period, threshold)
        frame = frames[period.key]
        for slot in sorted(in_period, key=lambda s: groups[s[1]][0]):
            rows.append({**frame, **groups[slot[1]][1],
                         **_suppress_row(name, in_period[slot], hidden.get(slot, ()), threshold)})

    period_totals = {slot: _measures(name, tally) for slot, tally in totals.items()}
    hidden = _column_hidden(name, period_totals, threshold)
    total_rows = [{**frames[period.key], **_suppress_row(name, period_totals[(period.key, ())],
                                                        hidden.get((period.key, ()), set()), threshold)}
                  for period in period_list if (period.key, ()) in period_totals]
    total = _suppress_row(name, _measures(name, grand), set(), threshold)
    return Table(report=name, query=query, settings=settings, periods=period_list, rows=rows,
                 totals=total_rows, total=total)
