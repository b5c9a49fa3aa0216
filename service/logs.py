"""Logging with a request id on every line and personal data masked out of messages."""

from __future__ import annotations

import logging
import re

from flask import g, has_request_context

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Runs of 7+ digits with optional separators and a leading +: phone numbers in any format.
_PHONE = re.compile(r"\+?\d[\d \-().]{5,}\d")


def mask_personal_data(text: str) -> str:
    text = _EMAIL.sub("<email>", text)
    return _PHONE.sub("<phone>", text)


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

    def formatException(self, ei) -> str:
        return mask_personal_data(super().formatException(ei))


def configure_logging(level: str) -> None:
    root = logging.getLogger()
    if any(getattr(h, "_case_backend", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler._case_backend = True
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(MaskingFormatter(
        "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
