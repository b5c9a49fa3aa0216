"""SMS over Twilio: signed inbound webhooks, opt-out words, replies through the outbox,
delivery status callbacks and retries. Twilio's own RequestValidator signs the requests; a
fake HTTP client stands in for Twilio's REST API."""

import json
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree

import pytest
import time_machine

from service.db_types import utcnow
from service.extensions import db
from service.outbox import delivery
from service.outbox.logic import DeliveryPolicy, deliver
from service.outbox.models import OutboxMessage
from tests.api.problems import assert_problem
from tests.conftest import PUBLIC_BASE_URL
from tests.jobs import delivery_status
from tests.twilio_fakes import ACCOUNT_SID, FakeTwilioHttp, inbound_sms, twilio_post


def _cases(client, headers):
    return client.get("/api/v1/cases", headers=headers).get_json()


def _twiml_messages(response):
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    root = ElementTree.fromstring(response.data)
    assert root.tag == "Response"
    return [m.text for m in root.findall("Message")]


@pytest.fixture
def twilio_http():
    return FakeTwilioHttp()


@pytest.fixture
def twilio_app(make_app, twilio_http):
    """An app sending SMS through Twilio's REST client, with the fake HTTP client underneath."""
    return make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223",
                    TWILIO_HTTP_CLIENT=twilio_http)


# --- inbound ---------------------------------------------------------------------------------

def test_signed_inbound_sms_opens_a_case_and_answers_with_empty_twiml(client, admin):
    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a" * 32, body="Missä hakemukseni on?"))

    assert _twiml_messages(response) == []
    cases = _cases(client, admin)
    assert cases["total"] == 1
    case = client.get(f"/api/v1/cases/{cases['items'][0]['id']}", headers=admin).get_json()
    assert case["channel"] == "sms"
    assert case["customer"]["phone"] == "+358401234567"
    assert case["contacts"][0]["body"] == "Missä hakemukseni on?"
    assert case["contacts"][0]["external_id"] == "SM" + "a" * 32


@pytest.mark.parametrize("signature", ["", "forged-signature"])
def test_inbound_sms_without_a_valid_signature_is_refused_and_nothing_is_stored(client, admin, signature):
    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "b" * 32), signature=signature)

    assert_problem(response, 403, "invalid-signature")
    assert _cases(client, admin)["total"] == 0


def test_inbound_sms_signed_with_another_token_is_refused(client, admin):
    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "c" * 32), token="other-token")

    assert response.status_code == 403
    assert _cases(client, admin)["total"] == 0


def test_inbound_sms_signed_over_another_host_is_refused(client, admin):
    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "d" * 32),
                           base="https://attacker.example")

    assert response.status_code == 403


def test_signature_covers_the_query_string_as_configured_in_twilio(client, admin):
    assert twilio_post(client, "/webhooks/twilio/sms?line=neuvonta", inbound_sms("SM" + "e" * 32)).status_code == 200


def test_signature_with_hmac_sha256_shared_key_settings_is_accepted(client, admin):
    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "f" * 32), algorithm="HMAC_SHA256")

    assert response.status_code == 200


@pytest.mark.parametrize("signed_over", ["https://cases.example.fi:443", "https://cases.example.fi"])
def test_a_signature_over_the_url_with_or_without_its_default_port_is_accepted(make_app, signed_over):
    # Twilio's signing has varied on whether the URL carries its default port; either form
    # of the configured URL is genuine, whichever form is configured.
    configured = "https://cases.example.fi" if ":443" in signed_over else "https://cases.example.fi:443"
    client = make_app(PUBLIC_BASE_URL=configured).test_client()

    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "7" * 32), base=signed_over)

    assert response.status_code == 200


def test_without_a_public_base_url__the_signature_is_checked_over_the_requests_own_url(make_app, admin_for):
    # No proxy in front: Twilio signed the URL the request arrived on, and no other is genuine.
    app = make_app(PUBLIC_BASE_URL="")
    client = app.test_client()

    refused = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "9" * 32))
    accepted = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "9" * 32), base="http://localhost")

    assert_problem(refused, 403, "invalid-signature")
    assert accepted.status_code == 200
    assert _cases(client, admin_for(app))["total"] == 1


def test_a_signature_with_an_unknown_algorithm_is_refused(client, admin):
    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "8" * 32), algorithm="HMAC_MD5",
                           signature="anything")

    assert_problem(response, 403, "invalid-signature")
    assert _cases(client, admin)["total"] == 0


def test_a_replayed_message_sid_creates_nothing_new(client, admin):
    params = inbound_sms("SM" + "1" * 32)
    for _ in range(3):
        assert twilio_post(client, "/webhooks/twilio/sms", params).status_code == 200

    cases = _cases(client, admin)
    assert cases["total"] == 1
    case = client.get(f"/api/v1/cases/{cases['items'][0]['id']}", headers=admin).get_json()
    assert len(case["contacts"]) == 1


def test_media_become_attachments_held_by_the_provider(client, admin):
    params = inbound_sms("MM" + "2" * 32, body="", NumMedia="2",
                         MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1",
                         MediaContentType0="image/jpeg",
                         MediaUrl1="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME2")
    assert twilio_post(client, "/webhooks/twilio/sms", params).status_code == 200

    case_id = _cases(client, admin)["items"][0]["id"]
    attachments = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["attachments"]
    # Numbered from 1, as the path taking messages one at a time names them.
    assert [(a["filename"], a["content_type"], a["downloadable"]) for a in attachments] == [
        ("media-1", "image/jpeg", False), ("media-2", "application/octet-stream", False)]
    download = client.get(f"/api/v1/cases/{case_id}/attachments/{attachments[0]['id']}", headers=admin)
    assert_problem(download, 409, "attachment-not-fetched")


def test_a_garbled_media_count_keeps_the_message_and_its_text(client, admin):
    params = inbound_sms("MM" + "4" * 32, body="Kuva tulossa", NumMedia="two",
                         MediaUrl0="https://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME1")
    assert twilio_post(client, "/webhooks/twilio/sms", params).status_code == 200

    case = client.get(f"/api/v1/cases/{_cases(client, admin)['items'][0]['id']}", headers=admin).get_json()
    assert case["contacts"][0]["body"] == "Kuva tulossa" and case["attachments"] == []


@pytest.mark.parametrize("sender", ["Posti", "12345", "+358"])
def test_senders_that_are_no_phone_number_are_kept_without_a_customer(client, admin, sender):
    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "3" * 32, from_=sender, body="Koodi 1234"))

    assert response.status_code == 200
    case = client.get(f"/api/v1/cases/{_cases(client, admin)['items'][0]['id']}", headers=admin).get_json()
    assert case["customer"] is None
    assert case["contacts"][0]["sender"] == sender


def test_a_message_without_message_sid_is_a_clear_400(client):
    params = inbound_sms("SM" + "4" * 32)
    del params["MessageSid"], params["SmsSid"]

    assert_problem(twilio_post(client, "/webhooks/twilio/sms", params), 400, "bad-request")


def test_an_empty_body_is_stored_as_an_empty_message(client, admin):
    assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "5" * 32, body="")).status_code == 200
    assert _cases(client, admin)["total"] == 1


def test_auto_reply_goes_out_only_when_a_message_opens_a_case(make_app, admin_for):
    app = make_app(SMS_AUTO_REPLY="Kiitos viestistä! Vastaamme pian.")
    client = app.test_client()

    first = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "6" * 32))
    second = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "7" * 32))

    # Twilio's answer is empty: the message is processed after it, and the auto-reply is a
    # message of the outbox, checked (opt-out, restriction) and tracked like every other.
    assert _twiml_messages(first) == _twiml_messages(second) == []
    sent = app.extensions["senders"]["sms"].sent
    assert [(m.to, m.body) for m in sent] == [("+358401234567", "Kiitos viestistä! Vastaamme pian.")]


def test_no_auto_reply_to_a_customer_whose_processing_is_restricted(make_app, admin_for):
    app = make_app(SMS_AUTO_REPLY="Kiitos viestistä! Vastaamme pian.")
    client = app.test_client()
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "6a" * 16))
    admin, privacy = admin_for(app), admin_for(app, "privacy_officer")
    (case,) = _cases(client, admin)["items"]
    customer_id = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()["customer"]["id"]
    assert client.post(f"/api/v1/cases/{case['id']}/close", headers=admin, json={}).status_code == 200
    restricted = client.post(f"/api/v1/customers/{customer_id}/restriction", headers=privacy,
                             json={"reason": "Accuracy contested"})
    assert restricted.status_code == 200, restricted.get_json()

    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "6b" * 16))  # opens a new case

    assert _cases(client, admin)["total"] == 2
    assert len(app.extensions["senders"]["sms"].sent) == 1  # the first case's auto-reply only


def test_a_reply_to_a_customer_whose_processing_is_restricted_is_refused_and_nothing_is_queued(app, client, api,
                                                                                                adviser, admin):
    _open_sms_case(client)
    (case,) = _cases(client, admin)["items"]
    customer_id = client.get(f"/api/v1/cases/{case['id']}", headers=admin).get_json()["customer"]["id"]
    assert client.post(f"/api/v1/customers/{customer_id}/restriction", headers=api.headers_for("privacy_officer"),
                       json={"reason": "Accuracy contested"}).status_code == 200

    reply = client.post(f"/api/v1/cases/{case['id']}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser)

    problem = assert_problem(reply, 409, "processing-restricted")
    # The official is told what the restriction stops.
    assert problem["detail"] == ("The customer's processing is restricted: sending them messages is not allowed "
                                 "while it lasts.")
    assert app.extensions["senders"]["sms"].sent == []
    with app.app_context():
        assert db.session.query(OutboxMessage).count() == 0


# --- opt-out words ---------------------------------------------------------------------------

def _open_sms_case(client, sid="SM" + "8" * 32, phone="+358401234567"):
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms(sid, from_=phone))


def _sms_case(client, headers) -> int:
    """The id of the case a customer's first SMS opens, as the official of ``headers`` finds it."""
    _open_sms_case(client)
    (case,) = _cases(client, headers)["items"]
    return case["id"]


@pytest.mark.parametrize("word", ["STOP", "stop", " Stop. ", "LOPETA", "sluta", "UNSUBSCRIBE"])
def test_opt_out_words_block_replies_and_open_no_case(client, adviser, admin, word):
    case_id = _sms_case(client, admin)

    assert _twiml_messages(twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "9" * 32, body=word))) == []

    assert _cases(client, admin)["total"] == 1
    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=adviser)
    # The official is told why nothing went out, and that nothing did.
    assert assert_problem(reply, 409, "sms-opted-out")["detail"] == (
        "The customer has opted out of SMS (replied STOP); nothing was sent.")


@pytest.mark.parametrize("word", ["START", "aloita", "BÖRJA"])
def test_start_words_lift_the_opt_out(client, adviser, admin, word):
    case_id = _sms_case(client, admin)
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a1" * 16, body="STOP"))
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a2" * 16, body=word))

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=adviser)

    assert reply.status_code == 201


def test_a_start_replayed_after_a_later_stop_does_not_opt_the_number_back_in(client, adviser, admin):
    case_id = _sms_case(client, admin)
    start = inbound_sms("SM" + "a4" * 16, body="START")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a3" * 16, body="STOP"))
    twilio_post(client, "/webhooks/twilio/sms", start)
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a5" * 16, body="STOP"))

    # The captured START, signature and all, sent again: Twilio's signature has no time in it.
    assert _twiml_messages(twilio_post(client, "/webhooks/twilio/sms", start)) == []

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=adviser)
    assert_problem(reply, 409, "sms-opted-out")


def test_stop_from_a_sender_that_is_no_number_is_answered_and_blocks_nothing(client, adviser, admin):
    case_id = _sms_case(client, admin)

    # Short codes and alphanumeric senders cannot be replied to, so there is nothing to block.
    answer = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a6" * 16, from_="KELA", body="STOP"))

    assert _twiml_messages(answer) == []
    assert _cases(client, admin)["total"] == 1
    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=adviser)
    assert reply.status_code == 201


def test_a_stop_and_a_start_from_a_customers_number_are_in_the_audit_log_without_the_number(client, admin):
    _open_sms_case(client)
    customer_id = client.get(f"/api/v1/cases/{_cases(client, admin)['items'][0]['id']}",
                             headers=admin).get_json()["customer"]["id"]
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a6" * 16, body="STOP"))
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a7" * 16, body="START"))
    # A number no customer has, and a sender that is no number: nothing to name in the log.
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a8" * 16, from_="+358409998877", body="STOP"))
    assert _twiml_messages(twilio_post(client, "/webhooks/twilio/sms",
                                       inbound_sms("SM" + "a9" * 16, from_="Posti", body="STOP"))) == []

    def entries(action):
        items = client.get("/api/v1/audit", query_string={"action": action}, headers=admin).get_json()["items"]
        return [(e["actor_type"], e["actor_id"], e["object_type"], e["object_id"], e["details"]) for e in items]

    assert entries("customer.sms_opt_out") == [("system", None, "customer", customer_id, None)]
    assert entries("customer.sms_opt_in") == [("system", None, "customer", customer_id, None)]


def test_a_sentence_containing_stop_is_an_ordinary_message(client, admin):
    _open_sms_case(client)
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "b1" * 16, body="Stop please, I moved"))

    case = client.get(f"/api/v1/cases/{_cases(client, admin)['items'][0]['id']}", headers=admin).get_json()
    assert [c["body"] for c in case["contacts"]] == ["Hei", "Stop please, I moved"]


def test_help_is_answered_with_the_configured_text(make_app):
    client = make_app(SMS_HELP_REPLY="Asiakaspalvelu: www.example.fi. Lopeta: LOPETA").test_client()

    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "c1" * 16, body="apua"))

    assert _twiml_messages(response) == ["Asiakaspalvelu: www.example.fi. Lopeta: LOPETA"]


def test_a_queued_reply_is_cancelled_when_the_customer_opts_out_before_delivery(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    with twilio_app.app_context():
        # A reply waiting in the outbox (written, not yet delivered) ...
        from service.outbox.logic import send_reply
        from service.auth.permissions import Principal
        result = send_reply(actor=Principal(kind="official", id=adviser.id, name="A", role="admin"),
                            case_id=case_id, channel="sms", body="Hei!")
        outbox_id = result.outbox.id
    # ... and the customer says STOP before it goes out.
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "d1" * 16, body="STOP"))

    with twilio_app.app_context():
        assert delivery.deliver_and_reschedule(outbox_id) == "cancelled"
    assert twilio_http.messages_sent == []


# --- replies ---------------------------------------------------------------------------------

def test_reply_on_the_embedded_default_is_recorded_by_the_console_backend(app, client, adviser, admin):
    case_id = _sms_case(client, admin)

    response = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hakemus on käsittelyssä."},
                           headers=adviser)

    assert response.status_code == 201
    body = response.get_json()
    assert delivery_status(app, body["delivery"]["id"]) == ("sent", None)
    assert body["contact"]["direction"] == "outbound"
    assert body["contact"]["recipient"] == "+358401234567"
    console = app.extensions["senders"]["sms"]
    assert [(m.to, m.body) for m in console.sent] == [("+358401234567", "Hakemus on käsittelyssä.")]
    case = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()
    assert case["status"] == "open"
    assert [c["direction"] for c in case["contacts"]] == ["inbound", "outbound"]


def test_reply_goes_through_twilio_with_the_status_callback(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)

    response = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=adviser)

    assert response.status_code == 201
    assert delivery_status(twilio_app, response.get_json()["delivery"]["id"]) == ("sent", None)
    (sent,) = twilio_http.messages_sent
    assert sent["uri"] == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert sent["data"]["To"] == "+358401234567"
    assert sent["data"]["From"] == "+358501112223"
    assert sent["data"]["Body"] == "Hei!"
    # The callback names the outbox row: Twilio's report ties its id to the row even if the
    # worker dies before writing the id down.
    outbox_id = response.get_json()["delivery"]["id"]
    assert sent["data"]["StatusCallback"] == f"https://cs.example.fi/webhooks/twilio/sms/status?outbox={outbox_id}"


def test_with_a_messaging_service_replies_go_through_it_instead_of_a_from_number(make_app, twilio_http, admin_for):
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223",
                   TWILIO_MESSAGING_SERVICE_SID="MG" + "7" * 32, TWILIO_HTTP_CLIENT=twilio_http)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    case_id = _sms_case(client, adviser)

    response = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=adviser)

    assert response.status_code == 201
    (sent,) = twilio_http.messages_sent
    assert sent["data"]["MessagingServiceSid"] == "MG" + "7" * 32
    assert "From" not in sent["data"]


def _delivery(app, outbox_id):
    with app.app_context():
        return db.session.get(OutboxMessage, outbox_id)


def test_status_callbacks_move_delivery_forward_only(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()
    sid = _delivery(twilio_app, reply["delivery"]["id"]).provider_id

    for status in ("sent", "delivered", "sent", "queued"):  # late and repeated callbacks
        callback = twilio_post(client, "/webhooks/twilio/sms/status",
                               {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID})
        assert callback.status_code == 204

    row = _delivery(twilio_app, reply["delivery"]["id"])
    assert row.status == "delivered" and row.delivered_at is not None


def test_a_send_twilio_answers_with_a_status_the_service_has_no_word_for_is_sent(twilio_app, twilio_http, admin_for):
    # Twilio has statuses the service does not map (and may add more): the message was accepted.
    twilio_http.message_status = "partially_delivered"
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")

    reply = client.post(f"/api/v1/cases/{_sms_case(client, adviser)}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()

    assert delivery_status(twilio_app, reply["delivery"]["id"]) == ("sent", None)
    assert len(twilio_http.messages_sent) == 1


class _DeliveredBeforeAnswered(FakeTwilioHttp):
    """Twilio whose delivery report reaches the service before its answer to the send does."""

    client = None

    def _answer(self, method, uri, data):
        answer = super()._answer(method, uri, data)
        if uri.endswith("/Messages.json") and answer.status_code == 201:
            path = data["StatusCallback"].removeprefix(PUBLIC_BASE_URL)
            report = twilio_post(self.client, path, {"MessageSid": json.loads(answer.text)["sid"],
                                                     "MessageStatus": "delivered", "AccountSid": ACCOUNT_SID})
            assert report.status_code == 204
        return answer


def test_a_delivery_report_that_overtakes_the_send_s_answer_is_kept(make_app, admin_for):
    http = _DeliveredBeforeAnswered()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=http)
    client = http.client = app.test_client()
    adviser = admin_for(app, "adviser")

    reply = client.post(f"/api/v1/cases/{_sms_case(client, adviser)}/replies", headers=adviser,
                        json={"channel": "sms", "body": "Hei!"}).get_json()

    # The answer ("queued") is written after the report: it must not move the row back to sent.
    row = _delivery(app, reply["delivery"]["id"])
    assert (row.status, row.provider_id) == ("delivered", "SM%032d" % 1)
    assert row.delivered_at is not None and row.sent_at is not None


def test_a_callback_naming_its_row_writes_the_providers_id_the_worker_died_before_writing(twilio_app, admin_for):
    from sqlalchemy import update

    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    _open_sms_case(client)
    _open_sms_case(client, sid="SM" + "7" * 32, phone="+358401234568")
    first_case, second_case = (c["id"] for c in _cases(client, adviser)["items"])
    rows = [client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()["delivery"]["id"] for case_id in (first_case, second_case)]
    # Both accepted by Twilio, and both workers died before writing down Twilio's id.
    with twilio_app.app_context():
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(rows))
                           .values(status="sending", provider_id=None))
        db.session.commit()

    def callback(row_id, sid, status, **extra):
        response = twilio_post(client, f"/webhooks/twilio/sms/status?outbox={row_id}",
                               {"MessageSid": sid, "MessageStatus": status, "AccountSid": ACCOUNT_SID, **extra})
        assert response.status_code == 204
        row = _delivery(twilio_app, row_id)
        return row.provider_id, row.status, row.last_error

    mine, other = "SM" + "b" * 32, "SM" + "c" * 32
    # A report on a sent message carries no error worth keeping, even with a code.
    assert callback(rows[0], mine, "sent", ErrorCode="30001") == (mine, "sent", None)
    # Found by its id from now on, with or without the row named; a row that has its id keeps it.
    assert callback(rows[0], mine, "delivered") == (mine, "delivered", None)
    assert callback(rows[0], other, "failed") == (mine, "delivered", None)
    # A status of the same rank never replaces a final one.
    assert callback(rows[0], mine, "undelivered", ErrorCode="30003") == (mine, "delivered", None)
    assert _delivery(twilio_app, rows[1]).provider_id is None  # the other row is not touched
    assert callback(rows[1], other, "sent") == (other, "sent", None)


def test_undelivered_callback_records_the_error_code(twilio_app, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()
    sid = _delivery(twilio_app, reply["delivery"]["id"]).provider_id

    twilio_post(client, "/webhooks/twilio/sms/status", {"MessageSid": sid, "MessageStatus": "undelivered",
                                                        "ErrorCode": "30003"})

    row = _delivery(twilio_app, reply["delivery"]["id"])
    assert (row.status, row.last_error) == ("undelivered", "provider error 30003")


def test_status_callback_for_an_unknown_message_is_acknowledged_and_changes_nothing(twilio_app, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()
    before = _delivery(twilio_app, reply["delivery"]["id"])
    case_before = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()

    response = twilio_post(client, "/webhooks/twilio/sms/status", {"MessageSid": "SM" + "0" * 32,
                                                                   "MessageStatus": "delivered"})

    assert response.status_code == 204
    after = _delivery(twilio_app, reply["delivery"]["id"])
    assert (after.status, after.delivered_at, after.last_error) == (before.status, None, before.last_error)
    assert client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json() == case_before


def test_status_callback_must_be_signed(client):
    response = twilio_post(client, "/webhooks/twilio/sms/status", {"MessageSid": "SMx", "MessageStatus": "delivered"},
                           signature="nope")
    assert response.status_code == 403


def test_a_refused_message_is_not_retried(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    twilio_http.fail_with = [(400, 21610)]  # Twilio: the recipient has replied STOP

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()

    row = _delivery(twilio_app, reply["delivery"]["id"])
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "21610: Twilio refused the message")
    with twilio_app.app_context():
        assert delivery.sweep() == 0
    assert len(twilio_http.messages_sent) == 1


def test_a_temporary_failure_is_retried_with_backoff_until_it_goes_through(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    twilio_http.fail_with = [(503, 20503), (500, 20500)]

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()
    outbox_id = reply["delivery"]["id"]
    row = _delivery(twilio_app, outbox_id)
    assert (row.status, row.attempts) == ("queued", 1)
    first_retry_at = row.next_attempt_at

    policy = DeliveryPolicy()
    with twilio_app.app_context():
        senders = twilio_app.extensions["senders"]
        # Not due yet: nothing happens.
        assert deliver(outbox_id, senders=senders, policy=policy, now=first_retry_at - timedelta(seconds=1)) == "queued"
        assert deliver(outbox_id, senders=senders, policy=policy, now=first_retry_at) == "queued"
        second = db.session.get(OutboxMessage, outbox_id)
        assert second.next_attempt_at - first_retry_at == timedelta(seconds=30)  # the documented second step
        assert deliver(outbox_id, senders=senders, policy=policy, now=second.next_attempt_at) == "sent"
    assert len(twilio_http.messages_sent) == 3


def test_a_retry_that_fails_again__is_put_back_on_the_queue_for_its_next_step(make_app, twilio_http, admin_for):
    """With RQ, a temporary failure schedules a job for the retry; when that job fails again it
    schedules the next one, on the backoff's next step, until the message goes through."""
    import os

    import fakeredis
    from redis import Redis
    from rq import Queue, SimpleWorker
    from rq.registry import FinishedJobRegistry, ScheduledJobRegistry

    from service.queue import flush_soon_enqueues

    url = os.environ.get("REDIS_URL")
    conn = Redis.from_url(url) if url else fakeredis.FakeStrictRedis()
    conn.flushdb()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223",
                   TWILIO_HTTP_CLIENT=twilio_http, REDIS_URL=url or "redis://fake")
    app.extensions["redis"] = conn
    queue, scheduled = Queue("default", connection=conn), ScheduledJobRegistry("default", connection=conn)
    client, adviser = app.test_client(), admin_for(app, "adviser")

    def work():
        # A webhook's processing is enqueued by a background thread a moment later: at once here.
        flush_soon_enqueues(app)
        with app.app_context():
            SimpleWorker([queue], connection=conn).work(burst=True)

    def the_scheduled_retry():
        (job_id,) = scheduled.get_job_ids()
        job = queue.fetch_job(job_id)
        assert (job.func_name, job.args) == ("service.jobs.deliver_outbox", (outbox_id,))
        due = _delivery(app, outbox_id).next_attempt_at
        # RQ keeps whole seconds (a job run early finds the row not due and is put back).
        assert scheduled.get_scheduled_time(job_id) == due.replace(microsecond=0)
        # Scheduled, not run at once only to find the row not yet due and schedule itself then.
        ran = [queue.fetch_job(i).func_name for i in FinishedJobRegistry(queue=queue).get_job_ids()]
        assert "service.jobs.deliver_outbox" not in ran and "service.jobs.drain_outbox" in ran
        return job, due

    _open_sms_case(client)
    work()
    case_id = _cases(client, adviser)["items"][0]["id"]
    twilio_http.fail_with = [(503, 20503), (500, 20500)]
    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()
    outbox_id = reply["delivery"]["id"]
    work()  # the drain job: the first attempt fails and schedules the retry
    job, at = the_scheduled_retry()
    assert (_delivery(app, outbox_id).status, _delivery(app, outbox_id).attempts) == ("queued", 1)

    scheduled.remove(job)
    with time_machine.travel(at, tick=False), app.app_context():
        job.perform()  # the retry falls due, and fails again
    job, second_at = the_scheduled_retry()
    row = _delivery(app, outbox_id)
    assert (row.status, row.attempts) == ("queued", 2)
    assert second_at - at == timedelta(seconds=30)  # the documented second step

    scheduled.remove(job)
    with time_machine.travel(second_at, tick=False), app.app_context():
        job.perform()
    assert scheduled.get_job_ids() == []
    assert _delivery(app, outbox_id).status == "sent" and len(twilio_http.messages_sent) == 3
    conn.flushdb()


# The documented defaults (docs/configuration.md, OUTBOX_MAX_ATTEMPTS): six attempts, waiting
# 10 s, 30 s, 2 min, 10 min and 30 min between them. Written out here, not read from the code.
DOCUMENTED_BACKOFF_SECONDS = [10, 30, 120, 600, 1800]
DOCUMENTED_MAX_ATTEMPTS = 6


def _fail_until_given_up(app, twilio_http, outbox_id, first_attempt_at):
    """Runs each retry when it falls due, with the policy the app's own wiring builds; returns
    the waits between attempts and the row at the end."""
    waits, attempted_at = [], first_attempt_at
    with app.app_context():
        while True:
            row = db.session.get(OutboxMessage, outbox_id)
            if row.status != "queued":
                return waits, row
            waits.append((row.next_attempt_at - attempted_at).total_seconds())
            attempted_at = row.next_attempt_at
            twilio_http.fail_with = [(503, 20503)]
            deliver(outbox_id, senders=app.extensions["senders"], policy=delivery.policy(), now=attempted_at)
            db.session.expire_all()


def test_a_failing_message_is_retried_on_the_documented_schedule_then_given_up(twilio_app, twilio_http,
                                                                                admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    twilio_http.fail_with = [(503, 20503)]
    sent_at = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    with time_machine.travel(sent_at, tick=False):
        reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                            headers=adviser).get_json()

    waits, row = _fail_until_given_up(twilio_app, twilio_http, reply["delivery"]["id"], sent_at)

    assert waits == DOCUMENTED_BACKOFF_SECONDS
    assert (row.status, row.attempts) == ("failed", DOCUMENTED_MAX_ATTEMPTS)
    assert len(twilio_http.messages_sent) == DOCUMENTED_MAX_ATTEMPTS  # each attempt reached the provider


def test_outbox_max_attempts_is_the_setting_the_worker_uses(make_app, twilio_http, admin_for):
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223",
                   TWILIO_HTTP_CLIENT=twilio_http, OUTBOX_MAX_ATTEMPTS=3)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    case_id = _sms_case(client, adviser)
    twilio_http.fail_with = [(503, 20503)]
    sent_at = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    with time_machine.travel(sent_at, tick=False):
        reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                            headers=adviser).get_json()

    waits, row = _fail_until_given_up(app, twilio_http, reply["delivery"]["id"], sent_at)

    assert waits == [10, 30]
    assert (row.status, row.attempts) == ("failed", 3)
    assert "gave up after 3 attempts" in row.last_error


def test_delivery_gives_up_after_the_last_attempt(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    policy = DeliveryPolicy(max_attempts=2)
    twilio_http.fail_with = [(503, 20503)] * 5

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()
    with twilio_app.app_context():
        row = db.session.get(OutboxMessage, reply["delivery"]["id"])
        status = deliver(row.id, senders=twilio_app.extensions["senders"], policy=policy,
                         now=row.next_attempt_at)

    assert status == "failed"
    assert "gave up after 2 attempts" in _delivery(twilio_app, reply["delivery"]["id"]).last_error


def test_delivering_the_same_row_twice_sends_once(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                        headers=adviser).get_json()

    with twilio_app.app_context():
        assert delivery.deliver_and_reschedule(reply["delivery"]["id"]) == "sent"

    assert len(twilio_http.messages_sent) == 1


def test_a_retry_job_whose_message_was_purged_with_its_case_sends_nothing(twilio_app, twilio_http):
    # A retry is scheduled as a job; the case (and its outbox rows) may be deleted before it runs.
    with twilio_app.app_context():
        assert db.session.scalar(db.select(db.func.max(OutboxMessage.id))) is None
        assert delivery.deliver_and_reschedule(1) == "missing"

    assert twilio_http.messages_sent == []


class _WorkerKilled(BaseException):
    """The worker's process ended while the provider was being asked: nothing after it ran."""


class _DyingSender:
    def send(self, message):
        raise _WorkerKilled


def test_a_row_whose_worker_died_mid_send_stays_sending_for_its_lease_then_goes_once(twilio_app, twilio_http,
                                                                                     admin_for):
    from service.auth.permissions import Principal
    from service.outbox.logic import due_for_delivery, send_reply

    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    policy = DeliveryPolicy(lease_seconds=60)
    with twilio_app.app_context():
        outbox_id = send_reply(actor=Principal(kind="official", id=adviser.id, name="A", role="adviser"),
                               case_id=case_id, channel="sms", body="Hei!").outbox.id
        now = utcnow()
        with pytest.raises(_WorkerKilled):
            deliver(outbox_id, senders={"sms": _DyingSender()}, policy=policy, now=now)
        db.session.rollback()
    row = _delivery(twilio_app, outbox_id)
    assert (row.status, row.attempts) == ("sending", 1)

    senders = twilio_app.extensions["senders"]
    with twilio_app.app_context():
        within_the_lease = now + timedelta(seconds=59)
        assert due_for_delivery(now=within_the_lease) == []
        assert deliver(outbox_id, senders=senders, policy=policy, now=within_the_lease) == "sending"
        at_its_end = now + timedelta(seconds=60)
        assert due_for_delivery(now=at_its_end) == [outbox_id]
        assert deliver(outbox_id, senders=senders, policy=policy, now=at_its_end) == "sent"
        # Sent is final: a job for the row arriving long after sends nothing.
        assert deliver(outbox_id, senders=senders, policy=policy, now=at_its_end + timedelta(hours=1)) == "sent"
    assert [m["data"]["Body"] for m in twilio_http.messages_sent] == ["Hei!"]
    assert _delivery(twilio_app, outbox_id).attempts == 2


class _PurgedWhileSent:
    """A provider that takes the message while the retention purge, in a session of its own,
    deletes the message's case and with it its outbox row."""

    def __init__(self, app):
        self.app, self.sent = app, []

    def send(self, message):
        from service.outbox.ports import SendResult

        with self.app.app_context():
            db.session.execute(db.delete(OutboxMessage).where(OutboxMessage.id == message.outbox_id))
            db.session.commit()
        self.sent.append(message.body)
        return SendResult(provider_id="SM" + "p" * 32)


def test_a_message_purged_with_its_case_while_it_was_sent_ends_its_job_as_missing(twilio_app, admin_for):
    from service.auth.permissions import Principal
    from service.outbox.logic import send_reply

    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(twilio_app.test_client(), adviser)
    provider = _PurgedWhileSent(twilio_app)
    with twilio_app.app_context():
        outbox_id = send_reply(actor=Principal(kind="official", id=adviser.id, name="A", role="adviser"),
                               case_id=case_id, channel="sms", body="Hei!").outbox.id

        assert deliver(outbox_id, senders={"sms": provider}, policy=DeliveryPolicy()) == "missing"

    assert provider.sent == ["Hei!"]


def test_the_same_idempotency_key_returns_the_first_reply_and_sends_once(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    headers = {**adviser, "Idempotency-Key": "double-click-1"}

    first = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=headers)
    second = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.get_json()["contact"]["id"] == second.get_json()["contact"]["id"]
    assert len(twilio_http.messages_sent) == 1
    case = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
    assert [c["direction"] for c in case["contacts"]] == ["inbound", "outbound"]


def test_a_reply_whose_idempotency_key_a_request_committed_first_answers_with_that_reply(twilio_app, twilio_http,
                                                                                         admin_for, monkeypatch):
    from service.outbox import logic

    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)
    headers = {**adviser, "Idempotency-Key": "double-click-2"}
    first = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=headers)
    # Two requests with one key in the same instant: the second looked for the key before the
    # first committed it, so only its own insert of the key tells it the reply exists.
    looks, replayed = [], logic._replayed

    def too_early_at_first(*args):
        looks.append(args)
        return None if len(looks) == 1 else replayed(*args)

    monkeypatch.setattr(logic, "_replayed", too_early_at_first)

    second = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=headers)

    assert second.status_code == 201, second.get_json()
    assert len(looks) == 2  # the look before writing, and the one after the key's insert failed
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.get_json()["contact"]["id"] == first.get_json()["contact"]["id"]
    assert len(twilio_http.messages_sent) == 1
    case = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
    assert [c["direction"] for c in case["contacts"]] == ["inbound", "outbound"]


def test_an_idempotency_key_replays_only_the_same_officials_reply_with_that_key(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser, colleague = admin_for(twilio_app, "adviser"), admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)

    def reply(headers, key, body):
        response = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": body},
                               headers={**headers, "Idempotency-Key": key})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["contact"]["id"]

    first = reply(adviser, "k-1", "Ensimmäinen")
    # Another key of the same official, and the same key of another official, are new replies.
    assert len({first, reply(adviser, "k-2", "Toinen"), reply(colleague, "k-1", "Kollegan")}) == 3
    assert sorted(m["data"]["Body"] for m in twilio_http.messages_sent) == ["Ensimmäinen", "Kollegan", "Toinen"]


def test_a_replayed_reply_shows_that_replys_delivery_as_it_stands_now(twilio_app, twilio_http, admin_for):
    client = twilio_app.test_client()
    adviser = admin_for(twilio_app, "adviser")
    case_id = _sms_case(client, adviser)

    def reply(key, body):
        response = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": body},
                               headers={**adviser, "Idempotency-Key": key})
        assert response.status_code == 201, response.get_json()
        return response

    earlier = reply("k-1", "Ensimmäinen").get_json()["delivery"]
    first = reply("k-2", "Toinen").get_json()["delivery"]
    assert first["id"] != earlier["id"]
    assert delivery_status(twilio_app, first["id"]) == ("sent", None)

    again = reply("k-2", "Toinen")

    assert again.headers["Idempotent-Replayed"] == "true"
    delivery = again.get_json()["delivery"]
    assert (delivery["id"], delivery["status"], delivery["attempts"]) == (first["id"], "sent", 1)
    assert delivery["sent_at"] is not None
    assert len(twilio_http.messages_sent) == 2


def test_a_retried_reply_is_answered_with_the_first_even_once_the_case_is_closed(app, client, adviser, admin):
    case_id = _sms_case(client, admin)
    headers = {**adviser, "Idempotency-Key": "sent-then-closed"}
    first = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=headers)
    assert client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).status_code == 200

    # The first answer was lost and the client retries: the reply exists, so it is the answer,
    # not a refusal to reply on a closed case.
    retry = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=headers)

    assert retry.status_code == 201, retry.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.get_json()["contact"]["id"] == first.get_json()["contact"]["id"]
    assert len(app.extensions["senders"]["sms"].sent) == 1


def test_an_idempotency_key_reused_on_another_case_is_a_conflict(client, adviser, admin):
    _open_sms_case(client, sid="SM" + "e1" * 16, phone="+358401234567")
    _open_sms_case(client, sid="SM" + "e2" * 16, phone="+358401234568")
    first_case, second_case = (c["id"] for c in _cases(client, admin)["items"])
    headers = {**adviser, "Idempotency-Key": "k-1"}

    assert client.post(f"/api/v1/cases/{first_case}/replies", json={"channel": "sms", "body": "A"},
                       headers=headers).status_code == 201
    reused = client.post(f"/api/v1/cases/{second_case}/replies", json={"channel": "sms", "body": "B"}, headers=headers)

    assert_problem(reused, 409, "idempotency-key-reused")


def test_an_idempotency_key_whose_reply_was_purged_with_its_case_replays_nothing(app, client, runner, adviser,
                                                                                 admin):
    case_id = _sms_case(client, admin)
    headers = {**adviser, "Idempotency-Key": "late-retry-1"}
    assert client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                       headers=headers).status_code == 201
    assert client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).status_code == 200
    purged = runner.invoke(args=["retention", "purge", "--as-of",
                                 (datetime.now(timezone.utc) + timedelta(days=400)).isoformat()])
    assert "deleted 1 cases" in purged.output, purged.output

    # A retry arriving after the purge: the key names nothing any more, and the case is gone.
    retry = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=headers)

    assert_problem(retry, 404, "not-found")
    with app.app_context():
        assert db.session.query(OutboxMessage).count() == 0


def test_reply_to_a_customer_without_a_phone_number_is_a_validation_error(client, adviser, intake):
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<m1@example.fi>", "from": {"email": "anna@example.fi"},
        "subject": "Kysymys", "body": "Hei"}).get_json()

    reply = client.post(f"/api/v1/cases/{posted['case_id']}/replies", json={"channel": "sms", "body": "Hei"},
                        headers=adviser)

    # The official is told why, in words, and which field to change.
    problem = assert_problem(reply, 422, "validation-failed", fields=["channel"])
    assert (problem["detail"], problem["errors"]) == ("The customer has no phone number to reply to.",
                                                      {"channel": ["No phone number on this case's customer."]})


def test_reply_on_a_closed_case_is_refused(client, adviser, admin):
    case_id = _sms_case(client, admin)
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei"}, headers=adviser)

    # The official is told what to do first.
    problem = assert_problem(reply, 409, "invalid-transition")
    assert problem["detail"] == "The case is closed; reopen it before replying."


@pytest.mark.parametrize("body", [{"channel": "sms"}, {"channel": "sms", "body": ""},
                                  {"channel": "fax", "body": "x"}, {"channel": "sms", "body": "x" * 1601},
                                  {"channel": "sms", "body": "x", "cc": "y"}])
def test_invalid_replies_are_422(client, adviser, admin, body):
    case_id = _sms_case(client, admin)

    assert client.post(f"/api/v1/cases/{case_id}/replies", json=body, headers=adviser).status_code == 422


def test_an_sms_reply_with_files_or_an_overlong_idempotency_key_is_422_naming_it(client, adviser, admin, intake):
    import base64

    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-with-a-file", "from": {"phone": "+358401234567"}, "body": "Liite",
        "attachments": [{"filename": "hakemus.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(b"%PDF-1.4\nhakemus\n%%EOF\n").decode()}]}).get_json()
    case_id = posted["case_id"]
    (attachment,) = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["attachments"]

    with_files = client.post(f"/api/v1/cases/{case_id}/replies", headers=adviser,
                             json={"channel": "sms", "body": "Liitteenä", "attachment_ids": [attachment["id"]]})
    long_key = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei"},
                           headers={**adviser, "Idempotency-Key": "k" * 129})

    assert_problem(with_files, 422, "validation-failed", fields=["attachment_ids"])
    assert_problem(long_key, 422, "validation-failed", fields=["Idempotency-Key"])
    assert [c["direction"] for c in client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["contacts"]] \
        == ["inbound"]


class _BrokenSender:
    """An adapter with a bug: neither of the two failures a sender may raise."""

    def send(self, message):
        raise KeyError("sid")


def test_a_sender_raising_something_unexpected_is_logged_and_retried_not_failed(app, client, adviser, admin,
                                                                                 caplog):
    case_id = _sms_case(client, admin)
    app.extensions["senders"]["sms"] = _BrokenSender()

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei"}, headers=adviser)

    assert reply.status_code == 201
    assert delivery_status(app, reply.get_json()["delivery"]["id"]) == ("queued", "KeyError")
    assert "sender for sms raised unexpectedly" in caplog.text


def test_a_reply_on_a_channel_with_no_sender_fails_for_good(app, client, adviser, admin):
    case_id = _sms_case(client, admin)
    del app.extensions["senders"]["sms"]

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei"}, headers=adviser)

    assert reply.status_code == 201
    assert delivery_status(app, reply.get_json()["delivery"]["id"]) == ("failed", "no sender for channel sms")


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 200


class FakeMedia:
    def __init__(self):
        self.requests = []

    def get(self, url, auth=None, timeout=None):
        from types import SimpleNamespace

        self.requests.append((url, auth))
        if url.endswith("/ME-exe"):
            return SimpleNamespace(status_code=200, content=b"MZ\x90\x00", headers={"Content-Type": "application/x-msdownload"})
        return SimpleNamespace(status_code=200, content=JPEG, headers={"Content-Type": "image/jpeg"})


def test_media_are_fetched_into_storage_when_configured(make_app, admin_for):
    media = FakeMedia()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, SMS_FETCH_MEDIA=1, TWILIO_MEDIA_GET=media.get)
    client, admin = app.test_client(), admin_for(app)
    params = inbound_sms("MM" + "f1" * 16, body="Kuva", NumMedia="2",
                         MediaUrl0="https://api.twilio.com/media/ME-jpeg", MediaContentType0="image/jpeg",
                         MediaUrl1="https://api.twilio.com/media/ME-exe", MediaContentType1="application/x-msdownload")

    assert twilio_post(client, "/webhooks/twilio/sms", params).status_code == 200

    case_id = _cases(client, admin)["items"][0]["id"]
    jpeg, exe = client.get(f"/api/v1/cases/{case_id}", headers=admin).get_json()["attachments"]
    assert (jpeg["downloadable"], jpeg["size"]) == (True, len(JPEG))
    assert exe["downloadable"] is False  # a refused type stays as metadata only
    with client.get(f"/api/v1/cases/{case_id}/attachments/{jpeg['id']}", headers=admin) as download:
        assert download.data == JPEG
    assert media.requests[0] == ("https://api.twilio.com/media/ME-jpeg", (ACCOUNT_SID, "test-twilio-auth-token"))


def test_a_reply_is_in_the_audit_log_as_the_official_who_sent_it(client, adviser, admin):
    case_id = _sms_case(client, admin)

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=adviser)

    assert reply.status_code == 201, reply.get_json()
    entries = client.get("/api/v1/audit?action=contact.created", headers=admin).get_json()["items"]
    (sent,) = [e for e in entries if e["details"]["direction"] == "outbound"]
    assert (sent["actor_type"], sent["actor_id"], sent["object_type"], sent["object_id"]) == (
        "official", adviser.id, "case", case_id)
    # The entry names the reply itself, and its channel, not only that something went out.
    assert sent["details"] == {"contact_id": reply.get_json()["contact"]["id"], "direction": "outbound",
                               "channel": "sms"}
