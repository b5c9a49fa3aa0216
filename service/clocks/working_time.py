"""Working time: adding and measuring it on a business calendar.

A calendar is opening hours per weekday in its own time zone, minus public holidays and the
authority's extra closed days. Every day's hours are turned into UTC with the zone's rules for
that very day, so a working hour across a clock change is still an hour of work, and a case
arriving while the office is closed starts counting when it opens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# How far a clock may be counted; a calendar that opens so seldom that a target does not fit
# in this many days is refused when it is saved, so this only guards against a loop.
HORIZON_DAYS = 3 * 366


class NeverOpen(ValueError):
    """The calendar has no working time within the horizon."""


@lru_cache(maxsize=8)
def public_holidays(country: str) -> holidays.HolidayBase:
    # The package computes moving feasts (Easter, Midsummer) per year on first use of a year.
    return holidays.country_holidays(country)


@dataclass(frozen=True)
class WorkCalendar:
    """Opening hours per weekday (``None``: closed), in ``zone``; ``country``'s public holidays
    and ``closed_days`` are closed all day."""

    zone: ZoneInfo
    hours: tuple[tuple[time, time] | None, ...]
    closed_days: frozenset[date] = field(default_factory=frozenset)
    country: str | None = "FI"

    def is_working_day(self, day: date) -> bool:
        if self.hours[day.weekday()] is None or day in self.closed_days:
            return False
        return not (self.country and day in public_holidays(self.country))

    def opening(self, day: date) -> tuple[datetime, datetime] | None:
        """The day's working interval in UTC, or None on a closed day."""
        if not self.is_working_day(day):
            return None
        start, end = self.hours[day.weekday()]
        return (datetime.combine(day, start, tzinfo=self.zone).astimezone(timezone.utc),
                datetime.combine(day, end, tzinfo=self.zone).astimezone(timezone.utc))

    def _local_day(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def add(self, start: datetime, seconds: float) -> datetime:
        """The moment ``seconds`` of working time after ``start`` (before it, if negative).
        Zero working seconds from a closed moment is the next opening: nothing can be due
        while nobody is at work."""
        if seconds < 0:
            return self._subtract(start, -seconds)
        left = seconds
        day = self._local_day(start)
        for _ in range(HORIZON_DAYS):
            interval = self.opening(day)
            if interval is not None:
                begin, end = max(interval[0], start), interval[1]
                if begin < end:
                    available = (end - begin).total_seconds()
                    if left <= available:
                        return begin + timedelta(seconds=left)
                    left -= available
            day += timedelta(days=1)
        raise NeverOpen("The calendar has no working time within three years.")

    def _subtract(self, start: datetime, seconds: float) -> datetime:
        left = seconds
        day = self._local_day(start)
        for _ in range(HORIZON_DAYS):
            interval = self.opening(day)
            if interval is not None:
                begin, end = interval[0], min(interval[1], start)
                if begin < end:
                    available = (end - begin).total_seconds()
                    if left <= available:
                        return end - timedelta(seconds=left)
                    left -= available
            day -= timedelta(days=1)
        raise NeverOpen("The calendar has no working time within three years.")

    def between(self, start: datetime, end: datetime) -> float:
        """Working seconds from ``start`` to ``end``; negative when ``end`` is earlier."""
        if end < start:
            return -self.between(end, start)
        total = 0.0
        day, last = self._local_day(start), self._local_day(end)
        while day <= last:
            interval = self.opening(day)
            if interval is not None:
                begin, finish = max(interval[0], start), min(interval[1], end)
                if begin < finish:
                    total += (finish - begin).total_seconds()
            day += timedelta(days=1)
        return total

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same working moment ``days`` working days later: a case arriving on Monday at
        10:00 with two working days is due on Wednesday at 10:00 (if both are working days).
        Arriving while closed counts from the next opening."""
        begin = self.add(start, 0)
        day = self._local_day(begin)
        into_day = self.between(self.opening(day)[0], begin)
        last = day + timedelta(days=HORIZON_DAYS)
        for _ in range(days):
            day += timedelta(days=1)
            while not self.is_working_day(day):
                day += timedelta(days=1)
                if day > last:
                    raise NeverOpen("The calendar has no working time within three years.")
        opens, closes = self.opening(day)
        # A shorter day (e.g. Friday) ends the clock at its closing time.
        return min(opens + timedelta(seconds=into_day), closes)


def parse_hours(hours: dict[str, list[str] | None]) -> tuple[tuple[time, time] | None, ...]:
    """``{"mon": ["08:00", "16:00"], "sat": None, ...}`` to a weekday tuple; missing days are
    closed."""
    result = []
    for name in WEEKDAYS:
        span = hours.get(name)
        result.append(None if not span else (time.fromisoformat(span[0]), time.fromisoformat(span[1])))
    return tuple(result)
