"""Checking that a webhook request really comes from Twilio."""

from __future__ import annotations

import hmac

from flask import request
from twilio.request_validator import HMAC_SHA1, HMAC_SHA256, RequestValidator, get_signature_algorithm


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
    validator, url = RequestValidator(auth_token), signed_url(public_base_url)
    # Twilio signs the URL as configured, which is the one in hand, so the library's one
    # signature over it is tried first. Only when that does not match does ``validate`` try the
    # URL with the port added and removed as well, as Twilio's signing has varied there; every
    # webhook is checked, and this halves the signing work of the ones that are genuine.
    if algorithm.upper() in (HMAC_SHA1, HMAC_SHA256) and hmac.compare_digest(
            validator.compute_signature(url, request.form, algorithm).encode(), signature.encode()):
        return True
    return validator.validate(url, request.form, signature, algorithm)
