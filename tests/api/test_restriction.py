"""Restriction of processing: the data stays, but nothing goes to the customer or about them."""

from datetime import timedelta

import pytest

from service.db_types import utcnow
from service.feedback.logic import FeedbackSettings, send_due
from service.outbox import delivery
from service.outbox.logic import send_reply
from service.auth.permissions import Principal
from tests.api.problems import assert_problem

PHONE = "+358401234567"


@pytest.fixture
def privacy(api):
    return api.headers_for("privacy_officer")


def _case(client, intake, adviser, **sender):
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-restricted", "from": sender or {"phone": PHONE}, "body": "Hei"}).get_json()
    case = client.get(f"/api/v1/cases/{posted['case_id']}", headers=adviser).get_json()
    return case["id"], case["customer"]["id"]


def _restrict(client, privacy, customer_id):
    response = client.post(f"/api/v1/customers/{customer_id}/restriction", headers=privacy,
                           json={"reason": "Accuracy contested (request 12)"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_restricted_customer_gets_no_sms_and_the_restriction_shows(app, client, intake, adviser, privacy):
    case_id, customer_id = _case(client, intake, adviser)
    restricted = _restrict(client, privacy, customer_id)
    assert restricted["restricted"] is True and restricted["restriction_reason"] == "Accuracy contested (request 12)"

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei"}, headers=adviser)

    assert_problem(reply, 409, "processing-restricted")
    assert app.extensions["senders"]["sms"].sent == []


@pytest.mark.parametrize("channel", ["sms", "email"])
def test_a_message_queued_before_the_restriction_is_cancelled_at_delivery(app, client, intake, adviser, privacy,
                                                                          channel):
    case_id, customer_id = _case(client, intake, adviser, phone=PHONE, email="rajoitettu@example.fi")
    with app.app_context():
        outbox_id = send_reply(actor=Principal(kind="official", id=adviser.id, name="x", role="adviser"), case_id=case_id,
                               channel=channel, body="Hei").outbox.id
    _restrict(client, privacy, customer_id)

    with app.app_context():
        assert delivery.deliver_and_reschedule(outbox_id) == "cancelled"
    assert app.extensions["senders"][channel].sent == []


def test_a_message_queued_before_the_restriction_is_cancelled_after_its_case_is_merged_into_anothers(
        app, client, intake, adviser, privacy):
    case_id, customer_id = _case(client, intake, adviser)
    other = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-someone-else", "from": {"phone": "+358407654321"}, "body": "Hei"})
    with app.app_context():
        outbox_id = send_reply(actor=Principal(kind="official", id=adviser.id, name="x", role="adviser"),
                               case_id=case_id, channel="sms", body="Hei").outbox.id
    _restrict(client, privacy, customer_id)
    # The queued message moves to a case of another customer, who is not restricted: it is still
    # a message to the restricted person, and a merge is no way round their restriction.
    merged = client.post(f"/api/v1/cases/{case_id}/merge", json={"into_case_id": other.get_json()["case_id"]},
                         headers=adviser)
    assert merged.status_code == 200, merged.get_json()

    with app.app_context():
        assert delivery.deliver_and_reschedule(outbox_id) == "cancelled"
    assert app.extensions["senders"]["sms"].sent == []


def test_no_forwarding_and_no_feedback_for_a_restricted_customer(app, client, intake, adviser, admin, privacy):
    case_id, customer_id = _case(client, intake, adviser)
    authority = client.post("/api/v1/authorities", headers=admin,
                            json={"name": "Kela", "email": "kirjaamo@kela.example.fi"}).get_json()
    _restrict(client, privacy, customer_id)

    forward = client.post(f"/api/v1/cases/{case_id}/forward", headers=adviser,
                          json={"authority_id": authority["id"], "disclose": ["phone"], "legal_basis": "x"})
    assert_problem(forward, 409, "processing-restricted")

    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    assert client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["feedback"] == []


def test_a_feedback_request_scheduled_before_the_restriction_is_not_sent(app, client, intake, adviser, privacy):
    case_id, customer_id = _case(client, intake, adviser)
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    _restrict(client, privacy, customer_id)

    with app.app_context():
        assert send_due(FeedbackSettings.from_config(app.config), now=utcnow() + timedelta(hours=2)) == []
    assert client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["feedback"][0]["status"] == "skipped"


def test_a_feedback_request_scheduled_before_the_restriction_is_not_sent_after_its_case_is_merged(
        app, client, intake, adviser, privacy):
    case_id, customer_id = _case(client, intake, adviser)
    other = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-someone-else", "from": {"phone": "+358407654321"}, "body": "Hei"})
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    _restrict(client, privacy, customer_id)
    # The request moves to the other customer's case, and is still to the restricted person.
    merged = client.post(f"/api/v1/cases/{case_id}/merge", json={"into_case_id": other.get_json()["case_id"]},
                         headers=adviser)
    assert merged.status_code == 200, merged.get_json()

    with app.app_context():
        assert send_due(FeedbackSettings.from_config(app.config), now=utcnow() + timedelta(hours=2)) == []


def test_only_the_privacy_officer_corrects_a_restricted_customer(client, intake, adviser, privacy):
    _, customer_id = _case(client, intake, adviser)
    _restrict(client, privacy, customer_id)

    by_adviser = client.patch(f"/api/v1/customers/{customer_id}", json={"name": "Anna"}, headers=adviser)
    by_privacy_officer = client.patch(f"/api/v1/customers/{customer_id}", json={"name": "Anna A."}, headers=privacy)

    assert assert_problem(by_adviser, 409, "processing-restricted")["detail"] == (
        "The customer's processing is restricted: editing their details is not allowed while it lasts.")
    assert by_privacy_officer.status_code == 200 and by_privacy_officer.get_json()["name"] == "Anna A."


def test_lifting_the_restriction_allows_messages_again_and_both_are_audited(client, intake, adviser, privacy, admin):
    case_id, customer_id = _case(client, intake, adviser)
    _restrict(client, privacy, customer_id)

    lifted = client.delete(f"/api/v1/customers/{customer_id}/restriction", headers=privacy)

    assert lifted.status_code == 200 and lifted.get_json()["restricted"] is False
    assert client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei"},
                       headers=adviser).status_code == 201
    entries = {e["action"]: e for e in client.get(f"/api/v1/audit?object_type=customer&object_id={customer_id}",
                                                  headers=admin).get_json()["items"]}
    # A customer linked to no other record: no other record to name.
    assert entries["customer.restricted"]["details"] == {"request_id": None, "linked_customer_ids": []}
    assert entries["customer.restriction_lifted"]["details"] is None


def test_restriction_rules(client, intake, adviser, privacy):
    _, customer_id = _case(client, intake, adviser)
    assert client.post(f"/api/v1/customers/{customer_id}/restriction", headers=adviser,
                       json={"reason": "x"}).status_code == 403
    assert_problem(client.delete(f"/api/v1/customers/{customer_id}/restriction", headers=privacy), 409, "not-restricted")
    _restrict(client, privacy, customer_id)
    again = client.post(f"/api/v1/customers/{customer_id}/restriction", headers=privacy, json={"reason": "x"})
    assert_problem(again, 409, "already-restricted")
    assert_problem(client.post(f"/api/v1/customers/{customer_id}/restriction", headers=privacy, json={}), 422,
                   fields=["reason"])


@pytest.mark.parametrize("named_by", ["id", "phone"])
def test_no_case_is_opened_for_a_restricted_customer(client, intake, adviser, privacy, named_by):
    case_id, customer_id = _case(client, intake, adviser)
    _restrict(client, privacy, customer_id)
    ref = {"id": customer_id} if named_by == "id" else {"phone": PHONE}

    response = client.post("/api/v1/cases", json={"customer": ref, "subject": "Uusi asia"}, headers=adviser)

    assert_problem(response, 409, "processing-restricted")
    assert "Accuracy contested" not in response.get_data(as_text=True)
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 1


def test_a_restricted_customers_case_is_read_and_found_as_before_by_those_who_see_its_line(api, client, intake,
                                                                                        adviser, privacy, admin):
    case_id, customer_id = _case(client, intake, adviser)
    _restrict(client, privacy, customer_id)
    other_line = client.post("/api/v1/service-lines", headers=admin, json={"name": "Muu linja"}).get_json()
    elsewhere = api.headers_for("adviser", service_line_ids=[other_line["id"]])

    # The data is kept, and kept reachable to the line's officials: a restriction stops what goes
    # out to or about the person, not the work on their case (the notice shows on it).
    assert client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["customer"]["restricted"] is True
    for q in (PHONE, "Hei"):
        found = client.get("/api/v1/cases/search", query_string={"q": q}, headers=adviser).get_json()
        assert [hit["id"] for hit in found["items"]] == [case_id], q
        # Nor is it found any more than another case by an official of another line.
        assert client.get("/api/v1/cases/search", query_string={"q": q}, headers=elsewhere).get_json()["total"] == 0
    assert_problem(client.get(f"/api/v1/customers/{customer_id}", headers=elsewhere), 404)
