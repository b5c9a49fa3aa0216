"""The cases API as advisers and supervisors use it: finding, opening, working and closing cases."""

from __future__ import annotations

import hashlib
import io
from datetime import datetime, timedelta, timezone

import pytest

from tests.api.problems import assert_problem

CASES = "/api/v1/cases"
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def open_case(client, headers, **fields) -> dict:
    return ok(client.post(CASES, json=fields, headers=headers), 201)


def listing(client, headers, **query) -> dict:
    return ok(client.get(CASES, query_string=query, headers=headers))


def ids(page: dict) -> list[int]:
    return [item["id"] for item in page["items"]]


def detail(client, headers, case_id: int) -> dict:
    return ok(client.get(f"{CASES}/{case_id}", headers=headers))


def upload(client, headers, case_id: int, content: bytes, filename: str, content_type: str):
    return client.post(f"{CASES}/{case_id}/attachments", headers=headers, content_type="multipart/form-data",
                       data={"file": (io.BytesIO(content), filename, content_type)})


def download(client, headers, case_id: int, attachment_id: int):
    """GET an attachment and close the response, which holds the stored file open."""
    with client.get(f"{CASES}/{case_id}/attachments/{attachment_id}", headers=headers) as response:
        response.get_data()
        return response


@pytest.fixture
def sms_case(api, intake):
    """A new case opened by an SMS from +358401234567."""
    return ok(api.inbound(intake, channel="sms", **{"from": {"phone": "040 123 4567"}}, body="Hei"), 201)


# --- listing --------------------------------------------------------------------------------


def test_list_cases__is_paginated_newest_first_with_a_total(client, adviser):
    created = [open_case(client, adviser, subject=f"Asia {n}")["id"] for n in range(5)]
    newest_first = list(reversed(created))

    pages = [listing(client, adviser, page=n, page_size=2) for n in (1, 2, 3)]

    assert [p["total"] for p in pages] == [5, 5, 5]
    assert [(p["page"], p["page_size"]) for p in pages] == [(1, 2), (2, 2), (3, 2)]
    assert [ids(p) for p in pages] == [newest_first[0:2], newest_first[2:4], newest_first[4:]]
    beyond = listing(client, adviser, page=4, page_size=2)
    assert (beyond["items"], beyond["total"]) == ([], 5)


def test_list_cases__default_page_size_is_25(client, adviser):
    page = listing(client, adviser)

    assert (page["page"], page["page_size"], page["total"], page["items"]) == (1, 25, 0, [])


@pytest.mark.parametrize("query", [
    {"page": 0}, {"page_size": 0}, {"page_size": 101}, {"page": "first"},
    {"status": "archived"}, {"channel": "fax"}, {"assignee": "someone"}, {"language": "de"},
    {"created_from": "2026-01-01T00:00:00"}, {"updated_to": "9999-12-31T23:59:59-05:00"},
    {"sort": "reference"}, {"colour": "red"}, {"q": "x" * 201},
])
def test_list_cases__bad_query_is_422_naming_the_parameter(client, adviser, query):
    body = assert_problem(client.get(CASES, query_string=query, headers=adviser), 422)

    assert set(query) <= set(body["errors"])


def test_list_cases__filters_by_status_repeated(client, adviser, api, intake):
    new = ok(api.inbound(intake, channel="sms"), 201)["case_id"]
    opened = open_case(client, adviser)["id"]
    closed = open_case(client, adviser)["id"]
    ok(client.post(f"{CASES}/{closed}/close", headers=adviser))

    assert ids(listing(client, adviser, status="new")) == [new]
    assert ids(listing(client, adviser, status="closed")) == [closed]
    assert sorted(ids(listing(client, adviser, status=["new", "open"]))) == sorted([new, opened])


def test_list_cases__filters_by_channel(client, adviser, api, intake):
    sms = ok(api.inbound(intake, channel="sms"), 201)["case_id"]
    email = ok(api.inbound(intake, channel="email", **{"from": {"email": "a@example.fi"}}), 201)["case_id"]
    internal = open_case(client, adviser)["id"]

    assert ids(listing(client, adviser, channel="sms")) == [sms]
    assert ids(listing(client, adviser, channel="internal")) == [internal]
    assert sorted(ids(listing(client, adviser, channel=["sms", "email"]))) == sorted([sms, email])


def test_list_cases__filters_by_service_line(client, adviser, admin):
    line = ok(client.post("/api/v1/service-lines", json={"name": "Neuvonta"}, headers=admin), 201)
    on_line = open_case(client, adviser, service_line_id=line["id"])["id"]
    default = open_case(client, adviser)["id"]

    assert ids(listing(client, adviser, service_line_id=line["id"])) == [on_line]
    default_line = detail(client, adviser, default)["service_line"]["id"]
    assert ids(listing(client, adviser, service_line_id=default_line)) == [default]


def test_list_cases__filters_by_assignee_me_not_me_none_and_id(client, api, adviser, supervisor):
    colleague = api.headers_for("adviser")
    mine = open_case(client, adviser, assignee_id=adviser.id)["id"]
    theirs = open_case(client, supervisor, assignee_id=colleague.id)["id"]
    nobodys = open_case(client, adviser)["id"]

    assert ids(listing(client, adviser, assignee="me")) == [mine]
    assert ids(listing(client, colleague, assignee="me")) == [theirs]
    assert ids(listing(client, adviser, assignee="none")) == [nobodys]
    assert sorted(ids(listing(client, adviser, assignee="not_me"))) == sorted([theirs, nobodys])
    assert ids(listing(client, adviser, assignee=str(colleague.id))) == [theirs]


def test_list_cases__filters_by_language(client, adviser):
    swedish = open_case(client, adviser, language="sv")["id"]
    open_case(client, adviser, language="fi")

    assert ids(listing(client, adviser, language="sv")) == [swedish]


def test_list_cases__filters_by_creation_time_range(client, adviser):
    first, second, third = (open_case(client, adviser) for _ in range(3))

    between = listing(client, adviser, created_from=second["created_at"], created_to=third["created_at"])
    from_second = listing(client, adviser, created_from=second["created_at"])
    before_second = listing(client, adviser, created_to=second["created_at"])

    assert ids(between) == [second["id"]]
    assert ids(from_second) == [third["id"], second["id"]]
    assert ids(before_second) == [first["id"]]


def test_list_cases__creation_range_accepts_any_time_zone(client, adviser):
    case = open_case(client, adviser)
    created = when(case["created_at"])
    in_helsinki = created.astimezone(timezone(timedelta(hours=2))).isoformat()

    assert ids(listing(client, adviser, created_from=in_helsinki)) == [case["id"]]
    assert ids(listing(client, adviser, created_to=in_helsinki)) == []


def test_list_cases__filters_by_update_time_range(client, adviser):
    untouched = open_case(client, adviser)
    touched = open_case(client, adviser)
    updated = ok(client.patch(f"{CASES}/{touched['id']}", json={"topic": "Muutto"}, headers=adviser))

    assert ids(listing(client, adviser, updated_from=updated["updated_at"])) == [touched["id"]]
    assert ids(listing(client, adviser, updated_to=updated["updated_at"])) == [untouched["id"]]


def test_list_cases__q_matches_reference_and_subject(client, adviser):
    wanted = open_case(client, adviser, subject="Muuttoilmoitus Helsinkiin")
    open_case(client, adviser, subject="Verokortti")

    assert ids(listing(client, adviser, q=wanted["reference"])) == [wanted["id"]]
    assert ids(listing(client, adviser, q="#" + wanted["reference"])) == [wanted["id"]]
    assert ids(listing(client, adviser, q="muuttoilmoitus")) == [wanted["id"]]
    assert ids(listing(client, adviser, q="100%")) == []


def test_list_cases__q_matches_customer_name_and_email(client, adviser):
    wanted = open_case(client, adviser, customer={"name": "Liisa Virtanen", "email": "Liisa.V@Example.fi"})
    open_case(client, adviser, customer={"name": "Matti Meikäläinen", "email": "matti@example.fi"})

    assert ids(listing(client, adviser, q="virtanen")) == [wanted["id"]]
    assert ids(listing(client, adviser, q="liisa.v@example.fi")) == [wanted["id"]]
    assert ids(listing(client, adviser, q="LIISA.V@EXAMPLE.FI")) == [wanted["id"]]


@pytest.mark.parametrize("q", ["0401234567", "040 123 4567", "+358 40 123 4567", "+358401234567",
                               "00358401234567", "040-1234567"])
def test_list_cases__q_matches_customer_phone_in_any_common_format(client, adviser, api, intake, q):
    wanted = ok(api.inbound(intake, channel="sms", **{"from": {"phone": "040 123 4567"}}), 201)
    ok(api.inbound(intake, channel="sms", **{"from": {"phone": "050 765 4321"}}), 201)

    assert ids(listing(client, adviser, q=q)) == [wanted["case_id"]]


def test_list_cases__line_member_sees_only_their_lines(client, api, admin, adviser):
    line = ok(client.post("/api/v1/service-lines", json={"name": "Neuvonta"}, headers=admin), 201)
    member = api.headers_for("adviser", service_line_ids=[line["id"]])
    theirs = open_case(client, adviser, service_line_id=line["id"])["id"]
    other = open_case(client, adviser)["id"]

    assert ids(listing(client, member)) == [theirs]
    assert_problem(client.get(f"{CASES}/{other}", headers=member), 404)
    assert sorted(ids(listing(client, adviser))) == sorted([theirs, other])


# --- opening a case by hand -----------------------------------------------------------------


def test_open_case__an_internal_request_by_an_official(client, adviser):
    case = open_case(client, adviser, subject="Tietopyyntö", topic="Muutto", question="Mikä on osoite?",
                     language="en")

    assert case["channel"] == "internal"
    assert (case["subject"], case["topic"], case["question"], case["language"]) == (
        "Tietopyyntö", "Muutto", "Mikä on osoite?", "en")
    assert case["created_by_id"] == adviser.id
    assert case["customer"] is None
    # The official who opened it has handled it.
    assert case["status"] == "open"
    assert case["first_response_at"] is not None
    assert case["reference"]
    assert detail(client, adviser, case["id"])["reference"] == case["reference"]


def test_open_case__with_a_new_customer_by_phone_email_and_name(client, adviser):
    case = open_case(client, adviser, customer={"name": "Liisa", "phone": "050 765 4321",
                                                "email": "Liisa@Example.FI"})

    customer = case["customer"]
    assert (customer["name"], customer["phone"], customer["email"]) == ("Liisa", "+358507654321", "liisa@example.fi")


def test_open_case__finds_the_existing_customer_by_phone_in_another_format(client, adviser, sms_case):
    existing = detail(client, adviser, sms_case["case_id"])["customer"]

    case = open_case(client, adviser, customer={"phone": "+358 40 123 4567"})

    assert case["customer"]["id"] == existing["id"]
    assert ok(client.get("/api/v1/customers", headers=adviser))["total"] == 1


def test_open_case__for_an_existing_customer_by_id(client, adviser, sms_case):
    customer_id = detail(client, adviser, sms_case["case_id"])["customer"]["id"]

    case = open_case(client, adviser, customer={"id": customer_id})

    assert case["customer"]["id"] == customer_id
    assert case["customer"]["phone"] == "+358401234567"


@pytest.mark.parametrize("fields, offending", [
    ({"customer": {"id": 999999}}, "customer"),
    ({"customer": {"phone": "12"}}, "customer"),
    ({"customer": {"email": "nobody"}}, "customer"),
    ({"customer": {"ssn": "010101-123N"}}, "customer"),
    ({"channel": "fax"}, "channel"),
    ({"language": "de"}, "language"),
    ({"service_line_id": 999999}, "service_line_id"),
    ({"assignee_id": 999999}, "assignee_id"),
    ({"status": "closed"}, "status"),
])
def test_open_case__invalid_input_is_422_and_nothing_is_written(client, supervisor, fields, offending):
    body = assert_problem(client.post(CASES, json=fields, headers=supervisor), 422)

    assert offending in body["errors"], body
    assert listing(client, supervisor)["total"] == 0
    assert ok(client.get("/api/v1/customers", headers=supervisor))["total"] == 0


def test_open_case__adviser_may_not_assign_it_to_someone_else(client, api, adviser):
    colleague = api.headers_for("adviser")

    response = client.post(CASES, json={"assignee_id": colleague.id, "customer": {"phone": "040 123 4567"}},
                           headers=adviser)

    assert_problem(response, 403, "forbidden")
    assert listing(client, adviser)["total"] == 0
    assert ok(client.get("/api/v1/customers", headers=adviser))["total"] == 0


def test_open_case__on_a_line_the_adviser_does_not_work_on_is_403(client, api, admin):
    mine = ok(client.post("/api/v1/service-lines", json={"name": "Oma"}, headers=admin), 201)
    other = ok(client.post("/api/v1/service-lines", json={"name": "Muu"}, headers=admin), 201)
    member = api.headers_for("adviser", service_line_ids=[mine["id"]])

    assert_problem(client.post(CASES, json={"service_line_id": other["id"]}, headers=member), 403)
    assert listing(client, admin)["total"] == 0


# --- the case and its timeline --------------------------------------------------------------


def test_get_case__has_customer_timeline_in_order_and_notes(client, api, intake, adviser):
    later = ok(api.inbound(intake, channel="sms", received_at="2026-03-02T10:00:00+02:00", body="toinen"), 201)
    ok(api.inbound(intake, channel="sms", received_at="2026-03-02T09:00:00+02:00", body="ensimmäinen"), 201)
    ok(client.post(f"{CASES}/{later['case_id']}/contacts", headers=adviser, json={
        "channel": "phone", "direction": "outbound", "started_at": "2026-03-02T07:30:00Z",
        "ended_at": "2026-03-02T07:35:00Z", "body": "soitto"}), 201)
    ok(client.post(f"{CASES}/{later['case_id']}/notes", json={"body": "Asiakas toivoo soittoa"},
                   headers=adviser), 201)

    case = detail(client, adviser, later["case_id"])

    assert case["customer"]["phone"] == "+358401234567"
    assert [(c["body"], when(c["occurred_at"])) for c in case["contacts"]] == [
        ("ensimmäinen", datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)),
        ("soitto", datetime(2026, 3, 2, 7, 30, tzinfo=timezone.utc)),
        ("toinen", datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)),
    ]
    assert when(case["contacts"][0]["received_at"]) == datetime(2026, 3, 2, 7, 0, tzinfo=timezone.utc)
    assert [(n["body"], n["author"]["id"]) for n in case["notes"]] == [("Asiakas toivoo soittoa", adviser.id)]


def test_get_case__missing_is_404_problem(client, adviser):
    body = assert_problem(client.get(f"{CASES}/999999", headers=adviser), 404)

    assert "999999" in body["detail"]


# --- changing a case ------------------------------------------------------------------------


def test_patch_case__adviser_takes_an_unassigned_case_for_themselves(client, adviser, sms_case):
    case = ok(client.patch(f"{CASES}/{sms_case['case_id']}", json={"assignee_id": adviser.id}, headers=adviser))

    assert case["assignee"]["id"] == adviser.id
    assert ids(listing(client, adviser, assignee="me")) == [sms_case["case_id"]]


def test_patch_case__adviser_lets_go_of_their_own_case(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"
    ok(client.patch(url, json={"assignee_id": adviser.id}, headers=adviser))

    case = ok(client.patch(url, json={"assignee_id": None}, headers=adviser))

    assert case["assignee"] is None


def test_patch_case__adviser_may_not_assign_a_case_to_another_official(client, api, adviser, sms_case):
    colleague = api.headers_for("adviser")

    body = assert_problem(client.patch(f"{CASES}/{sms_case['case_id']}", json={"assignee_id": colleague.id},
                                       headers=adviser), 403)

    assert body["type"].endswith("/forbidden")
    assert detail(client, adviser, sms_case["case_id"])["assignee"] is None


def test_patch_case__adviser_may_not_take_a_colleagues_case(client, api, adviser, sms_case):
    colleague = api.headers_for("adviser")
    url = f"{CASES}/{sms_case['case_id']}"
    ok(client.patch(url, json={"assignee_id": colleague.id}, headers=colleague))

    assert_problem(client.patch(url, json={"assignee_id": adviser.id}, headers=adviser), 403)
    assert_problem(client.patch(url, json={"assignee_id": None}, headers=adviser), 403)
    assert detail(client, adviser, sms_case["case_id"])["assignee"]["id"] == colleague.id


def test_patch_case__supervisor_reassigns_a_case(client, api, supervisor, sms_case):
    first, second = api.headers_for("adviser"), api.headers_for("adviser")
    url = f"{CASES}/{sms_case['case_id']}"

    ok(client.patch(url, json={"assignee_id": first.id}, headers=supervisor))
    case = ok(client.patch(url, json={"assignee_id": second.id}, headers=supervisor))

    assert case["assignee"]["id"] == second.id


@pytest.mark.parametrize("role", ["privacy_officer"])
def test_patch_case__assigning_to_an_official_who_does_not_work_cases_is_422(client, api, supervisor, sms_case, role):
    outsider = api.headers_for(role)

    body = assert_problem(client.patch(f"{CASES}/{sms_case['case_id']}", json={"assignee_id": outsider.id},
                                       headers=supervisor), 422)

    assert "assignee_id" in body["errors"]


def test_patch_case__language_topic_question_and_answer(client, adviser, sms_case):
    case = ok(client.patch(f"{CASES}/{sms_case['case_id']}", headers=adviser, json={
        "language": "sv", "topic": "Flyttning", "question": "Hur anmäler jag flytt?",
        "answer": "Via webbtjänsten."}))

    assert (case["language"], case["topic"], case["question"], case["answer"]) == (
        "sv", "Flyttning", "Hur anmäler jag flytt?", "Via webbtjänsten.")
    again = detail(client, adviser, sms_case["case_id"])
    assert (again["language"], again["topic"], again["question"], again["answer"]) == (
        "sv", "Flyttning", "Hur anmäler jag flytt?", "Via webbtjänsten.")
    # Answering is handling.
    assert again["status"] == "open"
    assert again["first_response_at"] is not None


def test_patch_case__waiting_and_open_again(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"

    assert ok(client.patch(url, json={"status": "waiting"}, headers=adviser))["status"] == "waiting"
    assert ok(client.patch(url, json={"status": "open"}, headers=adviser))["status"] == "open"


@pytest.mark.parametrize("body, offending", [
    ({"status": "closed"}, "status"), ({"status": "forwarded"}, "status"), ({"language": "de"}, "language"),
    ({"reference": "2026-000001"}, "reference"), ({"topic": "x" * 201}, "topic"),
])
def test_patch_case__invalid_change_is_422_and_nothing_changes(client, adviser, sms_case, body, offending):
    before = detail(client, adviser, sms_case["case_id"])

    problem = assert_problem(client.patch(f"{CASES}/{sms_case['case_id']}", json=body, headers=adviser), 422)

    assert offending in problem["errors"]
    after = detail(client, adviser, sms_case["case_id"])
    assert {k: after[k] for k in ("status", "language", "topic", "reference", "updated_at")} == \
        {k: before[k] for k in ("status", "language", "topic", "reference", "updated_at")}


def test_patch_case__missing_is_404(client, adviser):
    assert_problem(client.patch(f"{CASES}/999999", json={"topic": "x"}, headers=adviser), 404)


def test_patch_case__closed_case_is_409(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"
    ok(client.post(f"{url}/close", headers=adviser))

    body = assert_problem(client.patch(url, json={"topic": "Muutto"}, headers=adviser), 409)

    assert body["type"].endswith("invalid-transition")
    assert detail(client, adviser, sms_case["case_id"])["topic"] is None


# --- notes ----------------------------------------------------------------------------------


def test_add_note__by_an_official_opens_a_new_case_and_sets_first_response(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"
    before = detail(client, adviser, sms_case["case_id"])
    assert (before["status"], before["first_response_at"]) == ("new", None)

    note = ok(client.post(f"{url}/notes", json={"body": "Asiakas toivoo yhteydenottoa sähköpostilla"},
                          headers=adviser), 201)

    assert note["body"] == "Asiakas toivoo yhteydenottoa sähköpostilla"
    assert note["author"]["id"] == adviser.id
    after = detail(client, adviser, sms_case["case_id"])
    assert after["status"] == "open"
    assert when(after["first_response_at"]) >= when(before["created_at"])
    assert [n["id"] for n in after["notes"]] == [note["id"]]


def test_add_note__keeps_the_first_response_time(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"
    ok(client.post(f"{url}/notes", json={"body": "eka"}, headers=adviser), 201)
    first_response = detail(client, adviser, sms_case["case_id"])["first_response_at"]

    ok(client.post(f"{url}/notes", json={"body": "toka"}, headers=adviser), 201)

    case = detail(client, adviser, sms_case["case_id"])
    assert case["first_response_at"] == first_response
    assert [n["body"] for n in case["notes"]] == ["eka", "toka"]


def test_add_note__on_a_closed_case_is_kept_and_counts_no_first_response(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"
    ok(client.post(f"{url}/close", headers=adviser))

    note = ok(client.post(f"{url}/notes", json={"body": "Korjaus: asiakas soitti itse"}, headers=adviser), 201)

    case = detail(client, adviser, sms_case["case_id"])
    assert (case["status"], case["first_response_at"]) == ("closed", None)
    assert [n["id"] for n in case["notes"]] == [note["id"]]


def test_add_note__on_a_missing_case_is_404_problem(client, adviser):
    body = assert_problem(client.post(f"{CASES}/999999/notes", json={"body": "x"}, headers=adviser), 404)

    assert body["type"].endswith("/not-found")
    assert body["instance"] == f"{CASES}/999999/notes"


@pytest.mark.parametrize("body", [{}, {"body": ""}, {"body": "x", "pinned": True}])
def test_add_note__invalid_body_is_422(client, adviser, sms_case, body):
    assert_problem(client.post(f"{CASES}/{sms_case['case_id']}/notes", json=body, headers=adviser), 422)

    assert detail(client, adviser, sms_case["case_id"])["notes"] == []


# --- contacts logged by hand ----------------------------------------------------------------


def test_log_contact__a_phone_call_with_its_times_and_handler(client, api, adviser, supervisor, sms_case):
    url = f"{CASES}/{sms_case['case_id']}/contacts"

    contact = ok(client.post(url, headers=supervisor, json={
        "channel": "phone", "direction": "outbound", "started_at": "2026-03-02T10:00:00+02:00",
        "answered_at": "2026-03-02T10:00:30+02:00", "ended_at": "2026-03-02T10:12:00+02:00",
        "queue_seconds": 30, "handled_by_id": adviser.id, "body": "Soitin takaisin"}), 201)

    assert (contact["channel"], contact["direction"], contact["queue_seconds"]) == ("phone", "outbound", 30)
    assert contact["handled_by"]["id"] == adviser.id
    timeline = detail(client, adviser, sms_case["case_id"])["contacts"]
    logged = next(c for c in timeline if c["id"] == contact["id"])
    assert {k: when(logged[k]) for k in ("started_at", "answered_at", "ended_at", "occurred_at")} == {
        "started_at": datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc),
        "answered_at": datetime(2026, 3, 2, 8, 0, 30, tzinfo=timezone.utc),
        "ended_at": datetime(2026, 3, 2, 8, 12, tzinfo=timezone.utc),
        "occurred_at": datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc),
    }
    assert logged["handled_by"]["id"] == adviser.id


def test_log_contact__handled_by_defaults_to_the_caller_and_opens_the_case(client, adviser, sms_case):
    contact = ok(client.post(f"{CASES}/{sms_case['case_id']}/contacts", headers=adviser,
                             json={"channel": "phone", "started_at": "2026-03-02T08:00:00Z"}), 201)

    assert contact["handled_by"]["id"] == adviser.id
    assert contact["direction"] == "inbound"
    assert detail(client, adviser, sms_case["case_id"])["status"] == "open"


def test_log_contact__with_no_handler(client, adviser, sms_case):
    contact = ok(client.post(f"{CASES}/{sms_case['case_id']}/contacts", headers=adviser,
                             json={"channel": "phone", "started_at": "2026-03-02T08:00:00Z",
                                   "handled_by_id": None}), 201)

    assert contact["handled_by"] is None
    logged = next(c for c in detail(client, adviser, sms_case["case_id"])["contacts"] if c["id"] == contact["id"])
    assert logged["handled_by"] is None


@pytest.mark.parametrize("body, offending", [
    ({"channel": "phone", "started_at": "2026-03-02T08:00:00Z", "ended_at": "2026-03-02T07:59:59Z"}, "ended_at"),
    ({"channel": "phone", "started_at": "2026-03-02T08:00:00Z", "answered_at": "2026-03-02T07:00:00Z"},
     "answered_at"),
    pytest.param({"channel": "phone", "started_at": "2026-03-02T08:00:00Z", "answered_at": "2026-03-02T08:10:00Z",
                  "ended_at": "2026-03-02T08:05:00Z"}, "ended_at", id="ended-before-answered"),
    ({"channel": "phone", "ended_at": "2026-03-02T08:00:00Z"}, "started_at"),
    ({"channel": "phone", "started_at": "2026-03-02T08:00:00"}, "started_at"),
    ({"channel": "phone", "queue_seconds": -5}, "queue_seconds"),
    ({"channel": "phone", "direction": "sideways"}, "direction"),
    ({"channel": "pigeon"}, "channel"),
    ({"channel": "phone", "handled_by_id": 999999}, "handled_by_id"),
    ({"started_at": "2026-03-02T08:00:00Z"}, "channel"),
])
def test_log_contact__invalid_call_is_422_and_nothing_is_logged(client, adviser, sms_case, body, offending):
    problem = assert_problem(client.post(f"{CASES}/{sms_case['case_id']}/contacts", json=body, headers=adviser), 422)

    assert offending in problem["errors"], problem
    case = detail(client, adviser, sms_case["case_id"])
    assert len(case["contacts"]) == 1
    assert case["status"] == "new"


def test_log_contact__with_an_external_id_already_logged_by_hand_is_409(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}/contacts"
    assert client.post(url, headers=adviser, json={"channel": "phone", "external_id": "puhelu-7"}).status_code == 201

    response = client.post(url, headers=adviser, json={"channel": "phone", "external_id": "puhelu-7"})

    assert_problem(response, 409, "conflict")
    assert len(detail(client, adviser, sms_case["case_id"])["contacts"]) == 2


def test_log_contact__a_providers_id_logged_by_hand_is_not_the_providers(client, intake, adviser, sms_case):
    # The id a provider will use later, typed in ahead of it: the real SMS must still open its own
    # contact, not be taken for a replay and land on this case.
    url = f"{CASES}/{sms_case['case_id']}/contacts"
    sid = "SM" + "7" * 32
    assert client.post(url, headers=adviser, json={"channel": "sms", "external_id": sid}).status_code == 201

    real = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": sid, "from": {"phone": "040 999 8888"}, "body": "Oikea viesti"})

    assert real.status_code == 201, real.get_json()
    assert real.get_json()["created_case"] is True and real.get_json()["case_id"] != sms_case["case_id"]
    assert detail(client, adviser, real.get_json()["case_id"])["contacts"][0]["body"] == "Oikea viesti"


def test_log_contact__an_emails_message_id_logged_by_hand_is_not_the_mail_gateways(client, intake, adviser, sms_case):
    # Email is stored one message at a time (threading), which checks replays on its own path.
    url = f"{CASES}/{sms_case['case_id']}/contacts"
    message_id = "<kirje-77@example.fi>"
    assert client.post(url, headers=adviser, json={"channel": "email", "external_id": message_id}).status_code == 201

    real = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": message_id, "from": {"email": "maija@example.fi"},
        "subject": "Hakemus", "body": "Oikea kirje"})

    assert real.status_code == 201, real.get_json()
    assert real.get_json()["created_case"] is True and real.get_json()["case_id"] != sms_case["case_id"]
    assert detail(client, adviser, real.get_json()["case_id"])["contacts"][0]["body"] == "Oikea kirje"


def test_log_contact__a_switchboards_call_id_logged_by_hand_is_not_the_switchboards(client, intake, adviser,
                                                                                     sms_case):
    url = f"{CASES}/{sms_case['case_id']}/contacts"
    assert client.post(url, headers=adviser, json={"channel": "phone", "external_id": "call-4242"}).status_code == 201

    real = client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "call-4242", "from": {"phone": "040 999 7777"}, "started_at": "2026-03-02T08:00:00Z"})

    assert real.status_code == 201, real.get_json()
    assert real.get_json()["case_id"] != sms_case["case_id"]
    # The hand-logged contact kept its own facts: the call report did not update it.
    logged = [c for c in detail(client, adviser, sms_case["case_id"])["contacts"] if c["channel"] == "phone"]
    assert [c["started_at"] for c in logged] == [None]


def test_log_contact__on_a_closed_case_is_409(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"
    ok(client.post(f"{url}/close", headers=adviser))

    assert_problem(client.post(f"{url}/contacts", json={"channel": "phone"}, headers=adviser), 409)
    assert len(detail(client, adviser, sms_case["case_id"])["contacts"]) == 1


# --- closing and reopening ------------------------------------------------------------------


def test_close_case__sets_closed_at_and_a_retention_of_365_days(client, adviser, sms_case):
    before = datetime.now(timezone.utc)

    case = ok(client.post(f"{CASES}/{sms_case['case_id']}/close", headers=adviser))

    closed_at = when(case["closed_at"])
    assert case["status"] == "closed"
    assert before <= closed_at <= datetime.now(timezone.utc)
    assert when(case["retention_until"]) == closed_at + timedelta(days=365)


def test_close_case__uses_the_service_lines_retention_period(client, adviser, admin, sms_case):
    line_id = detail(client, adviser, sms_case["case_id"])["service_line"]["id"]
    line = ok(client.patch(f"/api/v1/service-lines/{line_id}", json={"case_retention_days": 180}, headers=admin))
    assert line["case_retention_days"] == 180

    case = ok(client.post(f"{CASES}/{sms_case['case_id']}/close", headers=adviser))

    assert when(case["retention_until"]) == when(case["closed_at"]) + timedelta(days=180)


def test_close_case__follows_the_configured_default_retention(app, client, adviser, sms_case):
    app.config["CASE_RETENTION_DAYS"] = 30

    case = ok(client.post(f"{CASES}/{sms_case['case_id']}/close", headers=adviser))

    assert when(case["retention_until"]) == when(case["closed_at"]) + timedelta(days=30)


def test_close_case__twice_is_409_invalid_transition(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}/close"
    first = ok(client.post(url, headers=adviser))

    body = assert_problem(client.post(url, headers=adviser), 409)

    assert body["type"].endswith("invalid-transition")
    assert detail(client, adviser, sms_case["case_id"])["closed_at"] == first["closed_at"]


def test_close_case__missing_is_404(client, adviser):
    assert_problem(client.post(f"{CASES}/999999/close", headers=adviser), 404)


def test_reopen_case__clears_the_retention_clock(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"
    ok(client.post(f"{url}/close", headers=adviser))

    case = ok(client.post(f"{url}/reopen", headers=adviser))

    assert (case["status"], case["retention_until"], case["closed_at"]) == ("open", None, None)
    assert ids(listing(client, adviser, status="open")) == [sms_case["case_id"]]


def test_close_case__after_reopening_restarts_the_clock(client, adviser, sms_case):
    url = f"{CASES}/{sms_case['case_id']}"
    first = ok(client.post(f"{url}/close", headers=adviser))
    ok(client.post(f"{url}/reopen", headers=adviser))

    second = ok(client.post(f"{url}/close", headers=adviser))

    assert when(second["closed_at"]) > when(first["closed_at"])
    assert when(second["retention_until"]) == when(second["closed_at"]) + timedelta(days=365)


def test_reopen_case__of_an_open_case_is_409(client, adviser, sms_case):
    body = assert_problem(client.post(f"{CASES}/{sms_case['case_id']}/reopen", headers=adviser), 409)

    assert body["type"].endswith("invalid-transition")
    assert detail(client, adviser, sms_case["case_id"])["status"] == "new"


# --- attachments added by officials ---------------------------------------------------------


def test_add_attachment__stores_the_file_with_its_hash_and_downloads_it(client, adviser, sms_case):
    case_id = sms_case["case_id"]

    attachment = ok(upload(client, adviser, case_id, PDF, "päätös.pdf", "application/pdf"), 201)

    assert (attachment["filename"], attachment["content_type"], attachment["size"], attachment["sha256"]) == (
        "päätös.pdf", "application/pdf", len(PDF), hashlib.sha256(PDF).hexdigest())
    assert [a["id"] for a in detail(client, adviser, case_id)["attachments"]] == [attachment["id"]]
    response = download(client, adviser, case_id, attachment["id"])
    assert response.status_code == 200
    assert response.data == PDF
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_add_attachment__filename_with_a_path_is_stored_as_a_safe_name(client, adviser, sms_case):
    attachment = ok(upload(client, adviser, sms_case["case_id"], PDF, "../../etc/passwd.pdf", "application/pdf"), 201)

    assert attachment["filename"] == "passwd.pdf"
    response = download(client, adviser, sms_case["case_id"], attachment["id"])
    assert response.headers["Content-Disposition"] == "attachment; filename=passwd.pdf"


@pytest.mark.parametrize("content, filename, content_type", [
    (b"MZ\x90\x00\x03", "ohjelma.exe", "application/x-msdownload"),
    (b"<html><script>alert(1)</script>", "sivu.html", "text/html"),
    (b"MZ\x90\x00 not a pdf at all", "lasku.pdf", "application/pdf"),
    (b"", "tyhja.txt", "text/plain"),
])
def test_add_attachment__refused_content_is_422_and_nothing_is_stored(client, adviser, sms_case,
                                                                      content, filename, content_type):
    body = assert_problem(upload(client, adviser, sms_case["case_id"], content, filename, content_type), 422)

    assert "file" in body["errors"]
    assert detail(client, adviser, sms_case["case_id"])["attachments"] == []


def test_add_attachment__over_the_size_limit_is_413(app, client, adviser, sms_case):
    app.config["MAX_ATTACHMENT_BYTES"] = 1000

    body = assert_problem(upload(client, adviser, sms_case["case_id"], b"x" * 1001, "iso.txt", "text/plain"), 413)

    assert "1000" in body["detail"]
    assert detail(client, adviser, sms_case["case_id"])["attachments"] == []
    assert ok(upload(client, adviser, sms_case["case_id"], b"x" * 1000, "mahtuu.txt", "text/plain"), 201)


def test_add_attachment__without_a_file_field_is_422(client, adviser, sms_case):
    response = client.post(f"{CASES}/{sms_case['case_id']}/attachments", headers=adviser,
                           content_type="multipart/form-data",
                           data={"document": (io.BytesIO(PDF), "a.pdf", "application/pdf")})

    assert "file" in assert_problem(response, 422)["errors"]


def test_add_attachment__as_json_is_415(client, adviser, sms_case):
    response = client.post(f"{CASES}/{sms_case['case_id']}/attachments", headers=adviser, json={"file": "x"})

    assert_problem(response, 415)


def test_add_attachment__to_a_missing_case_is_404(client, adviser):
    assert_problem(upload(client, adviser, 999999, PDF, "a.pdf", "application/pdf"), 404)


def test_download_attachment__through_another_case_is_404(client, adviser, sms_case):
    other = open_case(client, adviser)["id"]
    attachment = ok(upload(client, adviser, sms_case["case_id"], PDF, "a.pdf", "application/pdf"), 201)

    assert_problem(download(client, adviser, other, attachment["id"]), 404)
    assert_problem(download(client, adviser, sms_case["case_id"], 999999), 404)


def test_download_attachment__line_member_cannot_read_other_lines_files(client, api, admin, adviser, sms_case):
    line = ok(client.post("/api/v1/service-lines", json={"name": "Neuvonta"}, headers=admin), 201)
    member = api.headers_for("adviser", service_line_ids=[line["id"]])
    attachment = ok(upload(client, adviser, sms_case["case_id"], PDF, "a.pdf", "application/pdf"), 201)

    response = download(client, member, sms_case["case_id"], attachment["id"])

    assert_problem(response, 404)
    assert PDF not in response.data


def test_opening_a_case_for_a_customer_the_adviser_cannot_see_is_refused(client, api, admin, intake):
    line = client.post("/api/v1/service-lines", headers=admin, json={"name": "Rajattu linja"}).get_json()
    limited = api.headers_for("adviser", service_line_ids=[line["id"]])
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-hidden", "from": {"phone": "+358401112299"}}).get_json()
    hidden_customer = client.get(f"/api/v1/cases/{posted['case_id']}", headers=admin).get_json()["customer"]["id"]

    response = client.post("/api/v1/cases", headers=limited,
                           json={"service_line_id": line["id"], "customer": {"id": hidden_customer}})

    assert response.status_code == 422
    assert "+358401112299" not in response.get_data(as_text=True)


@pytest.mark.parametrize("filename, content_type, saved_as", [
    ("x.html", "text/plain", "x.html.txt"),
    ("lasku.PDF", "application/pdf", "lasku.PDF"),
    ("kuva", "image/png", "kuva.png"),
    ("muistio.txt", "text/plain", "muistio.txt"),
])
def test_download__is_saved_under_the_extension_of_its_checked_type(client, adviser, sms_case, filename,
                                                                    content_type, saved_as):
    content = {"application/pdf": PDF, "image/png": b"\x89PNG\r\n\x1a\n" + b"0" * 16}.get(content_type, b"<b>hei</b>")
    attachment = ok(upload(client, adviser, sms_case["case_id"], content, filename, content_type), 201)

    response = download(client, adviser, sms_case["case_id"], attachment["id"])

    assert response.status_code == 200
    assert f'filename={saved_as}' in response.headers["Content-Disposition"]


def test_log_contact__handled_by_the_privacy_officer_or_another_lines_adviser_is_422(api, client, admin, adviser,
                                                                                    sms_case):
    other_line = client.post("/api/v1/service-lines", json={"name": "Muu linja"}, headers=admin).get_json()["id"]
    elsewhere = api.official("adviser", service_line_ids=[other_line])
    privacy_officer = api.official("privacy_officer")
    url = f"{CASES}/{sms_case['case_id']}/contacts"

    for official in (elsewhere, privacy_officer):
        response = client.post(url, headers=adviser, json={"channel": "phone", "handled_by_id": official["id"]})
        assert_problem(response, 422, fields=["handled_by_id"])
    assert len(detail(client, adviser, sms_case["case_id"])["contacts"]) == 1
