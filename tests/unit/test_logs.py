import logging
import re
from functools import partial
from pathlib import Path
from urllib.parse import quote, quote_plus, unquote

import phonenumbers
import pytest

from service.customers.normalise import InvalidContactDetail, normalise_email, normalise_phone
from service.logs import configure_logging, mask_personal_data

# Log lines of a busy test run (SMS, email, intake, retention, voice, privacy, RQ workers, the
# SMTP test server, access lines of the development server), unmasked: see its README.
CORPUS = Path(__file__).resolve().parent.parent / "corpus" / "logs" / "busy-run.log"


def test_phone_numbers_and_emails_are_masked():
    text = "from +358401234567 and 040 123 4567 or matti.meikalainen@example.fi about case 2026-000123"
    masked = mask_personal_data(text)
    assert "358401234567" not in masked
    assert "040 123 4567" not in masked
    assert "example.fi" not in masked
    assert "2026-000123" in masked  # a case reference is not personal data and stays readable


@pytest.fixture
def installed_logging():
    """installed_logging(format): the root handler configure_logging installs, as the web and
    worker processes get it, writing to the test's captured stderr; the previous root handlers
    come back afterwards."""
    root = logging.getLogger()
    kept, level = list(root.handlers), root.level

    def install(log_format: str) -> None:
        for handler in list(root.handlers):
            if getattr(handler, "_case_backend", False):
                root.removeHandler(handler)
        configure_logging("INFO", log_format)

    yield install
    for handler in list(root.handlers):
        if getattr(handler, "_case_backend", False):
            root.removeHandler(handler)
    for handler in kept:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)


def _log_a_phone_and_a_failing_address(name: str) -> None:
    logger = logging.getLogger(name)
    logger.warning("sms from %s", "+358401234567")
    try:
        raise ValueError("bad address anna@example.fi")
    except ValueError:
        logger.exception("failed")


def test_log_records_and_tracebacks_are_masked(installed_logging, capsys):
    installed_logging("text")
    _log_a_phone_and_a_failing_address("test.masking")
    err = capsys.readouterr().err
    assert "+358401234567" not in err and "anna@example.fi" not in err
    assert "sms from <phone>" in err and "bad address <email>" in err
    assert "[request_id=-]" in err  # the request filter is on the installed handler too


def test_url_encoded_contact_details_in_access_logs_are_masked():
    line = '127.0.0.1 - - "GET /api/v1/customers?phone=040%20123%204567&email=anna%40example.fi HTTP/1.1" 200'
    masked = mask_personal_data(line)
    assert "123%204567" not in masked and "example.fi" not in masked
    assert masked.startswith("127.0.0.1")  # too few digits to be a phone number


def test_json_logs_are_one_masked_object_per_line(installed_logging, capsys):
    import json

    installed_logging("json")
    _log_a_phone_and_a_failing_address("test.json")
    lines = capsys.readouterr().err.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert (first["level"], first["logger"], first["request_id"], first["message"]) == (
        "WARNING", "test.json", "-", "sms from <phone>")
    assert first["time"].endswith("+00:00")
    assert "anna@example.fi" not in second["exception"] and "<email>" in second["exception"]


# Every form intake accepts (tests/unit/test_normalise.py), and foreign numbers.
PHONES = ["040 123 4567", "0401234567", "040-123 4567", "(040) 123 4567", "+358401234567", "+358 40 123 4567",
          "00358401234567", "00 358 40 123 4567", "+358 (0)40 123 4567", "358401234567", "0400-123456",
          "040.123.4567", "09 123 4567", "+46 70 123 45 67", "0046 70 123 45 67", "+1 202 555 0143",
          "070 123 45 67"]


@pytest.mark.parametrize("phone", PHONES)
def test_a_phone_number_in_any_form_intake_accepts_is_masked(phone):
    assert normalise_phone(phone, "FI")  # intake takes it as a phone number
    encoded, form_encoded = quote(phone), quote_plus(phone)
    for line in (f"sms from {phone}", f"{phone} called", f'{{"from": "{phone}"}}', f"to={phone}; retry",
                 f"2026-11-29 19:25:56,371 INFO channels.sms [request_id=-] from {phone} at 19:25:56",
                 f"GET /api/v1/customers?phone={encoded} HTTP/1.1", f"POST /search phone={form_encoded}&x=1"):
        masked = mask_personal_data(line)
        assert "<phone>" in masked, line
        assert sum(c.isdigit() for c in phone) > 3 and phone not in masked and encoded not in masked
        assert form_encoded not in masked


@pytest.mark.parametrize("email", ["anna@example.fi", "Matti.Meikalainen@Example.FI", "first+tag@sub.example.org",
                                   "anna%40example.fi"])
def test_an_email_address_is_masked(email):
    assert mask_personal_data(f"reply to {email}, then close") == "reply to <email>, then close"


@pytest.mark.parametrize("line", [
    # timestamps, ISO and log formats, with their seconds and microseconds
    "retention purge (dry run) as of 2026-11-29T19:25:56.333255+00:00: {'cases': 0}",
    "as of 2026-11-29T19:25:56Z", "as of 2026-11-29T19:25:56.123+02:00", "2026-11-29 19:25:56,371 INFO",
    "since=2026-11-29T19:25:56.333255%2B00:00", "[29/Nov/2026:19:25:56 +0000]", "at 19:25:56.333255",
    "on 29.11.2026 klo 19.25", "from 2026-11-01 to 2026-11-29",
    # ids: database ids, provider ids, request and job ids, process ids, ports
    "outbox message 1234567 sent", "case 123456789 closed", "SM00000000000000000000000000000001 delivered",
    "CA0123456789abcdef0123456789abcdef", "[request_id=7b1d9627863140d38f512542f2c5ff20]",
    "job 7411976a-cf69-4bf4-8186-d840c758a08e", "started with PID 1234567", "('127.0.0.1', 43790)",
    "connected to 192.168.100.200:5432",
    # durations, amounts and byte counts
    "job in 0:00:00.053751s", "took 0.0123456 s", "took 1234567 ms", "1048576 bytes", "250-SIZE 33554432",
    "total 1234567.89 EUR", "boundary ===============8426928538670592490==",
    # case references and HTTP status lines
    "case 2026-000123 closed", "Re: question [#2026-1234567]", '"GET /api/v1/cases/4294967296 HTTP/1.1" 404 1234567',
    '"POST /webhooks/twilio/sms HTTP/1.1" 200 0',
])
def test_what_is_not_personal_data_stays_readable(line):
    assert mask_personal_data(line) == line


def _masked_segments(original: str, masked: str) -> list[tuple[str, str]]:
    """The pieces of ``original`` that became ``<phone>`` or ``<email>``; everything else in the
    two lines must be the same text."""
    parts = re.split(r"(<phone>|<email>)", masked)
    pattern = "".join("(.+?)" if part in ("<phone>", "<email>") else re.escape(part) for part in parts)
    match = re.fullmatch(pattern, original, re.DOTALL)
    assert match, f"masking changed more than personal data:\n{original}\n{masked}"
    return list(zip([p for p in parts if p in ("<phone>", "<email>")], match.groups()))


def _is_personal(kind: str, text: str) -> bool:
    text = unquote(text)
    try:
        return bool(normalise_email(text) if kind == "<email>" else normalise_phone(text, "FI"))
    except InvalidContactDetail:
        return False


def test_a_busy_runs_log_changes_only_where_personal_data_was():
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    masked_lines = [mask_personal_data(line) for line in lines]

    segments = [s for line, masked in zip(lines, masked_lines) for s in _masked_segments(line, masked)]
    assert [s for s in segments if not _is_personal(*s)] == []
    kinds = {kind for kind, _ in segments}
    assert kinds == {"<phone>", "<email>"} and len(segments) >= 40  # the corpus holds both, many times
    # Nothing personal is left: phonenumbers' own finder sees numbers in the original and none after.
    finder = partial(phonenumbers.PhoneNumberMatcher, region="FI", leniency=phonenumbers.Leniency.VALID)
    assert any(list(finder(line)) for line in lines)
    assert [m.raw_string for masked in masked_lines for m in finder(masked)] == []
    assert [line for line in masked_lines if re.search(r"[\w.+-]+(@|%40)[\w-]+\.\w", line)] == []
