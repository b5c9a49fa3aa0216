"""Customers: finding a person however their details were written, and correcting them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import time_machine

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


def test_search_customers__q_takes_a_percent_sign_or_an_underscore_literally(client, adviser, matti, liisa):
    percent = ok(client.post("/api/v1/cases", headers=adviser, json={"customer": {"name": "Sata 100% Oy"}}), 201)
    underscore = ok(client.post("/api/v1/cases", headers=adviser, json={"customer": {"name": "pouta_pilvi"}}), 201)

    assert ids(search(client, adviser, q="100%")) == [percent["customer"]["id"]]
    assert ids(search(client, adviser, q="a_p")) == [underscore["customer"]["id"]]
    assert ids(search(client, adviser, q="%")) == [percent["customer"]["id"]]


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
    problem = assert_problem(client.patch(f"{CUSTOMERS}/{matti['id']}", json={**change, "name": "Changed"},
                                          headers=adviser), 409, "conflict")

    assert problem["detail"] == "Another customer already has this phone number or email address."

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


def test_a_case_opened_for_one_customers_number_and_anothers_email_is_the_numbers_and_creates_no_one(
        client, adviser, admin, matti, liisa):
    # Details are never merged across customers; of two that name different people, the number wins.
    case = ok(client.post("/api/v1/cases", headers=adviser, json={
        "customer": {"phone": "040 123 4567", "email": "liisa@example.com"}}), 201)

    assert case["customer"]["id"] == matti["id"]
    assert ok(client.get(f"{CUSTOMERS}/{liisa['id']}", headers=adviser))["email"] == "liisa@example.com"
    created = ok(client.get("/api/v1/audit", query_string={"action": "customer.created", "page_size": 100},
                            headers=admin))["items"]
    assert sorted(entry["object_id"] for entry in created) == sorted([matti["id"], liisa["id"]])


def test_search_customers__a_local_number_is_read_in_the_deployments_own_region(make_app, admin_for):
    from tests.conftest import Api

    app = make_app(DEFAULT_PHONE_REGION="SE")
    client = app.test_client()
    admin, api = admin_for(app, "admin"), Api(app, client)
    ok(api.inbound(api.api_key_headers(), **{"from": {"phone": "070 123 45 67"}}), 201)

    page = search(client, admin, phone="070 123 45 67")

    assert [c["phone"] for c in page["items"]] == ["+46701234567"]
    assert [c["phone"] for c in search(client, admin, q="070 123 45 67")["items"]] == ["+46701234567"]


def test_a_search_is_audited_on_customers_and_a_correction_once_as_a_correction(client, adviser, admin, matti):
    """The correction reads the customer to change it: that read is the correction's own entry,
    not a second one saying the adviser looked at the customer."""
    search(client, adviser, phone="040 123 4567", email="matti@example.fi", q="Meikäläinen")
    ok(client.patch(f"{CUSTOMERS}/{matti['id']}", headers=adviser, json={"name": "Matti M."}))

    audit = ok(client.get("/api/v1/audit", query_string={"page_size": 100}, headers=admin))["items"]
    (listed,) = [e for e in audit if e["action"] == "customer.listed"]
    assert (listed["object_type"], listed["actor_type"], listed["actor_id"]) == ("customer", "official", adviser.id)
    assert listed["details"] == {"filters": ["email", "phone", "q"], "count": 1}
    assert [e["action"] for e in audit if e["object_id"] == matti["id"] and e["object_type"] == "customer"
            and e["action"] in ("customer.read", "customer.updated")] == ["customer.updated", "customer.updated"]
    (corrected,) = [e for e in audit if e["action"] == "customer.updated" and e["details"]["fields"] == ["name"]]
    assert (corrected["actor_type"], corrected["actor_id"]) == ("official", adviser.id)
    assert sorted(corrected["details"]) == ["fields", "rectification_ids"]
    assert len(corrected["details"]["rectification_ids"]) == 1


# --- across service lines -------------------------------------------------------------------


@pytest.fixture
def two_lines(client, admin) -> list[dict]:
    """Lines A and B, each with a number of its own, that allow merging cases across them."""
    lines = [ok(client.post("/api/v1/service-lines", headers=admin, json={"name": name, "phone_numbers": [number]}),
                201) for name, number in (("Neuvonta", "+358295000001"), ("Verotus", "+358295000002"))]
    for line in lines:
        ok(client.patch(f"/api/v1/service-lines/{line['id']}", json={"merge_across_lines": True}, headers=admin))
    return lines


def _sms_to(api, intake, line: dict, phone: str) -> int:
    return ok(api.inbound(intake, **{"from": {"phone": phone}}, to=line["phone_numbers"][0]), 201)["case_id"]


def _case_ids(client, headers, customer_id: int) -> list[int]:
    return [c["id"] for c in ok(client.get(f"{CUSTOMERS}/{customer_id}", headers=headers))["cases"]]


def _open_naming(client, headers, line: dict, phone: str):
    """Open a case on ``line`` for the customer with this number."""
    return client.post("/api/v1/cases", headers=headers,
                       json={"service_line_id": line["id"], "customer": {"phone": phone}})


def test_a_line_member_sees_a_customer_and_their_cases_only_through_their_own_lines(api, client, admin, intake,
                                                                                     two_lines):
    line_a, line_b = two_lines
    on_a, on_b = _sms_to(api, intake, line_a, "040 515 1515"), _sms_to(api, intake, line_b, "040 525 2525")
    also_on_b = _sms_to(api, intake, line_b, "040 515 1515")
    ours, theirs = customer_of(client, admin, on_a)["id"], customer_of(client, admin, on_b)["id"]
    member_of_a = api.headers_for("adviser", service_line_ids=[line_a["id"]])

    assert _case_ids(client, member_of_a, ours) == [on_a]
    assert _case_ids(client, admin, ours) == [also_on_b, on_a]
    assert_problem(client.get(f"{CUSTOMERS}/{theirs}", headers=member_of_a), 404)
    assert ids(search(client, member_of_a)) == [ours]
    assert ids(search(client, admin)) == [theirs, ours]
    # Naming a customer by their number is naming them by id: only one of the official's own lines.
    assert_problem(_open_naming(client, member_of_a, line_a, "040 525 2525"), 409, "customer-not-visible")
    opened = ok(_open_naming(client, member_of_a, line_a, "040 515 1515"), 201)
    assert opened["customer"]["id"] == ours


def test_a_customers_cases_opened_in_the_same_instant_are_listed_newest_first(api, client, admin, intake, two_lines):
    with time_machine.travel(datetime.now(timezone.utc), tick=False):
        first, second = (_sms_to(api, intake, line, "040 515 1515") for line in two_lines)
    customer = customer_of(client, admin, first)["id"]

    assert _case_ids(client, admin, customer) == [second, first]


def test_a_customer_whose_case_was_merged_into_another_lines_case_is_that_lines_customer(api, client, admin, intake,
                                                                                        two_lines):
    line_a, line_b = two_lines
    moved, survivor = _sms_to(api, intake, line_a, "040 535 3535"), _sms_to(api, intake, line_b, "040 525 2525")
    bystander_case = _sms_to(api, intake, line_b, "040 545 4545")
    customer, bystander = customer_of(client, admin, moved)["id"], customer_of(client, admin, bystander_case)["id"]
    ok(client.post(f"/api/v1/cases/{moved}/merge", json={"into_case_id": survivor},
                   headers=api.headers_for("supervisor")))
    member_of_a = api.headers_for("adviser", service_line_ids=[line_a["id"]])
    member_of_b = api.headers_for("adviser", service_line_ids=[line_b["id"]])
    # Another person's merge on line A: line A has a survivor, but not this person's.
    ok(client.post(f"/api/v1/cases/{_sms_to(api, intake, line_a, '040 565 6565')}/merge", headers=member_of_a,
                   json={"into_case_id": _sms_to(api, intake, line_a, "040 555 5555")}))

    # The merged case's own row stays on line A, but nothing of the person is there any more.
    assert_problem(client.get(f"{CUSTOMERS}/{customer}", headers=member_of_a), 404)
    assert len(ids(search(client, member_of_a))) == 2 and customer not in ids(search(client, member_of_a))
    assert_problem(_open_naming(client, member_of_a, line_a, "040 535 3535"), 409, "customer-not-visible")
    # Their case list leads to the case their contacts are on now, not to the merged one.
    for official in (member_of_b, admin):
        assert _case_ids(client, official, customer) == [survivor]
    survivors_customer = customer_of(client, admin, survivor)["id"]
    assert sorted(ids(search(client, member_of_b))) == sorted([customer, bystander, survivors_customer])
    assert _case_ids(client, member_of_b, bystander) == [bystander_case]


def test_reading_a_customer_is_audited_as_the_official_who_read_them(client, adviser, admin, matti):
    ok(client.get(f"{CUSTOMERS}/{matti['id']}", headers=adviser))

    audit = ok(client.get("/api/v1/audit", query_string={"page_size": 100}, headers=admin))["items"]
    assert [(e["actor_type"], e["actor_id"], e["object_type"], e["object_id"]) for e in audit
            if e["action"] == "customer.read"] == [("official", adviser.id, "customer", matti["id"])]
