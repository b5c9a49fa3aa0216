"""Canonical forms of contact details, so one person is found however they wrote them."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers
from marshmallow import ValidationError, validate

_email_syntax = validate.Email()


class InvalidContactDetail(ValueError):
    pass


def normalise_phone(raw: str, region: str = "FI") -> str:
    """E.164 form of a phone number: ``040 123 4567`` -> ``+358401234567`` with region FI."""
    text = (raw or "").strip()
    if not text or len(text) > 40:
        raise InvalidContactDetail("not a phone number")
    if text.startswith("00"):
        text = "+" + text[2:]
    e164 = _e164(text, region)
    if e164 is None:
        raise InvalidContactDetail("not a valid phone number")
    return e164


# Parsing a number costs more than the rest of storing an SMS (most of a millisecond), and
# customers write again from the same number. Bounded, and only in the process's memory.
@lru_cache(maxsize=16384)
def _e164(text: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str) -> str:
    """Lower-cased address. Mailboxes of public-sector mail systems ignore case, so
    ``Matti.M@Example.FI`` and ``matti.m@example.fi`` are the same person."""
    text = (raw or "").strip()
    if len(text) > 254:
        raise InvalidContactDetail("not an email address")
    try:
        _email_syntax(text)
    except ValidationError:
        raise InvalidContactDetail("not an email address") from None
    return text.lower()


def phone_or_none(raw: str, region: str = "FI") -> str | None:
    try:
        return normalise_phone(raw, region)
    except InvalidContactDetail:
        return None


def email_or_none(raw: str) -> str | None:
    try:
        return normalise_email(raw)
    except InvalidContactDetail:
        return None


def is_mobile(e164: str) -> bool:
    """Whether an E.164 number can receive SMS (a mobile number, or one that may be)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.number_type(number) in (phonenumbers.PhoneNumberType.MOBILE,
                                                phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
