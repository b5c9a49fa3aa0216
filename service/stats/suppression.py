"""Small counts are hidden so that a statistic cannot single out a person.

Primary suppression hides a count from 1 to threshold-1. That alone is not enough when a sum
of the cells is published: with one hidden cell in a period, period total minus the shown
cells gives it back. So when exactly one cell of a published sum is hidden, the smallest other
non-zero cell is hidden with it (secondary suppression).
"""

from __future__ import annotations


def is_small(value: int, threshold: int) -> bool:
    return 0 < value < threshold


def hidden_cells(values: list[int], threshold: int, *, sum_published: bool) -> set[int]:
    """Indexes of ``values`` to hide."""
    hidden = {i for i, value in enumerate(values) if is_small(value, threshold)}
    if sum_published and len(hidden) == 1:
        others = [(value, i) for i, value in enumerate(values) if value > 0 and i not in hidden]
        if others:
            hidden.add(min(others)[1])
    return hidden
