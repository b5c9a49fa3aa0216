"""The reports computed exactly from every fact of the range: the test oracle of the rollups.

This is how the reports were computed before they were read from rollups: every fact of the
range read into Python, medians and percentiles from the sorted values. Its memory and time
grow with the range, so no request uses it; the tests compare the rollups with it on small
data (counts and means equal, quantiles within the stated bound, the same cells hidden).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import date

from sqlalchemy import or_, select

from ..extensions import db
from .calendar import Period, local_day, period_key, periods, utc_bounds
from .logic import StatsQuery, StatsSettings, Table, _contacts_table, _table
from .models import CaseFact, ContactFact
from .cells import clock_events
from .reports import COLUMNS, COUNTS, target_share


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

_FACT_GROUP_COLUMNS = COLUMNS


def _group(fact, group_by: tuple[str, ...]) -> tuple:
    return tuple(getattr(fact, _FACT_GROUP_COLUMNS[name]) for name in group_by)


def _call_events(query: StatsQuery, settings: StatsSettings, level: int) -> Iterator[tuple[date, tuple, str, float | None]]:
    start, end = utc_bounds(query.first, query.last, settings.zone)
    facts = db.session.execute(select(ContactFact).where(
        ContactFact.channel == "phone", ContactFact.direction == "inbound",
        ContactFact.occurred_at >= start, ContactFact.occurred_at < end)).scalars()
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
        CaseFact.opened_at < end, or_(CaseFact.closed_at.is_(None), CaseFact.closed_at >= start))).scalars()
    for fact in facts:
        group = _group(fact, query.group_by)
        if fact.opened_at < start:
            yield None, group, "open_before", None
        else:
            yield key(fact.opened_at), group, "opened", None
        if inside(fact.first_response_at):
            yield key(fact.first_response_at), group, "first_response_seconds", fact.first_response_seconds
            for at, measure, sample in clock_events("first_response", fact.first_response_at, fact.first_response_met,
                                                    fact.first_response_working_seconds):
                yield key(at), group, measure, sample
        if inside(fact.forwarded_at):
            yield key(fact.forwarded_at), group, "forwarded", None
        if inside(fact.closed_at):
            yield key(fact.closed_at), group, "closed", fact.close_seconds
            for at, measure, sample in clock_events("resolution", fact.closed_at, fact.resolution_met,
                                                    fact.resolution_working_seconds):
                yield key(at), group, measure, sample


def _feedback_events(query: StatsQuery, settings: StatsSettings) -> Iterator[tuple[date, tuple, str, float | None]]:
    start, end = utc_bounds(query.first, query.last, settings.zone)
    facts = db.session.execute(select(CaseFact).where(or_(
        (CaseFact.feedback_sent_at >= start) & (CaseFact.feedback_sent_at < end),
        (CaseFact.feedback_answered_at >= start) & (CaseFact.feedback_answered_at < end)))).scalars()
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
        clocks = {}
        for clock in ("first_response", "resolution"):
            clocks[f"{clock}_target_share"] = target_share(counts[f"{clock}_target_met"],
                                                           counts[f"{clock}_target_missed"])
            clocks.update(_spread(samples[f"{clock}_working_seconds"], f"{clock}_working_seconds", mean=False))
        return {**_spread(samples["first_response_seconds"], "first_response_seconds", mean=False),
                **_spread(samples["closed"], "close_seconds", mean=False), **clocks}
    if report == "feedback":
        scores = samples["answered"]
        return {"score_mean": (round(statistics.fmean(scores), 2) if scores else None, len(scores))}
    return {}


def _measures(report: str, tally: _Tally) -> dict:
    values = {name: tally.counts.get(name, 0) for name in COUNTS[report]}
    values.update(_figures(report, tally))
    return values




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


def exact_report(name: str, query: StatsQuery, settings: StatsSettings) -> Table:
    period_list = periods(query.first, query.last, query.interval)
    if name == "contacts":
        return _contacts_table(query, settings, period_list)
    if name == "calls":
        level = query.service_level_seconds or settings.service_level_seconds
        cells, totals, grand = _tally(_call_events(query, settings, level))
    elif name == "cases":
        cells, totals, grand = _tally(_case_events(query, settings))
    else:
        cells, totals, grand = _tally(_feedback_events(query, settings))
    if name == "cases":
        _open_at_end(cells, totals, grand, period_list)
    return _table(name, query, settings, period_list,
                  {slot: _measures(name, tally) for slot, tally in cells.items()},
                  {key: _measures(name, tally) for (key, _), tally in totals.items()},
                  _measures(name, grand))
