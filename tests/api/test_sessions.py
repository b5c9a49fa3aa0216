"""Sessions an official can see: their active tokens, with when and from what, ended one by one
or all at once; and an admin ending all of someone's."""

from __future__ import annotations

from tests.api.problems import assert_problem
from tests.conftest import PASSWORD

SESSIONS = "/api/v1/auth/sessions"


def _sign_in(client, username, agent):
    response = client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD},
                           headers={"User-Agent": agent})
    assert response.status_code == 201, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}


def test_an_official_lists_their_active_sessions_with_client_and_last_use(api, client):
    official = api.official("adviser")
    laptop = _sign_in(client, official["username"], "Firefox on the office laptop")
    phone = _sign_in(client, official["username"], "Safari on a phone")
    ended = _sign_in(client, official["username"], "An old browser")
    client.delete("/api/v1/auth/token", headers=ended)
    api.headers_for("adviser")  # someone else's session is not listed

    listed = client.get(SESSIONS, headers=laptop)

    assert listed.status_code == 200
    body = listed.get_json()
    assert body["total"] == 2
    by_client = {s["client"]: s for s in body["items"]}
    assert set(by_client) == {"Firefox on the office laptop", "Safari on a phone"}
    assert by_client["Firefox on the office laptop"]["current"] is True
    assert by_client["Safari on a phone"]["current"] is False
    assert by_client["Firefox on the office laptop"]["last_used_at"] is not None
    assert all(s["method"] == "password" and s["second_factor"] is False for s in body["items"])
    assert phone  # signed in, not yet used: no last use
    assert by_client["Safari on a phone"]["last_used_at"] is None


def test_ending_one_session_stops_that_token_at_the_next_request_only(api, client):
    official = api.official("adviser")
    laptop = _sign_in(client, official["username"], "laptop")
    phone = _sign_in(client, official["username"], "phone")
    phone_id = next(s["id"] for s in client.get(SESSIONS, headers=laptop).get_json()["items"] if s["client"] == "phone")

    assert client.delete(f"{SESSIONS}/{phone_id}", headers=laptop).status_code == 204

    assert_problem(client.get("/api/v1/auth/me", headers=phone), 401, "invalid-token")
    assert client.get("/api/v1/auth/me", headers=laptop).status_code == 200
    assert_problem(client.delete(f"{SESSIONS}/{phone_id}", headers=laptop), 404)


def test_another_officials_session_cannot_be_ended_and_answers_as_missing(api, client):
    victim = api.official("adviser")
    victims = _sign_in(client, victim["username"], "victim")
    victim_session = client.get(SESSIONS, headers=victims).get_json()["items"][0]["id"]
    other = api.headers_for("supervisor")

    assert_problem(client.delete(f"{SESSIONS}/{victim_session}", headers=other), 404)
    assert client.get("/api/v1/auth/me", headers=victims).status_code == 200


def test_ending_all_sessions_ends_this_one_too(api, client):
    official = api.official("adviser")
    first = _sign_in(client, official["username"], "one")
    second = _sign_in(client, official["username"], "two")

    assert client.delete(SESSIONS, headers=first).status_code == 204

    for headers in (first, second):
        assert_problem(client.get("/api/v1/auth/me", headers=headers), 401, "invalid-token")


def test_an_admin_ends_every_session_of_any_official_and_an_adviser_may_not(api, client, admin):
    official = api.official("supervisor")
    theirs = _sign_in(client, official["username"], "theirs")
    adviser = api.headers_for("adviser")

    assert_problem(client.delete(f"/api/v1/officials/{official['id']}/sessions", headers=adviser), 403)
    assert client.get("/api/v1/auth/me", headers=theirs).status_code == 200
    assert client.delete(f"/api/v1/officials/{official['id']}/sessions", headers=admin).status_code == 204

    assert_problem(client.get("/api/v1/auth/me", headers=theirs), 401, "invalid-token")
    assert_problem(client.delete("/api/v1/officials/999999/sessions", headers=admin), 404)
    entries = client.get("/api/v1/audit", query_string={"action": "auth.sessions_revoked", "object_id": official["id"]},
                         headers=admin).get_json()["items"]
    assert len(entries) == 1 and entries[0]["actor_id"] == admin.id and entries[0]["details"] == {"count": 1}


def test_revoking_a_session_is_audited(api, client, admin):
    official = api.official("adviser")
    laptop = _sign_in(client, official["username"], "laptop")
    _sign_in(client, official["username"], "phone")
    phone_id = next(s["id"] for s in client.get(SESSIONS, headers=laptop).get_json()["items"] if s["client"] == "phone")
    client.delete(f"{SESSIONS}/{phone_id}", headers=laptop)

    entries = client.get("/api/v1/audit", query_string={"action": "auth.session_revoked", "object_id": official["id"]},
                         headers=admin).get_json()["items"]

    assert len(entries) == 1 and entries[0]["details"] == {"session_id": phone_id}


def test_the_sessions_list_is_paginated_and_refuses_unknown_parameters(api, client):
    official = api.official("adviser")
    headers = [_sign_in(client, official["username"], f"browser {n}") for n in range(3)]

    page = client.get(SESSIONS, query_string={"page_size": 2}, headers=headers[0]).get_json()

    assert (page["total"], len(page["items"]), page["page_size"]) == (3, 2, 2)
    assert_problem(client.get(SESSIONS, query_string={"pagesize": 2}, headers=headers[0]), 422)
