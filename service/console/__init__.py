"""The agent console: a static web client of the public API, served at ``/console``.

It holds no server-side logic of its own and reaches the data only through ``/api/v1`` with the
bearer token its login form obtained, so it can do nothing a script with the same token could
not. The token lives in the page's memory only: a reload signs the official out.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, redirect, send_from_directory, url_for

STATIC = Path(__file__).resolve().parent / "static"

# Only the console's own files may run or be fetched; audio and downloads arrive as blobs made
# from API responses, and nothing may frame the page.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src blob:",
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))

blp = Blueprint("console", __name__, url_prefix="/console", static_folder=str(STATIC),
                static_url_path="/static")


@blp.get("")
def console_root():
    return redirect(url_for("console.index"))


@blp.get("/")
def index():
    response = send_from_directory(STATIC, "index.html")
    # The page names its scripts by fixed paths; a stale cached copy after an upgrade would
    # pair old markup with new code.
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.after_request
def console_headers(response):
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers.setdefault("Cache-Control", "no-cache")
    return response
