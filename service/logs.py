"""Logging with a request id on every line and personal data masked out of messages."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone

from flask import g, has_request_context

# Also in URL-encoded form, as query strings appear in access logs.
_EMAIL = re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")
# Runs of 7+ digits with optional separators and a leading +: phone numbers in any format.
_PHONE = re.compile(r"(?:\+|%2B)?\d(?:[\d \-().]|%20){5,}\d", re.IGNORECASE)


# Digit runs that look like phone numbers but are not personal: case references and dates.
_NOT_PERSONAL = re.compile(r"^(\d{4}-\d{6,}|\d{4}-\d{2}-\d{2}([ T]\d{2}(:\d{2})*)?)$")


def _mask_phone(match: re.Match) -> str:
    text = match.group(0)
    # Fewer than seven digits is no subscriber number (a time of day, a loopback address).
    if sum(c.isdigit() for c in text) < 7 or _NOT_PERSONAL.match(text):
        return text
    return "<phone>"


def mask_personal_data(text: str) -> str:
    text = _EMAIL.sub("<email>", text)
    return _PHONE.sub(_mask_phone, text)


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        message = record.getMessage()
        masked = mask_personal_data(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class MaskingFormatter(logging.Formatter):
    """Masks tracebacks too: an exception message can quote the data that caused it."""

    def format(self, record: logging.LogRecord) -> str:
        # Another handler may have cached the traceback unmasked on the record; format it anew.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatException(self, ei) -> str:
        return mask_personal_data(super().formatException(ei))


class JsonFormatter(MaskingFormatter):
    """One JSON object per line, for log collectors: time (UTC), level, logger, request id,
    message, and the masked traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"


def configure_logging(level: str, log_format: str = "text") -> None:
    root = logging.getLogger()
    if any(getattr(h, "_case_backend", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._case_backend = True
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else MaskingFormatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
