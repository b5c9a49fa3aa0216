import logging

from service.logs import MaskingFormatter, RequestContextFilter, mask_personal_data


def test_phone_numbers_and_emails_are_masked():
    text = "from +358401234567 and 040 123 4567 or matti.meikalainen@example.fi about case 2026-000123"
    masked = mask_personal_data(text)
    assert "358401234567" not in masked
    assert "040 123 4567" not in masked
    assert "example.fi" not in masked
    assert "2026-000123" in masked  # a case reference is not personal data and stays readable


def _log_a_phone_and_a_failing_address(name: str, formatter: logging.Formatter) -> None:
    logger = logging.getLogger(name)
    handler = logging.StreamHandler()
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(formatter)
    logger.addHandler(handler)
    try:
        logger.warning("sms from %s", "+358401234567")
        try:
            raise ValueError("bad address anna@example.fi")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)


def test_log_records_and_tracebacks_are_masked(capsys):
    _log_a_phone_and_a_failing_address("test.masking", MaskingFormatter("%(request_id)s %(message)s"))
    err = capsys.readouterr().err
    assert "+358401234567" not in err and "anna@example.fi" not in err
    assert "<phone>" in err and "<email>" in err


def test_url_encoded_contact_details_in_access_logs_are_masked():
    line = '127.0.0.1 - - "GET /api/v1/customers?phone=040%20123%204567&email=anna%40example.fi HTTP/1.1" 200'
    masked = mask_personal_data(line)
    assert "123%204567" not in masked and "example.fi" not in masked
    assert masked.startswith("127.0.0.1")  # too few digits to be a phone number


def test_json_logs_are_one_masked_object_per_line(capsys):
    import json

    from service.logs import JsonFormatter

    _log_a_phone_and_a_failing_address("test.json", JsonFormatter())
    lines = capsys.readouterr().err.strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert (first["level"], first["logger"], first["request_id"], first["message"]) == (
        "WARNING", "test.json", "-", "sms from <phone>")
    assert first["time"].endswith("+00:00")
    assert "anna@example.fi" not in second["exception"] and "<email>" in second["exception"]
