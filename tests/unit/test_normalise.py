"""Canonical contact details: one person is found however they wrote their number or address."""

from __future__ import annotations

import pytest

from service.customers.normalise import (InvalidContactDetail, email_or_none, normalise_email,
                                         normalise_phone, phone_or_none)


@pytest.mark.parametrize("raw", [
    "040 123 4567", "0401234567", "040-123 4567", "(040) 123 4567", "+358401234567", "+358 40 123 4567",
    "00358401234567", "00 358 40 123 4567", "+358 (0)40 123 4567", "  040 123 4567  ", "358401234567",
])
def test_normalise_phone__finnish_mobile_in_any_common_format_is_e164(raw):
    assert normalise_phone(raw, "FI") == "+358401234567"


@pytest.mark.parametrize("raw, expected", [
    ("09 123 4567", "+35891234567"),
    ("+46 70 123 45 67", "+46701234567"),
    ("0046 70 123 45 67", "+46701234567"),
    ("+1 202 555 0143", "+12025550143"),
])
def test_normalise_phone__landlines_and_foreign_numbers(raw, expected):
    assert normalise_phone(raw, "FI") == expected


def test_normalise_phone__national_format_follows_the_default_region():
    assert normalise_phone("070 123 45 67", "SE") == "+46701234567"
    assert normalise_phone("070 123 45 67", "FI") != "+46701234567"


@pytest.mark.parametrize("raw", [
    "", "   ", "358", "+358", "112", "16400", "13145", "Posti", "POSTI-INFO", "Nordea", "not a number",
    "040 123 456 789 012 345 678", "0" * 41, "+999 123 456", "00",
])
def test_normalise_phone__short_codes_alphanumeric_senders_and_garbage_are_refused(raw):
    with pytest.raises(InvalidContactDetail):
        normalise_phone(raw, "FI")
    assert phone_or_none(raw, "FI") is None


def test_normalise_phone__none_is_refused_not_crashing():
    with pytest.raises(InvalidContactDetail):
        normalise_phone(None, "FI")


def test_invalid_contact_detail__is_a_value_error():
    assert issubclass(InvalidContactDetail, ValueError)


@pytest.mark.parametrize("raw, expected", [
    ("matti@example.fi", "matti@example.fi"),
    ("Matti.Meikalainen@Example.FI", "matti.meikalainen@example.fi"),
    ("  liisa@example.com \n", "liisa@example.com"),
    ("first+tag@sub.example.org", "first+tag@sub.example.org"),
])
def test_normalise_email__is_trimmed_and_lower_cased(raw, expected):
    assert normalise_email(raw) == expected
    assert email_or_none(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "   ", "matti", "matti@", "@example.fi", "matti@@example.fi", "matti meikalainen@example.fi",
    "matti@example", "a" * 250 + "@example.fi", "<matti@example.fi>",
])
def test_normalise_email__malformed_addresses_are_refused(raw):
    with pytest.raises(InvalidContactDetail):
        normalise_email(raw)
    assert email_or_none(raw) is None
