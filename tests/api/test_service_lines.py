"""Service lines: managed by admins, chosen by the address a customer contacts, and limiting
which cases an adviser who is a member of some lines sees."""

from __future__ import annotations

import itertools

import pytest

from tests.api.problems import assert_problem

LINES = "/api/v1/service-lines"
_n = itertools.count(1)


def _create(client, admin, **fields):
    body = {"name": f"Line {next(_n)}"}
    body.update(fields)
    return client.post(LINES, json=body, headers=admin)


def _created(client, admin, **fields) -> dict:
    response = _create(client, admin, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _line_of_case(client, headers, case_id: int) -> int:
    response = client.get(f"/api/v1/cases/{case_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["service_line"]["id"]


def _inbound_case(api, intake, **fields) -> int:
    response = api.inbound(intake, **fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_id"]


# --- managing lines ---------------------------------------------------------------------------

def test_admin_creates_a_line_with_its_rules(client, admin):
    response = _create(client, admin, name="Move notifications", description="Muuttoilmoitukset",
                       default_language="sv", case_retention_days=365, recording_retention_days=183,
                       recording_policy="all")

    assert response.status_code == 201
    body = response.get_json()
    assert body["name"] == "Move notifications"
    assert body["description"] == "Muuttoilmoitukset"
    assert body["default_language"] == "sv"
    assert body["case_retention_days"] == 365
    assert body["recording_retention_days"] == 183
    assert body["recording_policy"] == "all"
    assert body["recording_share"] is None
    assert body["is_default"] is False
    assert body["active"] is True


def test_create__addresses_are_normalised_and_deduplicated(client, admin):
    body = _created(client, admin, phone_numbers=["040 123 4567", "+358 40 1234567", "09 310 1691"],
                    email_addresses=["Neuvonta@Example.FI", "neuvonta@example.fi"],
                    chat_widget_ids=[" widget-7 "])

    assert body["phone_numbers"] == ["+358401234567", "+35893101691"]
    assert body["email_addresses"] == ["neuvonta@example.fi"]
    assert body["chat_widget_ids"] == ["widget-7"]


@pytest.mark.parametrize("field, value", [
    ("phone_numbers", ["12"]),
    ("email_addresses", ["not an address"]),
])
def test_create__invalid_addresses_are_422_naming_the_list(client, admin, field, value):
    response = _create(client, admin, **{field: value})

    assert_problem(response, 422, "validation-failed", fields=[field])


def test_list_get_and_patch(client, admin):
    first = _created(client, admin, name="B line", phone_numbers=["040 123 4567"],
                     email_addresses=["b@example.fi"])
    second = _created(client, admin, name="A line")

    listed = client.get(LINES, headers=admin).get_json()
    assert listed["total"] == 2
    assert [line["name"] for line in listed["items"]] == ["A line", "B line"]
    assert client.get(f"{LINES}/{second['id']}", headers=admin).get_json() == second

    patched = client.patch(f"{LINES}/{first['id']}", json={"phone_numbers": ["050 555 1234"],
                                                           "default_language": "en"}, headers=admin)

    assert patched.status_code == 200
    body = patched.get_json()
    assert body["phone_numbers"] == ["+358505551234"]
    # Address lists not given are left as they were.
    assert body["email_addresses"] == ["b@example.fi"]
    assert body["default_language"] == "en"
    assert body["name"] == "B line"
    assert client.get(f"{LINES}/{first['id']}", headers=admin).get_json() == body


def test_list__filters_active(client, admin):
    live = _created(client, admin)
    retired = _created(client, admin, active=False)

    active = client.get(LINES, query_string={"active": "true"}, headers=admin).get_json()
    inactive = client.get(LINES, query_string={"active": "false"}, headers=admin).get_json()

    assert [line["id"] for line in active["items"]] == [live["id"]]
    assert [line["id"] for line in inactive["items"]] == [retired["id"]]


def test_get__unknown_line_is_404(client, admin):
    assert_problem(client.get(f"{LINES}/999999", headers=admin), 404, "not-found")
    assert_problem(client.patch(f"{LINES}/999999", json={"name": "X"}, headers=admin), 404, "not-found")


def test_create__duplicate_address_across_lines_is_409(client, admin):
    _created(client, admin, name="Advice", phone_numbers=["040 123 4567"])

    response = _create(client, admin, name="Moves", phone_numbers=["+358401234567"])

    assert_problem(response, 409, "conflict")
    names = [line["name"] for line in client.get(LINES, headers=admin).get_json()["items"]]
    assert names == ["Advice"]


def test_patch__taking_another_lines_address_is_409_and_changes_nothing(client, admin):
    _created(client, admin, name="Advice", email_addresses=["neuvonta@example.fi"])
    moves = _created(client, admin, name="Moves", email_addresses=["muutto@example.fi"])

    response = client.patch(f"{LINES}/{moves['id']}", json={"email_addresses": ["NEUVONTA@example.fi"],
                                                            "name": "Moves renamed"}, headers=admin)

    assert_problem(response, 409, "conflict")
    after = client.get(f"{LINES}/{moves['id']}", headers=admin).get_json()
    assert after["email_addresses"] == ["muutto@example.fi"]
    assert after["name"] == "Moves"


def test_create__duplicate_name_is_409(client, admin):
    _created(client, admin, name="Advice")

    assert_problem(_create(client, admin, name="Advice"), 409, "conflict")


def test_create__random_recording_policy_needs_a_share(client, admin):
    response = _create(client, admin, recording_policy="random")

    assert_problem(response, 422, "validation-failed", fields=["recording_share"])
    assert _created(client, admin, recording_policy="random", recording_share=0.1)["recording_share"] == 0.1


def test_patch__random_recording_policy_needs_a_share(client, admin):
    line = _created(client, admin, recording_policy="all")

    response = client.patch(f"{LINES}/{line['id']}", json={"recording_policy": "random"}, headers=admin)

    assert_problem(response, 422, "validation-failed", fields=["recording_share"])
    assert client.get(f"{LINES}/{line['id']}", headers=admin).get_json()["recording_policy"] == "all"


@pytest.mark.parametrize("fields, field", [
    ({"recording_policy": "sometimes"}, "recording_policy"),
    ({"recording_policy": "random", "recording_share": 1.5}, "recording_share"),
    ({"case_retention_days": 0}, "case_retention_days"),
    ({"default_language": "de"}, "default_language"),
    ({"colour": "blue"}, "colour"),
])
def test_create__invalid_rules_are_422(client, admin, fields, field):
    assert_problem(_create(client, admin, **fields), 422, "validation-failed", fields=[field])


def test_only_one_line_is_the_default(client, admin):
    first = _created(client, admin, is_default=True)
    second = _created(client, admin, is_default=True)

    def defaults():
        return [line["id"] for line in client.get(LINES, headers=admin).get_json()["items"] if line["is_default"]]

    assert defaults() == [second["id"]]

    response = client.patch(f"{LINES}/{first['id']}", json={"is_default": True}, headers=admin)

    assert response.status_code == 200
    assert response.get_json()["is_default"] is True
    assert defaults() == [first["id"]]


@pytest.mark.parametrize("role", ["adviser", "supervisor", "privacy_officer"])
def test_only_an_admin_manages_lines(api, client, admin, role):
    line = _created(client, admin, name="Advice")
    headers = api.headers_for(role)

    assert_problem(_create(client, headers, name="Mine"), 403, "forbidden")
    assert_problem(client.patch(f"{LINES}/{line['id']}", json={"name": "Ours"}, headers=headers), 403)
    assert client.get(f"{LINES}/{line['id']}", headers=admin).get_json()["name"] == "Advice"


# --- routing inbound contacts -----------------------------------------------------------------

def test_intake__routes_by_the_address_contacted(api, client, admin, intake):
    moves = _created(client, admin, name="Moves", phone_numbers=["029 123 4567"])
    advice = _created(client, admin, name="Advice", email_addresses=["neuvonta@example.fi"],
                      chat_widget_ids=["advice-widget"])
    general = _created(client, admin, name="General", is_default=True)

    by_phone = _inbound_case(api, intake, channel="sms", to="+358 29 123 4567")
    by_email = _inbound_case(api, intake, channel="email", **{"from": {"email": "matti@example.com"}},
                             to="Neuvonta@Example.fi", subject="Kysymys")
    by_widget = _inbound_case(api, intake, channel="chat", **{"from": {"name": "Guest"}}, to="advice-widget")
    unknown = _inbound_case(api, intake, channel="sms", **{"from": {"phone": "050 555 1234"}}, to="0800 123 456")
    no_to = _inbound_case(api, intake, channel="sms", **{"from": {"phone": "040 765 4321"}})

    assert _line_of_case(client, admin, by_phone) == moves["id"]
    assert _line_of_case(client, admin, by_email) == advice["id"]
    assert _line_of_case(client, admin, by_widget) == advice["id"]
    assert _line_of_case(client, admin, unknown) == general["id"]
    assert _line_of_case(client, admin, no_to) == general["id"]


def test_intake__to_matches_only_addresses_of_the_channels_kind(api, client, admin, intake):
    # The `to` is looked up among the addresses of the channel's kind only.
    _created(client, admin, name="Advice", chat_widget_ids=["0401234567"])
    general = _created(client, admin, name="General", is_default=True)

    case_id = _inbound_case(api, intake, channel="sms", to="0401234567")

    assert _line_of_case(client, admin, case_id) == general["id"]


def test_intake__without_a_default_line_one_is_created(api, client, admin, intake):
    _created(client, admin, name="Moves", phone_numbers=["029 123 4567"])

    case_id = _inbound_case(api, intake, to="+358 40 000 0000")

    line_id = _line_of_case(client, admin, case_id)
    line = client.get(f"{LINES}/{line_id}", headers=admin).get_json()
    assert line["is_default"] is True
    assert line["name"] != "Moves"
    # The next unmatched contact goes to the same default line, not yet another one.
    again = _inbound_case(api, intake, **{"from": {"phone": "050 555 1234"}})
    assert _line_of_case(client, admin, again) == line_id
    assert client.get(LINES, headers=admin).get_json()["total"] == 2


# --- advisers see their lines' cases ----------------------------------------------------------

@pytest.fixture
def two_lines(api, client, admin, intake):
    """Lines A and B, one case on each, and an adviser who works on A only."""
    line_a = _created(client, admin, name="A", phone_numbers=["029 123 4567"])
    line_b = _created(client, admin, name="B", phone_numbers=["029 765 4321"])
    case_a = _inbound_case(api, intake, to="029 123 4567", **{"from": {"phone": "040 111 1111"}})
    case_b = _inbound_case(api, intake, to="029 765 4321", **{"from": {"phone": "040 222 2222"}})
    member_of_a = api.headers_for("adviser", service_line_ids=[line_a["id"]])
    return {"a": line_a["id"], "b": line_b["id"], "case_a": case_a, "case_b": case_b,
            "adviser_a": member_of_a}


def test_adviser_member_of_a_line_lists_only_its_cases(client, two_lines):
    listed = client.get("/api/v1/cases", headers=two_lines["adviser_a"]).get_json()

    assert [case["id"] for case in listed["items"]] == [two_lines["case_a"]]
    assert listed["total"] == 1
    # Filtering by the other line does not reveal its cases either.
    other = client.get("/api/v1/cases", query_string={"service_line_id": two_lines["b"]},
                       headers=two_lines["adviser_a"])
    assert other.status_code == 200, other.get_json()
    assert other.get_json()["items"] == [] and other.get_json()["total"] == 0


def test_adviser_member_of_a_line_gets_404_for_another_lines_case(client, two_lines):
    adviser = two_lines["adviser_a"]

    assert client.get(f"/api/v1/cases/{two_lines['case_a']}", headers=adviser).status_code == 200
    body = assert_problem(client.get(f"/api/v1/cases/{two_lines['case_b']}", headers=adviser), 404, "not-found")
    assert "does not exist" in body["detail"]
    assert_problem(client.post(f"/api/v1/cases/{two_lines['case_b']}/notes", json={"body": "peek"},
                               headers=adviser), 404)
    assert_problem(client.patch(f"/api/v1/cases/{two_lines['case_b']}", json={"topic": "x"},
                                headers=adviser), 404)
    assert_problem(client.post(f"/api/v1/cases/{two_lines['case_b']}/close", headers=adviser), 404)


def test_adviser_member_of_a_line_does_not_see_other_lines_customers(client, admin, two_lines):
    customer_b = client.get(f"/api/v1/cases/{two_lines['case_b']}", headers=admin).get_json()["customer"]["id"]
    customer_a = client.get(f"/api/v1/cases/{two_lines['case_a']}", headers=admin).get_json()["customer"]["id"]
    adviser = two_lines["adviser_a"]

    assert client.get(f"/api/v1/customers/{customer_a}", headers=adviser).status_code == 200
    assert_problem(client.get(f"/api/v1/customers/{customer_b}", headers=adviser), 404)
    found = client.get("/api/v1/customers", query_string={"phone": "040 222 2222"}, headers=adviser).get_json()
    assert found["total"] == 0


def test_adviser_member_of_a_line_cannot_open_a_case_on_another_line(client, two_lines):
    response = client.post("/api/v1/cases", json={"service_line_id": two_lines["b"], "subject": "x"},
                           headers=two_lines["adviser_a"])

    assert_problem(response, 403, "forbidden")


@pytest.mark.parametrize("role", ["supervisor", "admin"])
def test_supervisors_and_admins_see_every_lines_cases(api, client, two_lines, role):
    # Even when they are members of one line: overseeing the whole service is their job.
    headers = api.headers_for(role, service_line_ids=[two_lines["a"]])

    listed = client.get("/api/v1/cases", headers=headers).get_json()

    assert {case["id"] for case in listed["items"]} == {two_lines["case_a"], two_lines["case_b"]}
    assert client.get(f"/api/v1/cases/{two_lines['case_b']}", headers=headers).status_code == 200


def test_adviser_of_no_line_sees_every_case(client, adviser, two_lines):
    listed = client.get("/api/v1/cases", headers=adviser).get_json()

    assert {case["id"] for case in listed["items"]} == {two_lines["case_a"], two_lines["case_b"]}


def test_membership_change_applies_at_once(client, admin, two_lines):
    adviser = two_lines["adviser_a"]

    client.patch(f"/api/v1/officials/{adviser.id}", json={"service_line_ids": [two_lines["b"]]}, headers=admin)

    assert [c["id"] for c in client.get("/api/v1/cases", headers=adviser).get_json()["items"]] == [two_lines["case_b"]]
    assert_problem(client.get(f"/api/v1/cases/{two_lines['case_a']}", headers=adviser), 404)


def test_contacts_to_an_inactive_lines_address_go_to_the_default_line(client, admin, intake):
    line = client.post("/api/v1/service-lines", headers=admin,
                       json={"name": "Retired line", "phone_numbers": ["+358 9 555 0101"]}).get_json()
    client.patch(f"/api/v1/service-lines/{line['id']}", json={"active": False}, headers=admin)

    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SMretired1", "from": {"phone": "+358401230000"},
        "to": "+358 9 555 0101", "body": "Hei"}).get_json()

    case = client.get(f"/api/v1/cases/{posted['case_id']}", headers=admin).get_json()
    assert case["service_line"]["id"] != line["id"]
    assert case["service_line"]["name"] == "General customer service"


@pytest.mark.parametrize("named_by", ["phone", "email"])
def test_adviser_naming_another_lines_customer_opens_no_case_and_learns_nothing(client, admin, two_lines, named_by):
    # A customer known only on line B, with details an adviser of A could type in.
    case_b = client.post("/api/v1/cases", headers=admin, json={
        "service_line_id": two_lines["b"], "customer": {"phone": "040 333 3333", "email": "bea@example.fi",
                                                       "name": "Bea Beeläinen"}}).get_json()
    customer_b = case_b["customer"]["id"]
    adviser = two_lines["adviser_a"]
    ref = {"phone": "+358 40 333 3333"} if named_by == "phone" else {"email": "BEA@example.fi"}

    response = client.post("/api/v1/cases", json={"service_line_id": two_lines["a"], "customer": ref, "subject": "x"},
                           headers=adviser)

    body = assert_problem(response, 409, "customer-not-visible")
    assert "Bea" not in response.get_data(as_text=True) and "bea@" not in response.get_data(as_text=True)
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 1
    assert_problem(client.get(f"/api/v1/customers/{customer_b}", headers=adviser), 404)
    assert_problem(client.patch(f"/api/v1/customers/{customer_b}", json={"name": "X"}, headers=adviser), 404)
    assert body["detail"]


def test_adviser_naming_own_lines_customer_by_phone_finds_them(client, two_lines):
    adviser = two_lines["adviser_a"]

    case = client.post("/api/v1/cases", json={"service_line_id": two_lines["a"], "customer": {"phone": "040 111 1111"}},
                       headers=adviser)

    assert case.status_code == 201, case.get_json()
    own = client.get(f"/api/v1/cases/{two_lines['case_a']}", headers=adviser).get_json()["customer"]["id"]
    assert case.get_json()["customer"]["id"] == own


def test_intake__without_a_default_line_adopts_a_line_of_the_default_name(api, client, admin, intake):
    # An admin made an ordinary line of the default line's name before any contact needed one:
    # a second line of that name cannot be made, so that line becomes the default.
    named = _created(client, admin, name="General customer service")

    case_id = _inbound_case(api, intake, to="+358 40 000 0000")

    assert _line_of_case(client, admin, case_id) == named["id"]
    assert client.get(f"{LINES}/{named['id']}", headers=admin).get_json()["is_default"] is True
    assert client.get(LINES, headers=admin).get_json()["total"] == 1


def test_intake__an_address_that_is_no_number_goes_to_the_default_line(api, client, admin, intake):
    _created(client, admin, name="Moves", phone_numbers=["029 123 4567"])
    general = _created(client, admin, name="General", is_default=True)

    case_id = _inbound_case(api, intake, channel="sms", to="not a number")

    assert _line_of_case(client, admin, case_id) == general["id"]
