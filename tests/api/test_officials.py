"""An admin manages officials: create, list, read, change and deactivate them."""

from __future__ import annotations

import itertools

import pytest

from tests.api.problems import assert_problem
from tests.conftest import PASSWORD

OFFICIALS = "/api/v1/officials"
NEW_PASSWORD = "a brand new passphrase 42"
_n = itertools.count(1)


def _create(client, headers, **fields):
    body = {"username": f"official{next(_n)}", "password": PASSWORD, "role": "adviser", "name": "Aino Virtanen"}
    body.update(fields)
    return client.post(OFFICIALS, json=body, headers=headers)


def _created(client, headers, **fields) -> dict:
    response = _create(client, headers, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _line(client, admin, name: str) -> int:
    response = client.post("/api/v1/service-lines", json={"name": name}, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def _bearer(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return {"Authorization": "Bearer " + response.get_json()["access_token"]}


# --- create -----------------------------------------------------------------------------------

def test_admin_creates_an_official_with_profile_and_normalised_contact_details(client, admin):
    response = _create(client, admin, username="aino.v", role="supervisor", name="Aino Virtanen",
                       title="Team lead", organisation="City of Espoo",
                       organisation_email="Asiakaspalvelu@Espoo.FI", organisation_phone="09 310 1691",
                       organisation_address="Espoonkatu 1, 02770 Espoo")

    assert response.status_code == 201
    body = response.get_json()
    assert body["username"] == "aino.v"
    assert body["role"] == "supervisor"
    assert body["name"] == "Aino Virtanen"
    assert body["title"] == "Team lead"
    assert body["organisation"] == "City of Espoo"
    assert body["organisation_email"] == "asiakaspalvelu@espoo.fi"
    assert body["organisation_phone"] == "+35893101691"
    assert body["organisation_address"] == "Espoonkatu 1, 02770 Espoo"
    assert body["active"] is True
    assert body["service_line_ids"] == []
    assert isinstance(body["id"], int)
    assert "password" not in body and "password_hash" not in body


def test_created_official_can_sign_in_with_their_password(api, client, admin):
    created = _created(client, admin, role="privacy_officer")

    me = client.get("/api/v1/auth/me", headers=_bearer(api.login(created["username"])))

    assert me.get_json()["role"] == "privacy_officer"
    assert me.get_json()["id"] == created["id"]


def test_an_official_created_for_single_sign_on_alone_has_no_password_to_sign_in_with(api, client, admin):
    body = {"username": "sso.only", "role": "adviser", "name": "Aino Virtanen", "oidc_subject": "aino-at-provider"}

    response = client.post(OFFICIALS, json=body, headers=admin)

    assert response.status_code == 201, response.get_json()
    # "!" is what is stored in place of a hash: it must not work as a password either.
    for password in ("!", PASSWORD):
        assert_problem(api.login("sso.only", password), 401)
    assert_problem(client.post(OFFICIALS, json={**body, "username": "no.way.in", "oidc_subject": None},
                               headers=admin), 422, fields=["password"])


def test_create__duplicate_username_is_409(client, admin):
    _created(client, admin, username="maija")

    response = _create(client, admin, username="maija", name="Another Maija")

    body = assert_problem(response, 409, "conflict")
    assert "maija" in body["detail"]


def test_create__short_password_is_422_and_nothing_is_created(api, client, admin):
    response = _create(client, admin, username="shorty", password="short")

    assert_problem(response, 422, "validation-failed", fields=["password"])
    assert_problem(api.login("shorty", "short"), 401)
    listed = client.get(OFFICIALS, query_string={"q": "shorty"}, headers=admin).get_json()
    assert listed["total"] == 0


@pytest.mark.parametrize("username, password", [
    ("kaisa", "password1234"), ("kaisa", "qwerty123456"), ("kaisa", "1qaz2wsx3edc"), ("kaisa", "LeaveMeAlone"),
    ("kaisa.virtanen", "Kaisa.Virtanen"),
])
def test_create__a_common_password_or_the_username_is_422_and_nothing_is_created(api, client, admin, username,
                                                                                 password):
    response = _create(client, admin, username=username, password=password)

    assert_problem(response, 422, "validation-failed", fields=["password"])
    assert client.get(OFFICIALS, query_string={"q": username}, headers=admin).get_json()["total"] == 0


def test_patch__a_common_password_is_422_and_the_old_one_still_works(api, client, admin, adviser):
    response = client.patch(f"{OFFICIALS}/{adviser.id}", json={"password": "leavemealone"}, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=["password"])
    assert api.login(adviser.username, PASSWORD).status_code == 201


@pytest.mark.parametrize("active", [0, 1, "true", "yes", None])
def test_create__active_must_be_true_or_false_itself(client, admin, active):
    response = _create(client, admin, active=active)

    assert_problem(response, 422, "validation-failed", fields=["active"])


def test_create__unknown_role_is_422(client, admin):
    response = _create(client, admin, role="superuser")

    assert_problem(response, 422, "validation-failed", fields=["role"])


def test_create__unknown_field_is_422(client, admin):
    response = _create(client, admin, is_superuser=True)

    body = assert_problem(response, 422, "validation-failed", fields=["is_superuser"])
    assert "is_superuser" in body["errors"]


def test_create__missing_required_fields_are_each_named(client, admin):
    response = client.post(OFFICIALS, json={}, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=["username", "password", "role", "name"])


@pytest.mark.parametrize("field, value", [
    ("username", "has space"),
    ("username", "x"),
    ("organisation_email", "not-an-email"),
    ("organisation_phone", "12"),
    ("service_line_ids", [999999]),
])
def test_create__invalid_values_are_422_naming_the_field(client, admin, field, value):
    response = _create(client, admin, **{field: value})

    assert_problem(response, 422, "validation-failed", fields=[field])


def test_create__with_service_lines(client, admin):
    line = _line(client, admin, "Move notifications")

    created = _created(client, admin, service_line_ids=[line])

    assert created["service_line_ids"] == [line]


@pytest.mark.parametrize("role", ["adviser", "supervisor", "privacy_officer"])
def test_create__only_an_admin_may_create_officials(api, client, role):
    headers = api.headers_for(role)

    response = _create(client, headers, username="sneaky")

    assert_problem(response, 403, "forbidden")
    assert_problem(api.login("sneaky"), 401)


# --- list and read ----------------------------------------------------------------------------

def test_list__is_paginated_with_a_total(client, admin):
    for _ in range(4):
        _created(client, admin)

    first = client.get(OFFICIALS, query_string={"page_size": 2}, headers=admin).get_json()
    last = client.get(OFFICIALS, query_string={"page_size": 2, "page": 3}, headers=admin).get_json()
    beyond = client.get(OFFICIALS, query_string={"page_size": 2, "page": 4}, headers=admin).get_json()

    assert first["total"] == 5  # the admin and four more
    assert (first["page"], first["page_size"], len(first["items"])) == (1, 2, 2)
    assert len(last["items"]) == 1
    assert beyond["items"] == [] and beyond["total"] == 5
    second = client.get(OFFICIALS, query_string={"page_size": 2, "page": 2}, headers=admin).get_json()
    ids = [o["id"] for page in (first, second, last) for o in page["items"]]
    assert len(set(ids)) == 5


def test_list__filters_by_role_active_and_text(client, admin):
    kaisa = _created(client, admin, username="kaisa.k", name="Kaisa Korhonen", role="supervisor")
    pekka = _created(client, admin, username="pekka.p", name="Pekka Nieminen", role="adviser")
    gone = _created(client, admin, username="olli.o", name="Olli Korhonen", role="adviser")
    assert client.delete(f"{OFFICIALS}/{gone['id']}", headers=admin).status_code == 204

    def ids(**query):
        body = client.get(OFFICIALS, query_string=query, headers=admin).get_json()
        assert body["total"] == len(body["items"])
        return {o["id"] for o in body["items"]}

    assert ids(role="supervisor") == {kaisa["id"]}
    assert ids(role="adviser") == {pekka["id"], gone["id"]}
    assert ids(role="adviser", active="true") == {pekka["id"]}
    assert ids(active="false") == {gone["id"]}
    assert ids(q="korhonen") == {kaisa["id"], gone["id"]}
    assert ids(q="PEKKA.P") == {pekka["id"]}
    assert ids(q="%") == set()


@pytest.mark.parametrize("query, field", [
    ({"role": "wizard"}, "role"),
    ({"active": "perhaps"}, "active"),
    ({"page_size": 1000}, "page_size"),
    ({"page": 0}, "page"),
    ({"colour": "blue"}, "colour"),
])
def test_list__bad_query_parameters_are_422(client, admin, query, field):
    response = client.get(OFFICIALS, query_string=query, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=[field])


def test_get__returns_the_official(client, admin):
    created = _created(client, admin, name="Liisa Laine")

    response = client.get(f"{OFFICIALS}/{created['id']}", headers=admin)

    assert response.status_code == 200
    assert response.get_json() == created


def test_get__unknown_official_is_404(client, admin):
    body = assert_problem(client.get(f"{OFFICIALS}/999999", headers=admin), 404, "not-found")
    assert "999999" in body["detail"]


# --- change -----------------------------------------------------------------------------------

def test_patch__role_change_applies_to_the_officials_existing_token(client, admin, adviser):
    assert_problem(client.get("/api/v1/audit", headers=adviser), 403)

    response = client.patch(f"{OFFICIALS}/{adviser.id}", json={"role": "privacy_officer"}, headers=admin)

    assert response.status_code == 200
    assert response.get_json()["role"] == "privacy_officer"
    assert client.get("/api/v1/audit", headers=adviser).status_code == 200
    assert_problem(client.get("/api/v1/cases", headers=adviser), 403)


def test_patch__password_reset_lets_them_sign_in_with_the_new_one_only(api, client, admin, adviser):
    response = client.patch(f"{OFFICIALS}/{adviser.id}", json={"password": NEW_PASSWORD}, headers=admin)

    assert response.status_code == 200
    assert "password" not in response.get_json()
    assert_problem(api.login(adviser.username, PASSWORD), 401)
    assert api.login(adviser.username, NEW_PASSWORD).status_code == 201
    # Sessions opened with the old password end with it.
    assert_problem(client.get("/api/v1/auth/me", headers=adviser), 401)


def test_patch__password_reset_lifts_a_lockout(api, app, client, admin):
    official = api.official("adviser")
    for _ in range(5):  # the documented LOGIN_MAX_FAILURES
        api.login(official["username"], "not the password at all")
    assert_problem(api.login(official["username"]), 429)

    client.patch(f"{OFFICIALS}/{official['id']}", json={"password": NEW_PASSWORD}, headers=admin)

    assert api.login(official["username"], NEW_PASSWORD).status_code == 201


def test_patch__short_password_is_422_and_the_old_one_still_works(api, client, admin, adviser):
    response = client.patch(f"{OFFICIALS}/{adviser.id}", json={"password": "short"}, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=["password"])
    assert api.login(adviser.username, PASSWORD).status_code == 201
    assert client.get("/api/v1/auth/me", headers=adviser).status_code == 200


def test_patch__service_lines_are_set_kept_and_cleared(client, admin, adviser):
    move = _line(client, admin, "Move notifications")
    advice = _line(client, admin, "Citizen advice")
    url = f"{OFFICIALS}/{adviser.id}"

    assert client.patch(url, json={"service_line_ids": [advice, move]}, headers=admin) \
        .get_json()["service_line_ids"] == sorted([move, advice])
    # A patch that does not name the lines leaves them alone.
    renamed = client.patch(url, json={"name": "Renamed Adviser"}, headers=admin).get_json()
    assert renamed["service_line_ids"] == sorted([move, advice])
    assert renamed["name"] == "Renamed Adviser"
    assert renamed["active"] is True
    assert client.patch(url, json={"service_line_ids": []}, headers=admin).get_json()["service_line_ids"] == []


def test_patch__unknown_service_line_is_422_and_lines_are_unchanged(client, admin, adviser):
    move = _line(client, admin, "Move notifications")
    url = f"{OFFICIALS}/{adviser.id}"
    client.patch(url, json={"service_line_ids": [move]}, headers=admin)

    response = client.patch(url, json={"service_line_ids": [move, 999999]}, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=["service_line_ids"])
    assert client.get(url, headers=admin).get_json()["service_line_ids"] == [move]


@pytest.mark.parametrize("payload, field", [
    ({"username": "renamed"}, "username"),
    ({"role": "root"}, "role"),
    ({"shoe_size": 44}, "shoe_size"),
    ({"organisation_phone": "not a phone"}, "organisation_phone"),
])
def test_patch__invalid_or_unknown_fields_are_422(client, admin, adviser, payload, field):
    response = client.patch(f"{OFFICIALS}/{adviser.id}", json=payload, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=[field])


def test_patch__unknown_official_is_404(client, admin):
    assert_problem(client.patch(f"{OFFICIALS}/999999", json={"name": "X"}, headers=admin), 404)


def test_patch__adviser_may_not_change_officials_not_even_themselves(client, adviser):
    response = client.patch(f"{OFFICIALS}/{adviser.id}", json={"role": "admin"}, headers=adviser)

    assert_problem(response, 403, "forbidden")
    assert client.get("/api/v1/auth/me", headers=adviser).get_json()["role"] == "adviser"


def test_patch__admin_cannot_deactivate_their_own_account(client, admin):
    response = client.patch(f"{OFFICIALS}/{admin.id}", json={"active": False}, headers=admin)

    assert_problem(response, 409, "conflict")
    assert client.get("/api/v1/auth/me", headers=admin).status_code == 200


def test_patch__deactivate_and_reactivate(api, client, admin, adviser):
    url = f"{OFFICIALS}/{adviser.id}"
    assert client.patch(url, json={"active": False}, headers=admin).get_json()["active"] is False
    assert_problem(client.get("/api/v1/auth/me", headers=adviser), 401)
    assert_problem(api.login(adviser.username), 401)

    assert client.patch(url, json={"active": True}, headers=admin).get_json()["active"] is True

    assert api.login(adviser.username).status_code == 201


# --- deactivate -------------------------------------------------------------------------------

def test_deactivate__keeps_the_official_but_ends_their_access(api, client, admin, adviser):
    response = client.delete(f"{OFFICIALS}/{adviser.id}", headers=admin)

    assert response.status_code == 204
    kept = client.get(f"{OFFICIALS}/{adviser.id}", headers=admin)
    assert kept.status_code == 200
    assert kept.get_json()["active"] is False
    assert_problem(client.get("/api/v1/auth/me", headers=adviser), 401)
    assert_problem(api.login(adviser.username), 401)


def test_deactivate__own_account_is_409(client, admin):
    response = client.delete(f"{OFFICIALS}/{admin.id}", headers=admin)

    assert_problem(response, 409, "conflict")
    assert client.get("/api/v1/auth/me", headers=admin).status_code == 200


def test_deactivate__unknown_official_is_404(client, admin):
    assert_problem(client.delete(f"{OFFICIALS}/999999", headers=admin), 404, "not-found")


def test_deactivate__supervisor_may_not(client, supervisor, adviser):
    assert_problem(client.delete(f"{OFFICIALS}/{adviser.id}", headers=supervisor), 403, "forbidden")
    assert client.get("/api/v1/auth/me", headers=adviser).status_code == 200


def test_the_last_active_admin_cannot_be_demoted_or_deactivated(api, client):
    first = api.headers_for("admin")
    second = api.official("admin")

    assert client.delete(f"/api/v1/officials/{second['id']}", headers=first).status_code == 204
    demote = client.patch(f"/api/v1/officials/{first.id}", json={"role": "adviser"}, headers=first)

    assert demote.status_code == 409
    assert "last active admin" in demote.get_json()["detail"]


def test_reading_officials_is_audited(api, client, admin):
    other = api.official("adviser")
    client.get("/api/v1/officials", headers=admin)
    client.get(f"/api/v1/officials/{other['id']}", headers=admin)

    entries = client.get("/api/v1/audit", headers=admin).get_json()["items"]
    actions = [(e["action"], e["object_id"]) for e in entries]
    assert ("official.read", other["id"]) in actions
    assert any(action == "official.listed" for action, _ in actions)
