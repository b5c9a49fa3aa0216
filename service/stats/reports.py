"""What each report shows: its breakdowns, its counts and its figures, and how a summary of
events (``sketch.Summary``) becomes one row of them."""

from __future__ import annotations

from itertools import combinations

from .sketch import Summary

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
    "cases": ("opened", "closed", "forwarded", "open_at_end", "first_response_target_met",
              "first_response_target_missed", "resolution_target_met", "resolution_target_missed"),
    "feedback": ("sent", "answered", "score_1", "score_2", "score_3", "score_4", "score_5"),
}
FIGURES = {
    "contacts": (),
    "calls": ("service_level_share", "queue_seconds_mean", "queue_seconds_median", "queue_seconds_p90",
              "handling_seconds_mean", "handling_seconds_median", "handling_seconds_p90"),
    "cases": ("first_response_seconds_median", "first_response_seconds_p90", "close_seconds_median",
              "close_seconds_p90", "first_response_target_share", "resolution_target_share",
              "first_response_working_seconds_median", "first_response_working_seconds_p90",
              "resolution_working_seconds_median", "resolution_working_seconds_p90"),
    "feedback": ("score_mean",),
}
# The column of each breakdown in the facts and the cells.
COLUMNS = {"channel": "channel", "direction": "direction", "language": "language", "service_line": "service_line_id"}


def groupings(report: str) -> list[tuple[str, ...]]:
    """Every combination of the report's breakdowns, each in the report's order."""
    names = GROUPS[report]
    return [combo for size in range(len(names) + 1) for combo in combinations(names, size)]


def _spread(summary: Summary, measure: str, name: str, *, mean: bool = True) -> dict:
    n = summary.samples[measure]
    result = {}
    if mean:
        value = summary.mean(measure)
        result[f"{name}_mean"] = (round(value, 1) if value is not None else None, n)
    median = summary.median(measure)
    result[f"{name}_median"] = (round(median, 2) if median is not None else None, n)
    result[f"{name}_p90"] = (summary.percentile(measure, 0.9), n)
    return result


def target_share(met: int, missed: int) -> tuple[float | None, int]:
    """The share of service clocks that met their target, and how many it rests on."""
    n = met + missed
    return (round(met / n, 3) if n else None, n)


def measures(report: str, summary: Summary, level: int) -> dict:
    """Counts (int) and figures ((value, values it rests on)) before suppression; ``level``
    is the service level in seconds, for calls."""
    counts = summary.counts
    values = {name: counts.get(name, 0) for name in COUNTS[report]}
    if report == "calls":
        within = summary.at_most("queue_seconds", level)
        offered = counts.get("offered", 0)
        values["answered_within_service_level"] = within
        values["service_level_share"] = (round(within / offered, 3) if offered else None, offered)
        values.update(_spread(summary, "queue_seconds", "queue_seconds"))
        values.update(_spread(summary, "handling_seconds", "handling_seconds"))
    elif report == "cases":
        values.update(_spread(summary, "first_response_seconds", "first_response_seconds", mean=False))
        values.update(_spread(summary, "closed", "close_seconds", mean=False))
        for clock in ("first_response", "resolution"):
            values[f"{clock}_target_share"] = target_share(counts.get(f"{clock}_target_met", 0),
                                                           counts.get(f"{clock}_target_missed", 0))
            values.update(_spread(summary, f"{clock}_working_seconds", f"{clock}_working_seconds", mean=False))
    elif report == "feedback":
        mean = summary.mean("answered")
        values["score_mean"] = (round(mean, 2) if mean is not None else None, summary.samples["answered"])
    return values


def pack(report: str, values: dict, level: int) -> list:
    """A row of measures as stored in a cell: a flat list, quicker to read back than an object
    (a quarter by day is thousands of cells): the level, the counts, each figure's value and n."""
    packed = [level, *(values[name] for name in COUNTS[report])]
    for name in FIGURES[report]:
        packed.extend(values[name])
    return packed


def unpack(report: str, packed: list) -> tuple[dict, int]:
    """(measures, the service level they were counted with) from ``pack``."""
    counts = COUNTS[report]
    values = dict(zip(counts, packed[1:len(counts) + 1]))
    figures = packed[len(counts) + 1:]
    for i, name in enumerate(FIGURES[report]):
        values[name] = (figures[2 * i], figures[2 * i + 1])
    return values, packed[0]
