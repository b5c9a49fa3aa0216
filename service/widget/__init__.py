"""The citizens' chat widget: a script and a style an authority embeds on its own pages with one
``<script>`` tag, and a standalone page at ``/chat-widget/``.

Like the console it is a static client of the public API (``/api/v1/chats``). The chat's token
is kept in the script's memory only, never in cookies or web storage, so it ends with the tab.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, redirect, send_from_directory, url_for

STATIC = Path(__file__).resolve().parent / "static"

# The standalone page: its own script and style, API calls to its own origin, nothing else.
PAGE_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "form-action 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
))

blp = Blueprint("widget", __name__, url_prefix="/chat-widget")


@blp.get("")
def widget_root():
    return redirect(url_for("widget.page"))


@blp.get("/")
def page():
    response = send_from_directory(STATIC, "page.html")
    response.headers["Content-Security-Policy"] = PAGE_POLICY
    return response


@blp.get("/<any('widget.js', 'widget.css'):name>")
def asset(name):
    response = send_from_directory(STATIC, name)
    # Loaded by other sites' pages (tools that read the style sheet too, such as accessibility
    # checkers): allowed across origins, and revalidated so that an upgrade reaches every
    # embedding page at once.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@blp.after_request
def widget_headers(response):
    response.headers["Cache-Control"] = "no-cache"
    return response
