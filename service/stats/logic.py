"""The four reports: contacts, calls, cases and feedback, per period and breakdown.

Every report is read from rollups, never from the facts: contacts from the daily table, calls,
cases and feedback from their cells (``cells.py``), one per day, ISO week and month and per
combination of breakdowns. A period that is a whole day, week or month is read as it was
summarised; a period cut by the range, and the range's own total, are merged from day and month
summaries. So a request reads a number of rows bounded by its periods and breakdowns, however
many facts lie behind them. Counts and means are exact; medians and 90th percentiles of the
durations come from DDSketch buckets, within 1% of the exact value (``sketch.py``). Every report
goes through the same suppression before anyone sees it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select

from ..extensions import db
from ..lines.models import ServiceLine
from .calendar import Period, month_of, periods
from .cells import grouping_name, span_end
from .models import ContactDaily, StatsCell
from .reports import COLUMNS, COUNTS, FIGURES, GROUPS, REPORTS, measures, unpack
from .sketch import Summary
from .suppression import hidden_cells, is_small

__all__ = ["COUNTS", "FIGURES", "GROUPS", "REPORTS", "StatsQuery", "StatsSettings", "Table", "report"]

# Counts that add up to another count shown in the same row: hiding one of them alone would
# not hide it.
_ROW_PARTS = {
    "calls": (("answered", "abandoned"),),
    "feedback": (("score_1", "score_2", "score_3", "score_4", "score_5"),),
    "cases": (("first_response_target_met", "first_response_target_missed"),
              ("resolution_target_met", "resolution_target_missed")),
}
# Figures made of counts (shares, the mean score): with the counts shown beside them they give
# back any one count they are made of, so each is hidden whenever one of its counts is.
_FIGURE_COUNTS = {
    "service_level_share": ("offered", "answered_within_service_level"),
    # With the answered count and the scores shown, the mean is one more equation: two hidden
    # score counts (a lone small one takes another with it) are then solved for.
    "score_mean": ("answered", "score_1", "score_2", "score_3", "score_4", "score_5"),
    "first_response_target_share": ("first_response_target_met", "first_response_target_missed"),
    "resolution_target_share": ("resolution_target_met", "resolution_target_missed"),
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
    # A supervisor limited to some lines sees only theirs; None: every line.
    service_line_ids: frozenset[int] | None = None


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


# --- reading the rollups ------------------------------------------------------------------------

_DAILY_COLUMNS = {"channel": ContactDaily.channel, "direction": ContactDaily.direction,
                  "language": ContactDaily.language, "service_line": ContactDaily.service_line_id}


def _contact_counts(query: StatsQuery) -> Iterator[tuple[date, tuple, int]]:
    period_column = {"day": ContactDaily.day, "week": ContactDaily.week, "month": ContactDaily.month}[query.interval]
    dimensions = [_DAILY_COLUMNS[name] for name in query.group_by]
    statement = (select(period_column, *dimensions, func.sum(ContactDaily.contacts))
                 .where(ContactDaily.day >= query.first, ContactDaily.day <= query.last))
    if query.service_line_ids is not None:
        statement = statement.where(ContactDaily.service_line_id.in_(sorted(query.service_line_ids)))
    rows = db.session.execute(statement.group_by(period_column, *dimensions))
    for row in rows:
        yield row[0], tuple(row[1:-1]), int(row[-1])


Cells = dict[tuple, dict]  # (period key, breakdown) -> measures


class _Reader:
    """Reads one report's cells for one query: its own breakdown and the whole ("")."""

    def __init__(self, report: str, query: StatsQuery, level: int):
        self.report, self.query, self.level = report, query, level
        self.grouping = grouping_name(name for name in GROUPS[report] if name in query.group_by)
        self.wanted = {self.grouping, ""}
        # The breakdown's columns in the query's order: a row's group is a slice of it.
        self.columns = [getattr(StatsCell, COLUMNS[name]) for name in query.group_by]
        self.width = len(self.columns)

    def _select(self, *extra):
        return select(StatsCell.grouping, StatsCell.period, *self.columns, *extra)

    def _where(self, span: str, first: date, last: date, groupings=None):
        return (StatsCell.report == self.report, StatsCell.span == span,
                StatsCell.grouping.in_(groupings or self.wanted), StatsCell.period >= first, StatsCell.period <= last)

    def _place(self, cells: Cells, totals: Cells, key: date, grouping: str, group: tuple, values: dict) -> None:
        if grouping == self.grouping:
            cells[(key, group)] = values
        if grouping == "":
            totals[key] = values

    def whole(self, keys: list[date], cells: Cells, totals: Cells) -> None:
        """Periods that are whole days, weeks or months: their cells as summarised."""
        wanted_keys, stale, width = set(keys), [], self.width
        rows = [row for row in db.session.execute(self._select(StatsCell.id, StatsCell.measures)
                                                  .where(*self._where(self.query.interval, keys[0], keys[-1])))
                if row[1] in wanted_keys]
        # One parse for all: thousands of small json.loads calls cost more than the text.
        packed = json.loads("[" + ",".join(row[-1] for row in rows) + "]")
        for row, stored in zip(rows, packed):
            values, level = unpack(self.report, stored)
            if self.report == "calls" and level != self.level:
                stale.append(row)  # summarised for another service level: recount from its summary
                continue
            self._place(cells, totals, row[1], row[0], tuple(row[2:2 + width]), values)
        if stale:
            summaries = dict(db.session.execute(select(StatsCell.id, StatsCell.summary)
                                                .where(StatsCell.id.in_([row.id for row in stale]))).all())
            for row in stale:
                summary = Summary.from_json(json.loads(summaries[row.id]))
                self._place(cells, totals, row[1], row[0], tuple(row[2:2 + width]),
                            measures(self.report, summary, self.level))

    def _merged(self, first: date, last: date, groupings) -> dict[tuple, Summary]:
        """The days first..last merged per breakdown, from as few cells as cover them."""
        pieces = _cover(first, last)
        merged: dict[tuple, Summary] = defaultdict(Summary)
        for span in ("month", "week", "day"):
            keys = [key for piece, key in pieces if piece == span]
            if not keys:
                continue
            rows = db.session.execute(self._select(StatsCell.summary).where(
                *self._where(span, keys[0], keys[-1], groupings), StatsCell.period.in_(keys)))
            for row in rows:
                merged[(row[0], tuple(row[2:2 + self.width]))].merge(Summary.from_json(json.loads(row[-1])))
        return merged

    def partial(self, period: Period, cells: Cells, totals: Cells) -> None:
        """A period cut by the range: the merge of the weeks and days inside it."""
        for (grouping, group), summary in self._merged(period.start, period.end, self.wanted).items():
            self._place(cells, totals, period.key, grouping, group, measures(self.report, summary, self.level))

    def range_total(self) -> dict:
        """The whole range: its whole months, weeks and the days left over, merged."""
        merged = self._merged(self.query.first, self.query.last, [""])
        whole = next((summary for (grouping, _), summary in merged.items() if grouping == ""), Summary())
        return measures(self.report, whole, self.level)

    def open_before(self) -> tuple[dict[tuple, int], int]:
        """Cases open when the range began, per breakdown and in all: opened less closed before it."""
        rows = db.session.execute(select(StatsCell.grouping, *self.columns, func.sum(StatsCell.open_change))
                                  .where(StatsCell.report == self.report, StatsCell.grouping.in_(self.wanted),
                                         _before_range(self.query.first))
                                  .group_by(StatsCell.grouping, *self.columns))
        groups, total = {}, 0
        for row in rows:
            if row[0] == self.grouping and row[-1]:
                groups[tuple(row[1:1 + self.width])] = int(row[-1])
            if row[0] == "":
                total = int(row[-1] or 0)
        return groups, total


def _cover(first: date, last: date) -> list[tuple[str, date]]:
    """Whole months, then whole ISO weeks, then days that together are first..last: a range of
    years is a few dozen cells per breakdown, not hundreds of days."""
    pieces, day = [], first
    while day <= last:
        if day.day == 1 and span_end("month", day) <= last:
            pieces.append(("month", day))
            day = span_end("month", day) + timedelta(days=1)
        elif day.weekday() == 0 and day + timedelta(days=6) <= last:
            pieces.append(("week", day))
            day += timedelta(days=7)
        else:
            pieces.append(("day", day))
            day += timedelta(days=1)
    return pieces


def _whole_period(period: Period, interval: str) -> bool:
    return period.start == period.key and period.end == span_end(interval, period.key)


def _from_cells(name: str, query: StatsQuery, period_list: list[Period], level: int):
    reader = _Reader(name, query, level)
    cells: Cells = {}
    totals: Cells = {}
    whole = [period.key for period in period_list if _whole_period(period, query.interval)]
    if whole:
        reader.whole(whole, cells, totals)
    for period in period_list:
        if not _whole_period(period, query.interval):
            reader.partial(period, cells, totals)
    grand = reader.range_total()
    if name == "cases":
        totals = _with_open_cases(cells, totals, grand, *reader.open_before(), period_list, level)
    return cells, totals, grand


def _with_open_cases(cells: Cells, totals: Cells, grand: dict, before: dict[tuple, int], before_total: int,
                     period_list: list[Period], level: int) -> Cells:
    """The cases report's cases still open at each period's end, in its cells, period totals
    and grand total, from those open when the range began. Returns the new period totals."""
    empty = measures("cases", Summary(), level)
    open_at_end(cells, before, period_list, empty)
    totals_by_slot = {(key, ()): values for key, values in totals.items()}
    open_at_end(totals_by_slot, {(): before_total}, period_list, empty)
    grand["open_at_end"] = before_total + grand["opened"] - grand["closed"]
    return {key: values for (key, _), values in totals_by_slot.items()}


def _before_range(first: date):
    """The cells before ``first``: whole months before its month, then the days of its month."""
    month = month_of(first)
    return or_(and_(StatsCell.span == "month", StatsCell.period < month),
               and_(StatsCell.span == "day", StatsCell.period >= month, StatsCell.period < first))


def open_at_end(cells: Cells, before: dict[tuple, int], period_list: list[Period], empty: dict) -> None:
    """Cases still open at each period's end: those open when the range began, plus those
    opened since, less those closed since."""
    for group in {group for (_, group) in cells} | set(before):
        open_now = before.get(group, 0)
        for period in period_list:
            values = cells.get((period.key, group))
            if values is not None:
                open_now += values["opened"] - values["closed"]
            if open_now:
                if values is None:
                    values = cells[(period.key, group)] = dict(empty)
                values["open_at_end"] = open_now


# --- suppression and output --------------------------------------------------------------------

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
        if value is not None and (n < threshold or any(part in hidden for part in _FIGURE_COUNTS.get(name, ()))):
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


def _table(name: str, query: StatsQuery, settings: StatsSettings, period_list: list[Period], cells: Cells,
           totals: Cells, grand: dict) -> Table:
    """The rows, period totals and range total, suppressed, from each slot's measures."""
    threshold = settings.threshold
    frames = {period.key: _frame(period) for period in period_list}
    groups = _labelled_groups(query.group_by, {group for _, group in cells})

    slots_by_period = defaultdict(list)
    for slot in cells:
        slots_by_period[slot[0]].append(slot)
    rows = []
    for period in period_list:
        # In the rows' order, so a tie for the secondary suppression falls the same way
        # however the cells were read.
        in_period = {slot: cells[slot] for slot in sorted(slots_by_period.get(period.key, ()),
                                                          key=lambda s: groups[s[1]][0])}
        hidden = _column_hidden(name, in_period, threshold)
        frame = frames[period.key]
        for slot in in_period:
            rows.append({**frame, **groups[slot[1]][1],
                         **_suppress_row(name, in_period[slot], hidden.get(slot, ()), threshold)})

    period_totals = {(period.key, ()): totals[period.key] for period in period_list if period.key in totals}
    hidden = _column_hidden(name, period_totals, threshold)
    total_rows = [{**frames[period.key], **_suppress_row(name, period_totals[(period.key, ())],
                                                        hidden.get((period.key, ()), set()), threshold)}
                  for period in period_list if (period.key, ()) in period_totals]
    total = _suppress_row(name, grand, set(), threshold)
    return Table(report=name, query=query, settings=settings, periods=period_list, rows=rows,
                 totals=total_rows, total=total)


def _from_line_cells(name: str, query: StatsQuery, period_list: list[Period], level: int):
    """For a supervisor limited to some lines: the cells whose breakdown adds the service line,
    kept to those lines and merged over them. Every period is merged from its summaries (a
    whole period's stored figures are for every line), so this reads one row per piece of a
    period, breakdown and line: still bounded by the periods, never by the facts."""
    lines = sorted(query.service_line_ids)
    grouping = grouping_name(n for n in GROUPS[name] if n in query.group_by or n == "service_line")
    columns = [getattr(StatsCell, COLUMNS[n]) for n in query.group_by]
    owners: dict[tuple[str, date], list[date]] = defaultdict(list)
    for period in period_list:
        for piece in _cover(period.start, period.end):
            owners[piece].append(period.key)
    by_cell: dict[tuple, Summary] = defaultdict(Summary)
    by_period: dict[date, Summary] = defaultdict(Summary)
    whole = Summary()
    for span in ("month", "week", "day"):
        keys = sorted(key for piece, key in owners if piece == span)
        if not keys:
            continue
        rows = db.session.execute(select(StatsCell.period, *columns, StatsCell.summary).where(
            StatsCell.report == name, StatsCell.span == span, StatsCell.grouping == grouping,
            StatsCell.period.in_(keys), StatsCell.service_line_id.in_(lines)))
        for row in rows:
            group, summary = tuple(row[1:1 + len(columns)]), Summary.from_json(json.loads(row[-1]))
            for period_key in owners[(span, row[0])]:  # merge() leaves its argument as it was
                by_cell[(period_key, group)].merge(summary)
                by_period[period_key].merge(summary)
            whole.merge(summary)
    cells = {slot: measures(name, summary, level) for slot, summary in by_cell.items()}
    totals = {key: measures(name, summary, level) for key, summary in by_period.items()}
    grand = measures(name, whole, level)
    if name == "cases":
        totals = _with_open_cases(cells, totals, grand, *_open_before_on_lines(query, grouping, columns, lines),
                                  period_list, level)
    return cells, totals, grand


def _open_before_on_lines(query: StatsQuery, grouping: str, columns, lines: list[int]) -> tuple[dict[tuple, int], int]:
    rows = db.session.execute(select(*columns, func.sum(StatsCell.open_change))
                              .where(StatsCell.report == "cases", StatsCell.grouping == grouping,
                                     StatsCell.service_line_id.in_(lines), _before_range(query.first))
                              .group_by(*columns))
    groups = {tuple(row[:-1]): int(row[-1]) for row in rows if row[-1]}
    return groups, sum(groups.values())


def report(name: str, query: StatsQuery, settings: StatsSettings) -> Table:
    period_list = periods(query.first, query.last, query.interval)
    if name == "contacts":
        return _contacts_table(query, settings, period_list)
    level = query.service_level_seconds or settings.service_level_seconds
    read = _from_cells if query.service_line_ids is None else _from_line_cells
    cells, totals, grand = read(name, query, period_list, level)
    return _table(name, query, settings, period_list, cells, totals, grand)
