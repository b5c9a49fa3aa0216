"""Field types and the base schema shared by every domain's schemas."""

from __future__ import annotations

from datetime import timezone

from flask import current_app, has_app_context
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from .cases.models import LANGUAGES
from .customers.normalise import InvalidContactDetail, normalise_email, normalise_phone


class StrictSchema(Schema):
    """Unknown fields are an error, not silently dropped: a typo must not pass unnoticed."""

    class Meta:
        unknown = RAISE


class UTCDateTimeField(fields.AwareDateTime):
    """ISO 8601 with an explicit offset; stored and returned in UTC."""

    default_error_messages = {"invalid_awareness": "Give a time zone (e.g. Z or +02:00)."}

    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).astimezone(timezone.utc)


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


def required_text(max_length: int, **kwargs) -> fields.String:
    return fields.String(required=True, validate=validate.Length(min=1, max=max_length), **kwargs)


# Ids are 64-bit on PostgreSQL and SQLite; a larger number names nothing and must not reach
# the database driver (SQLite's raises OverflowError on it).
MAX_ID = 2**63 - 1


class IdField(fields.Integer):
    def __init__(self, **kwargs):
        kwargs.setdefault("validate", validate.Range(min=1, max=MAX_ID))
        super().__init__(strict=True, **kwargs)
