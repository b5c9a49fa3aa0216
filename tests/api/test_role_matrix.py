"""The role matrix: every API endpoint, against every role, an intake API key and no token.

The endpoints are read from the application's URL map, so a new endpoint is walked without
anyone remembering to add it here; one that declares no permission fails.
"""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest

from service import create_app
from service.auth.permissions import PERMISSIONS, ROLES, SCOPE_INTAKE, Principal
from tests.api.problems import assert_problem

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
