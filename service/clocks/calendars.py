"""Managing business calendars and a line's service targets. Each use case commits once."""

from __future__ import annotations

import json

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..audit.logic import record
from ..auth.permissions import Principal
from ..db_types import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..lines.logic import get_line
from ..lines.models import ServiceLine
from ..pagination import paginate
from .logic import line_calendar, recompute_running, work_calendar
from .models import BusinessCalendar, ServiceTarget
from .working_time import WEEKDAYS, NeverOpen


def get_calendar(calendar_id: int) -> BusinessCalendar:
    calendar = db.session.get(BusinessCalendar, calendar_id)
    if calendar is None:
        raise NotFound(f"Calendar {calendar_id} does not exist.")
    return calendar


def list_calendars(*, page: int, page_size: int):
    return paginate(select(BusinessCalendar).order_by(BusinessCalendar.name), page=page, page_size=page_size)


def _apply(calendar: BusinessCalendar, data: dict) -> None:
    if "name" in data:
        calendar.name = data["name"]
    if "time_zone" in data:
        calendar.time_zone = data["time_zone"]
    if "hours" in data:
        calendar.hours = json.dumps({day: data["hours"].get(day) for day in WEEKDAYS})
    if "holiday_country" in data:
        country = data["holiday_country"]
        calendar.holiday_country = country.upper() if country else None
    if "closed_days" in data:
        calendar.closed_days = json.dumps(sorted({day.isoformat() for day in data["closed_days"]}))


def _flush_or_conflict() -> None:
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Another calendar already has this name.") from None


def create_calendar(*, actor: Principal, data: dict) -> BusinessCalendar:
    calendar = BusinessCalendar()
    _apply(calendar, data)
    db.session.add(calendar)
    _flush_or_conflict()
    record("calendar.created", actor=actor, object_type="calendar", object_id=calendar.id)
    db.session.commit()
    return calendar


def update_calendar(*, actor: Principal, calendar_id: int, data: dict) -> BusinessCalendar:
    """Change a calendar; the running clocks of its lines are recomputed (service.clocks.logic)."""
    calendar = get_calendar(calendar_id)
    line_ids = list(db.session.scalars(select(ServiceLine.id).where(ServiceLine.calendar_id == calendar.id)))
    before = {line_id: line_calendar(line_id) for line_id in line_ids}
    _apply(calendar, data)
    _flush_or_conflict()
    recomputed = recompute_running(line_ids, before, utcnow())
    record("calendar.updated", actor=actor, object_type="calendar", object_id=calendar.id,
           details={"fields": sorted(data), "clocks_recomputed": recomputed})
    db.session.commit()
    return calendar


def get_targets(line_id: int) -> dict:
    line = get_line(line_id)
    rows = db.session.scalars(select(ServiceTarget).where(ServiceTarget.service_line_id == line.id)
                              .order_by(ServiceTarget.channel))
    return {"service_line_id": line.id, "calendar_id": line.calendar_id, "targets": list(rows)}


def _check_countable(calendar, targets: list[dict]) -> None:
    """A target that the calendar cannot fit within its horizon would leave cases without a
    due time: refuse it now rather than find out on a case."""
    now = utcnow()
    try:
        for row in targets:
            if row.get("first_response_minutes"):
                calendar.add(now, row["first_response_minutes"] * 60)
            if row.get("resolution_days"):
                calendar.add_working_days(now, row["resolution_days"])
    except NeverOpen:
        raise ValidationFailed("The calendar has too little working time for these targets.",
                               errors={"targets": ["Not reachable within three years on this calendar."]}) from None


def set_targets(*, actor: Principal, line_id: int, data: dict) -> dict:
    """Replace a line's calendar and targets. New targets apply to clocks started from now on;
    a different calendar recomputes the running clocks, as a calendar change does."""
    line = get_line(line_id)
    if data["calendar_id"] is not None and db.session.get(BusinessCalendar, data["calendar_id"]) is None:
        raise ValidationFailed("Unknown calendar.", errors={"calendar_id": [f"No calendar {data['calendar_id']}."]})
    if data["targets"] and data["calendar_id"] is None:
        raise ValidationFailed("Targets are counted in working time: give the calendar.",
                               errors={"calendar_id": ["Required when there are targets."]})
    if data["calendar_id"] is not None:
        _check_countable(work_calendar(db.session.get(BusinessCalendar, data["calendar_id"])), data["targets"])
    before = {line.id: line_calendar(line.id)}
    calendar_changed = line.calendar_id != data["calendar_id"]
    line.calendar_id = data["calendar_id"]
    db.session.execute(delete(ServiceTarget).where(ServiceTarget.service_line_id == line.id))
    db.session.add_all(ServiceTarget(service_line_id=line.id, **row) for row in data["targets"])
    db.session.flush()
    recomputed = recompute_running([line.id], before, utcnow()) if calendar_changed else 0
    record("service_line.targets_set", actor=actor, object_type="service_line", object_id=line.id,
           details={"calendar_id": line.calendar_id, "channels": sorted(r["channel"] for r in data["targets"]),
                    "clocks_recomputed": recomputed})
    db.session.commit()
    return get_targets(line.id)
