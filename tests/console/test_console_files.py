"""The console's files as the server hands them out, and its texts in all three languages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.auth.permissions import CASE_WORKERS, PERMISSIONS, ROLES
from service.lines.models import RECORDING_POLICIES
from service.privacy.logic import WITHHOLDABLE
from service.privacy.models import NOTIFIED_VIA, REQUEST_TYPES
from service.cases.models import CHANNELS, DIRECTIONS, STATUSES
from service.cases.scanning import SCAN_STATUSES
from service.feedback.models import ANSWERED, CANCELLED, SCHEDULED, SENT, SKIPPED
from service.forwarding.logic import DISCLOSABLE
from service.outbox.schemas import REPLY_CHANNELS

STATIC = Path(__file__).resolve().parents[2] / "service" / "console" / "static"
LANGUAGES = ("en", "fi", "sv")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Keys the scripts build from a value the API returns: each value needs its text.
_DYNAMIC = {
    "status": STATUSES,
    "channel": CHANNELS,
    "direction": DIRECTIONS,
    "language": ("fi", "sv", "en"),
    "feedback.status": (SCHEDULED, SENT, ANSWERED, CANCELLED, SKIPPED),
    "forward.field": DISCLOSABLE,
    "stats.interval": ("day", "week", "month"),
    "queue.show": ("active", "new", "open", "waiting", "forwarded", "closed"),
    "role": ROLES,
    "lines.policy": RECORDING_POLICIES,
    "admin.section": ("lines", "officials", "templates", "authorities", "api-keys"),
    "privacy.requestType": REQUEST_TYPES,
    "privacy.status": ("open", "completed"),
    "privacy.item": WITHHOLDABLE,
    "privacy.via": NOTIFIED_VIA,
    "scan": SCAN_STATUSES,
}


def _texts(language: str) -> dict[str, str]:
    return json.loads((STATIC / "i18n" / f"{language}.json").read_text(encoding="utf-8"))


def _keys_used() -> set[str]:
    english = _texts("en")
    namespaces = {key.split(".")[0] for key in english}
    used = set()
    for path in [*STATIC.glob("js/*.js"), STATIC / "index.html"]:
        source = path.read_text(encoding="utf-8")
        for literal in re.findall(r"[\"'`]([a-z]+\.[A-Za-z0-9_.]+)[\"'`]", source):
            if literal.split(".")[0] in namespaces and literal not in PERMISSIONS:
                used.add(literal)
        used.update(re.findall(r'data-i18n="([^"]+)"', source))
    for prefix, values in _DYNAMIC.items():
        used.update(f"{prefix}.{value}" for value in values)
    return used


def test_every_text_the_console_uses_exists_in_every_language():
    used = _keys_used()
    assert len(used) > 100  # the extraction found the texts rather than nothing
    for language in LANGUAGES:
        missing = sorted(used - set(_texts(language)))
        assert missing == [], f"{language}.json lacks {missing}"


def test_the_three_languages_have_the_same_texts_with_the_same_placeholders():
    english = _texts("en")
    for language in ("fi", "sv"):
        texts = _texts(language)
        assert list(texts) == list(english), language
        for key, text in english.items():
            assert set(_PLACEHOLDER.findall(texts[key])) == set(_PLACEHOLDER.findall(text)), (language, key)
            assert texts[key].strip(), (language, key)


def test_the_consoles_vocabulary_is_the_services():
    source = (STATIC / "js" / "vocabulary.js").read_text(encoding="utf-8")
    lists = {name: json.loads(values) for name, values in
             re.findall(r"export const (\w+) = (\[[^\]]*\]);", source)}
    assert lists == {"CHANNELS": list(CHANNELS), "CASE_LANGUAGES": ["fi", "sv", "en"],
                     "REPLY_CHANNELS": list(REPLY_CHANNELS),
                     "DISCLOSABLE": list(DISCLOSABLE), "CASE_WORKERS": sorted(CASE_WORKERS)}


def test_the_page_runs_only_its_own_files():
    # The content security policy allows no inline script or style; one would silently not run.
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    for path in [*STATIC.glob("js/*.js"), STATIC / "index.html"]:
        source = path.read_text(encoding="utf-8")
        assert "innerHTML" not in source and "style=" not in source, path.name
        assert "eval(" not in source and "new Function" not in source, path.name


def test_the_console_is_served_with_a_strict_content_security_policy(client):
    with client.get("/console/") as page:
        assert page.status_code == 200 and page.mimetype == "text/html"
        assert b'src="static/js/main.js"' in page.data
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe" not in policy
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/console").headers["Location"].endswith("/console/")

    with client.get("/console/static/js/main.js") as script:
        assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
        assert "Content-Security-Policy" in script.headers
    with client.get("/console/static/i18n/fi.json") as texts:
        assert texts.get_json()["login.title"] == "Kirjaudu sisään"


@pytest.mark.parametrize("path", ["/console/static/../../config.py", "/console/static/%2e%2e/__init__.py",
                                  "/console/static/js/missing.js"])
def test_nothing_outside_the_console_files_is_served(client, path):
    with client.get(path) as response:
        assert response.status_code == 404


@pytest.mark.parametrize("role, allowed, refused", [
    ("adviser", {"cases.write", "recordings.read"}, {"stats.read", "cases.reassign"}),
    ("supervisor", {"stats.read", "cases.reassign"}, {"audit.read"}),
    ("privacy_officer", {"customers.write", "audit.read", "recordings.read"}, {"cases.read", "stats.read"}),
    # No cases.read: the console tells an inspector to use the API.
    ("inspector", {"session", "recordings.read"},
     {"cases.read", "customers.read", "officials.read", "stats.read", "audit.read", "service_lines.read"}),
])
def test_me_lists_the_permissions_a_client_may_offer(api, client, role, allowed, refused):
    extra = {}
    if role == "inspector":
        line = client.post("/api/v1/service-lines", json={"name": "Inspected"}, headers=api.headers_for("admin"))
        extra["service_line_ids"] = [line.get_json()["id"]]
    held = set(client.get("/api/v1/auth/me", headers=api.headers_for(role, **extra)).get_json()["permissions"])
    assert allowed <= held and not refused & held
