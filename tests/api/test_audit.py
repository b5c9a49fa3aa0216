"""The audit log: every read or change of personal data leaves an entry naming who, in which
role, which object, when and in which request; admins and the privacy officer read it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.api.problems import assert_problem

AUDIT = "/api/v1/audit"


def _entries(client, headers, **query) -> list[dict]:
    response = client.get(AUDIT, query_string={"page_size": 100, **query}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def _case(api, intake, **fields) -> int:
    response = api.inbound(intake, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_id"]


def test_reading_a_case__is_audited_with_actor_role_and_request_id(api, client, admin, adviser, intake):
    case_id = _case(api, intake)

    response = client.get(f"/api/v1/cases/{case_id}", headers={**adviser, "X-Request-ID": "req-case-read-1"})

    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "req-case-read-1"
    (entry,) = _entries(client, admin, action="case.read", object_id=case_id)
    assert entry["actor_type"] == "official"
    assert entry["actor_id"] == adviser.id
    assert entry["actor_role"] == "adviser"
    assert entry["object_type"] == "case"
    assert entry["object_id"] == case_id
    assert entry["request_id"] == "req-case-read-1"
    at = datetime.fromisoformat(entry["at"])
    assert abs(datetime.now(timezone.utc) - at) < timedelta(minutes=1)


def test_reading_a_case__twice_gives_two_entries(api, client, admin, supervisor, intake):
    case_id = _case(api, intake)
    client.get(f"/api/v1/cases/{case_id}", headers=supervisor)
    client.get(f"/api/v1/cases/{case_id}", headers=supervisor)

    entries = _entries(client, admin, action="case.read", object_id=case_id)

    assert [e["actor_role"] for e in entries] == ["supervisor", "supervisor"]


def test_a_case_that_is_not_visible_leaves_no_read_entry(api, client, admin, intake):
    line = client.post("/api/v1/service-lines", json={"name": "A"}, headers=admin).get_json()["id"]
    outsider = api.headers_for("adviser", service_line_ids=[line])
    case_id = _case(api, intake)

    assert client.get(f"/api/v1/cases/{case_id}", headers=outsider).status_code == 404

    assert _entries(client, admin, action="case.read", actor_id=outsider.id) == []


def test_invalid_request_id__is_replaced_by_a_generated_one(api, client, admin, adviser, intake):
    case_id = _case(api, intake)

    response = client.get(f"/api/v1/cases/{case_id}", headers={**adviser, "X-Request-ID": "no spaces allowed!"})

    generated = response.headers["X-Request-ID"]
    assert generated != "no spaces allowed!"
    assert len(generated) == 32 and int(generated, 16) >= 0
    (entry,) = _entries(client, admin, action="case.read", object_id=case_id)
    assert entry["request_id"] == generated


def test_purpose_header__is_kept_with_the_entry(api, client, admin, adviser, intake):
    case_id = _case(api, intake)

    client.get(f"/api/v1/cases/{case_id}", headers={**adviser, "X-Purpose": "Customer called back"})

    (entry,) = _entries(client, admin, action="case.read", object_id=case_id)
    assert entry["purpose"] == "Customer called back"


def test_intake__is_audited_as_the_api_key(api, client, admin, intake):
    case_id = _case(api, intake, external_id="SM-audit-1")

    (entry,) = _entries(client, admin, action="contact.received", object_id=case_id)

    assert entry["actor_type"] == "api_key"
    assert entry["actor_role"] == "api_key:intake"
    (key,) = client.get("/api/v1/api-keys", headers=admin).get_json()["items"]
    assert entry["actor_id"] == key["id"]  # which key: its scopes alone do not say
    assert entry["details"]["channel"] == "sms"
    assert [e["action"] for e in _entries(client, admin, action="customer.created")] == ["customer.created"]


def test_sign_in__success_and_failure_are_audited(api, client, admin):
    official = api.official("adviser")
    api.login(official["username"], "wrong password, sorry")
    api.login(official["username"])

    failed = _entries(client, admin, action="auth.login_failed", object_id=official["id"])
    succeeded = _entries(client, admin, action="auth.login", object_id=official["id"])

    assert len(failed) == 1 and failed[0]["actor_type"] == "system"
    assert len(succeeded) == 1
    assert succeeded[0]["actor_id"] == official["id"]
    assert succeeded[0]["actor_role"] == "adviser"
    # The password is never written down, not even a wrong one.
    assert "wrong password" not in str(failed[0]) and "password" not in str(failed[0]["details"] or {})


def _corrections(client, api, phone: str) -> list[tuple[int, str, str | None]]:
    """The old values of a person's corrections, as their access export shows them."""
    privacy = api.headers_for("privacy_officer")
    request = client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "access", "subject": {"phone": phone}, "received_at": "2026-11-01T00:00:00Z"}).get_json()
    export = client.get(f"/api/v1/privacy/requests/{request['id']}/export", headers=privacy).get_json()
    return [(c["id"], c["field"], c["old_value"]) for c in export["people"][0]["corrections"]]


def test_customer_patch__keeps_the_previous_values_out_of_the_audit_log(api, client, admin, adviser, intake):
    case_id = _case(api, intake, **{"from": {"phone": "040 123 4567", "name": "Maija"}})
    customer_id = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["customer"]["id"]

    response = client.patch(f"/api/v1/customers/{customer_id}",
                            json={"name": "Maija Meikäläinen", "email": "Maija@Example.FI",
                                  "phone": "050 555 1234"},
                            headers={**adviser, "X-Request-ID": "req-fix-name"})

    assert response.status_code == 200
    (entry,) = _entries(client, admin, action="customer.updated", object_id=customer_id)
    assert entry["actor_id"] == adviser.id
    assert entry["object_type"] == "customer"
    assert entry["request_id"] == "req-fix-name"
    assert entry["details"]["fields"] == ["email", "name", "phone"]
    # The audit log is kept for years and chained: the old values are referred to, not copied.
    assert "previous" not in entry["details"] and "Maija" not in str(entry["details"])
    assert "+358401234567" not in str(entry["details"])
    corrections = _corrections(client, api, "050 555 1234")
    assert [c[1:] for c in corrections] == [("email", None), ("name", "Maija"), ("phone", "+358401234567")]
    assert entry["details"]["rectification_ids"] == [c[0] for c in corrections]


def test_customer_patch__a_second_correction_keeps_the_first_values_too(api, client, admin, adviser, intake):
    case_id = _case(api, intake, **{"from": {"phone": "040 123 4567", "name": "Maija"}})
    customer_id = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["customer"]["id"]
    client.patch(f"/api/v1/customers/{customer_id}", json={"name": "Maja"}, headers=adviser)
    client.patch(f"/api/v1/customers/{customer_id}", json={"name": "Maija M."}, headers=adviser)

    entries = _entries(client, admin, action="customer.updated", object_id=customer_id)

    by_id = {c[0]: c[2] for c in _corrections(client, api, "040 123 4567")}
    assert [by_id[e["details"]["rectification_ids"][0]] for e in entries] == ["Maja", "Maija"]


def test_reading_a_customer_and_searching__are_audited(api, client, admin, adviser, intake):
    case_id = _case(api, intake, **{"from": {"phone": "040 123 4567"}})
    customer_id = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["customer"]["id"]

    client.get(f"/api/v1/customers/{customer_id}", headers=adviser)
    client.get("/api/v1/cases", query_string={"q": "Meikäläinen"}, headers=adviser)

    (read,) = _entries(client, admin, action="customer.read", actor_id=adviser.id)
    assert read["object_id"] == customer_id
    (search,) = _entries(client, admin, action="case.listed", actor_id=adviser.id)
    assert search["details"]["q"] == "Meikäläinen"


# --- who reads the log, and how ---------------------------------------------------------------

@pytest.mark.parametrize("role", ["admin", "privacy_officer"])
def test_audit_log__is_readable_by_admin_and_privacy_officer(api, client, role):
    headers = api.headers_for(role)

    response = client.get(AUDIT, headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] >= 1  # at least the reader's own sign-in
    assert {"items", "total", "page", "page_size"} <= set(body)


@pytest.mark.parametrize("role", ["adviser", "supervisor"])
def test_audit_log__is_closed_to_case_workers(api, client, role):
    body = assert_problem(client.get(AUDIT, headers=api.headers_for(role)), 403, "forbidden")
    assert "audit.read" in body["detail"]


def test_audit_log__is_closed_to_api_keys_and_anonymous_callers(client, intake):
    assert_problem(client.get(AUDIT, headers=intake), 403)
    assert_problem(client.get(AUDIT), 401)


def test_audit_log__reading_it_is_itself_audited(api, client):
    officer = api.headers_for("privacy_officer")
    client.get(AUDIT, headers=officer)

    entries = _entries(client, officer, action="audit.read", actor_id=officer.id)

    assert len(entries) >= 1
    assert entries[-1]["actor_role"] == "privacy_officer"


def test_audit_log__is_newest_first_and_paginated(api, client, admin, intake):
    case_id = _case(api, intake)
    for n in range(3):
        client.get(f"/api/v1/cases/{case_id}", headers={**admin, "X-Request-ID": f"read-{n}"})

    page = client.get(AUDIT, query_string={"action": "case.read", "page_size": 2}, headers=admin).get_json()

    assert page["total"] == 3
    assert [e["request_id"] for e in page["items"]] == ["read-2", "read-1"]
    ids = [e["id"] for e in page["items"]]
    assert ids == sorted(ids, reverse=True)


def test_audit_log__filters(api, client, admin, adviser, supervisor, intake):
    first = _case(api, intake, **{"from": {"phone": "040 111 1111"}})
    second = _case(api, intake, **{"from": {"phone": "040 222 2222"}})
    client.get(f"/api/v1/cases/{first}", headers={**adviser, "X-Request-ID": "r-adviser"})
    client.get(f"/api/v1/cases/{second}", headers={**supervisor, "X-Request-ID": "r-supervisor"})

    assert {e["object_id"] for e in _entries(client, admin, action="case.read")} == {first, second}
    assert [e["object_id"] for e in _entries(client, admin, action="case.read", actor_id=supervisor.id)] == [second]
    assert [e["actor_id"] for e in _entries(client, admin, request_id="r-adviser")] == [adviser.id]
    by_object = _entries(client, admin, object_type="case", object_id=first)
    assert {e["action"] for e in by_object} >= {"case.read", "contact.received"}
    assert all(e["object_id"] == first for e in by_object)
    assert {e["actor_type"] for e in _entries(client, admin, actor_type="api_key")} == {"api_key"}

    now = datetime.now(timezone.utc)
    assert _entries(client, admin, action="case.read", at_from=(now + timedelta(hours=1)).isoformat()) == []
    assert _entries(client, admin, action="case.read", at_to=(now - timedelta(hours=1)).isoformat()) == []
    assert len(_entries(client, admin, action="case.read", at_from=(now - timedelta(hours=1)).isoformat(),
                        at_to=(now + timedelta(hours=1)).isoformat())) == 2


def test_audit_actions__list_the_vocabulary_the_filter_accepts(client, admin, adviser):
    from service.audit.actions import ACTIONS

    response = client.get(f"{AUDIT}/actions", headers=admin)

    assert response.status_code == 200
    actions = response.get_json()["items"]
    assert actions == sorted(ACTIONS) and "case.hold_placed" in actions
    assert client.get(AUDIT, query_string={"action": actions[0]}, headers=admin).status_code == 200
    assert_problem(client.get(f"{AUDIT}/actions", headers=adviser), 403)


@pytest.mark.parametrize("query, field", [
    ({"action": "case.deleted_everything"}, "action"),
    ({"actor_type": "robot"}, "actor_type"),
    ({"at_from": "2026-01-01T00:00:00"}, "at_from"),
    ({"object_id": "abc"}, "object_id"),
    ({"actor_id": str(2**64)}, "actor_id"),
    ({"page_size": 0}, "page_size"),
])
def test_audit_log__bad_filters_are_422(client, admin, query, field):
    response = client.get(AUDIT, query_string=query, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=[field])


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_audit_log__cannot_be_written_or_deleted_through_the_api(client, admin, method):
    response = client.open(AUDIT, method=method, headers=admin, json={} if method != "DELETE" else None)

    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["Allow"]


def test_managing_officials_and_keys__is_audited_without_secrets(api, client, admin):
    created = client.post("/api/v1/officials", json={"username": "new.one", "password": "initial password 1",
                                                      "role": "adviser", "name": "New One"}, headers=admin).get_json()
    client.patch(f"/api/v1/officials/{created['id']}", json={"password": "changed password 22", "title": "Senior"},
                 headers=admin)
    key = client.post("/api/v1/api-keys", json={"name": "gw", "scopes": ["intake"]}, headers=admin).get_json()

    (made,) = _entries(client, admin, action="official.created", object_id=created["id"])
    (changed,) = _entries(client, admin, action="official.updated", object_id=created["id"])
    (key_made,) = _entries(client, admin, action="api_key.created", object_id=key["id"])

    assert made["actor_id"] == admin.id and made["details"] == {"role": "adviser"}
    assert sorted(changed["details"]["fields"]) == ["password", "title"]
    assert key_made["details"] == {"scopes": ["intake"]}
    everything = client.get(AUDIT, query_string={"page_size": 100}, headers=admin).get_data(as_text=True)
    for secret in ("initial password 1", "changed password 22", key["key"]):
        assert secret not in everything


def test_a_refused_attempt_on_another_lines_case__is_recorded_without_personal_data(api, client, admin, intake):
    line = client.post("/api/v1/service-lines", json={"name": "A"}, headers=admin).get_json()["id"]
    outsider = api.headers_for("adviser", service_line_ids=[line])
    case_id = _case(api, intake)

    assert client.get(f"/api/v1/cases/{case_id}?q=040", headers=outsider).status_code == 404
    assert client.post(f"/api/v1/cases/{case_id}/notes", json={"body": "Henkilötunnus 010190-123A"},
                       headers=outsider).status_code == 404

    entries = _entries(client, admin, action="access.denied", actor_id=outsider.id)
    assert [(e["object_type"], e["object_id"], e["details"]) for e in reversed(entries)] == [
        ("case", case_id, {"method": "GET", "path": "/api/v1/cases/<int:case_id>", "status": 404}),
        ("case", case_id, {"method": "POST", "path": "/api/v1/cases/<int:case_id>/notes", "status": 404}),
    ]
    # The refused note left nothing behind.
    assert client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["notes"] == []


def test_a_forbidden_endpoint__is_recorded_as_access_denied(api, client, admin, adviser):
    assert client.get(AUDIT, headers=adviser).status_code == 403

    (entry,) = _entries(client, admin, action="access.denied", actor_id=adviser.id)
    assert entry["actor_role"] == "adviser" and entry["object_type"] is None
    assert entry["details"] == {"method": "GET", "path": "/api/v1/audit", "status": 403}


def test_an_unauthenticated_request_or_an_unknown_route__records_nothing(client, admin, adviser):
    client.get(AUDIT)
    client.get("/api/v1/no-such-thing", headers=adviser)

    assert _entries(client, admin, action="access.denied") == []


def test_a_refusal_is_answered_even_when_its_audit_entry_cannot_be_written(app, client, admin, adviser, caplog):
    from tests.db_faults import failing_writes

    with app.app_context(), failing_writes("audit_entry", when="INSERT", condition="NEW.action = 'access.denied'"):
        refused = client.get(AUDIT, headers=adviser)

    assert_problem(refused, 403, "forbidden")
    assert "could not record a refused request" in caplog.text
    assert _entries(client, admin, action="access.denied") == []
