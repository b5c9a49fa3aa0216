import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from ..cases.models import CHANNELS
from ..pagination import PageArgs
from ..schemas import IdField, StrictSchema, required_text
from .models import ANY_CHANNEL
from .working_time import WEEKDAYS

_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _span():
    return fields.List(fields.String(validate=validate.Regexp(_CLOCK_TIME, error="Use HH:MM.")),
                       allow_none=True, validate=validate.Length(equal=2),
                       metadata={"description": "[opens, closes] as HH:MM local time, or null: closed"})


class OpeningHours(StrictSchema):
    """Local opening and closing time per weekday; a day left out or null is closed."""

    mon, tue, wed, thu, fri, sat, sun = (_span() for _ in WEEKDAYS)

    @validates_schema
    def _opens_before_closing(self, data, **kwargs):
        errors = {day: ["Opens before it closes."] for day, span in data.items() if span and span[0] >= span[1]}
        if errors:
            raise ValidationError(errors)
        if not any(data.values()):
            raise ValidationError("A calendar needs at least one working day.")


class CalendarIn(StrictSchema):
    name = required_text(200)
    time_zone = fields.String(load_default="Europe/Helsinki", validate=validate.Length(max=64))
    hours = fields.Nested(OpeningHours, required=True)
    holiday_country = fields.String(load_default="FI", allow_none=True, validate=validate.Length(equal=2),
                                    metadata={"description": "Whose public holidays are closed (ISO 3166 code); "
                                                             "null: none"})
    closed_days = fields.List(fields.Date(), load_default=list, validate=validate.Length(max=1000),
                              metadata={"description": "Extra closed days, e.g. a staff training day"})

    @validates("time_zone")
    def _known_zone(self, value, **kwargs):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones, e.g. "Europe"
            raise ValidationError("Unknown time zone.") from None

    @validates("holiday_country")
    def _known_country(self, value, **kwargs):
        if value is not None and value.upper() not in holidays.list_supported_countries():
            raise ValidationError("No public holidays known for that country.")


class CalendarUpdate(CalendarIn):
    pass


class CalendarOut(Schema):
    id = fields.Integer()
    name = fields.String()
    time_zone = fields.String()
    hours = fields.Function(lambda c: c.hours_map, metadata={"type": "object"})
    holiday_country = fields.String(allow_none=True)
    closed_days = fields.Function(lambda c: [d.isoformat() for d in c.closed_day_list],
                                  metadata={"type": "array", "items": {"type": "string", "format": "date"}})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CalendarQuery(PageArgs):
    pass


class TargetIn(StrictSchema):
    channel = fields.String(required=True, validate=validate.OneOf((*CHANNELS, ANY_CHANNEL)),
                            metadata={"description": "A channel, or * for every channel without a row of its own"})
    first_response_minutes = fields.Integer(load_default=None, allow_none=True,
                                            validate=validate.Range(min=1, max=60 * 24 * 30),
                                            metadata={"description": "Working minutes; null: no clock"})
    resolution_days = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=365),
                                     metadata={"description": "Working days; null: no clock"})


class TargetsIn(StrictSchema):
    calendar_id = IdField(required=True, allow_none=True,
                          metadata={"description": "The calendar working time is counted on; null: no clocks"})
    targets = fields.List(fields.Nested(TargetIn), required=True, validate=validate.Length(max=len(CHANNELS) + 1))

    @validates("targets")
    def _one_row_per_channel(self, value, **kwargs):
        # Rows that failed their own validation may lack a channel; they are reported as such.
        channels = [row["channel"] for row in value if "channel" in row]
        if len(channels) != len(set(channels)):
            raise ValidationError("One row per channel.")


class TargetOut(Schema):
    channel = fields.String()
    first_response_minutes = fields.Integer(allow_none=True)
    resolution_days = fields.Integer(allow_none=True)


class TargetsOut(Schema):
    service_line_id = fields.Integer()
    calendar_id = fields.Integer(allow_none=True)
    targets = fields.List(fields.Nested(TargetOut))
