"""Calendar days, ISO weeks and months in the authority's time zone.

A statistic counts a contact on the day it happened *there*: 2026-03-28T22:30Z is already the
29th in Helsinki. Days are turned into UTC bounds with the zone's rules for that very day, so
the 23- and 25-hour days of the clock changes come out right.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

INTERVALS = ("day", "week", "month")


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def day_start_utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def utc_bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The half-open UTC interval covering the local days ``first`` to ``last`` inclusive."""
    return day_start_utc(first, zone), day_start_utc(last + timedelta(days=1), zone)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_of(day: date) -> date:
    return day.replace(day=1)


def period_key(day: date, interval: str) -> date:
    if interval == "week":
        return week_of(day)
    if interval == "month":
        return month_of(day)
    return day


def _next_key(key: date, interval: str) -> date:
    if interval == "week":
        return key + timedelta(days=7)
    if interval == "month":
        return (key.replace(day=28) + timedelta(days=4)).replace(day=1)
    return key + timedelta(days=1)


def label(key: date, interval: str) -> str:
    if interval == "week":
        year, week, _ = key.isocalendar()
        return f"{year}-W{week:02d}"
    if interval == "month":
        return key.strftime("%Y-%m")
    return key.isoformat()


@dataclass(frozen=True)
class Period:
    key: date
    label: str
    # The days of the period inside the asked range: a range starting on a Thursday has a
    # first week of four days.
    start: date
    end: date


def periods(first: date, last: date, interval: str) -> list[Period]:
    result = []
    key = period_key(first, interval)
    while key <= last:
        following = _next_key(key, interval)
        result.append(Period(key, label(key, interval), max(key, first), min(following - timedelta(days=1), last)))
        key = following
    return result
