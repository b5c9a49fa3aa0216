import re
from datetime import date, datetime

from flask import current_app
from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from ..schemas import StrictSchema
from .calendar import INTERVALS
from .logic import COUNTS, FIGURES, GROUPS, StatsSettings

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
FIRST_YEAR, LAST_YEAR = 1970, 9998


class LocalDayField(fields.Field):
    """A calendar day, or a moment with its UTC offset, taken as the day it falls on in the
    statistics' time zone."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {})
        kwargs["metadata"].setdefault("type", "string")
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Give a date as YYYY-MM-DD.")
        text = value.strip()
        try:
            if _DATE.fullmatch(text):
                return self._in_range(date.fromisoformat(text))
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("Give a date as YYYY-MM-DD, or a time with its UTC offset.") from None
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValidationError("This time has no UTC offset, so its day is ambiguous: add one "
                                  "(e.g. Z or +02:00) or give just the date.")
        zone = StatsSettings.from_config(current_app.config).zone
        try:
            return self._in_range(moment.astimezone(zone).date())
        except OverflowError:
            raise ValidationError("Out of the representable range of dates.") from None

    @staticmethod
    def _in_range(day: date) -> date:
        # Far years cannot be turned into UTC bounds (year 1 minus two hours is no date).
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValidationError(f"Give a date between {FIRST_YEAR} and {LAST_YEAR}.")
        return day


def _args_schema(report: str) -> type[StrictSchema]:
    allowed = GROUPS[report]

    class Args(StrictSchema):
        first = LocalDayField(data_key="from", required=True, metadata={
            "description": "First day counted (inclusive), in the statistics' time zone.",
            "example": "2026-01-01"})
        last = LocalDayField(data_key="to", required=True, metadata={
            "description": "Last day counted (inclusive).", "example": "2026-03-31"})
        interval = fields.String(load_default="day", validate=validate.OneOf(INTERVALS), metadata={
            "description": "Calendar days, ISO weeks (Monday to Sunday) or months."})
        group_by = fields.String(load_default="", metadata={
            "description": f"Comma-separated breakdowns, any of: {', '.join(allowed)}.",
            "example": ",".join(allowed[:2])})
        format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")), metadata={
            "description": "`csv` answers the same table as text/csv."})

        @post_load
        def _split_group_by(self, data, **kwargs):
            names = [name.strip() for name in data["group_by"].split(",") if name.strip()]
            unknown = [name for name in names if name not in allowed]
            if unknown:
                raise ValidationError(f"Unknown breakdown {', '.join(map(repr, unknown))}; "
                                      f"choose from {', '.join(allowed)}.", "group_by")
            data["group_by"] = tuple(dict.fromkeys(names))
            return data

        @validates_schema
        def _range(self, data, **kwargs):
            first, last = data.get("first"), data.get("last")
            if first is None or last is None:
                return
            if first > last:
                raise ValidationError("`from` is after `to`.", "from")
            longest = current_app.config["STATS_MAX_RANGE_DAYS"]
            if (last - first).days + 1 > longest:
                raise ValidationError(f"The range is {(last - first).days + 1} days; at most {longest} "
                                      "are allowed in one request.", "to")

    Args.__name__ = f"{report.capitalize()}StatsQuery"
    if report == "calls":
        Args = type("CallsStatsQuery", (Args,), {"service_level": fields.Integer(
            validate=validate.Range(min=1, max=86400), metadata={
                "description": "Seconds within which an answer counts towards the service level "
                               "(default: the configured STATS_SERVICE_LEVEL_SECONDS)."})})
    return Args


def _report_schemas(report: str) -> type[Schema]:
    measures = {name: fields.Integer(allow_none=True) for name in COUNTS[report]}
    measures.update({name: fields.Float(allow_none=True) for name in FIGURES[report]})
    measures["suppressed"] = fields.List(fields.String(), metadata={
        "description": "Measures hidden (null) because they rest on fewer contacts than the threshold."})
    period = {"period": fields.String(metadata={"example": "2026-W13"}), "start": fields.Date(),
              "end": fields.Date()}
    groups = {name: fields.String(allow_none=True) for name in GROUPS[report]}
    prefix = report.capitalize()
    row = Schema.from_dict({**period, **groups, **measures}, name=f"{prefix}StatsRow")
    period_total = Schema.from_dict({**period, **measures}, name=f"{prefix}StatsPeriodTotal")
    total = Schema.from_dict(dict(measures), name=f"{prefix}StatsTotal")
    envelope = {
        "from": fields.Date(), "to": fields.Date(), "interval": fields.String(), "time_zone": fields.String(),
        "group_by": fields.List(fields.String()), "suppression_threshold": fields.Integer(),
        "rows": fields.List(fields.Nested(row), metadata={"description": "One row per period and breakdown with any "
                                                                          "activity."}),
        "totals": fields.List(fields.Nested(period_total), metadata={"description": "One row per period."}),
        "total": fields.Nested(total, metadata={"description": "The whole range."}),
    }
    if report == "calls":
        envelope["service_level_seconds"] = fields.Integer()
    return Schema.from_dict(envelope, name=f"{prefix}Stats")


ARGS = {report: _args_schema(report) for report in GROUPS}
REPORTS = {report: _report_schemas(report) for report in GROUPS}
