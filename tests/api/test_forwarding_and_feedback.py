"""Forwarding to another authority with exactly the chosen fields, the disclosure log, and the
SMS feedback request after a case closes (time controlled by the test, never slept)."""

from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest
from sqlalchemy import update

from service.db_types import utcnow
from service.extensions import db
from service.feedback.logic import FeedbackSettings, parse_score, send_due
from service.outbox import delivery
from tests.api.problems import assert_problem
from tests.conftest import Api
from tests.jobs import run_queued_jobs
from tests.twilio_fakes import ACCOUNT_SID, FakeTwilioHttp, inbound_sms, twilio_post

CUSTOMER_PHONE = "+358401234567"


@pytest.fixture
def twilio_http():
    return FakeTwilioHttp()


@pytest.fixture
def full_app(make_app, smtpd, twilio_http):
    """SMS through (fake) Twilio and email through a real local SMTP server."""
    controller, _ = smtpd
    return make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=twilio_http,
                    SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_STARTTLS=0,
                    MAIL_FROM="asiakaspalvelu@virasto.fi", MAIL_DOMAIN="virasto.fi")


def _case_with_customer(client, intake, adviser, *, phone=CUSTOMER_PHONE, email="anna@example.fi"):
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": f"SM-{phone}", "from": {"phone": phone}, "body": "Muutin Tampereelle"}).get_json()
    customer_id = client.get(f"/api/v1/cases/{posted['case_id']}", headers=adviser).get_json()["customer"]["id"]
    client.patch(f"/api/v1/customers/{customer_id}", json={"email": email, "name": "Anna Asiakas"}, headers=adviser)
    client.patch(f"/api/v1/cases/{posted['case_id']}", json={"question": "Muuttoilmoitus Tampereelle"}, headers=adviser)
    return posted["case_id"]


def _authority(client, admin, **fields):
    body = {"name": "Verohallinto", "email": "kirjaamo@vero.example.fi", "phone": "029 497 000"}
    body.update(fields)
    response = client.post("/api/v1/authorities", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- forwarding ------------------------------------------------------------------------------

def test_forwarding_sends_only_the_chosen_fields_and_logs_the_disclosure(full_app, smtpd, admin_for):
    _, inbox = smtpd
    client = full_app.test_client()
    admin, adviser = admin_for(full_app, "admin"), admin_for(full_app, "adviser")
    intake = Api(full_app, client).api_key_headers()
    case_id = _case_with_customer(client, intake, adviser)
    authority = _authority(client, admin)

    response = client.post(f"/api/v1/cases/{case_id}/forward", headers=adviser, json={
        "authority_id": authority["id"], "disclose": ["email"], "legal_basis": "Hallintolaki 21 §",
        "message": "Asia kuuluu teille: verotusta koskeva kysymys."})

    assert response.status_code == 201, response.get_json()
    assert response.get_json()["fields"] == ["email"]
    (disclosure,) = client.get(f"/api/v1/cases/{case_id}/disclosures", headers=adviser).get_json()["items"]
    assert disclosure["fields"] == ["email"] and disclosure["delivery_status"] == "sent"
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["kirjaamo@vero.example.fi"]
    mail = BytesParser(policy=policy.default).parsebytes(envelope.content)
    text = mail.get_body().get_content()
    assert "anna@example.fi" in text and "Asia kuuluu teille" in text
    assert "401234567" not in text and "Anna Asiakas" not in text and "Tampere" not in text
    assert "In-Reply-To" not in mail and "References" not in mail  # the customer's thread stays ours

    case = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()
    assert case["status"] == "forwarded"
    assert case["contacts"][-1]["recipient"] == "kirjaamo@vero.example.fi"
    log = client.get(f"/api/v1/cases/{case_id}/disclosures", headers=adviser).get_json()["items"]
    assert [(d["recipient"], d["fields"], d["legal_basis"], d["disclosed_by"]["id"]) for d in log] == [
        ("Verohallinto <kirjaamo@vero.example.fi>", ["email"], "Hallintolaki 21 §", adviser.id)]
    assert client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).status_code == 200


def test_forwarding_the_summary_alone_sends_the_subject_and_question_and_no_covering_message(full_app, smtpd,
                                                                                             admin_for):
    _, inbox = smtpd
    client = full_app.test_client()
    admin, adviser = admin_for(full_app, "admin"), admin_for(full_app, "adviser")
    intake = Api(full_app, client).api_key_headers()
    case_id = _case_with_customer(client, intake, adviser)
    client.patch(f"/api/v1/cases/{case_id}", json={"subject": "Muutto"}, headers=adviser)

    response = client.post(f"/api/v1/cases/{case_id}/forward", headers=adviser, json={
        "authority_id": _authority(client, admin)["id"], "disclose": ["summary"], "legal_basis": "Hallintolaki 21 §"})

    assert response.status_code == 201, response.get_json()
    (envelope,) = inbox.envelopes
    text = BytesParser(policy=policy.default).parsebytes(envelope.content).get_body().get_content()
    # No covering message: the letter starts with its heading; the summary is the case's subject
    # and question, and nothing of the customer comes with it.
    assert text.startswith("Siirretty asia / Överfört ärende / Forwarded matter")
    assert "Asia / Ärende / Matter: Muutto\r\nMuuttoilmoitus Tampereelle\r\n" in text
    assert "anna@example.fi" not in text and "401234567" not in text and "Anna Asiakas" not in text


def test_a_disclosure_made_outside_the_service_is_recorded_by_hand(client, intake, adviser):
    case_id = _case_with_customer(client, intake, adviser)

    response = client.post(f"/api/v1/cases/{case_id}/disclosures", headers=adviser, json={
        "recipient": "Poliisi, Helsingin poliisilaitos", "fields": ["name", "phone"],
        "legal_basis": "Poliisilaki 4 luku 3 §", "disclosed_at": "2026-11-20T10:00:00+02:00"})

    assert response.status_code == 201
    (entry,) = client.get(f"/api/v1/cases/{case_id}/disclosures", headers=adviser).get_json()["items"]
    assert entry["recorded_by_hand"] is True and entry["delivery_status"] is None
    assert entry["disclosed_at"] == "2026-11-20T08:00:00+00:00"


@pytest.mark.parametrize("body, status, field", [
    ({"authority_id": 999999, "disclose": ["email"], "legal_basis": "x"}, 422, "authority_id"),
    ({"disclose": [], "legal_basis": "x"}, 422, "disclose"),
    ({"disclose": ["shoe_size"], "legal_basis": "x"}, 422, "disclose"),
    ({"disclose": ["address"], "legal_basis": "x"}, 422, "disclose"),  # the customer has no address
    ({"disclose": ["email"]}, 422, "legal_basis"),
])
def test_bad_forwards_are_refused_and_nothing_is_sent(app, client, intake, adviser, admin, body, status, field):
    case_id = _case_with_customer(client, intake, adviser)
    authority = _authority(client, admin)
    body = {"authority_id": authority["id"], **body}

    response = client.post(f"/api/v1/cases/{case_id}/forward", headers=adviser, json=body)

    assert_problem(response, status, fields=[field])
    assert app.extensions["senders"]["email"].sent == []
    assert client.get(f"/api/v1/cases/{case_id}/disclosures", headers=adviser).get_json()["items"] == []


def test_forwarding_to_an_inactive_authority_is_a_conflict(client, intake, adviser, admin):
    case_id = _case_with_customer(client, intake, adviser)
    authority = _authority(client, admin)
    client.patch(f"/api/v1/authorities/{authority['id']}", json={"active": False}, headers=admin)

    response = client.post(f"/api/v1/cases/{case_id}/forward", headers=adviser,
                           json={"authority_id": authority["id"], "disclose": ["email"], "legal_basis": "x"})

    assert_problem(response, 409, "authority-inactive")


def test_a_closed_case_is_not_forwarded_and_nothing_is_disclosed(app, client, intake, adviser, admin):
    case_id = _case_with_customer(client, intake, adviser)
    authority = _authority(client, admin)
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)

    response = client.post(f"/api/v1/cases/{case_id}/forward", headers=adviser,
                           json={"authority_id": authority["id"], "disclose": ["email"], "legal_basis": "x"})

    assert_problem(response, 409, "invalid-transition")
    assert app.extensions["senders"]["email"].sent == []
    assert client.get(f"/api/v1/cases/{case_id}/disclosures", headers=adviser).get_json()["items"] == []


def test_a_forwarded_case_cannot_be_marked_waiting(client, intake, adviser, admin):
    case_id = _case_with_customer(client, intake, adviser)
    authority = _authority(client, admin)
    forwarded = client.post(f"/api/v1/cases/{case_id}/forward", headers=adviser,
                            json={"authority_id": authority["id"], "disclose": ["email"], "legal_basis": "x"})
    assert forwarded.status_code == 201, forwarded.get_json()

    response = client.patch(f"/api/v1/cases/{case_id}", json={"status": "waiting"}, headers=adviser)

    assert_problem(response, 409, "invalid-transition")
    assert client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["status"] == "forwarded"


def test_authorities_have_unique_names_and_an_unknown_one_is_404(client, admin):
    _authority(client, admin)

    again = client.post("/api/v1/authorities", headers=admin,
                        json={"name": "Verohallinto", "email": "toinen@vero.example.fi"})

    assert_problem(again, 409)
    assert_problem(client.get("/api/v1/authorities/999999", headers=admin), 404)
    assert [a["name"] for a in client.get("/api/v1/authorities", headers=admin).get_json()["items"]] == ["Verohallinto"]


def test_only_admins_manage_authorities_but_advisers_see_them(client, admin, adviser):
    assert client.post("/api/v1/authorities", json={"name": "X", "email": "x@example.fi"},
                       headers=adviser).status_code == 403
    _authority(client, admin)
    assert [a["name"] for a in client.get("/api/v1/authorities", headers=adviser).get_json()["items"]] == ["Verohallinto"]


def test_the_authority_list_filters_by_activity_and_by_part_of_the_name(client, admin, adviser):
    _authority(client, admin)
    _authority(client, admin, name="Poliisi 100%_", email="kirjaamo@poliisi.example.fi")
    closed = _authority(client, admin, name="Maistraatti", email="kirjaamo@maistraatti.example.fi")
    client.patch(f"/api/v1/authorities/{closed['id']}", json={"active": False}, headers=admin)

    def names(**query):
        return [a["name"] for a in client.get("/api/v1/authorities", query_string=query,
                                               headers=adviser).get_json()["items"]]

    assert names(active="true") == ["Poliisi 100%_", "Verohallinto"]
    assert names(active="false") == ["Maistraatti"]
    assert names(q="HALLINTO") == ["Verohallinto"]
    assert names(q="%_") == ["Poliisi 100%_"]  # the wildcards are searched for, not obeyed


# --- feedback --------------------------------------------------------------------------------

def _feedback(client, headers, case_id):
    return client.get(f"/api/v1/cases/{case_id}", headers=headers).get_json()["feedback"]


def _send_due(app, minutes_from_now):
    with app.app_context():
        send_due(FeedbackSettings.from_config(app.config), now=utcnow() + timedelta(minutes=minutes_from_now))
        delivery.sweep()
    run_queued_jobs(app)


def test_the_feedback_story_from_closing_to_the_customers_score(full_app, twilio_http, admin_for):
    client = full_app.test_client()
    adviser = admin_for(full_app, "adviser")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "1" * 32, from_=CUSTOMER_PHONE))
    case_id = client.get("/api/v1/cases", headers=adviser).get_json()["items"][0]["id"]

    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    assert [f["status"] for f in _feedback(client, adviser, case_id)] == ["scheduled"]

    _send_due(full_app, 59)  # not yet: the delay is an hour
    assert twilio_http.messages_sent == []
    _send_due(full_app, 61)
    (sent,) = twilio_http.messages_sent
    assert sent["data"]["To"] == CUSTOMER_PHONE and "1-5" in sent["data"]["Body"]
    assert sent["data"]["Body"].startswith("Miten onnistuimme?")

    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "2" * 32, from_=CUSTOMER_PHONE, body="5"))

    (feedback,) = _feedback(client, adviser, case_id)
    assert (feedback["status"], feedback["score"], feedback["answer_text"]) == ("answered", 5, None)
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 1  # no case was opened


def test_a_second_answer_replaces_the_first(full_app, admin_for):
    client = full_app.test_client()
    adviser = admin_for(full_app, "adviser")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "3" * 32, from_=CUSTOMER_PHONE))
    case_id = client.get("/api/v1/cases", headers=adviser).get_json()["items"][0]["id"]
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    _send_due(full_app, 61)

    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "4" * 32, from_=CUSTOMER_PHONE, body="3"))
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "5" * 32, from_=CUSTOMER_PHONE,
                                                            body=" 4 kiitos hyvä palvelu "))

    (feedback,) = _feedback(client, adviser, case_id)
    assert (feedback["score"], feedback["answer_text"]) == (4, "kiitos hyvä palvelu")


@pytest.mark.parametrize("body", ["0", "6", "five", "45", "Voinko vielä kysyä?"])
def test_anything_but_a_score_goes_to_normal_intake(full_app, admin_for, body):
    client = full_app.test_client()
    adviser = admin_for(full_app, "adviser")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "6" * 32, from_=CUSTOMER_PHONE))
    case_id = client.get("/api/v1/cases", headers=adviser).get_json()["items"][0]["id"]
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    _send_due(full_app, 61)

    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "7" * 32, from_=CUSTOMER_PHONE, body=body))

    assert _feedback(client, adviser, case_id)[0]["status"] == "sent"
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 2


def test_a_score_after_the_answer_window_is_an_ordinary_message(full_app, admin_for):
    client = full_app.test_client()
    adviser = admin_for(full_app, "adviser")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "8" * 32, from_=CUSTOMER_PHONE))
    case_id = client.get("/api/v1/cases", headers=adviser).get_json()["items"][0]["id"]
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    _send_due(full_app, 61)
    with full_app.app_context():  # it was sent four days ago; the window is three
        from service.feedback.models import FeedbackRequest
        db.session.execute(update(FeedbackRequest).values(sent_at=utcnow() - timedelta(days=4)))
        db.session.commit()

    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "9" * 32, from_=CUSTOMER_PHONE, body="5"))

    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 2
    assert _feedback(client, adviser, case_id)[0]["score"] is None


def test_reopening_before_the_send_cancels_the_request(full_app, twilio_http, admin_for):
    client = full_app.test_client()
    adviser = admin_for(full_app, "adviser")
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a" * 32, from_=CUSTOMER_PHONE))
    case_id = client.get("/api/v1/cases", headers=adviser).get_json()["items"][0]["id"]
    client.post(f"/api/v1/cases/{case_id}/close", headers=adviser)
    client.post(f"/api/v1/cases/{case_id}/reopen", headers=adviser)

    _send_due(full_app, 120)

    assert [f["status"] for f in _feedback(client, adviser, case_id)] == ["cancelled"]
    assert twilio_http.messages_sent == []


def test_no_request_for_opted_out_numbers_landlines_other_channels_or_too_soon_again(full_app, admin_for, api):
    client = full_app.test_client()
    adviser = admin_for(full_app, "adviser")
    intake = api.api_key_headers()

    def closed_case(phone, channel="sms", sid=None):
        body = {"channel": channel, "external_id": sid or f"x-{phone}-{channel}", "from": {"phone": phone}}
        if channel == "email":
            body["from"] = {"phone": phone, "email": "e@example.fi"}
        posted = client.post("/api/v1/inbound/messages", headers=intake, json=body).get_json()
        client.post(f"/api/v1/cases/{posted['case_id']}/close", headers=adviser)
        return posted["case_id"]

    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "b" * 32, from_="+358401110001", body="STOP"))
    assert _feedback(client, adviser, closed_case("+358401110001")) == []        # replied STOP
    assert _feedback(client, adviser, closed_case("+35891234567")) == []         # a landline
    assert _feedback(client, adviser, closed_case("+358401110002", channel="email")) == []
    first = closed_case("+358401110003", sid="first")
    again = closed_case("+358401110003", sid="again")
    assert len(_feedback(client, adviser, first)) == 1
    assert _feedback(client, adviser, again) == []                                # at most one a month


@pytest.mark.parametrize("text, expected", [
    ("5", (5, None)), (" 5 ", (5, None)), ("4 kiitos hyvä palvelu", (4, "kiitos hyvä palvelu")),
    ("3, ok", (3, "ok")), ("0", None), ("6", None), ("five", None), ("45", None), ("", None),
])
def test_scores_are_read_from_the_start_of_the_message(text, expected):
    assert parse_score(text) == expected
