"""The role matrix: every API endpoint, against every role, an intake API key and no token.

The endpoints are read from the application's URL map, so a new endpoint is walked without
anyone remembering to add it here; one that declares no permission fails.
"""

from __future__ import annotations

import io
import re
import time
from datetime import datetime, timezone
from typing import NamedTuple

import pyotp
import pytest

from service import create_app
from service.auth.guard import require
from service.auth.permissions import PERMISSIONS, ROLES, SCOPE_INTAKE, Principal
from tests.api.problems import assert_problem
from tests.conftest import PASSWORD, Caller

MISSING = object()
PUBLIC = "public"
KEY = "api_key:intake"
ANONYMOUS = "no token"
CALLERS = (*ROLES, KEY, ANONYMOUS)
_PATH_PARAM = re.compile(r"<(?:[^:<>]+:)?[^<>]+>")


class Endpoint(NamedTuple):
    method: str
    rule: str
    endpoint: str
    permission: object  # a permission name, None (public) or MISSING

    @property
    def path(self) -> str:
        return _PATH_PARAM.sub("999999", self.rule)

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def _api_endpoints() -> list[Endpoint]:
    # Built once at collection; never touches its (in-memory) database.
    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True, "SECRET_KEY": "matrix",
                      "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_KIB": 1024})
    endpoints = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint.startswith("api-docs."):
            continue  # the OpenAPI document and the docs page are public by design
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            endpoints.append(Endpoint(method, rule.rule, rule.endpoint,
                                      getattr(view, "required_permission", MISSING)))
    return sorted(endpoints, key=lambda e: (e.rule, e.method))


ENDPOINTS = _api_endpoints()

# The design's role table (DESIGN.md, "Access"), endpoint by endpoint, written out by hand so
# that a change to the permission table that breaks it is caught. A new endpoint needs a line.
_ALL = frozenset(ROLES)
_CASE_WORK = frozenset({"adviser", "supervisor", "admin"})
_ADMIN = frozenset({"admin"})
# The inspector (a register office, a subcontractor) hears their lines' recordings and nothing else.
_STAFF = _ALL - {"inspector"}
EXPECTED_ROLES: dict[tuple[str, str], frozenset[str] | str] = {
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("DELETE", "/api/v1/auth/token"): _ALL,
    ("GET", "/api/v1/auth/me"): _ALL,
    ("GET", "/api/v1/auth/methods"): PUBLIC,
    ("GET", "/api/v1/auth/oidc/login"): PUBLIC,
    ("GET", "/api/v1/auth/oidc/callback"): PUBLIC,
    ("POST", "/api/v1/auth/oidc/backchannel-logout"): PUBLIC,
    ("GET", "/api/v1/auth/oidc/frontchannel-logout"): PUBLIC,
    ("GET", "/api/v1/auth/sessions"): _ALL,
    ("DELETE", "/api/v1/auth/sessions"): _ALL,
    ("DELETE", "/api/v1/auth/sessions/<int:session_id>"): _ALL,
    ("GET", "/api/v1/auth/second-factor"): _ALL,
    ("POST", "/api/v1/auth/second-factor/totp"): _ALL,
    ("POST", "/api/v1/auth/second-factor/totp/confirm"): _ALL,
    ("POST", "/api/v1/auth/second-factor/recovery-codes"): _ALL,
    ("POST", "/api/v1/auth/second-factor/remove"): _ALL,
    ("DELETE", "/api/v1/officials/<int:official_id>/sessions"): _ADMIN,
    ("DELETE", "/api/v1/officials/<int:official_id>/second-factor"): _ADMIN,
    ("GET", "/api/v1/officials"): _STAFF,
    ("POST", "/api/v1/officials"): _ADMIN,
    ("GET", "/api/v1/officials/<int:official_id>"): _STAFF,
    ("PATCH", "/api/v1/officials/<int:official_id>"): _ADMIN,
    ("DELETE", "/api/v1/officials/<int:official_id>"): _ADMIN,
    ("GET", "/api/v1/api-keys"): _ADMIN,
    ("POST", "/api/v1/api-keys"): _ADMIN,
    ("DELETE", "/api/v1/api-keys/<int:key_id>"): _ADMIN,
    ("GET", "/api/v1/service-lines"): _CASE_WORK,
    ("POST", "/api/v1/service-lines"): _ADMIN,
    ("GET", "/api/v1/service-lines/<int:line_id>"): _CASE_WORK,
    ("PATCH", "/api/v1/service-lines/<int:line_id>"): _ADMIN,
    ("GET", "/api/v1/service-lines/<int:line_id>/targets"): _CASE_WORK,
    ("PUT", "/api/v1/service-lines/<int:line_id>/targets"): _ADMIN,
    ("GET", "/api/v1/calendars"): _CASE_WORK,
    ("POST", "/api/v1/calendars"): _ADMIN,
    ("GET", "/api/v1/calendars/<int:calendar_id>"): _CASE_WORK,
    ("PATCH", "/api/v1/calendars/<int:calendar_id>"): _ADMIN,
    ("GET", "/api/v1/cases"): _CASE_WORK,
    ("GET", "/api/v1/cases/search"): _CASE_WORK,
    ("POST", "/api/v1/cases"): _CASE_WORK,
    ("GET", "/api/v1/cases/<int:case_id>"): _CASE_WORK,
    ("PATCH", "/api/v1/cases/<int:case_id>"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/notes"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/contacts"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/attachments"): _CASE_WORK,
    ("GET", "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>"): _CASE_WORK,
    # Opening a file the malware scanner could not look into is a security decision.
    ("POST", "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>/release"): _ADMIN,
    ("POST", "/api/v1/cases/<int:case_id>/close"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/reopen"): _CASE_WORK,
    ("POST", "/api/v1/customers/<int:customer_id>/link"): frozenset({"privacy_officer", "admin"}),
    ("DELETE", "/api/v1/customers/<int:customer_id>/link"): frozenset({"privacy_officer", "admin"}),
    ("GET", "/api/v1/customers/<int:customer_id>/link-candidates"): frozenset({"privacy_officer", "admin"}),
    ("POST", "/api/v1/cases/<int:case_id>/merge"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/split"): _CASE_WORK,
    ("GET", "/api/v1/cases/<int:case_id>/merges"): _CASE_WORK,
    ("POST", "/api/v1/cases/merges/<int:merge_id>/undo"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/replies"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/calls"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/forward"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/disclosures"): _CASE_WORK,
    ("GET", "/api/v1/cases/<int:case_id>/disclosures"): _CASE_WORK,
    ("POST", "/api/v1/cases/<int:case_id>/hold"): frozenset({"privacy_officer", "admin"}),
    ("DELETE", "/api/v1/cases/<int:case_id>/hold"): frozenset({"privacy_officer", "admin"}),
    ("GET", "/api/v1/retention/policies"): frozenset({"privacy_officer", "admin"}),
    ("PATCH", "/api/v1/retention/policies/<int:line_id>"): _ADMIN,
    ("POST", "/api/v1/retention/purge"): frozenset({"privacy_officer", "admin"}),
    ("POST", "/api/v1/privacy/requests"): frozenset({"privacy_officer", "admin"}),
    ("GET", "/api/v1/privacy/requests"): frozenset({"privacy_officer", "admin"}),
    ("GET", "/api/v1/privacy/requests/<int:request_id>"): frozenset({"privacy_officer", "admin"}),
    ("POST", "/api/v1/privacy/requests/<int:request_id>/extend"): frozenset({"privacy_officer", "admin"}),
    ("POST", "/api/v1/privacy/requests/<int:request_id>/complete"): frozenset({"privacy_officer", "admin"}),
    ("POST", "/api/v1/privacy/requests/<int:request_id>/withhold"): frozenset({"privacy_officer", "admin"}),
    ("GET", "/api/v1/privacy/requests/<int:request_id>/export"): frozenset({"privacy_officer", "admin"}),
    ("GET", "/api/v1/authorities"): _CASE_WORK,
    ("POST", "/api/v1/authorities"): _ADMIN,
    ("GET", "/api/v1/authorities/<int:authority_id>"): _CASE_WORK,
    ("PATCH", "/api/v1/authorities/<int:authority_id>"): _ADMIN,
    ("GET", "/api/v1/chats/widgets/<widget_id>"): PUBLIC,
    ("GET", "/api/v1/reply-templates"): _ADMIN,
    ("POST", "/api/v1/reply-templates"): _ADMIN,
    ("GET", "/api/v1/reply-templates/<int:template_id>"): _ADMIN,
    ("PATCH", "/api/v1/reply-templates/<int:template_id>"): _ADMIN,
    ("DELETE", "/api/v1/reply-templates/<int:template_id>"): _ADMIN,
    ("GET", "/api/v1/cases/<int:case_id>/reply-templates"): _CASE_WORK,
    # Advisers only hear calls they handled, inspectors only their lines' (test_voice.py,
    # test_register_access.py); the privacy officer hears any, to answer access requests.
    ("GET", "/api/v1/recordings"): _CASE_WORK | {"privacy_officer", "inspector"},
    ("GET", "/api/v1/recordings/<int:recording_id>"): _CASE_WORK | {"privacy_officer", "inspector"},
    ("GET", "/api/v1/recordings/<int:recording_id>/audio"): _CASE_WORK | {"privacy_officer", "inspector"},
    # Uploading audio goes with reporting calls; only the reporting key's own recordings
    # (tested in test_recording_upload.py).
    ("PUT", "/api/v1/recordings/<int:recording_id>/audio"): _ADMIN,
    # The privacy officer finds data subjects and applies corrections (rectification).
    ("GET", "/api/v1/customers"): _CASE_WORK | {"privacy_officer"},
    ("GET", "/api/v1/customers/<int:customer_id>"): _CASE_WORK | {"privacy_officer"},
    ("PATCH", "/api/v1/customers/<int:customer_id>"): _CASE_WORK | {"privacy_officer"},
    ("POST", "/api/v1/customers/<int:customer_id>/restriction"): frozenset({"privacy_officer", "admin"}),
    ("DELETE", "/api/v1/customers/<int:customer_id>/restriction"): frozenset({"privacy_officer", "admin"}),
    ("POST", "/api/v1/inbound/messages"): _ADMIN,
    ("POST", "/api/v1/inbound/calls"): _ADMIN,
    ("POST", "/api/v1/inbound/webform"): PUBLIC,
    ("POST", "/api/v1/chats"): PUBLIC,
    ("GET", "/api/v1/chats"): _CASE_WORK,
    # A chat customer's own token passes these too, for its own chat (test_chat_and_webform.py).
    ("GET", "/api/v1/chats/<int:chat_id>/messages"): _CASE_WORK,
    ("POST", "/api/v1/chats/<int:chat_id>/messages"): _CASE_WORK,
    ("POST", "/api/v1/chats/<int:chat_id>/join"): _CASE_WORK,
    ("POST", "/api/v1/chats/<int:chat_id>/end"): _CASE_WORK,
    ("GET", "/api/v1/audit"): frozenset({"admin", "privacy_officer"}),
    ("GET", "/api/v1/audit/actions"): frozenset({"admin", "privacy_officer"}),
    # Statistics: supervisors and admins only (DESIGN's role table).
    ("GET", "/api/v1/stats/contacts"): frozenset({"supervisor", "admin"}),
    ("GET", "/api/v1/stats/calls"): frozenset({"supervisor", "admin"}),
    ("GET", "/api/v1/stats/cases"): frozenset({"supervisor", "admin"}),
    ("GET", "/api/v1/stats/feedback"): frozenset({"supervisor", "admin"}),
}
# An integration's key may post inbound contacts and nothing else.
EXPECTED_FOR_INTAKE_KEY = {("POST", "/api/v1/inbound/messages"), ("POST", "/api/v1/inbound/calls"),
                           ("PUT", "/api/v1/recordings/<int:recording_id>/audio")}


def _principal(caller: str) -> Principal:
    if caller == KEY:
        return Principal(kind="api_key", id=0, name="key", scopes=frozenset({SCOPE_INTAKE}))
    return Principal(kind="official", id=0, name=caller, role=caller)


def test_the_walk_finds_the_api():
    # Guards the walk itself: an empty or truncated list would make the matrix pass vacuously.
    found = {(e.method, e.rule) for e in ENDPOINTS}
    assert ("GET", "/api/v1/cases") in found
    assert ("POST", "/api/v1/inbound/messages") in found
    assert ("POST", "/api/v1/auth/token") in found
    assert len(ENDPOINTS) >= 25


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_every_endpoint_declares_its_permission(endpoint):
    assert endpoint.permission is not MISSING, (
        f"{endpoint} ({endpoint.endpoint}) has no declared permission: "
        "use Blueprint.requires(permission) or Blueprint.public")
    assert endpoint.permission is None or endpoint.permission in PERMISSIONS


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_permission_table_matches_the_design_role_table(endpoint):
    key = (endpoint.method, endpoint.rule)
    assert key in EXPECTED_ROLES, f"{endpoint} is not in the role table of this test; say who may use it"
    expected = EXPECTED_ROLES[key]
    if endpoint.permission is None:
        assert expected == PUBLIC
        return
    assert expected != PUBLIC, f"{endpoint} should be public"
    allowed = frozenset(role for role in ROLES if _principal(role).may(endpoint.permission))
    assert allowed == expected
    assert _principal(KEY).may(endpoint.permission) == (key in EXPECTED_FOR_INTAKE_KEY)


@pytest.fixture
def caller_headers(request, api):
    caller = request.param
    if caller == ANONYMOUS:
        return {}
    if caller == KEY:
        return api.api_key_headers(scopes=(SCOPE_INTAKE,))
    if caller == "inspector":
        # An inspector cannot exist without a line to inspect.
        line = api.client.post("/api/v1/service-lines", json={"name": "Inspected"},
                               headers=api.headers_for("admin")).get_json()
        return api.headers_for(caller, service_line_ids=[line["id"]])
    return api.headers_for(caller)



def test_asking_for_an_unknown_permission_raises_naming_it_rather_than_refusing():
    """A misspelt permission is a programming error that fails at once, never a quiet 403."""
    admin = Principal(kind="official", id=1, name="Pääkäyttäjä", role="admin")

    with pytest.raises(KeyError, match="cases.raed"):
        admin.may("cases.raed")
    with pytest.raises(KeyError, match="cases.raed"):
        require("cases.raed")


def test_a_key_with_a_scope_this_version_does_not_know_is_refused_not_an_error():
    """A key stored with a scope a later version dropped grants nothing: a 403, not a 500."""
    retired = Principal(kind="api_key", id=1, name="vanha vaihde", scopes=frozenset({"retired", SCOPE_INTAKE}))
    unknown_only = Principal(kind="api_key", id=2, name="vanha", scopes=frozenset({"retired"}))

    assert not unknown_only.may("intake.post")
    assert retired.may("intake.post") and not retired.may("cases.read")

def test_a_guarded_view_carries_the_permission_this_walk_reads():
    def view():
        return "ok"

    guarded = require("retention.manage")(view)

    assert (guarded.required_permission, guarded.__name__) == ("retention.manage", "view")


@pytest.mark.parametrize(
    "endpoint, caller_headers",
    [pytest.param(e, c, id=f"{e.method} {e.rule} as {c}") for e in ENDPOINTS for c in CALLERS],
    indirect=["caller_headers"],
)
def test_role_matrix(client, endpoint, caller_headers, request):
    caller = request.node.callspec.params["caller_headers"]

    response = client.open(endpoint.path, method=endpoint.method, headers=caller_headers)

    assert response.status_code < 500, response.get_data(as_text=True)
    if endpoint.permission is MISSING:
        pytest.fail(f"{endpoint} declares no permission")
    if endpoint.permission is None:
        assert response.status_code not in (401, 403), response.get_data(as_text=True)
    elif caller == ANONYMOUS:
        assert_problem(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    elif _principal(caller).may(endpoint.permission):
        assert response.status_code not in (401, 403), response.get_data(as_text=True)
    else:
        body = assert_problem(response, 403, "forbidden")
        assert endpoint.permission in body["detail"]


# --- allowed calls really succeed ---------------------------------------------------------------
# The matrix above sends id 999999 and no body, so an allowed call mostly ends in 404 or 422
# before the code it names runs. Below, each endpoint has a recipe: it seeds through the public
# API only what the endpoint needs, sends a valid request with real ids, and every allowed
# caller must be answered with success.

_WEEKDAYS = {day: ["08:00", "16:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
_LINE_NUMBER = "+358951234567"
_STARTED = "2026-11-26T08:00:00Z"
_NOVEMBER = "?from=2026-11-01&to=2026-11-30"


class Call(NamedTuple):
    path: str
    json: object = None
    data: object = None
    headers: dict | None = None
    content_type: str | None = None
    # Checks one thing a caller sees in the successful answer.
    check: object = None


class Seeds:
    """Objects made on demand through the public API, each once per test unless a recipe
    needs a fresh one (one it deletes, closes or otherwise uses up)."""

    def __init__(self, api):
        self.api = api
        self.client = api.client
        self._made: dict[str, object] = {}
        self._n = 0

    def _once(self, name, make):
        if name not in self._made:
            self._made[name] = make()
        return self._made[name]

    def ok(self, response, status=201):
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    def unique(self) -> int:
        self._n += 1
        return self._n

    @property
    def admin(self):
        return self._once("admin", lambda: self.api.headers_for("admin"))

    @property
    def intake(self):
        return self._once("intake", lambda: self.api.api_key_headers(scopes=(SCOPE_INTAKE,)))

    @property
    def line(self) -> dict:
        return self._once("line", lambda: self.ok(self.client.post("/api/v1/service-lines", json={
            "name": "Neuvonta", "phone_numbers": [_LINE_NUMBER], "recording_policy": "all",
            "recording_retention_days": 182}, headers=self.admin)))

    def sms(self) -> dict:
        """A case opened by an inbound SMS, as the intake key posts it: {case_id, contact_id}."""
        self.line  # noqa: B018 (the case lands on this line)
        return self.ok(self.api.inbound(self.intake, to=_LINE_NUMBER,
                                        **{"from": {"phone": f"040 555 {self.unique():04d}"}}))

    @property
    def case(self) -> int:
        return self._once("case", lambda: self.sms()["case_id"])

    @property
    def customer(self) -> int:
        return self._once("customer", lambda: self.ok(self.client.get(
            f"/api/v1/cases/{self.case}", headers=self.admin), 200)["customer"]["id"])

    @property
    def attachment(self) -> int:
        def make():
            made = self.ok(self.client.post(f"/api/v1/cases/{self.case}/attachments", headers=self.admin,
                                            data={"file": (io.BytesIO(b"Hakemus\n"), "hakemus.txt", "text/plain")},
                                            content_type="multipart/form-data"))
            return made["id"]
        return self._once("attachment", make)

    def recording(self, handled_by: int | None = None) -> int:
        self.line  # noqa: B018
        n = self.unique()
        return self.ok(self.client.post("/api/v1/inbound/calls", headers=self.intake, json={
            "external_id": f"pbx-{n}", "from": {"phone": "040 123 4567"}, "to": _LINE_NUMBER,
            "started_at": _STARTED, "answered_at": "2026-11-26T08:01:00Z", "ended_at": "2026-11-26T08:06:00Z",
            "handled_by_id": handled_by, "recording": {"reference": f"pbx-rec-{n}", "duration_seconds": 300}}))[
            "recording_id"]

    def played_recording(self, handled_by: int | None = None) -> int:
        recording_id = self.recording(handled_by)
        self.ok(self.client.put(f"/api/v1/recordings/{recording_id}/audio", data=_MP3,
                                headers={**self.intake, "Content-Type": "audio/mpeg"}))
        return recording_id

    def chat(self) -> int:
        return self.ok(self.client.post("/api/v1/chats", json={
            "anonymous": False, "name": "Anna Asiakas", "email": "anna@example.fi", "language": "fi"}))["chat_id"]

    def official(self, role="adviser") -> dict:
        return self.api.official(role)

    def api_key(self) -> int:
        return self.ok(self.client.post("/api/v1/api-keys", json={"name": f"pbx {self.unique()}",
                                                                  "scopes": ["intake"]}, headers=self.admin))["id"]

    @property
    def calendar(self) -> int:
        return self._once("calendar", lambda: self.ok(self.client.post("/api/v1/calendars", json={
            "name": "Virka-aika", "hours": _WEEKDAYS}, headers=self.admin))["id"])

    @property
    def authority(self) -> int:
        return self._once("authority", lambda: self.ok(self.client.post("/api/v1/authorities", json={
            "name": "Maistraatti", "email": "kirjaamo@maistraatti.example.fi"}, headers=self.admin))["id"])

    def template(self) -> int:
        return self.ok(self.client.post("/api/v1/reply-templates", json={
            "service_line_id": self.line["id"], "language": "fi", "title": f"Kiitos {self.unique()}",
            "body": "Kiitos viestistä."}, headers=self.admin))["id"]

    def privacy_request(self) -> int:
        # Received now, so that its deadline has not passed and it may still be extended.
        return self.ok(self.client.post("/api/v1/privacy/requests", json={
            "type": "access", "subject": {"phone": "040 555 0001"},
            "received_at": datetime.now(timezone.utc).isoformat()},
            headers=self.admin))["id"]

    def note(self, case_id: int) -> int:
        return self.ok(self.client.post(f"/api/v1/cases/{case_id}/notes", json={"body": "Sisäinen"},
                                        headers=self.admin))["id"]


_MP3 = b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 40


def _totp_code(secret: str, steps_from_now: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_from_now)


def _enrolled(s: Seeds, who) -> tuple[str, list[str]]:
    secret = s.ok(s.client.post("/api/v1/auth/second-factor/totp", headers=who))["secret"]
    confirmed = s.ok(s.client.post("/api/v1/auth/second-factor/totp/confirm", json={"code": _totp_code(secret)},
                                   headers=who), 200)
    return secret, confirmed["recovery_codes"]


def _same_id(expected):
    def check(body):
        assert body["id"] == expected, body
    return check


def _has_items(body):
    assert body["items"], body


def _closed_case(s: Seeds) -> int:
    case_id = s.sms()["case_id"]
    s.ok(s.client.post(f"/api/v1/cases/{case_id}/close", headers=s.admin), 200)
    return case_id


def _held_case(s: Seeds) -> int:
    case_id = s.sms()["case_id"]
    s.ok(s.client.post(f"/api/v1/cases/{case_id}/hold", json={"reason": "Oikeudenkäynti"}, headers=s.admin), 200)
    return case_id


def _fresh_customer(s: Seeds) -> int:
    return s.ok(s.client.get(f"/api/v1/cases/{s.sms()['case_id']}", headers=s.admin), 200)["customer"]["id"]


def _restricted_customer(s: Seeds) -> int:
    customer = _fresh_customer(s)
    s.ok(s.client.post(f"/api/v1/customers/{customer}/restriction", json={"reason": "Kiistää tiedot"},
                       headers=s.admin), 200)
    return customer


def _session(s: Seeds, who) -> int:
    # The caller's own other session: a second sign-in of the same official.
    s.ok(s.api.login(who.username))
    sessions = s.ok(s.client.get("/api/v1/auth/sessions", headers=who), 200)["items"]
    return next(x["id"] for x in sessions if not x.get("current"))


def _chat(s: Seeds, who, *, joined: bool) -> int:
    chat = s.chat()
    if joined:
        s.ok(s.client.post(f"/api/v1/chats/{chat}/join", headers=who), 200)
    return chat


def _two_contact_case(s: Seeds) -> tuple[int, int]:
    """A case with two SMS of one number: (case id, the second contact's id)."""
    s.line  # noqa: B018
    phone = f"040 556 {s.unique():04d}"
    first = s.ok(s.api.inbound(s.intake, to=_LINE_NUMBER, **{"from": {"phone": phone}}))
    second = s.ok(s.api.inbound(s.intake, to=_LINE_NUMBER, body="Toinen asia", **{"from": {"phone": phone}}))
    assert second["case_id"] == first["case_id"], (first, second)
    return first["case_id"], second["contact_id"]


def _merge(s: Seeds) -> int:
    """A merge of two fresh cases, done by an admin: its id."""
    merged, survivor = s.sms()["case_id"], s.sms()["case_id"]
    return s.ok(s.client.post(f"/api/v1/cases/{merged}/merge", json={"into_case_id": survivor},
                              headers=s.admin), 200)["merge"]["id"]


def _linked_customer(s: Seeds) -> int:
    customer, other = _fresh_customer(s), _fresh_customer(s)
    s.ok(s.client.post(f"/api/v1/customers/{customer}/link", json={"into_customer_id": other},
                       headers=s.admin), 200)
    return customer


# Each recipe takes the seeds and the caller's headers and returns the call to make; a recipe
# of the form `(seed, Call(...))[1]` makes the seed first so that a list has something in it.
RECIPES = {
    ("GET", "/api/v1/auth/oidc/login"): lambda s, who: Call("/api/v1/auth/oidc/login"),
    ("GET", "/api/v1/auth/oidc/callback"): lambda s, who: Call("/api/v1/auth/oidc/callback?code=x&state=y"),
    ("POST", "/api/v1/auth/oidc/backchannel-logout"): lambda s, who: Call(
        "/api/v1/auth/oidc/backchannel-logout", data={"logout_token": "x.y.z"}),
    ("GET", "/api/v1/auth/oidc/frontchannel-logout"): lambda s, who: Call(
        "/api/v1/auth/oidc/frontchannel-logout?iss=https://idp.example.fi&sid=x"),
    ("POST", "/api/v1/auth/token"): lambda s, who: Call(
        "/api/v1/auth/token", json={"username": s.official()["username"], "password": PASSWORD}),
    ("DELETE", "/api/v1/auth/token"): lambda s, who: Call("/api/v1/auth/token"),
    ("GET", "/api/v1/auth/me"): lambda s, who: Call("/api/v1/auth/me", check=_same_id(who.id)),
    ("GET", "/api/v1/auth/methods"): lambda s, who: Call("/api/v1/auth/methods"),
    ("GET", "/api/v1/auth/sessions"): lambda s, who: Call("/api/v1/auth/sessions", check=_has_items),
    ("DELETE", "/api/v1/auth/sessions"): lambda s, who: Call("/api/v1/auth/sessions"),
    ("DELETE", "/api/v1/auth/sessions/<int:session_id>"): lambda s, who: Call(
        f"/api/v1/auth/sessions/{_session(s, who)}"),
    ("GET", "/api/v1/auth/second-factor"): lambda s, who: Call("/api/v1/auth/second-factor"),
    ("POST", "/api/v1/auth/second-factor/totp"): lambda s, who: Call("/api/v1/auth/second-factor/totp"),
    ("POST", "/api/v1/auth/second-factor/totp/confirm"): lambda s, who: Call(
        "/api/v1/auth/second-factor/totp/confirm",
        json={"code": _totp_code(s.ok(s.client.post("/api/v1/auth/second-factor/totp", headers=who))["secret"])}),
    ("POST", "/api/v1/auth/second-factor/recovery-codes"): lambda s, who: Call(
        "/api/v1/auth/second-factor/recovery-codes", json={"code": _totp_code(_enrolled(s, who)[0], 1)}),
    ("POST", "/api/v1/auth/second-factor/remove"): lambda s, who: Call(
        "/api/v1/auth/second-factor/remove", json={"code": _enrolled(s, who)[1][0]}),
    ("DELETE", "/api/v1/officials/<int:official_id>/sessions"): lambda s, who: Call(
        f"/api/v1/officials/{s.official()['id']}/sessions"),
    ("DELETE", "/api/v1/officials/<int:official_id>/second-factor"): lambda s, who: Call(
        f"/api/v1/officials/{s.official()['id']}/second-factor"),
    ("GET", "/api/v1/officials"): lambda s, who: Call("/api/v1/officials", check=_has_items),
    ("POST", "/api/v1/officials"): lambda s, who: Call("/api/v1/officials", json={
        "username": f"uusi{s.unique()}", "password": PASSWORD, "role": "adviser", "name": "Uusi Neuvoja"}),
    ("GET", "/api/v1/officials/<int:official_id>"): lambda s, who: Call(
        f"/api/v1/officials/{who.id}", check=_same_id(who.id)),
    ("PATCH", "/api/v1/officials/<int:official_id>"): lambda s, who: (lambda o: Call(
        f"/api/v1/officials/{o}", json={"name": "Toinen Nimi"}, check=_same_id(o)))(s.official()["id"]),
    ("DELETE", "/api/v1/officials/<int:official_id>"): lambda s, who: Call(f"/api/v1/officials/{s.official()['id']}"),
    ("GET", "/api/v1/api-keys"): lambda s, who: (s.api_key(), Call("/api/v1/api-keys", check=_has_items))[1],
    ("POST", "/api/v1/api-keys"): lambda s, who: Call("/api/v1/api-keys", json={"name": "pbx", "scopes": ["intake"]}),
    ("DELETE", "/api/v1/api-keys/<int:key_id>"): lambda s, who: Call(f"/api/v1/api-keys/{s.api_key()}"),
    ("GET", "/api/v1/service-lines"): lambda s, who: (s.line, Call("/api/v1/service-lines", check=_has_items))[1],
    ("POST", "/api/v1/service-lines"): lambda s, who: Call("/api/v1/service-lines",
                                                           json={"name": f"Linja {s.unique()}"}),
    ("GET", "/api/v1/service-lines/<int:line_id>"): lambda s, who: Call(
        f"/api/v1/service-lines/{s.line['id']}", check=_same_id(s.line["id"])),
    ("PATCH", "/api/v1/service-lines/<int:line_id>"): lambda s, who: Call(
        f"/api/v1/service-lines/{s.line['id']}", json={"description": "Yleisneuvonta"}, check=_same_id(s.line["id"])),
    ("GET", "/api/v1/service-lines/<int:line_id>/targets"): lambda s, who: Call(
        f"/api/v1/service-lines/{s.line['id']}/targets"),
    ("PUT", "/api/v1/service-lines/<int:line_id>/targets"): lambda s, who: Call(
        f"/api/v1/service-lines/{s.line['id']}/targets", json={
            "calendar_id": s.calendar, "targets": [{"channel": "sms", "first_response_minutes": 60}]}),
    ("GET", "/api/v1/calendars"): lambda s, who: (s.calendar, Call("/api/v1/calendars", check=_has_items))[1],
    ("POST", "/api/v1/calendars"): lambda s, who: Call("/api/v1/calendars", json={
        "name": f"Kalenteri {s.unique()}", "hours": _WEEKDAYS}),
    ("GET", "/api/v1/calendars/<int:calendar_id>"): lambda s, who: Call(
        f"/api/v1/calendars/{s.calendar}", check=_same_id(s.calendar)),
    ("PATCH", "/api/v1/calendars/<int:calendar_id>"): lambda s, who: Call(
        f"/api/v1/calendars/{s.calendar}", json={"closed_days": ["2026-12-24"]}, check=_same_id(s.calendar)),
    ("GET", "/api/v1/cases"): lambda s, who: (s.case, Call("/api/v1/cases", check=_has_items))[1],
    ("POST", "/api/v1/cases"): lambda s, who: Call("/api/v1/cases", json={
        "service_line_id": s.line["id"], "channel": "phone", "subject": "Passi"}),
    ("GET", "/api/v1/cases/<int:case_id>"): lambda s, who: Call(f"/api/v1/cases/{s.case}", check=_same_id(s.case)),
    ("PATCH", "/api/v1/cases/<int:case_id>"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}", json={"topic": "passi"}, check=_same_id(s.case)),
    ("POST", "/api/v1/cases/<int:case_id>/notes"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}/notes", json={"body": "Soitettu takaisin"}),
    ("POST", "/api/v1/cases/<int:case_id>/contacts"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}/contacts", json={"channel": "phone", "direction": "outbound", "body": "Soitto"}),
    ("POST", "/api/v1/cases/<int:case_id>/attachments"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}/attachments", content_type="multipart/form-data",
        data={"file": (io.BytesIO(b"Liite\n"), "liite.txt", "text/plain")}),
    ("GET", "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}/attachments/{s.attachment}"),
    ("POST", "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>/release"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}/attachments/{s.attachment}/release", json={"reason": "Tunnettu lähettäjä"}),
    ("POST", "/api/v1/cases/<int:case_id>/calls"): lambda s, who: Call(f"/api/v1/cases/{s.case}/calls"),
    ("POST", "/api/v1/cases/<int:case_id>/close"): lambda s, who: Call(f"/api/v1/cases/{s.sms()['case_id']}/close"),
    ("POST", "/api/v1/cases/<int:case_id>/reopen"): lambda s, who: Call(f"/api/v1/cases/{_closed_case(s)}/reopen"),
    ("POST", "/api/v1/cases/<int:case_id>/replies"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}/replies", json={"channel": "sms", "body": "Hei, passi on noudettavissa."}),
    ("POST", "/api/v1/cases/<int:case_id>/forward"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}/forward", json={"authority_id": s.authority, "disclose": ["phone"],
                                                 "legal_basis": "HL 21 §"}),
    ("POST", "/api/v1/cases/<int:case_id>/disclosures"): lambda s, who: Call(
        f"/api/v1/cases/{s.case}/disclosures", json={"recipient": "Poliisi", "fields": ["phone"],
                                                     "legal_basis": "Poliisilaki 4:3"}),
    ("GET", "/api/v1/cases/<int:case_id>/disclosures"): lambda s, who: Call(f"/api/v1/cases/{s.case}/disclosures"),
    ("POST", "/api/v1/cases/<int:case_id>/hold"): lambda s, who: Call(
        f"/api/v1/cases/{s.sms()['case_id']}/hold", json={"reason": "Oikeudenkäynti"}),
    ("DELETE", "/api/v1/cases/<int:case_id>/hold"): lambda s, who: Call(f"/api/v1/cases/{_held_case(s)}/hold"),
    ("GET", "/api/v1/retention/policies"): lambda s, who: (s.line, Call("/api/v1/retention/policies"))[1],
    ("PATCH", "/api/v1/retention/policies/<int:line_id>"): lambda s, who: Call(
        f"/api/v1/retention/policies/{s.line['id']}", json={"case_retention_days": 730}),
    ("POST", "/api/v1/retention/purge"): lambda s, who: Call("/api/v1/retention/purge", json={"dry_run": True}),
    ("POST", "/api/v1/privacy/requests"): lambda s, who: Call("/api/v1/privacy/requests", json={
        "type": "access", "subject": {"phone": "040 555 0001"}, "received_at": "2026-01-31T10:00:00+02:00"}),
    ("GET", "/api/v1/privacy/requests"): lambda s, who: (s.privacy_request(), Call(
        "/api/v1/privacy/requests", check=_has_items))[1],
    ("GET", "/api/v1/privacy/requests/<int:request_id>"): lambda s, who: (lambda r: Call(
        f"/api/v1/privacy/requests/{r}", check=_same_id(r)))(s.privacy_request()),
    ("POST", "/api/v1/privacy/requests/<int:request_id>/extend"): lambda s, who: Call(
        f"/api/v1/privacy/requests/{s.privacy_request()}/extend", json={
            "months": 2, "reason": "Pyyntöjä on paljon", "notified_at": datetime.now(timezone.utc).isoformat(),
            "notified_via": "letter"}),
    ("POST", "/api/v1/privacy/requests/<int:request_id>/complete"): lambda s, who: Call(
        f"/api/v1/privacy/requests/{s.privacy_request()}/complete", json={}),
    ("POST", "/api/v1/privacy/requests/<int:request_id>/withhold"): lambda s, who: (lambda case: Call(
        f"/api/v1/privacy/requests/{s.privacy_request()}/withhold",
        json={"item_type": "note", "item_id": s.note(case), "reason": "Esitutkinnan salassapito"}))(s.case),
    ("GET", "/api/v1/privacy/requests/<int:request_id>/export"): lambda s, who: Call(
        f"/api/v1/privacy/requests/{s.privacy_request()}/export"),
    ("GET", "/api/v1/authorities"): lambda s, who: (s.authority, Call("/api/v1/authorities", check=_has_items))[1],
    ("POST", "/api/v1/authorities"): lambda s, who: Call("/api/v1/authorities", json={
        "name": f"Virasto {s.unique()}", "email": "kirjaamo@virasto.example.fi"}),
    ("GET", "/api/v1/authorities/<int:authority_id>"): lambda s, who: Call(
        f"/api/v1/authorities/{s.authority}", check=_same_id(s.authority)),
    ("PATCH", "/api/v1/authorities/<int:authority_id>"): lambda s, who: Call(
        f"/api/v1/authorities/{s.authority}", json={"phone": "029 000 000"}, check=_same_id(s.authority)),
    ("GET", "/api/v1/chats/widgets/<widget_id>"): lambda s, who: (s.line, Call("/api/v1/chats/widgets/neuvonta"))[1],
    ("GET", "/api/v1/reply-templates"): lambda s, who: (s.template(), Call("/api/v1/reply-templates",
                                                                         check=_has_items))[1],
    ("POST", "/api/v1/reply-templates"): lambda s, who: Call("/api/v1/reply-templates", json={
        "service_line_id": s.line["id"], "language": "fi", "title": f"Uusi {s.unique()}", "body": "Kiitos."}),
    ("GET", "/api/v1/reply-templates/<int:template_id>"): lambda s, who: (lambda t: Call(
        f"/api/v1/reply-templates/{t}", check=_same_id(t)))(s.template()),
    ("PATCH", "/api/v1/reply-templates/<int:template_id>"): lambda s, who: (lambda t: Call(
        f"/api/v1/reply-templates/{t}", json={"active": False}, check=_same_id(t)))(s.template()),
    ("DELETE", "/api/v1/reply-templates/<int:template_id>"): lambda s, who: Call(
        f"/api/v1/reply-templates/{s.template()}"),
    ("GET", "/api/v1/cases/<int:case_id>/reply-templates"): lambda s, who: (s.template(), Call(
        f"/api/v1/cases/{s.case}/reply-templates", check=_has_items))[1],
    ("GET", "/api/v1/recordings"): lambda s, who: (_recording_for(s, who), Call(
        "/api/v1/recordings", check=_has_items))[1],
    ("GET", "/api/v1/recordings/<int:recording_id>"): lambda s, who: (lambda r: Call(
        f"/api/v1/recordings/{r}", check=_same_id(r)))(_recording_for(s, who)),
    ("GET", "/api/v1/recordings/<int:recording_id>/audio"): lambda s, who: Call(
        f"/api/v1/recordings/{_recording_for(s, who, played=True)}/audio"),
    ("PUT", "/api/v1/recordings/<int:recording_id>/audio"): lambda s, who: Call(
        f"/api/v1/recordings/{s.recording()}/audio", data=_MP3, content_type="audio/mpeg"),
    ("GET", "/api/v1/customers"): lambda s, who: (s.customer, Call("/api/v1/customers", check=_has_items))[1],
    ("GET", "/api/v1/customers/<int:customer_id>"): lambda s, who: Call(
        f"/api/v1/customers/{s.customer}", check=_same_id(s.customer)),
    ("PATCH", "/api/v1/customers/<int:customer_id>"): lambda s, who: Call(
        f"/api/v1/customers/{s.customer}", json={"name": "Anna Asiakas"}, check=_same_id(s.customer)),
    ("POST", "/api/v1/customers/<int:customer_id>/restriction"): lambda s, who: Call(
        f"/api/v1/customers/{_fresh_customer(s)}/restriction",
        json={"reason": "Kiistää tiedot"}),
    ("DELETE", "/api/v1/customers/<int:customer_id>/restriction"): lambda s, who: Call(
        f"/api/v1/customers/{_restricted_customer(s)}/restriction"),
    ("POST", "/api/v1/inbound/messages"): lambda s, who: (s.line, Call("/api/v1/inbound/messages", json={
        "channel": "sms", "external_id": f"SM{s.unique():032d}", "from": {"phone": "040 123 4567"},
        "to": _LINE_NUMBER, "body": "Hei"}))[1],
    ("POST", "/api/v1/inbound/calls"): lambda s, who: (s.line, Call("/api/v1/inbound/calls", json={
        "external_id": f"pbx-call-{s.unique()}", "from": {"phone": "040 123 4567"}, "to": _LINE_NUMBER,
        "started_at": _STARTED}))[1],
    ("POST", "/api/v1/inbound/webform"): lambda s, who: Call("/api/v1/inbound/webform", json={
        "name": "Anna Asiakas", "email": "anna@example.fi", "message": "Miten haen passia?", "language": "fi"}),
    ("POST", "/api/v1/chats"): lambda s, who: Call("/api/v1/chats", json={"anonymous": True, "language": "fi"}),
    ("GET", "/api/v1/chats"): lambda s, who: (s.chat(), Call("/api/v1/chats"))[1],
    ("GET", "/api/v1/chats/<int:chat_id>/messages"): lambda s, who: Call(
        f"/api/v1/chats/{_chat(s, who, joined=True)}/messages?after=0"),
    ("POST", "/api/v1/chats/<int:chat_id>/messages"): lambda s, who: Call(
        f"/api/v1/chats/{_chat(s, who, joined=True)}/messages", json={"body": "Hei!"}),
    ("POST", "/api/v1/chats/<int:chat_id>/join"): lambda s, who: Call(
        f"/api/v1/chats/{_chat(s, who, joined=False)}/join"),
    ("POST", "/api/v1/chats/<int:chat_id>/end"): lambda s, who: Call(
        f"/api/v1/chats/{_chat(s, who, joined=True)}/end"),
    ("GET", "/api/v1/audit"): lambda s, who: (s.line, Call("/api/v1/audit", check=_has_items))[1],
    ("GET", "/api/v1/audit/actions"): lambda s, who: Call("/api/v1/audit/actions"),
    ("GET", "/api/v1/stats/contacts"): lambda s, who: (s.case, Call("/api/v1/stats/contacts" + _NOVEMBER))[1],
    ("GET", "/api/v1/stats/calls"): lambda s, who: Call("/api/v1/stats/calls" + _NOVEMBER),
    ("GET", "/api/v1/stats/cases"): lambda s, who: (s.case, Call("/api/v1/stats/cases" + _NOVEMBER))[1],
    ("GET", "/api/v1/stats/feedback"): lambda s, who: Call("/api/v1/stats/feedback" + _NOVEMBER),
    ("GET", "/api/v1/cases/search"): lambda s, who: (s.case, Call("/api/v1/cases/search?q=Hei", check=_has_items))[1],
    ("POST", "/api/v1/cases/<int:case_id>/merge"): lambda s, who: (lambda merged, survivor: Call(
        f"/api/v1/cases/{merged}/merge", json={"into_case_id": survivor}))(s.sms()["case_id"], s.sms()["case_id"]),
    ("GET", "/api/v1/cases/<int:case_id>/merges"): lambda s, who: Call(f"/api/v1/cases/{s.case}/merges"),
    ("POST", "/api/v1/cases/<int:case_id>/split"): lambda s, who: (lambda case_contact: Call(
        f"/api/v1/cases/{case_contact[0]}/split", json={"contact_ids": [case_contact[1]]}))(_two_contact_case(s)),
    ("POST", "/api/v1/cases/merges/<int:merge_id>/undo"): lambda s, who: Call(
        f"/api/v1/cases/merges/{_merge(s)}/undo"),
    ("POST", "/api/v1/customers/<int:customer_id>/link"): lambda s, who: Call(
        f"/api/v1/customers/{_fresh_customer(s)}/link", json={"into_customer_id": _fresh_customer(s)}),
    ("DELETE", "/api/v1/customers/<int:customer_id>/link"): lambda s, who: Call(
        f"/api/v1/customers/{_linked_customer(s)}/link"),
    ("GET", "/api/v1/customers/<int:customer_id>/link-candidates"): lambda s, who: Call(
        f"/api/v1/customers/{s.customer}/link-candidates"),
}


def _recording_for(s: Seeds, who, *, played=False) -> int:
    # Advisers hear only calls they handled; everyone else any (the inspector: their line's).
    handled_by = who.id if getattr(who, "role", None) == "adviser" else None
    return s.played_recording(handled_by) if played else s.recording(handled_by)


# Allowed calls that cannot succeed in this app, with the problem they must get instead and why.
_NO_SSO = (404, "not-found", "no OpenID provider here; tests/oidc signs in through a real one")
NOT_SUCCESS: dict[tuple[str, str, str], tuple[int, str, str]] = {
    ("GET", "/api/v1/auth/oidc/login", ANONYMOUS): _NO_SSO,
    ("GET", "/api/v1/auth/oidc/callback", ANONYMOUS): _NO_SSO,
    ("POST", "/api/v1/auth/oidc/backchannel-logout", ANONYMOUS): _NO_SSO,
    ("GET", "/api/v1/auth/oidc/frontchannel-logout", ANONYMOUS): _NO_SSO,
    ("PUT", "/api/v1/recordings/<int:recording_id>/audio", "admin"):
        (404, "not-found", "only the integration that reported a recording uploads its audio"),
    ("POST", "/api/v1/cases/<int:case_id>/attachments/<int:attachment_id>/release", "admin"):
        (409, "not-releasable", "no scanner here, so nothing is unscannable; test_malware_scanning.py releases one"),
    ("POST", "/api/v1/cases/<int:case_id>/calls", "adviser"):
        (409, "no-phone-system", "no phone system here; test_voice.py places calls through a fake Twilio"),
}
for _role in ("supervisor", "admin"):
    NOT_SUCCESS[("POST", "/api/v1/cases/<int:case_id>/calls", _role)] = NOT_SUCCESS[
        ("POST", "/api/v1/cases/<int:case_id>/calls", "adviser")]
NOT_YET: set[tuple[str, str]] = set()


def _callers_allowed(endpoint: Endpoint) -> list[str]:
    key = (endpoint.method, endpoint.rule)
    expected = EXPECTED_ROLES.get(key)
    if expected == PUBLIC:
        return [ANONYMOUS]
    callers = sorted(expected or ())
    if key in EXPECTED_FOR_INTAKE_KEY:
        callers.append(KEY)
    return callers


def _headers_of(s: Seeds, caller: str):
    if caller == ANONYMOUS:
        return Caller({}, id=None, username=None)
    if caller == KEY:
        return Caller(dict(s.intake), id=None, username=None)
    extra = {"service_line_ids": [s.line["id"]]} if caller == "inspector" else {}
    headers = s.api.headers_for(caller, **extra)
    headers.role = caller
    return headers


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_allowed_callers_succeed_on_real_objects(api, endpoint):
    key = (endpoint.method, endpoint.rule)
    if key in NOT_YET:
        pytest.skip(f"{endpoint}: no recipe yet")
    assert key in RECIPES, (f"{endpoint} has no recipe in RECIPES of this test: add one that seeds what it "
                            "needs and sends a valid request")
    s = Seeds(api)
    for caller in _callers_allowed(endpoint):
        who = _headers_of(s, caller)
        call = RECIPES[key](s, who)
        headers = {**who, **(call.headers or {})}
        if call.content_type and call.content_type != "multipart/form-data":
            headers["Content-Type"] = call.content_type
        kwargs = {"json": call.json} if call.json is not None else {}
        if call.data is not None:
            kwargs["data"] = call.data
            if call.content_type == "multipart/form-data":
                kwargs["content_type"] = call.content_type
        with s.client.open(call.path, method=endpoint.method, headers=headers, **kwargs) as response:
            outcome = NOT_SUCCESS.get((*key, caller))
            if outcome:
                status, problem, _why = outcome
                assert_problem(response, status, problem)
                continue
            assert 200 <= response.status_code < 300, (caller, response.status_code,
                                                       response.get_data(as_text=True))
            if call.check is not None:
                call.check(response.get_json())
