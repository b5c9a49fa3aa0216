"""Service clocks: when a case's first response and resolution are due, in working time.

The rules, in one place:
- a case's clocks start when it is created, from its line's targets for its channel, counted
  on the line's business calendar; a line without a calendar, or a channel without targets,
  has no clocks;
- while the case is `waiting` on the customer both clocks pause; leaving `waiting` (the
  customer's answer, or an official opening it again) resumes them with the working time that
  was left;
- reassignment and forwarding do not touch them;
- the first response clock stops at the first official's response, the resolution clock when
  the case is closed; each records whether its target was met and the working time it took;
- reopening a closed case starts a new resolution clock with the line's current target;
- a change of a calendar (or of a line's calendar) recomputes the running clocks: the working
  time used until the change stays used, what is left is counted on the new calendar. A change
  of targets applies to clocks started after it.

Every start, pause, resume, stop and recomputation is a row of the case's clock history.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select

from ..cases.models import CLOSED, WAITING, Case
from ..extensions import db
from ..lines.models import ServiceLine
from .models import (ANY_CHANNEL, PAUSED, RECOMPUTED, RESOLVED, RESPONDED, RESTARTED, RESUMED, STARTED,
                     BusinessCalendar, ClockEvent, ServiceTarget)
from .working_time import NeverOpen, WorkCalendar, parse_hours


def work_calendar(calendar: BusinessCalendar) -> WorkCalendar:
    return WorkCalendar(zone=ZoneInfo(calendar.time_zone), hours=parse_hours(json.loads(calendar.hours)),
                        closed_days=frozenset(calendar.closed_day_list), country=calendar.holiday_country)


def line_calendar(line_id: int) -> WorkCalendar | None:
    calendar = db.session.scalar(select(BusinessCalendar).join(ServiceLine, ServiceLine.calendar_id == BusinessCalendar.id)
                                 .where(ServiceLine.id == line_id))
    return work_calendar(calendar) if calendar is not None else None


def target_for(line_id: int, channel: str) -> ServiceTarget | None:
    """The channel's own targets, else the line's targets for every other channel."""
    rows = {row.channel: row for row in db.session.scalars(
        select(ServiceTarget).where(ServiceTarget.service_line_id == line_id,
                                    ServiceTarget.channel.in_((channel, ANY_CHANNEL))))}
    return rows.get(channel) or rows.get(ANY_CHANNEL)


def _new_clocks(calendar: WorkCalendar, target: ServiceTarget, at: datetime) -> dict:
    """The clock columns of a case whose clocks start at ``at``."""
    values = {"clock_since": at, "clock_paused_at": None, "resolution_started_at": at,
              "first_response_due_at": None, "first_response_left_seconds": None,
              "first_response_target_seconds": None, "first_response_met": None,
              "first_response_working_seconds": None}
    values.update(_new_resolution(calendar, target, at))
    if target.first_response_minutes is not None:
        seconds = target.first_response_minutes * 60
        values.update(first_response_due_at=calendar.add(at, seconds), first_response_left_seconds=seconds,
                      first_response_target_seconds=seconds)
    values["next_due_at"] = _earliest(values["first_response_due_at"], values["resolution_due_at"])
    return values


def _new_resolution(calendar: WorkCalendar, target: ServiceTarget, at: datetime) -> dict:
    values = {"resolution_due_at": None, "resolution_left_seconds": None, "resolution_target_seconds": None,
              "resolution_met": None, "resolution_working_seconds": None}
    if target.resolution_days is not None:
        due = calendar.add_working_days(at, target.resolution_days)
        seconds = round(calendar.between(at, due))
        values.update(resolution_due_at=due, resolution_left_seconds=seconds, resolution_target_seconds=seconds)
    return values


def _earliest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return min(present) if present else None


def _history(case: Case, event: str, at: datetime) -> None:
    db.session.add(ClockEvent(case_id=case.id, at=at, event=event, first_response_due_at=case.first_response_due_at,
                              resolution_due_at=case.resolution_due_at))


def start_clocks(case: Case, at: datetime) -> None:
    """Start a new case's clocks (cases.logic.new_case calls this after the insert)."""
    target = target_for(case.service_line_id, case.channel)
    if target is None or (target.first_response_minutes is None and target.resolution_days is None):
        return
    calendar = line_calendar(case.service_line_id)
    if calendar is None:
        return
    try:
        values = _new_clocks(calendar, target, at)
    except NeverOpen:
        # No working time ahead (closed days added over years): the clocks cannot be counted,
        # so they are not started rather than failing the case's creation.
        return
    for name, value in values.items():
        setattr(case, name, value)
    _history(case, STARTED, at)


def clocks_of_new_cases(kinds: Iterable[tuple[int, str]], at: datetime) -> dict[tuple[int, str], dict]:
    """``start_clocks`` for many cases created at ``at`` (a batch intake): the clock columns
    of a new case of each (line id, channel) in ``kinds`` that has clocks, left out where none
    start. Computed before the cases exist, so that their INSERT carries them (an UPDATE after
    it would write every row of the case's indexes again); ``record_starts`` adds the history
    once they do."""
    clocks = {}
    for line_id, channel in set(kinds):
        target = target_for(line_id, channel)
        if target is None or (target.first_response_minutes is None and target.resolution_days is None):
            continue
        calendar = line_calendar(line_id)
        if calendar is None:
            continue
        try:
            clocks[(line_id, channel)] = _new_clocks(calendar, target, at)
        except NeverOpen:
            continue
    return clocks


def record_starts(started: list[tuple[int, dict]], at: datetime) -> None:
    """The history rows of clocks started by ``clocks_of_new_cases``: (case id, its clocks)."""
    if started:
        db.session.execute(insert(ClockEvent), [
            {"case_id": case_id, "at": at, "event": STARTED, "first_response_due_at": values["first_response_due_at"],
             "resolution_due_at": values["resolution_due_at"]} for case_id, values in started])


def _running(case: Case) -> bool:
    return case.clock_since is not None and case.clock_paused_at is None


def _left_now(case: Case, left: int | None, calendar: WorkCalendar, at: datetime) -> int | None:
    """Working seconds left of a clock at ``at``; negative once it is past due."""
    if left is None or not _running(case):
        return left
    return round(left - calendar.between(case.clock_since, at))


def _first_response_active(case: Case) -> bool:
    return case.first_response_target_seconds is not None and case.first_response_met is None \
        and case.first_response_working_seconds is None


def _resolution_active(case: Case) -> bool:
    return case.resolution_target_seconds is not None and case.resolution_working_seconds is None


def _has_clocks(case: Case) -> bool:
    return case.clock_since is not None or case.clock_paused_at is not None


def status_changed(case: Case, before: str, after: str, at: datetime) -> None:
    """Pause, resume, stop or restart the clocks as the case moves (cases.logic.move)."""
    if after == CLOSED:
        resolved(case, at)
    elif before == CLOSED:
        restart_resolution(case, at)
    elif after == WAITING:
        pause(case, at)
    elif before == WAITING:
        resume(case, at)


def pause(case: Case, at: datetime) -> None:
    if not _has_clocks(case) or not _running(case):
        return
    calendar = line_calendar(case.service_line_id)
    if calendar is None:
        return
    _rebase(case, calendar, at)
    _history(case, PAUSED, at)
    case.clock_since, case.clock_paused_at = None, at
    case.first_response_due_at = case.resolution_due_at = case.next_due_at = None


def resume(case: Case, at: datetime) -> None:
    if case.clock_paused_at is None:
        return
    calendar = line_calendar(case.service_line_id)
    if calendar is None:
        return
    case.clock_paused_at, case.clock_since = None, at
    _set_due_times(case, calendar)
    _history(case, RESUMED, at)


def _rebase(case: Case, calendar: WorkCalendar, at: datetime) -> None:
    """Count the working time used so far into what is left, and count on from ``at``."""
    if _first_response_active(case):
        case.first_response_left_seconds = _left_now(case, case.first_response_left_seconds, calendar, at)
    if _resolution_active(case):
        case.resolution_left_seconds = _left_now(case, case.resolution_left_seconds, calendar, at)
    case.clock_since = at


def _set_due_times(case: Case, calendar: WorkCalendar) -> None:
    since = case.clock_since

    def due(active: bool, left: int | None) -> datetime | None:
        if not active or left is None:
            return None
        try:
            return calendar.add(since, left)
        except NeverOpen:  # no working time ahead: nothing can fall due until the calendar opens
            return None

    case.first_response_due_at = due(_first_response_active(case), case.first_response_left_seconds)
    case.resolution_due_at = due(_resolution_active(case), case.resolution_left_seconds)
    case.next_due_at = _earliest(case.first_response_due_at, case.resolution_due_at)


def responded(case: Case, at: datetime) -> None:
    """An official's first response: the first response clock stops (cases.logic)."""
    if not _has_clocks(case) or not _first_response_active(case):
        return
    calendar = line_calendar(case.service_line_id)
    if calendar is None:
        return
    left = _left_now(case, case.first_response_left_seconds, calendar, at)
    case.first_response_met = left >= 0
    case.first_response_working_seconds = max(0, case.first_response_target_seconds - left)
    case.first_response_left_seconds = left
    case.first_response_due_at = None
    case.next_due_at = _earliest(case.resolution_due_at)
    _history(case, RESPONDED, at)


def resolved(case: Case, at: datetime) -> None:
    """Closing stops both clocks; the resolution clock records whether it met its target."""
    if not _has_clocks(case):
        return
    calendar = line_calendar(case.service_line_id)
    if calendar is None:
        return
    if _resolution_active(case):
        left = _left_now(case, case.resolution_left_seconds, calendar, at)
        case.resolution_met = left >= 0
        case.resolution_working_seconds = max(0, case.resolution_target_seconds - left)
        case.resolution_left_seconds = left
    if _first_response_active(case):
        # Closed without a response: the first response clock stops unmet and uncounted.
        case.first_response_left_seconds = _left_now(case, case.first_response_left_seconds, calendar, at)
    case.clock_since = case.clock_paused_at = None
    case.first_response_due_at = case.resolution_due_at = case.next_due_at = None
    _history(case, RESOLVED, at)


def restart_resolution(case: Case, at: datetime) -> None:
    """Reopening starts a new resolution clock with the line's current target."""
    target = target_for(case.service_line_id, case.channel)
    calendar = line_calendar(case.service_line_id)
    if target is None or target.resolution_days is None or calendar is None:
        return
    try:
        values = _new_resolution(calendar, target, at)
    except NeverOpen:
        return
    for name, value in values.items():
        setattr(case, name, value)
    case.resolution_started_at, case.clock_since, case.clock_paused_at = at, at, None
    _set_due_times(case, calendar)
    _history(case, RESTARTED, at)


def recompute_running(line_ids: Iterable[int], old: dict[int, WorkCalendar | None], at: datetime,
                      batch_size: int = 1000) -> int:
    """After a calendar change: the running clocks of these lines keep the working time they
    used on their old calendar (``old``, by line) and count what is left on the new one. Paused
    clocks need nothing: they count on whatever calendar is in force when they resume."""
    changed = 0
    for line_id in line_ids:
        new = line_calendar(line_id)
        before = old.get(line_id)
        last_id = 0
        while True:
            cases = list(db.session.scalars(
                select(Case).where(Case.service_line_id == line_id, Case.clock_since.is_not(None),
                                   Case.id > last_id).order_by(Case.id).limit(batch_size)))
            if not cases:
                break
            for case in cases:
                if before is not None:
                    _rebase(case, before, at)
                if new is None:
                    # No calendar any more: nothing can be counted, so the clocks wait.
                    case.clock_since, case.clock_paused_at = None, at
                    case.first_response_due_at = case.resolution_due_at = case.next_due_at = None
                else:
                    _set_due_times(case, new)
                _history(case, RECOMPUTED, at)
            changed += len(cases)
            last_id = cases[-1].id
            db.session.flush()
    return changed

