"""Mergeable summaries of a day's calls, cases and feedback: counts, sums and histograms.

A ``Summary`` is what a period and breakdown needs to answer its report: exact counts, exact
sums (so means are exact) and, per duration, a histogram of bucket -> count. Summaries add up:
a week is the sum of its days, a year the sum of its months, so a report reads a few hundred
summaries instead of millions of facts.

Durations that need medians and percentiles (handling, first response, close) are bucketed by
DDSketch's logarithmic mapping: every value in a bucket is within ``RELATIVE_ACCURACY`` of the
bucket's representative value, so a quantile read from merged buckets is within that of the
exact quantile, however many days were merged. Queue times are kept per whole second instead:
they are short (a few hundred distinct values), and the service level must count exactly the
calls answered within *any* threshold a supervisor asks for.
"""

from __future__ import annotations

import math
from collections import Counter

from ddsketch.mapping import LogarithmicMapping

# 0.9% per bucket, plus at most 0.05 s from rounding a value of 50 s or more (smaller values
# sit alone in their bucket and come out exact): within 1% of the exact figure.
RELATIVE_ACCURACY = 0.009
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
# Integer seconds: 1 s and more map to keys >= 0, so -1 is free for zero (log 0 has no bucket).
_ZERO = -1

EXACT = "exact"
LOGARITHMIC = "log"
# The samples kept as histograms, and how; other samples (feedback scores) need only their sum.
HISTOGRAMS = {"queue_seconds": EXACT, "handling_seconds": LOGARITHMIC, "first_response_seconds": LOGARITHMIC,
              "closed": LOGARITHMIC, "first_response_working_seconds": LOGARITHMIC,
              "resolution_working_seconds": LOGARITHMIC}


def bucket(value: int, kind: str) -> int:
    if kind == EXACT:
        return int(value)
    return _ZERO if value <= 0 else _MAPPING.key(value)


def representative(key: int, kind: str) -> float:
    if kind == EXACT:
        return key
    if key == _ZERO:
        return 0
    estimate = _MAPPING.value(key)
    whole = round(estimate)
    if _MAPPING.key(max(whole, 1)) == key and all(n < 1 or _MAPPING.key(n) != key for n in (whole - 1, whole + 1)):
        return whole  # the only whole number of seconds in the bucket: the value itself
    return round(estimate, 1)


class Summary:
    """Counts of events, and per sampled measure its count, sum and histogram."""

    __slots__ = ("counts", "samples", "sums", "histograms")

    def __init__(self):
        self.counts: Counter = Counter()
        self.samples: Counter = Counter()
        self.sums: Counter = Counter()
        self.histograms: dict[str, Counter] = {}

    def add(self, measure: str, sample: int | None = None) -> None:
        self.counts[measure] += 1
        if sample is None:
            return
        self.samples[measure] += 1
        self.sums[measure] += sample
        kind = HISTOGRAMS.get(measure)
        if kind is not None:
            self.histograms.setdefault(measure, Counter())[bucket(sample, kind)] += 1

    def merge(self, other: "Summary") -> None:
        self.counts.update(other.counts)
        self.samples.update(other.samples)
        self.sums.update(other.sums)
        for measure, histogram in other.histograms.items():
            self.histograms.setdefault(measure, Counter()).update(histogram)

    def mean(self, measure: str) -> float | None:
        n = self.samples[measure]
        return self.sums[measure] / n if n else None

    def at_most(self, measure: str, limit: int) -> int:
        """Samples of an exactly kept measure no greater than ``limit``."""
        return sum(count for key, count in self.histograms.get(measure, {}).items() if key <= limit)

    def quantile_at_rank(self, measure: str, rank: int) -> float:
        kind = HISTOGRAMS[measure]
        seen = 0
        for key in sorted(self.histograms[measure]):
            seen += self.histograms[measure][key]
            if seen >= rank:
                return representative(key, kind)
        raise ValueError("rank beyond the samples")

    def median(self, measure: str) -> float | None:
        n = self.samples[measure]
        if not n:
            return None
        if n % 2:
            return self.quantile_at_rank(measure, n // 2 + 1)
        return (self.quantile_at_rank(measure, n // 2) + self.quantile_at_rank(measure, n // 2 + 1)) / 2

    def percentile(self, measure: str, share: float) -> float | None:
        """Nearest rank, as the exact computation: the smallest value with ``share`` at or below it."""
        n = self.samples[measure]
        return self.quantile_at_rank(measure, max(1, math.ceil(share * n))) if n else None

    def to_json(self) -> dict:
        return {"c": dict(self.counts), "n": dict(self.samples), "s": dict(self.sums),
                "h": {measure: [[key, count] for key, count in sorted(histogram.items())]
                      for measure, histogram in self.histograms.items()}}

    @classmethod
    def from_json(cls, data: dict) -> "Summary":
        summary = cls()
        summary.counts.update(data["c"])
        summary.samples.update(data["n"])
        summary.sums.update(data["s"])
        summary.histograms = {measure: Counter(dict(pairs)) for measure, pairs in data["h"].items()}
        return summary
