"""Checking that a webhook request really comes from Twilio."""

from __future__ import annotations

from flask import request
from twilio.request_validator import RequestValidator, get_signature_algorithm


def signed_url(public_base_url: str | None) -> str:
    """The URL Twilio signed. Behind a proxy the request's own URL is the internal one, so the
    configured public base URL is put in front of the path and query as they arrived."""
    if not public_base_url:
        return request.url
    query = request.query_string.decode("latin-1")
    return public_base_url.rstrip("/") + request.path + (f"?{query}" if query else "")


def is_from_twilio(auth_token: str | None, public_base_url: str | None) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    if not auth_token or not signature:
        return False
    algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
    return RequestValidator(auth_token).validate(signed_url(public_base_url), request.form, signature, algorithm)
