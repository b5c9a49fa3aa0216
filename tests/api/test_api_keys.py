"""API keys for integrations: shown once, stored hashed, scoped to intake, revocable."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from service.extensions import db
from tests.api.problems import assert_problem

KEYS = "/api/v1/api-keys"


def _create(client, admin, name="Telephony integration", scopes=("intake",)):
    return client.post(KEYS, json={"name": name, "scopes": list(scopes)}, headers=admin)


def _created(client, admin, **kwargs) -> dict:
    response = _create(client, admin, **kwargs)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _key_headers(body: dict) -> dict:
    return {"Authorization": "Bearer " + body["key"]}


def test_create__returns_the_key_once_with_its_scopes(client, admin):
    response = _create(client, admin, name="SMS gateway")

    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "SMS gateway"
    assert body["scopes"] == ["intake"]
    assert body["revoked_at"] is None
    assert body["key"].startswith("csk_")
    assert len(body["key"]) > 40
    # The prefix identifies the key in listings without revealing it.
    assert body["prefix"] and body["prefix"] in body["key"]
    assert body["key"] != body["prefix"]


def test_list__never_shows_the_key(client, admin):
    created = _created(client, admin)

    response = client.get(KEYS, headers=admin)

    assert response.status_code == 200
    listed = response.get_json()
    assert listed["total"] == 1
    (item,) = listed["items"]
    assert item["id"] == created["id"]
    assert item["prefix"] == created["prefix"]
    assert "key" not in item
    assert created["key"] not in response.get_data(as_text=True)


def test_keys__are_stored_only_as_a_hash(app, client, admin):
    created = _created(client, admin)

    with app.app_context():
        rows = db.session.execute(text("SELECT * FROM api_key")).all()
    assert len(rows) == 1
    assert not any(created["key"] in str(value) for value in rows[0])
    assert hashlib.sha256(created["key"].encode()).hexdigest() in [str(v) for v in rows[0]]


def test_intake_key__posts_inbound_messages(api, client, admin):
    headers = _key_headers(_created(client, admin))

    response = api.inbound(headers, external_id="SM-key-1")

    assert response.status_code == 201
    assert response.get_json()["created_case"] is True


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/cases"),
    ("POST", "/api/v1/cases"),
    ("GET", "/api/v1/customers"),
    ("GET", "/api/v1/officials"),
    ("GET", "/api/v1/service-lines"),
    ("GET", "/api/v1/audit"),
    ("GET", "/api/v1/api-keys"),
    ("POST", "/api/v1/api-keys"),
    ("GET", "/api/v1/auth/me"),
])
def test_intake_key__may_do_nothing_else(client, intake, method, path):
    response = client.open(path, method=method, headers=intake,
                           json={} if method == "POST" else None)

    body = assert_problem(response, 403, "forbidden")
    assert "needs" in body["detail"]


def test_intake_key__cannot_read_the_case_it_created(api, client, intake):
    case_id = api.inbound(intake).get_json()["case_id"]

    assert_problem(client.get(f"/api/v1/cases/{case_id}", headers=intake), 403)


def test_revoked_key__is_401(api, client, admin):
    created = _created(client, admin)
    headers = _key_headers(created)
    assert api.inbound(headers).status_code == 201

    response = client.delete(f"{KEYS}/{created['id']}", headers=admin)

    assert response.status_code == 204
    assert_problem(api.inbound(headers), 401, "invalid-token")


def test_revoked_key__is_hidden_from_the_list_unless_asked_for(client, admin):
    kept = _created(client, admin, name="kept")
    revoked = _created(client, admin, name="revoked")
    client.delete(f"{KEYS}/{revoked['id']}", headers=admin)

    active = client.get(KEYS, headers=admin).get_json()
    everything = client.get(KEYS, query_string={"include_revoked": "true"}, headers=admin).get_json()

    assert [k["id"] for k in active["items"]] == [kept["id"]]
    assert active["total"] == 1
    assert everything["total"] == 2
    by_id = {k["id"]: k for k in everything["items"]}
    assert by_id[revoked["id"]]["revoked_at"] is not None
    assert by_id[kept["id"]]["revoked_at"] is None


def test_revoke__twice_is_harmless(client, admin):
    created = _created(client, admin)
    assert client.delete(f"{KEYS}/{created['id']}", headers=admin).status_code == 204

    assert client.delete(f"{KEYS}/{created['id']}", headers=admin).status_code == 204


def test_revoke__unknown_key_is_404(client, admin):
    assert_problem(client.delete(f"{KEYS}/999999", headers=admin), 404, "not-found")


def test_revoking_one_key_leaves_others_working(api, client, admin):
    first = _created(client, admin, name="first")
    second = _created(client, admin, name="second")

    client.delete(f"{KEYS}/{first['id']}", headers=admin)

    assert api.inbound(_key_headers(second)).status_code == 201


@pytest.mark.parametrize("payload, field", [
    ({"name": "x", "scopes": ["admin"]}, "scopes"),
    ({"name": "x", "scopes": ["intake", "everything"]}, "scopes"),
    ({"name": "x", "scopes": []}, "scopes"),
    ({"name": "x"}, "scopes"),
    ({"scopes": ["intake"]}, "name"),
    ({"name": "x", "scopes": ["intake"], "expires": "never"}, "expires"),
])
def test_create__bad_input_is_422_and_no_key_is_made(client, admin, payload, field):
    response = client.post(KEYS, json=payload, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=[field])
    assert client.get(KEYS, query_string={"include_revoked": "true"}, headers=admin).get_json()["total"] == 0


@pytest.mark.parametrize("role", ["adviser", "supervisor", "privacy_officer"])
def test_only_an_admin_manages_keys(api, client, admin, role):
    created = _created(client, admin)
    headers = api.headers_for(role)

    assert_problem(_create(client, headers), 403, "forbidden")
    assert_problem(client.get(KEYS, headers=headers), 403, "forbidden")
    assert_problem(client.delete(f"{KEYS}/{created['id']}", headers=headers), 403, "forbidden")
    assert api.inbound(_key_headers(created)).status_code == 201


def test_creating_and_revoking_a_key_are_audited_on_that_key(client, admin):
    created = _created(client, admin)
    assert client.delete(f"{KEYS}/{created['id']}", headers=admin).status_code == 204

    entries = client.get("/api/v1/audit", query_string={"object_id": created["id"], "page_size": 100},
                         headers=admin).get_json()["items"]
    on_the_key = sorted(e["action"] for e in entries if e["object_type"] == "api_key")
    assert on_the_key == ["api_key.created", "api_key.revoked"]
