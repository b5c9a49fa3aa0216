"""Field types and the base schema shared by every domain's schemas."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from flask import current_app, has_app_context
from collections.abc import Mapping

from marshmallow import RAISE, Schema, ValidationError, fields, pre_load, validate

from .cases.models import LANGUAGES
from .db_types import EVENT_TIME_FLOOR
from .customers.normalise import InvalidContactDetail, normalise_email, normalise_phone


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped: a typo must not pass unnoticed.

    NUL characters are refused everywhere: PostgreSQL cannot store them in text, and no
    legitimate name, message or address contains one.
    """

    class Meta:
        unknown = RAISE

    @pre_load
    def _refuse_nul(self, data, **kwargs):
        errors = {}
        items = data.items() if isinstance(data, Mapping) else ()
        for key, value in items:
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and "\x00" in v for v in values):
                errors[key] = ["NUL characters are not allowed."]
        if errors:
            raise ValidationError(errors)
        return data


class JsonBoolean(fields.Boolean):
    """``true`` or ``false`` and nothing else, as the documented schema says. marshmallow's
    Boolean also takes 0, 1, "yes" and "on" (for query strings and forms); in a JSON body
    that would be a client's mistake passing unnoticed."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            return value
        raise self.make_error("invalid", input=value)


class UTCDateTimeField(fields.AwareDateTime):
    """ISO 8601 with an explicit offset; stored and returned in UTC."""

    default_error_messages = {"invalid_awareness": "Give a time zone (e.g. Z or +02:00).",
                              "out_of_range": "Out of the representable range of dates."}

    def _deserialize(self, value, attr, data, **kwargs):
        aware = super()._deserialize(value, attr, data, **kwargs)
        try:
            return aware.astimezone(timezone.utc)
        except OverflowError:
            # 9999-12-31T23:59-05:00 parses, but its UTC instant is past year 9999.
            raise self.make_error("out_of_range") from None


class EventTimeField(UTCDateTimeField):
    """When something happened: not before 2000 and not in the future beyond the clock skew
    allowed (CLOCK_SKEW_SECONDS). A contact in year 9999 or year 1 is stored fine but breaks
    every calendar computation made with it later (statistics days, retention clocks)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {})
        kwargs["metadata"] = {**kwargs["metadata"], "description": " ".join(filter(None, (
            kwargs["metadata"].get("description"),
            "Not before 2000-01-01 and not in the future (a few minutes of clock skew allowed).")))}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        at = super()._deserialize(value, attr, data, **kwargs)
        if at < EVENT_TIME_FLOOR:
            raise ValidationError("Cannot be before 2000-01-01.")
        skew = current_app.config.get("CLOCK_SKEW_SECONDS", 300) if has_app_context() else 300
        if at > datetime.now(timezone.utc) + timedelta(seconds=skew):
            raise ValidationError("Cannot be in the future.")
        return at


def _region() -> str:
    return current_app.config.get("DEFAULT_PHONE_REGION", "FI") if has_app_context() else "FI"


class PhoneField(fields.String):
    """A phone number in any common format, loaded as E.164."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_phone(text, _region())
        except InvalidContactDetail:
            raise ValidationError("Not a valid phone number.") from None


class EmailField(fields.String):
    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_email(text)
        except InvalidContactDetail:
            raise ValidationError("Not a valid email address.") from None


def language_field(**kwargs) -> fields.String:
    return fields.String(validate=validate.OneOf(LANGUAGES), **kwargs)


def text_field(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


# Every character str.splitlines() breaks on: a mail library may fold or refuse any of them.
LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def one_line(value: str) -> None:
    """For text that may end up in a mail header (a subject, a name, a Message-ID): a line
    break there ends the header, so the message could never be sent (or would carry a header
    the sender wrote). Refused when it comes in, not found out at delivery."""
    if isinstance(value, str) and LINE_BREAKS.search(value):
        raise ValidationError("Line breaks are not allowed here.")


def header_text(max_length: int, **kwargs) -> fields.String:
    return fields.String(validate=[validate.Length(max=max_length), one_line], **kwargs)


def required_text(max_length: int, **kwargs) -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=max_length), **kwargs)


# Ids are 32-bit integer columns; a larger number names nothing and must not reach the
# database (PostgreSQL answers "integer out of range", SQLite's driver an OverflowError).
MAX_ID = 2**31 - 1


class IdField(fields.Integer):
    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
        super().__init__(strict=True, **kwargs)


def query_id(**kwargs) -> fields.Integer:
    """An id in a query string. The text is parsed as digits: the strict IdField is for JSON,
    where "1" is a type error, but every query-string value is text."""
    kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
    return fields.Integer(**kwargs)
