"""Customers: finding a person however their details were written, and correcting them."""

from __future__ import annotations

import pytest

from tests.api.problems import assert_problem

CUSTOMERS = "/api/v1/customers"


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def search(client, headers, **query) -> dict:
    return ok(client.get(CUSTOMERS, query_string=query, headers=headers))


def ids(page: dict) -> list[int]:
    return [item["id"] for item in page["items"]]


def customer_of(client, headers, case_id: int) -> dict:
    return ok(client.get(f"/api/v1/cases/{case_id}", headers=headers))["customer"]


@pytest.fixture
def matti(api, intake, client, adviser) -> dict:
    """A customer known by phone and email, with one SMS case."""
    case = ok(api.inbound(intake, channel="sms", **{"from": {"phone": "040 123 4567"}}), 201)
    customer = customer_of(client, adviser, case["case_id"])
    return ok(client.patch(f"{CUSTOMERS}/{customer['id']}", headers=adviser,
                           json={"name": "Matti Meikäläinen", "email": "matti@example.fi"}))


@pytest.fixture
def liisa(client, adviser) -> dict:
    """Another customer, with an internal case."""
    case = ok(client.post("/api/v1/cases", headers=adviser, json={
        "customer": {"name": "Liisa Virtanen", "phone": "050 765 4321", "email": "liisa@example.com"}}), 201)
    return case["customer"]


# --- searching ------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["0401234567", "040 123 4567", "+358 40 123 4567", "+358401234567",
                                   "00358401234567", "040-123 45 67"])
def test_search_customers__by_phone_in_any_common_format(client, adviser, matti, liisa, phone):
    page = search(client, adviser, phone=phone)

    assert ids(page) == [matti["id"]]
    assert page["total"] == 1
    assert page["items"][0]["phone"] == "+358401234567"


def test_search_customers__by_email_ignores_case(client, adviser, matti, liisa):
    assert ids(search(client, adviser, email="Matti@Example.FI")) == [matti["id"]]
    assert ids(search(client, adviser, email="nobody@example.fi")) == []


@pytest.mark.parametrize("q", ["meikäläinen", "MATTI", "matti@example.fi", "0401234567", "+358 40 123 4567"])
def test_search_customers__q_matches_name_email_or_phone(client, adviser, matti, liisa, q):
    assert ids(search(client, adviser, q=q)) == [matti["id"]]


def test_search_customers__without_filters_lists_everyone_paginated(client, adviser, matti, liisa):
    first = search(client, adviser, page_size=1)
    second = search(client, adviser, page_size=1, page=2)

    assert (first["total"], second["total"]) == (2, 2)
    assert sorted(ids(first) + ids(second)) == sorted([matti["id"], liisa["id"]])


@pytest.mark.parametrize("query, field", [
    ({"phone": "not a phone"}, "phone"), ({"phone": "112"}, "phone"), ({"email": "nobody"}, "email"),
    ({"name": "Matti"}, "name"), ({"page_size": 1000}, "page_size"),
])
def test_search_customers__bad_query_is_422(client, adviser, query, field):
    assert_problem(client.get(CUSTOMERS, query_string=query, headers=adviser), 422, fields=[field])


def test_search_customers__line_member_sees_only_customers_of_their_lines(client, api, admin, adviser, matti):
    line = ok(client.post("/api/v1/service-lines", json={"name": "Neuvonta"}, headers=admin), 201)
    member = api.headers_for("adviser", service_line_ids=[line["id"]])
    visible = ok(client.post("/api/v1/cases", headers=adviser,
                             json={"service_line_id": line["id"], "customer": {"name": "Näkyvä"}}), 201)

    assert ids(search(client, member)) == [visible["customer"]["id"]]
    assert_problem(client.get(f"{CUSTOMERS}/{matti['id']}", headers=member), 404)


# --- one customer ---------------------------------------------------------------------------


def test_get_customer__lists_their_cases_newest_first(client, api, intake, adviser, matti):
    first_case = matti["cases"][0]
    second = ok(api.inbound(intake, channel="email", **{"from": {"email": "MATTI@example.fi"}}), 201)

    customer = ok(client.get(f"{CUSTOMERS}/{matti['id']}", headers=adviser))

    assert (customer["name"], customer["phone"], customer["email"]) == (
        "Matti Meikäläinen", "+358401234567", "matti@example.fi")
    assert [(c["id"], c["channel"]) for c in customer["cases"]] == [
        (second["case_id"], "email"), (first_case["id"], "sms")]
    assert customer["cases"][0]["reference"] == second["case_reference"]


def test_get_customer__does_not_list_other_customers_cases(client, adviser, matti, liisa):
    customer = ok(client.get(f"{CUSTOMERS}/{liisa['id']}", headers=adviser))

    assert len(customer["cases"]) == 1
    assert customer["cases"][0]["id"] not in [c["id"] for c in matti["cases"]]


def test_get_customer__shows_a_legal_hold_and_its_reason_only_to_those_who_place_holds(api, client, adviser, matti):
    privacy = api.headers_for("privacy_officer")
    case_id = matti["cases"][0]["id"]
    ok(client.post(f"/api/v1/cases/{case_id}/hold", headers=privacy, json={"reason": "Oikeudenkäynti vireillä"}))

    seen_by_officer = ok(client.get(f"{CUSTOMERS}/{matti['id']}", headers=privacy))["cases"][0]
    seen_by_adviser = ok(client.get(f"{CUSTOMERS}/{matti['id']}", headers=adviser))["cases"][0]

    assert seen_by_officer["legal_hold_at"] is not None
    assert seen_by_officer["legal_hold_reason"] == "Oikeudenkäynti vireillä"
    assert seen_by_adviser["legal_hold_at"] == seen_by_officer["legal_hold_at"]
    assert seen_by_adviser["legal_hold_reason"] is None
    ok(client.delete(f"/api/v1/cases/{case_id}/hold", headers=privacy))
    released = ok(client.get(f"{CUSTOMERS}/{matti['id']}", headers=privacy))["cases"][0]
    assert (released["legal_hold_at"], released["legal_hold_reason"]) == (None, None)


def test_get_customer__missing_is_404_problem(client, adviser):
    body = assert_problem(client.get(f"{CUSTOMERS}/999999", headers=adviser), 404, "not-found")

    assert "999999" in body["detail"]


# --- corrections ----------------------------------------------------------------------------


def test_patch_customer__every_editable_detail(client, adviser, matti):
    customer = ok(client.patch(f"{CUSTOMERS}/{matti['id']}", headers=adviser, json={
        "name": "Matti", "address": "Esimerkkikatu 1 A 2\n00100 Helsinki", "email": "M.Meikalainen@Example.FI",
        "phone": "+358 50 111 2222", "preferred_contact_method": "email", "language": "sv"}))

    expected = {"name": "Matti", "address": "Esimerkkikatu 1 A 2\n00100 Helsinki",
                "email": "m.meikalainen@example.fi", "phone": "+358501112222",
                "preferred_contact_method": "email", "language": "sv"}
    assert {k: customer[k] for k in expected} == expected
    again = ok(client.get(f"{CUSTOMERS}/{matti['id']}", headers=adviser))
    assert {k: again[k] for k in expected} == expected
    assert [c["id"] for c in again["cases"]] == [c["id"] for c in matti["cases"]]


def test_patch_customer__a_first_name_only_is_enough(client, adviser, matti):
    assert ok(client.patch(f"{CUSTOMERS}/{matti['id']}", json={"name": "Matti"}, headers=adviser))["name"] == "Matti"


def test_patch_customer__only_the_given_fields_change(client, adviser, matti):
    customer = ok(client.patch(f"{CUSTOMERS}/{matti['id']}", json={"language": "en"}, headers=adviser))

    assert (customer["language"], customer["name"], customer["email"], customer["phone"]) == (
        "en", "Matti Meikäläinen", "matti@example.fi", "+358401234567")


def test_patch_customer__a_detail_can_be_cleared(client, adviser, matti):
    customer = ok(client.patch(f"{CUSTOMERS}/{matti['id']}", json={"email": None}, headers=adviser))

    assert customer["email"] is None
    assert ids(search(client, adviser, email="matti@example.fi")) == []


def test_patch_customer__new_phone_identifies_them_on_the_next_contact(client, api, intake, adviser, matti):
    ok(client.patch(f"{CUSTOMERS}/{matti['id']}", json={"phone": "050 111 2222"}, headers=adviser))

    case = ok(api.inbound(intake, channel="phone", **{"from": {"phone": "+358501112222"}}), 201)

    assert customer_of(client, adviser, case["case_id"])["id"] == matti["id"]


@pytest.mark.parametrize("change", [{"email": "LIISA@example.com"}, {"phone": "+358 50 765 4321"}])
def test_patch_customer__to_another_customers_email_or_phone_is_409(client, adviser, matti, liisa, change):
    assert_problem(client.patch(f"{CUSTOMERS}/{matti['id']}", json={**change, "name": "Changed"},
                                headers=adviser), 409, "conflict")

    unchanged = ok(client.get(f"{CUSTOMERS}/{matti['id']}", headers=adviser))
    assert (unchanged["name"], unchanged["email"], unchanged["phone"]) == (
        "Matti Meikäläinen", "matti@example.fi", "+358401234567")


def test_patch_customer__own_email_in_another_case_is_no_conflict(client, adviser, matti):
    customer = ok(client.patch(f"{CUSTOMERS}/{matti['id']}", json={"email": "Matti@Example.fi"}, headers=adviser))

    assert customer["email"] == "matti@example.fi"


@pytest.mark.parametrize("change, field", [
    ({"email": "not-an-email"}, "email"), ({"email": "matti@"}, "email"), ({"phone": "12345"}, "phone"),
    ({"phone": "Posti"}, "phone"), ({"preferred_contact_method": "pigeon"}, "preferred_contact_method"),
    ({"language": "de"}, "language"), ({"name": "x" * 201}, "name"), ({"ssn": "010101-123N"}, "ssn"),
    ({"id": 5}, "id"),
])
def test_patch_customer__invalid_detail_is_422_and_nothing_changes(client, adviser, matti, change, field):
    assert_problem(client.patch(f"{CUSTOMERS}/{matti['id']}", json={"name": "Changed", **change},
                                headers=adviser), 422, "validation-failed", fields=[field])

    assert ok(client.get(f"{CUSTOMERS}/{matti['id']}", headers=adviser))["name"] == "Matti Meikäläinen"


def test_patch_customer__missing_is_404_problem(client, adviser):
    assert_problem(client.patch(f"{CUSTOMERS}/999999", json={"name": "X"}, headers=adviser), 404, "not-found")


def test_search_customers__a_local_number_is_read_in_the_deployments_own_region(make_app, admin_for):
    from tests.conftest import Api

    app = make_app(DEFAULT_PHONE_REGION="SE")
    client = app.test_client()
    admin, api = admin_for(app, "admin"), Api(app, client)
    ok(api.inbound(api.api_key_headers(), **{"from": {"phone": "070 123 45 67"}}), 201)

    page = search(client, admin, phone="070 123 45 67")

    assert [c["phone"] for c in page["items"]] == ["+46701234567"]


def test_a_search_is_audited_on_customers_and_a_correction_once_as_a_correction(client, adviser, admin, matti):
    """The correction reads the customer to change it: that read is the correction's own entry,
    not a second one saying the adviser looked at the customer."""
    search(client, adviser, phone="040 123 4567")
    ok(client.patch(f"{CUSTOMERS}/{matti['id']}", headers=adviser, json={"name": "Matti M."}))

    audit = ok(client.get("/api/v1/audit", query_string={"page_size": 100}, headers=admin))["items"]
    (listed,) = [e for e in audit if e["action"] == "customer.listed"]
    assert listed["object_type"] == "customer"
    assert [e["action"] for e in audit if e["object_id"] == matti["id"] and e["object_type"] == "customer"
            and e["action"] in ("customer.read", "customer.updated")] == ["customer.updated", "customer.updated"]
