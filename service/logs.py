"""Logging with a request id on every line and personal data masked out of messages."""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from urllib.parse import unquote

import phonenumbers
from flask import g, has_request_context

# Also in URL-encoded form, as query strings appear in access logs.
_EMAIL = re.compile(r"[\w.+-]+(?:@|%40)[\w-]+(?:\.[\w-]+)+")

# Digit runs that are never personal data, found before phone numbers are looked for, so that
# no phone candidate starts or ends inside one: the facts an operator reads during an incident.
_NOT_PERSONAL = re.compile("|".join((
    # ISO 8601 and log-format timestamps and dates: 2026-11-29T19:25:56.333255+00:00,
    # 2026-11-29 19:25:56,371
    r"(?<!\d)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:\d{2}|\s?[+-]\d{4})?)?(?!\d)",
    # times of day, as in access logs: [29/Nov/2026:19:25:56 +0000], 19:25:56.333255+00:00
    r"(?<!\d)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:\d{2}|\s?[+-]\d{4})?(?!\d)",
    # Finnish dates: 29.11.2026
    r"(?<![\d.])\d{1,2}\.\d{1,2}\.\d{4}(?![\d.])",
    # case references: 2026-000123
    r"(?<![\d+])(?:19|20)\d{2}-\d{6,}(?!\d)",
    # UUIDs (job ids)
    r"(?<![\w-])[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}(?![\w-])",
    # IPv4 addresses, with a port
    r"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?::\d{1,5})?(?![\w.])",
    # HTTP status lines: HTTP/1.1" 200 5123
    r"HTTP/\d(?:\.\d)?\"?\s\d{3}(?:\s\d+)?(?!\d)",
)))
# Phone number candidates: digit runs with the separators people write (spaces, dashes, dots,
# parentheses; URL-encoded too, and + for a space in a form-encoded query) and an optional
# leading +. Never inside a word (hex ids, provider SIDs) or right after a %-escape.
_PHONE = re.compile(r"(?<![\w+%])(?:\+|%2B|\(|%28)?\d(?:[\d \-().+]|%2[089]){5,}\d(?!\w)", re.IGNORECASE)


def _is_phone(candidate: str) -> bool:
    text = unquote(candidate).lstrip("(")
    digits = "".join(c for c in text if c.isdigit())
    # Fewer than seven digits is no subscriber number; more than fifteen is none in E.164.
    if not 7 <= len(digits) <= 15:
        return False
    if text.count(".") == 1 and all(c.isdigit() or c == "." for c in text):
        return False  # a decimal: a duration, an amount
    if text.startswith(("+", "0")):
        return True  # international (+358..., 00358...) or national (040..., 09...) form
    # Bare digits are an id, a count or a size, unless they spell a whole international
    # number without its + (358401234567), which intake accepts too.
    if len(digits) < 10:
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None))
    except phonenumbers.NumberParseException:
        return False


def _mask_phones(text: str, start: int, end: int, pieces: list[str]) -> None:
    # Searched in place rather than in a slice, so the look-behind sees the real neighbour.
    position = start
    for match in _PHONE.finditer(text, start, end):
        if _is_phone(match.group(0)):
            pieces.append(text[position:match.start()])
            pieces.append("<phone>")
            position = match.end()
    pieces.append(text[position:end])


def mask_personal_data(text: str) -> str:
    text = _EMAIL.sub("<email>", text)
    pieces: list[str] = []
    position = 0
    for kept in _NOT_PERSONAL.finditer(text):
        _mask_phones(text, position, kept.start(), pieces)
        pieces.append(kept.group(0))
        position = kept.end()
    _mask_phones(text, position, len(text), pieces)
    return "".join(pieces)


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
