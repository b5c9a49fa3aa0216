"""Text that ends up in a mail header (a subject, a name, a Message-ID) with a line break in it
would make the message undeliverable for ever, or carry a header the sender wrote: it is refused
with 422 where it comes in, and a line break that arrives inside an encoded email subject is
folded to a space before it reaches a reply's header."""

from email import policy
from email.parser import BytesParser

import pytest

from tests.api.problems import assert_problem
from tests.api.test_email import SECRET, _post
from tests.jobs import delivery_status

BREAKS = ["Asia\r\nBcc: kaikki@example.com", "Asia\nX-Evil: 1", "Asia\rBcc: x", "Asia\u2028toinen rivi"]
FORM = {"name": "Sanna", "email": "sanna@example.se", "subject": "Flytt", "message": "Hej",
        "language": "sv", "submission_id": "form-crlf-000001"}


@pytest.fixture
def email_case(client, intake):
    response = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<first@example.fi>", "from": {"email": "anna@example.fi"},
        "subject": "Passi", "body": "Hei"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.mark.parametrize("subject", BREAKS)
def test_a_reply_subject_with_a_line_break_is_422_and_nothing_is_queued(client, adviser, email_case, subject):
    url = f"/api/v1/cases/{email_case['case_id']}/replies"

    assert_problem(client.post(url, headers=adviser, json={"channel": "email", "body": "Hei", "subject": subject}),
                   422, "validation-failed", fields=["subject"])
    contacts = client.get(f"/api/v1/cases/{email_case['case_id']}", headers=adviser).get_json()["contacts"]
    assert [c["direction"] for c in contacts] == ["inbound"]


@pytest.mark.parametrize("field", ["subject", "name"])
def test_a_web_form_with_a_line_break_in_a_header_field_is_422(client, adviser, field):
    response = client.post("/api/v1/inbound/webform", json={**FORM, field: BREAKS[0]})

    assert_problem(response, 422, "validation-failed", fields=[field])
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 0


def test_a_case_subject_with_a_line_break_is_422_when_opened_or_changed(client, adviser, email_case):
    assert_problem(client.post("/api/v1/cases", headers=adviser, json={"subject": BREAKS[1]}), 422,
                   fields=["subject"])
    assert_problem(client.patch(f"/api/v1/cases/{email_case['case_id']}", headers=adviser,
                                json={"subject": BREAKS[1]}), 422, fields=["subject"])


@pytest.mark.parametrize("body, field", [
    ({"subject": BREAKS[0]}, "subject"),
    ({"external_id": "<a@example.fi>\r\nBcc: x@example.com"}, "external_id"),
])
def test_an_inbound_email_with_a_line_break_in_a_header_field_is_422(client, intake, body, field):
    message = {"channel": "email", "external_id": "<b@example.fi>", "from": {"email": "anna@example.fi"},
               "body": "Hei", **body}

    assert_problem(client.post("/api/v1/inbound/messages", headers=intake, json=message), 422, fields=[field])


def test_a_hand_logged_contact_with_a_line_break_in_its_message_id_is_422(client, adviser, email_case):
    response = client.post(f"/api/v1/cases/{email_case['case_id']}/contacts", headers=adviser,
                           json={"channel": "email", "external_id": "<c@example.fi>\nBcc: x@example.com"})

    assert_problem(response, 422, fields=["external_id"])


def test_an_authority_name_with_a_line_break_is_422(client, admin):
    response = client.post("/api/v1/authorities", headers=admin,
                           json={"name": "Poliisi\r\nBcc: x@example.com", "email": "kirjaamo@poliisi.fi"})

    assert_problem(response, 422, fields=["name"])


@pytest.fixture
def smtp_app(make_app, smtpd):
    controller, _ = smtpd
    return make_app(EMAIL_WEBHOOK_SECRET=SECRET, SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_STARTTLS=0,
                    MAIL_FROM="asiakaspalvelu@virasto.fi", MAIL_DOMAIN="virasto.fi")


def test_an_encoded_line_break_in_an_email_subject_is_folded_in_the_reply(smtp_app, smtpd, admin_for):
    _, inbox = smtpd
    client = smtp_app.test_client()
    adviser = admin_for(smtp_app, "adviser")
    raw = (b"From: anna@example.fi\r\nTo: asiakaspalvelu@virasto.fi\r\n"
           b"Subject: =?utf-8?q?Passi=0D=0ABcc:_kaikki@example.com?=\r\nMessage-ID: <enc.1@example.fi>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\nHei\r\n")
    first = _post(client, raw).get_json()

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "body": "Hei Anna"})

    assert reply.status_code == 201, reply.get_json()
    assert delivery_status(smtp_app, reply.get_json()["delivery"]["id"]) == ("sent", None)
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["anna@example.fi"]
    sent = BytesParser(policy=policy.default).parsebytes(envelope.content)
    # Each of the two breaks is a space: the customer reads their own subject, on one line.
    assert sent["Subject"] == f"Re: Passi  Bcc: kaikki@example.com [#{first['case_reference']}]"
    assert sent["Bcc"] is None
