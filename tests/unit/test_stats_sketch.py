"""The summaries behind the statistics' medians and percentiles: mergeable, and within 1% of the
exact values whatever the distribution and however the values are split into days."""

import math
import random
import statistics

import pytest

from service.stats.sketch import Summary


def _exact(values, share):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


DISTRIBUTIONS = {
    "queue-like": lambda rng: int(rng.expovariate(1 / 45)),
    "talk-like": lambda rng: 20 + int(rng.expovariate(1 / 280)),
    "days to close": lambda rng: int(rng.lognormvariate(11, 1.5)),
    "small": lambda rng: rng.randint(0, 12),
    "constant": lambda rng: 86_399,
}


@pytest.mark.parametrize("name", DISTRIBUTIONS)
@pytest.mark.parametrize("n", [1, 2, 5, 6, 99, 1000, 4321])
def test_median_and_p90_within_one_percent_of_the_exact_values(name, n):
    rng = random.Random(f"{name}-{n}")
    values = [DISTRIBUTIONS[name](rng) for _ in range(n)]
    for measure in ("handling_seconds", "queue_seconds"):
        days = [Summary() for _ in range(7)]
        for value in values:
            rng.choice(days).add(measure, value)
        merged = Summary()
        for day in days:
            merged.merge(Summary.from_json(day.to_json()))  # as stored and read back

        assert merged.samples[measure] == n and merged.sums[measure] == sum(values)
        assert merged.mean(measure) == statistics.fmean(values)
        assert merged.median(measure) == pytest.approx(statistics.median(values), rel=0.01, abs=1e-9)
        assert merged.percentile(measure, 0.9) == pytest.approx(_exact(values, 0.9), rel=0.01, abs=1e-9)


def test_queue_times_are_exact_and_count_any_service_level_exactly():
    rng = random.Random(28)
    values = [int(rng.expovariate(1 / 45)) for _ in range(2000)]
    summary = Summary()
    for value in values:
        summary.add("queue_seconds", value)
    assert summary.median("queue_seconds") == statistics.median(values)
    assert summary.percentile("queue_seconds", 0.9) == _exact(values, 0.9)
    for level in (1, 20, 45, 60, 180, 86_400):
        assert summary.at_most("queue_seconds", level) == sum(value <= level for value in values)


def test_short_durations_come_out_exact():
    summary = Summary()
    for value in (0, 3, 7, 7, 41):
        summary.add("closed", value)
    assert (summary.median("closed"), summary.percentile("closed", 0.9)) == (7, 41)
