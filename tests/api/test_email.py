"""Email: real MIME messages in, threading, and replies out through a real SMTP server."""

import base64
import hashlib
import hmac
import io
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
import time_machine

from service.auth.permissions import Principal
from service.extensions import db
from service.outbox import delivery
from service.outbox.logic import send_reply
from service.outbox.models import OutboxMessage
from tests.api.problems import assert_problem
from tests.jobs import delivery_status
from tests.metrics import metric
from tests.smtp_server import free_port

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "email"
SECRET = "gateway-secret"


def _eml(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def _signed(raw: bytes) -> dict:
    digest = hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={digest}", "Content-Type": "message/rfc822"}


@pytest.fixture
def mail_app(make_app):
    return make_app(EMAIL_WEBHOOK_SECRET=SECRET, MAILGUN_SIGNING_KEY="mg-key", SENDGRID_INBOUND_SECRET="sg-secret",
                    MAIL_DOMAIN="virasto.fi")


@pytest.fixture
def mail_client(mail_app):
    return mail_app.test_client()


@pytest.fixture
def staff(mail_app, admin_for):
    return admin_for(mail_app, "admin")


def _post(client, raw: bytes):
    return client.post("/webhooks/email", data=raw, headers=_signed(raw))


def _case_of(client, headers, response):
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    return client.get(f"/api/v1/cases/{response.get_json()['case_id']}", headers=headers).get_json()


def _total(client, headers):
    return client.get("/api/v1/cases", headers=headers).get_json()["total"]


# --- parsing real messages -------------------------------------------------------------------

def test_utf8_quoted_printable_message_with_encoded_words(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("plain_utf8_qp.eml")))

    contact = case["contacts"][0]
    assert case["subject"] == "Oleskeluluvan käsittelyaika"
    assert "kuinka kauan oleskeluluvan käsittely kestää? Hakemukseni jätin syyskuussa." in contact["body"]
    assert contact["sender"] == "matti.meikalainen@example.fi"
    assert contact["sender_name"] == "Matti Meikäläinen"
    assert contact["external_id"] == "<20261126091200.1234@example.fi>"
    assert case["customer"]["email"] == "matti.meikalainen@example.fi"


def test_iso_8859_1_headers_and_8bit_body(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("latin1_encoded_word.eml")))

    assert case["subject"] == "Fråga om flyttänmälan"
    assert "Jag har flyttat till Åbo. Hur gör jag flyttanmälan? Tack på förhand." in case["contacts"][0]["body"]
    assert case["contacts"][0]["sender_name"] == "Björn Åkesson"


def test_windows_1252_body(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("windows1252.eml")))
    assert "Maksoin 120 € väärälle tilille – voiko sen palauttaa?" in case["contacts"][0]["body"]


def test_plain_text_is_preferred_over_html(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("alternative_html.eml")))
    assert case["contacts"][0]["body"] == "Tekstiversio: haluan muuttaa osoitettani."


def test_html_only_mail_becomes_safe_text(mail_client, staff):
    body = _case_of(mail_client, staff, _post(mail_client, _eml("html_only_script.eml")))["contacts"][0]["body"]

    assert "Hei," in body and "päätös tuli & kiitos!" in body
    assert "alert" not in body and "<" not in body and "color:red" not in body


def test_attachments_and_inline_images_are_stored_and_refused_types_kept_as_metadata(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("attachment_pdf_inline_image.eml")))

    files = {a["filename"]: a for a in case["attachments"]}
    assert set(files) == {"logo.png", "kuitti ä.pdf", "setup.exe"}
    assert files["kuitti ä.pdf"]["content_type"] == "application/pdf" and files["kuitti ä.pdf"]["downloadable"]
    assert files["logo.png"]["downloadable"]
    assert files["setup.exe"]["downloadable"] is False and files["setup.exe"]["size"] == 40
    assert files["setup.exe"]["content_type"] == "application/x-msdownload"
    assert {a["contact_id"] for a in case["attachments"]} == {case["contacts"][0]["id"]}
    with mail_client.get(f"/api/v1/cases/{case['id']}/attachments/{files['kuitti ä.pdf']['id']}",
                         headers=staff) as download:
        assert download.data.startswith(b"%PDF-1.4")
        assert hashlib.sha256(download.data).hexdigest() == files["kuitti ä.pdf"]["sha256"]
    assert "Kuitti liitteenä." in case["contacts"][0]["body"]


def test_an_attachment_over_the_limit_is_kept_as_metadata_and_the_message_is_stored(make_app, admin_for):
    app = make_app(EMAIL_WEBHOOK_SECRET=SECRET, MAX_ATTACHMENT_BYTES=20)
    client = app.test_client()
    case = _case_of(client, admin_for(app), _post(client, _eml("attachment_pdf_inline_image.eml")))

    pdf = next(a for a in case["attachments"] if a["filename"] == "kuitti ä.pdf")
    assert pdf["downloadable"] is False and pdf["size"] > 20


def test_a_wrong_charset_label_still_gives_readable_text(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("wrong_charset.eml")))
    assert "Hyvää päivää, tässä viesti." in case["contacts"][0]["body"]


def test_raw_8bit_headers_are_read_as_utf8(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("8bit_headers.eml")))
    assert case["subject"] == "Ärende om pass – brådskande"


@pytest.mark.parametrize("name", ["no_body.eml", "malformed.eml"])
def test_messages_without_a_body_or_with_broken_structure_are_kept(mail_client, staff, name):
    response = _post(mail_client, _eml(name))
    assert response.status_code == 201
    assert _total(mail_client, staff) == 1


def test_nul_characters_in_a_raw_message_are_replaced_and_the_message_is_kept(mail_client, staff):
    raw = (b"From: Nu\x00lla <nulla@example.fi>\r\nTo: asiakaspalvelu@virasto.fi\r\nSubject: Ha\x00ku\r\n"
           b"Message-ID: <nul.1@example.fi>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nRivi\x00toinen\r\n")

    case = _case_of(mail_client, staff, _post(mail_client, raw))

    assert case["subject"] == "Ha\ufffdku"
    assert case["contacts"][0]["body"].startswith("Rivi\ufffdtoinen")
    assert "\x00" not in str(case)


def test_a_message_without_from_is_a_clear_422(mail_client, staff):
    assert_problem(_post(mail_client, _eml("no_from.eml")), 422, "validation-failed")
    assert _total(mail_client, staff) == 0


def test_a_nested_multipart_bomb_is_refused(mail_client, staff):
    raw = b"From: a@example.fi\r\nMessage-ID: <bomb@example.fi>\r\nMIME-Version: 1.0\r\n"
    body = b"x\r\n"
    for depth in range(60):
        body = (b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (depth, depth) + body
                + b"\r\n--b%d--\r\n" % depth)
    response = _post(mail_client, raw + body)

    assert_problem(response, 422, "validation-failed")
    assert _total(mail_client, staff) == 0


def test_the_message_id_is_the_idempotency_key(mail_client, staff):
    raw = _eml("plain_utf8_qp.eml")
    first, second = _post(mail_client, raw), _post(mail_client, raw)

    assert (first.status_code, second.status_code) == (201, 200)
    assert first.get_json()["contact_id"] == second.get_json()["contact_id"]


# --- automatic mail --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["autoreply.eml", "bounce_dsn.eml"])
def test_auto_replies_and_bounces_open_no_case(mail_client, staff, name):
    response = _post(mail_client, _eml(name))

    assert response.status_code == 200
    assert response.get_json() == {"contact_id": None, "case_id": None, "case_reference": None, "created_case": False}
    assert _total(mail_client, staff) == 0


def test_an_auto_reply_naming_a_case_joins_it(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("plain_utf8_qp.eml")))
    raw = _eml("autoreply.eml").replace(b"Subject: Poissa:", b"Subject: [#" + case["reference"].encode() + b"] Poissa:")

    assert _post(mail_client, raw).status_code == 201
    assert _total(mail_client, staff) == 1


def _stranger_mail(subject: str, *, in_reply_to: str | None = None, auto: bool = False) -> bytes:
    headers = (f"From: Vieras <vieras@example.com>\r\nTo: asiakaspalvelu@virasto.fi\r\nSubject: {subject}\r\n"
               f"Message-ID: <stranger.{abs(hash((subject, in_reply_to, auto)))}@example.com>\r\n")
    if in_reply_to:
        headers += f"In-Reply-To: {in_reply_to}\r\n"
    if auto:
        headers += "Auto-Submitted: auto-replied\r\n"
    return (headers + "Content-Type: text/plain; charset=utf-8\r\n\r\nLiittäkää tämä asiaan.\r\n").encode()


def test_a_stranger_naming_a_case_reference_gets_a_case_of_their_own_linked_to_it(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("plain_utf8_qp.eml")))

    posted = _post(mail_client, _stranger_mail(f"Re: [#{case['reference']}] asia"))

    assert posted.status_code == 201 and posted.get_json()["created_case"] is True
    stranger = _case_of(mail_client, staff, posted)
    assert stranger["id"] != case["id"] and stranger["linked_case_id"] == case["id"]
    assert stranger["customer"]["email"] == "vieras@example.com"
    named = mail_client.get(f"/api/v1/cases/{case['id']}", headers=staff).get_json()
    assert len(named["contacts"]) == 1 and named["linked_case_id"] is None


def test_a_stranger_answering_one_of_our_message_ids_does_not_join_its_case(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("plain_utf8_qp.eml")))
    message_id = case["contacts"][0]["external_id"]

    stranger = _case_of(mail_client, staff, _post(mail_client, _stranger_mail("Kiitos", in_reply_to=message_id)))

    assert stranger["id"] != case["id"] and stranger["linked_case_id"] == case["id"]


def _customers_mail(message_id: str, *, sender: str = "Matti <matti@example.fi>", to: str = "asiakaspalvelu@virasto.fi",
                    subject: str = "Asia", references: str | None = None) -> bytes:
    headers = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n")
    if references:
        headers += f"References: {references}\r\n"
    return (headers + "Content-Type: text/plain; charset=utf-8\r\n\r\nHei.\r\n").encode()


def _line_receiving_mail_at(client, staff, name: str, address: str) -> None:
    line = client.post("/api/v1/service-lines", headers=staff, json={"name": name, "email_addresses": [address]})
    assert line.status_code == 201, line.get_json()


def test_an_answer_naming_messages_of_two_open_cases_joins_the_case_of_the_latest_of_them(mail_client, staff):
    for name, address in (("Muutot", "muutot@virasto.fi"), ("Neuvonta", "neuvonta@virasto.fi")):
        _line_receiving_mail_at(mail_client, staff, name, address)
    # The older message's id sorts first: a query in no order would give its case.
    older = _case_of(mail_client, staff,
                     _post(mail_client, _customers_mail("<a.older@example.fi>", to="muutot@virasto.fi")))
    newer = _case_of(mail_client, staff,
                     _post(mail_client, _customers_mail("<b.newer@example.fi>", to="neuvonta@virasto.fi")))
    assert older["id"] != newer["id"]

    answer = _post(mail_client, _customers_mail("<c.answer@example.fi>", subject="Re: Asia",
                                                references="<a.older@example.fi> <b.newer@example.fi>")).get_json()

    assert answer["case_id"] == newer["id"] and answer["created_case"] is False


def test_an_answer_naming_no_message_of_ours_joins_the_customers_own_case_not_the_last_one_written_to(mail_client,
                                                                                                      staff):
    own = _case_of(mail_client, staff, _post(mail_client, _customers_mail("<own.1@example.fi>")))
    _post(mail_client, _stranger_mail("Toinen asia"))  # another customer's case, written to last

    answer = _post(mail_client, _customers_mail("<own.2@example.fi>", subject="Re: Asia",
                                                references="<unknown.1@elsewhere.example>")).get_json()

    assert answer["case_id"] == own["id"] and answer["created_case"] is False


def test_an_answer_naming_the_id_of_a_contact_on_another_channel_does_not_join_that_case(mail_client, staff, api):
    webform = api.inbound(api.api_key_headers(), channel="webform", external_id="<shared.1@example.fi>",
                          **{"from": {"email": "matti@example.fi", "name": "Matti"}}).get_json()

    answer = _post(mail_client, _customers_mail("<own.3@example.fi>", references="<shared.1@example.fi>")).get_json()

    assert answer["case_id"] != webform["case_id"] and answer["created_case"] is True


def test_an_answer_to_a_message_of_a_closed_case_opens_a_new_case(mail_client, staff):
    closed = _case_of(mail_client, staff, _post(mail_client, _customers_mail("<closing.1@example.fi>")))
    assert mail_client.post(f"/api/v1/cases/{closed['id']}/close", headers=staff).status_code == 200

    answer = _post(mail_client, _customers_mail("<closing.2@example.fi>", subject="Re: Asia",
                                                references="<closing.1@example.fi>")).get_json()

    assert answer["created_case"] is True and answer["case_id"] != closed["id"]
    assert len(mail_client.get(f"/api/v1/cases/{closed['id']}", headers=staff).get_json()["contacts"]) == 1


def test_an_answer_naming_an_id_an_official_logged_by_hand_is_not_threaded_by_it(mail_client, staff):
    _line_receiving_mail_at(mail_client, staff, "Muutot", "muutot@virasto.fi")
    case = _case_of(mail_client, staff, _post(mail_client, _customers_mail("<logged.1@example.fi>",
                                                                              to="muutot@virasto.fi")))
    logged = mail_client.post(f"/api/v1/cases/{case['id']}/contacts", headers=staff,
                              json={"channel": "email", "external_id": "<typed.1@example.fi>", "body": "Soitto"})
    assert logged.status_code == 201, logged.get_json()

    # To the default line, where the customer has no case: only a provider's id would thread it to theirs.
    answer = _post(mail_client, _customers_mail("<logged.2@example.fi>", references="<typed.1@example.fi>")).get_json()

    assert answer["created_case"] is True and answer["case_id"] != case["id"]


def test_an_auto_reply_from_a_stranger_naming_a_case_is_not_stored(mail_client, staff):
    case = _case_of(mail_client, staff, _post(mail_client, _eml("plain_utf8_qp.eml")))

    response = _post(mail_client, _stranger_mail(f"Poissa: [#{case['reference']}]", auto=True))

    assert response.status_code == 200
    assert _total(mail_client, staff) == 1


# --- authentication --------------------------------------------------------------------------

def test_an_unsigned_or_wrongly_signed_message_is_refused(mail_client, staff):
    raw = _eml("plain_utf8_qp.eml")
    assert_problem(mail_client.post("/webhooks/email", data=raw, headers={"Content-Type": "message/rfc822"}),
                   403, "invalid-signature")
    bad = {"X-Signature": "sha256=" + "0" * 64, "Content-Type": "message/rfc822"}
    assert mail_client.post("/webhooks/email", data=raw, headers=bad).status_code == 403
    assert _total(mail_client, staff) == 0


def test_an_intake_api_key_may_post_raw_mail(mail_app, mail_client, staff, api):
    key = api.api_key_headers()
    response = mail_client.post("/webhooks/email", data=_eml("windows1252.eml"),
                                headers={**key, "Content-Type": "message/rfc822"})
    assert response.status_code == 201


def test_raw_mail_must_be_message_rfc822(mail_client):
    raw = _eml("plain_utf8_qp.eml")
    headers = {**_signed(raw), "Content-Type": "text/plain"}
    assert_problem(mail_client.post("/webhooks/email", data=raw, headers=headers), 415, "unsupported-media-type")


def test_a_mail_that_is_only_a_file_opens_a_case_with_the_file_and_no_text(mail_client, staff):
    # Some scanners mail the scan as the whole message: no text part, the PDF is the body.
    pdf = b"%PDF-1.4\n" + b"0" * 300
    raw = (b"From: Skanneri <scanner@example.fi>\r\nTo: asiakaspalvelu@virasto.fi\r\nSubject: Skannaus\r\n"
           b"Message-ID: <scan-1@example.fi>\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\n"
           b"Content-Disposition: attachment; filename=\"skannaus.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + base64.encodebytes(pdf).replace(b"\n", b"\r\n"))

    case = _case_of(mail_client, staff, _post(mail_client, raw))

    assert case["contacts"][0]["body"] == ""
    (attachment,) = case["attachments"]
    assert (attachment["filename"], attachment["content_type"]) == ("skannaus.pdf", "application/pdf")
    with mail_client.get(f"/api/v1/cases/{case['id']}/attachments/{attachment['id']}", headers=staff) as download:
        assert download.data == pdf


def _mailgun_form(raw: bytes, key="mg-key", timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else timestamp)
    token = "t" * 50
    signature = hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": signature, "body-mime": raw.decode("utf-8"),
            "recipient": "asiakaspalvelu@virasto.fi"}


def test_mailgun_raw_mime_route(mail_client, staff):
    response = mail_client.post("/webhooks/email/mailgun", data=_mailgun_form(_eml("8bit_headers.eml")))
    assert _case_of(mail_client, staff, response)["subject"] == "Ärende om pass – brådskande"


@pytest.mark.parametrize("form", [
    _mailgun_form(b"From: a@example.fi\r\n\r\nx", key="wrong"),
    _mailgun_form(b"From: a@example.fi\r\n\r\nx", timestamp=1_000_000_000),
    pytest.param({"body-mime": "From: a@example.fi\r\n\r\nx", "recipient": "asiakaspalvelu@virasto.fi"},
                 id="no-signature"),
])
def test_mailgun_posts_with_a_bad_or_stale_signature_are_refused(mail_client, form):
    assert mail_client.post("/webhooks/email/mailgun", data=form).status_code == 403


def test_a_mailgun_signature_reused_with_another_body_is_refused(mail_client, staff):
    first = _mailgun_form(_eml("8bit_headers.eml"))
    assert mail_client.post("/webhooks/email/mailgun", data=first).status_code == 201
    forged = {**first, "body-mime": "From: someone@example.fi\r\nSubject: Forged\r\nMessage-ID: <f@x>\r\n\r\nx"}

    response = mail_client.post("/webhooks/email/mailgun", data=forged)

    assert_problem(response, 403, "replayed-signature")
    assert _total(mail_client, staff) == 1


def test_mailgun_retrying_the_same_post_is_not_a_replay(mail_client, staff):
    form = _mailgun_form(_eml("8bit_headers.eml"))
    assert mail_client.post("/webhooks/email/mailgun", data=form).status_code == 201

    again = mail_client.post("/webhooks/email/mailgun", data=form)

    assert again.status_code == 200, again.get_data(as_text=True)
    assert _total(mail_client, staff) == 1


def test_a_mailgun_timestamp_ahead_of_our_clock_is_refused(mail_client, staff):
    form = _mailgun_form(b"From: a@example.fi\r\n\r\nx", timestamp=int(time.time()) + 240)

    assert_problem(mail_client.post("/webhooks/email/mailgun", data=form), 403, "invalid-signature")
    assert _total(mail_client, staff) == 0


def test_sendgrid_inbound_parse_raw_mode(mail_client, staff):
    raw = _eml("plain_utf8_qp.eml").decode("utf-8")
    response = mail_client.post("/webhooks/email/sendgrid?key=sg-secret",
                                data={"email": raw, "to": "asiakaspalvelu@virasto.fi"},
                                content_type="multipart/form-data")
    assert _case_of(mail_client, staff, response)["subject"] == "Oleskeluluvan käsittelyaika"
    assert mail_client.post("/webhooks/email/sendgrid?key=nope", data={"email": raw}).status_code == 403


def test_sendgrid_may_send_the_raw_mail_as_a_file_part(mail_client, staff):
    raw = _eml("plain_utf8_qp.eml")
    response = mail_client.post("/webhooks/email/sendgrid?key=sg-secret",
                                data={"email": (io.BytesIO(raw), "email.eml"), "to": "asiakaspalvelu@virasto.fi"},
                                content_type="multipart/form-data")
    assert _case_of(mail_client, staff, response)["subject"] == "Oleskeluluvan käsittelyaika"


def test_a_provider_route_set_up_without_the_raw_mail_is_told_how_to_fix_it(mail_client, staff):
    # The provider's route posts parsed fields, not the raw message: 422 naming the setting.
    mailgun = {k: v for k, v in _mailgun_form(b"From: a@example.fi\r\n\r\nx").items() if k != "body-mime"}
    refused = mail_client.post("/webhooks/email/mailgun", data=mailgun)
    assert_problem(refused, 422, "validation-failed", fields=["body-mime"])
    assert "mime" in refused.get_json()["detail"]
    refused = mail_client.post("/webhooks/email/sendgrid?key=sg-secret", data={"to": "asiakaspalvelu@virasto.fi"},
                               content_type="multipart/form-data")
    assert_problem(refused, 422, "validation-failed", fields=["email"])
    assert "raw" in refused.get_json()["detail"]
    assert _total(mail_client, staff) == 0


# --- replies over SMTP and the customer's answer ---------------------------------------------

@pytest.fixture
def smtp_app(make_app, smtpd):
    controller, _ = smtpd
    return make_app(EMAIL_WEBHOOK_SECRET=SECRET, SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_STARTTLS=0,
                    MAIL_FROM="Asiakaspalvelu <asiakaspalvelu@virasto.fi>", MAIL_DOMAIN="virasto.fi")


@pytest.fixture
def mailed_case(smtp_app, smtpd, admin_for):
    """A case opened by an email, and what a reply test needs beside it: the SMTP server's
    inbox, a client, an adviser's headers and the inbound webhook's answer."""
    client = smtp_app.test_client()
    adviser = admin_for(smtp_app, "adviser")
    return smtpd[1], client, adviser, _post(client, _eml("plain_utf8_qp.eml")).get_json()


def test_reply_goes_out_over_smtp_and_the_customers_answer_threads_back(smtp_app, mailed_case):
    inbox, client, adviser, first = mailed_case

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "body": "Hei Matti,\n\nkäsittely kestää noin 3 kuukautta."})

    assert reply.status_code == 201, reply.get_json()
    assert delivery_status(smtp_app, reply.get_json()["delivery"]["id"]) == ("sent", None)
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["matti.meikalainen@example.fi"]
    sent = BytesParser(policy=policy.default).parsebytes(envelope.content)
    assert sent["Subject"] == f"Re: Oleskeluluvan käsittelyaika [#{first['case_reference']}]"
    assert sent["In-Reply-To"] == "<20261126091200.1234@example.fi>"
    assert sent["Message-ID"].endswith("@virasto.fi>")
    assert "käsittely kestää noin 3 kuukautta." in sent.get_body().get_content()

    # The customer answers with an ordinary mail client: new subject, but In-Reply-To our mail.
    answer = (f"From: matti.meikalainen@example.fi\r\nTo: asiakaspalvelu@virasto.fi\r\n"
              f"Subject: Kiitos\r\nMessage-ID: <answer.1@example.fi>\r\nIn-Reply-To: {sent['Message-ID']}\r\n"
              f"References: <20261126091200.1234@example.fi> {sent['Message-ID']}\r\n"
              f"Content-Type: text/plain; charset=utf-8\r\n\r\nKiitos vastauksesta!\r\n").encode()
    threaded = _post(client, answer).get_json()
    assert threaded["case_id"] == first["case_id"] and threaded["created_case"] is False


def test_a_reply_threads_under_its_own_cases_emails_only_in_the_order_they_were_written(smtp_app, mailed_case):
    inbox, client, adviser, first = mailed_case
    case_url = f"/api/v1/cases/{first['case_id']}"
    # Another customer's mail, come in after this case's own.
    assert _post(client, _stranger_mail("Toinen asia")).get_json()["case_id"] != first["case_id"]
    # Logged by hand after the customer's mail: one sent before it, one whose id nobody noted,
    # and a call with an id of its own.
    for contact in ({"channel": "email", "external_id": "<earlier.1@example.fi>", "body": "Aiempi viesti",
                     "received_at": "2026-11-20T10:00:00+02:00"},
                    {"channel": "email", "body": "Kirje ilman tunnistetta"},
                    {"channel": "phone", "external_id": "CA" + "1" * 32, "body": "Soitto"}):
        assert client.post(f"{case_url}/contacts", headers=adviser, json=contact).status_code == 201

    reply = client.post(f"{case_url}/replies", headers=adviser, json={"channel": "email", "body": "Hei"})

    assert reply.status_code == 201, reply.get_json()
    sent = BytesParser(policy=policy.default).parsebytes(inbox.envelopes[0].content)
    assert sent["In-Reply-To"] == "<20261126091200.1234@example.fi>"
    assert sent["References"] == "<earlier.1@example.fi> <20261126091200.1234@example.fi>"


def test_a_reply_is_on_the_case_as_the_officials_outbound_email_it_went_out_as(smtp_app, mailed_case):
    inbox, client, adviser, first = mailed_case

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "body": "Päätös on tehty."})

    assert reply.status_code == 201, reply.get_json()
    sent = BytesParser(policy=policy.default).parsebytes(inbox.envelopes[0].content)
    case = client.get(f"/api/v1/cases/{first['case_id']}", headers=adviser).get_json()
    contact = case["contacts"][-1]
    assert contact == reply.get_json()["contact"]
    # What the timeline shows is what the customer got, from whom, in the case's language.
    assert {key: contact[key] for key in ("channel", "direction", "recipient", "subject", "body", "external_id",
                                          "language", "received_at")} == {
        "channel": "email", "direction": "outbound", "recipient": "matti.meikalainen@example.fi",
        "subject": sent["Subject"], "body": "Päätös on tehty.", "external_id": sent["Message-ID"],
        "language": case["language"], "received_at": None}
    assert case["language"] is not None
    assert contact["handled_by"]["id"] == adviser.id


def test_an_unreachable_smtp_server_leaves_the_reply_queued_for_a_retry(make_app, admin_for):
    app = make_app(EMAIL_WEBHOOK_SECRET=SECRET, SMTP_HOST="127.0.0.1", SMTP_PORT=free_port(), SMTP_STARTTLS=0)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    first = _post(client, _eml("plain_utf8_qp.eml")).get_json()
    retries = _retries_counted(client)

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "body": "Hei"}).get_json()

    status, last_error = delivery_status(app, reply["delivery"]["id"])
    assert status == "queued"
    assert last_error.startswith("SMTP unavailable")
    # Counted as a retry, which an operator's alert on failures must not take for one.
    assert _retries_counted(client) == retries + 1


def test_email_reply_to_a_customer_without_an_email_address_is_422(client, adviser, intake):
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SMnoemail", "from": {"phone": "+358401234567"}, "body": "Hei"}).get_json()

    reply = client.post(f"/api/v1/cases/{posted['case_id']}/replies", json={"channel": "email", "body": "x"},
                        headers=adviser)

    # The official is told why, in words, and which field to change.
    problem = assert_problem(reply, 422, "validation-failed", fields=["channel"])
    assert (problem["detail"], problem["errors"]) == ("The customer has no email address to reply to.",
                                                      {"channel": ["No email address on this case's customer."]})


def test_a_50_mb_attachment_becomes_metadata_and_the_message_is_kept(mail_client, staff):
    import base64

    big = base64.encodebytes(b"%PDF-1.4\n" + b"\x00" * (50 * 1024 * 1024))
    raw = (b"From: iso.liite@example.fi\r\nTo: asiakaspalvelu@virasto.fi\r\nSubject: Iso liite\r\n"
           b"Message-ID: <big.1@example.fi>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"z\"\r\n\r\n"
           b"--z\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLiitteen\xc3\xa4 skannattu hakemus.\r\n"
           b"--z\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"hakemus.pdf\"\r\n"
           b"Content-Transfer-Encoding: base64\r\n\r\n" + big + b"--z--\r\n")

    case = _case_of(mail_client, staff, _post(mail_client, raw))

    assert "Liitteenä skannattu hakemus." in case["contacts"][0]["body"]
    (pdf,) = case["attachments"]
    assert pdf["filename"] == "hakemus.pdf" and pdf["downloadable"] is False and pdf["size"] > 50 * 1024 * 1024


def test_a_reply_carries_files_already_on_the_case(smtp_app, mailed_case):
    inbox, client, adviser, first = mailed_case
    decision = b"%PDF-1.4\npaatos\n%%EOF\n"
    uploaded = client.post(f"/api/v1/cases/{first['case_id']}/attachments", headers=adviser,
                           data={"file": (__import__("io").BytesIO(decision), "päätös.pdf", "application/pdf")},
                           content_type="multipart/form-data").get_json()

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "body": "Päätös liitteenä.", "attachment_ids": [uploaded["id"]]})

    assert reply.status_code == 201, reply.get_json()
    sent = BytesParser(policy=policy.default).parsebytes(inbox.envelopes[0].content)
    (attached,) = list(sent.iter_attachments())
    assert attached.get_filename() == "päätös.pdf" and attached.get_content() == decision


def _case_with_a_stored_file(client, adviser, tmp_path):
    """A case from an email, a file uploaded to it, and where storage keeps that file."""
    case_id = _post(client, _eml("plain_utf8_qp.eml")).get_json()["case_id"]
    uploaded = client.post(f"/api/v1/cases/{case_id}/attachments", headers=adviser,
                           data={"file": (__import__("io").BytesIO(b"%PDF-1.4 x"), "x.pdf", "application/pdf")},
                           content_type="multipart/form-data").get_json()
    (stored,) = [path for path in (tmp_path / "files").rglob("*") if path.is_file()]
    return case_id, uploaded, stored


def _a_reply_with_the_file_and_another(app, client, adviser, case_id, uploaded):
    """A reply waiting in the outbox with the file, and another one after it, whose delivery
    takes both in one batch: (the first's outbox id, the second's response)."""
    with app.app_context():
        me = client.get("/api/v1/auth/me", headers=adviser).get_json()
        held = send_reply(actor=Principal(kind="official", id=me["id"], name="A", role="adviser"), case_id=case_id,
                          channel="email", body="Liitteenä.", attachment_ids=[uploaded["id"]]).outbox.id
    return held, client.post(f"/api/v1/cases/{case_id}/replies", headers=adviser,
                             json={"channel": "email", "body": "Kiitos."})


def test_a_file_that_cannot_be_read_holds_back_its_reply_only(smtp_app, smtpd, admin_for, tmp_path):
    _, inbox = smtpd
    client = smtp_app.test_client()
    adviser = admin_for(smtp_app, "adviser")
    case_id, uploaded, stored = _case_with_a_stored_file(client, adviser, tmp_path)
    stored.unlink()
    stored.mkdir()  # the storage answers, but not with the file: an error other than "not found"
    retries = _retries_counted(client)

    held, other = _a_reply_with_the_file_and_another(smtp_app, client, adviser, case_id, uploaded)

    assert delivery_status(smtp_app, other.get_json()["delivery"]["id"]) == ("sent", None)
    assert len(inbox.envelopes) == 1
    with smtp_app.app_context():
        waiting = db.session.get(OutboxMessage, held)
        # Tried again later, not failed for good.
        assert (waiting.status, waiting.last_error) == ("queued", "file storage: IsADirectoryError")
    assert _retries_counted(client) == retries + 1


def _retries_counted(client) -> float:
    return metric(client, "outbox_deliveries_total", missing=0.0, channel="email", outcome="retry")


def test_a_reply_held_back_by_its_file_goes_out_with_the_file_on_its_own_retry_job(smtp_app, smtpd, admin_for,
                                                                                     tmp_path):
    # On Redis a message that waits is retried by a job of its own (deliver_outbox), not by a
    # drain: that job must read the file from storage too.
    _, inbox = smtpd
    client = smtp_app.test_client()
    adviser = admin_for(smtp_app, "adviser")
    case_id, uploaded, stored = _case_with_a_stored_file(client, adviser, tmp_path)
    content = stored.read_bytes()
    stored.unlink()
    stored.mkdir()
    reply = client.post(f"/api/v1/cases/{case_id}/replies", headers=adviser,
                        json={"channel": "email", "body": "Liitteenä.", "attachment_ids": [uploaded["id"]]})
    held = reply.get_json()["delivery"]["id"]
    assert delivery_status(smtp_app, held) == ("queued", "file storage: IsADirectoryError")
    stored.rmdir()
    stored.write_bytes(content)  # the storage is back

    with smtp_app.app_context():
        retry_at = db.session.get(OutboxMessage, held).next_attempt_at
    with time_machine.travel(retry_at, tick=False), smtp_app.app_context():
        assert delivery.deliver_and_reschedule(held) == "sent"  # what the deliver_outbox job runs

    (envelope,) = inbox.envelopes
    (attached,) = list(BytesParser(policy=policy.default).parsebytes(envelope.content).iter_attachments())
    assert (attached.get_filename(), attached.get_content()) == ("x.pdf", content)


def test_a_reply_whose_file_left_the_disk_fails_and_sends_nothing(smtp_app, smtpd, admin_for, tmp_path):
    # Not retried: the bytes will not come back, and a reply without its file must not go out.
    _, inbox = smtpd
    client = smtp_app.test_client()
    adviser = admin_for(smtp_app, "adviser")
    case_id, uploaded, stored = _case_with_a_stored_file(client, adviser, tmp_path)
    stored.unlink()

    failed, other = _a_reply_with_the_file_and_another(smtp_app, client, adviser, case_id, uploaded)

    assert delivery_status(smtp_app, failed) == ("failed", "an attached file is no longer stored")
    # The rest of its batch goes out.
    assert delivery_status(smtp_app, other.get_json()["delivery"]["id"]) == ("sent", None)
    (envelope,) = inbox.envelopes
    assert BytesParser(policy=policy.default).parsebytes(envelope.content).get_body().get_content().strip() == "Kiitos."


def test_a_reply_queued_with_an_unscanned_file__is_not_sent_once_a_scanner_is_configured(make_app, smtp_app, smtpd,
                                                                                         admin_for, tmp_path, clamd):
    # The embedded default (no scanner) lets its unscanned files go out with replies. A reply
    # still waiting when a scanner is configured must not send a file nobody scanned.
    controller, inbox = smtpd
    client = smtp_app.test_client()
    adviser = admin_for(smtp_app, "adviser")
    case_id, uploaded, _ = _case_with_a_stored_file(client, adviser, tmp_path)
    assert uploaded["scan_status"] == "unscanned"
    with smtp_app.app_context():  # queued, its delivery not yet run
        me = client.get("/api/v1/auth/me", headers=adviser).get_json()
        held = send_reply(actor=Principal(kind="official", id=me["id"], name="A", role="adviser"), case_id=case_id,
                          channel="email", body="Liitteenä.", attachment_ids=[uploaded["id"]]).outbox.id

    scanning = make_app(EMAIL_WEBHOOK_SECRET=SECRET, SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port,
                        SMTP_STARTTLS=0, MAIL_FROM="Asiakaspalvelu <asiakaspalvelu@virasto.fi>",
                        MAIL_DOMAIN="virasto.fi", CLAMD_SOCKET=clamd.socket, REDIS_URL=None)

    with scanning.app_context():
        from service.jobs import sweep_outbox

        assert sweep_outbox() == 1  # the cron job finds it due, and its drain job runs

    assert delivery_status(scanning, held) == ("failed", "an attached file is no longer stored")
    assert inbox.envelopes == []


def test_a_reply_cannot_send_a_file_of_another_case(mail_client, staff, api):
    first = _post(mail_client, _eml("plain_utf8_qp.eml")).get_json()
    other = _post(mail_client, _eml("windows1252.eml")).get_json()
    adviser = api.headers_for("adviser")
    uploaded = mail_client.post(f"/api/v1/cases/{other['case_id']}/attachments", headers=adviser,
                                data={"file": (__import__("io").BytesIO(b"%PDF-1.4 x"), "x.pdf", "application/pdf")},
                                content_type="multipart/form-data").get_json()

    reply = mail_client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                             json={"channel": "email", "body": "x", "attachment_ids": [uploaded["id"], 999999]})

    # The official learns which files, and nothing of the other case's.
    problem = assert_problem(reply, 422, "validation-failed", fields=["attachment_ids"])
    assert problem["detail"] == "Some files cannot be sent."
    assert problem["errors"]["attachment_ids"] == [f"No downloadable file {uploaded['id']} on this case.",
                                                   "No downloadable file 999999 on this case."]


# --- the production defaults: STARTTLS and a login -------------------------------------------

SMTP_USER, SMTP_PASSWORD = "asiakaspalvelu", "oikea-salasana"


@pytest.fixture
def tls_smtpd(tmp_path):
    """A real SMTP server on loopback that insists on STARTTLS (with a self-signed certificate)
    and a login before it takes mail: (controller, inbox, accounts, certificate path)."""
    import ssl

    from aiosmtpd.controller import Controller

    from tests.smtp_server import Accounts, Inbox, self_signed_certificate

    cert, key = self_signed_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox, accounts = Inbox(), Accounts(SMTP_USER, SMTP_PASSWORD)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), tls_context=context,
                            require_starttls=True, authenticator=accounts, auth_required=True,
                            auth_require_tls=True)
    controller.start()
    yield controller, inbox, accounts, cert
    controller.stop()


def _tls_app(make_app, controller, password=SMTP_PASSWORD):
    # SMTP_STARTTLS is left at its default, which is on.
    return make_app(EMAIL_WEBHOOK_SECRET=SECRET, SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port,
                    SMTP_USER=SMTP_USER, SMTP_PASSWORD=password,
                    MAIL_FROM="Asiakaspalvelu <asiakaspalvelu@virasto.fi>", MAIL_DOMAIN="virasto.fi")


def _reply(app, admin_for):
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    first = _post(client, _eml("plain_utf8_qp.eml")).get_json()
    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "body": "Hei Matti, asia on käsittelyssä."})
    assert reply.status_code == 201, reply.get_json()
    status, last_error = delivery_status(app, reply.get_json()["delivery"]["id"])
    return {"status": status, "last_error": last_error}


def test_a_reply_goes_out_over_starttls_with_the_configured_login(make_app, tls_smtpd, admin_for, monkeypatch):
    controller, inbox, accounts, cert = tls_smtpd
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # this machine trusts the test server's certificate

    delivery = _reply(_tls_app(make_app, controller), admin_for)

    assert delivery["status"] == "sent"
    (envelope,) = inbox.envelopes
    assert envelope.rcpt_tos == ["matti.meikalainen@example.fi"]
    assert "asia on käsittelyssä" in BytesParser(policy=policy.default).parsebytes(envelope.content).get_body().get_content()
    (mechanism, accepted, encrypted), = accounts.attempts
    assert accepted and encrypted and mechanism in ("PLAIN", "LOGIN")


def test_a_wrong_smtp_password_sends_nothing(make_app, tls_smtpd, admin_for, monkeypatch):
    controller, inbox, accounts, cert = tls_smtpd
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))

    delivery = _reply(_tls_app(make_app, controller, password="vaara-salasana"), admin_for)

    assert delivery["status"] != "sent" and inbox.envelopes == []
    assert accounts.attempts and not any(accepted for _, accepted, _ in accounts.attempts)


def test_a_server_certificate_this_machine_does_not_trust_gets_no_password_and_no_mail(make_app, tls_smtpd,
                                                                                       admin_for):
    controller, inbox, accounts, _ = tls_smtpd

    delivery = _reply(_tls_app(make_app, controller), admin_for)

    assert delivery["status"] == "queued"  # tried again later, perhaps with the certificate fixed
    assert inbox.envelopes == [] and accounts.attempts == []


def test_a_reply_subject_that_already_carries_the_cases_tag_is_not_tagged_twice(smtp_app, mailed_case):
    inbox, client, adviser, first = mailed_case
    subject = f"Päätös [#{first['case_reference']}] liitteineen"

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "subject": subject, "body": "Päätös on valmis."})

    assert reply.status_code == 201, reply.get_json()
    (envelope,) = inbox.envelopes
    assert BytesParser(policy=policy.default).parsebytes(envelope.content)["Subject"] == subject


def test_a_reply_on_a_case_without_a_subject_goes_out_under_a_subject_in_all_three_languages(smtp_app, smtpd,
                                                                                                 admin_for):
    client = smtp_app.test_client()
    adviser = admin_for(smtp_app, "adviser")
    first = _post(client, b"From: anna@example.fi\r\nTo: asiakaspalvelu@virasto.fi\r\n"
                          b"Message-ID: <no.subject.1@example.fi>\r\n"
                          b"Content-Type: text/plain; charset=utf-8\r\n\r\nHei\r\n").get_json()
    assert client.get(f"/api/v1/cases/{first['case_id']}", headers=adviser).get_json()["subject"] is None

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "body": "Hei Anna"})

    assert reply.status_code == 201, reply.get_json()
    (envelope,) = smtpd[1].envelopes
    subject = f"Asiasi / Ditt ärende / Your case [#{first['case_reference']}]"
    assert BytesParser(policy=policy.default).parsebytes(envelope.content)["Subject"] == subject
    assert reply.get_json()["contact"]["subject"] == subject


@pytest.mark.parametrize("tag_ends_at", [200, 501], ids=["tag-inside-the-500", "tag-cut-by-the-500th"])
def test_a_case_subject_naming_its_own_case_makes_a_reply_subject_of_500_with_the_tag_whole(smtp_app, mailed_case,
                                                                                             tag_ends_at):
    inbox, client, adviser, first = mailed_case
    tag = f"[#{first['case_reference']}]"
    # An adviser's own subject for the case, naming it: "Re: " and it run past 500 characters.
    before = "x" * (tag_ends_at - len("Re: ") - len(tag))
    case_subject = (before + tag + " " + "y" * 500)[:500]
    patched = client.patch(f"/api/v1/cases/{first['case_id']}", headers=adviser, json={"subject": case_subject})
    assert patched.status_code == 200, patched.get_json()

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "body": "Päätös on valmis."})

    assert reply.status_code == 201, reply.get_json()
    sent = BytesParser(policy=policy.default).parsebytes(inbox.envelopes[0].content)["Subject"]
    assert len(sent) == 500 and sent == reply.get_json()["contact"]["subject"]
    if tag_ends_at <= 500:  # the tag is there already: the subject is cut after it
        assert sent == f"Re: {case_subject}"[:500] and sent.count(tag) == 1
    else:  # the 500th character would cut the tag: it is added whole at the end instead
        assert sent.endswith(f" {tag}") and sent.count(tag) == 1


def test_a_reply_subject_at_its_longest_keeps_the_cases_tag_whole(smtp_app, mailed_case):
    inbox, client, adviser, first = mailed_case
    tag = f"[#{first['case_reference']}]"
    subject = " ".join(["Hakemus"] * 62) + " lopp"  # 500 characters, as many as a subject holds

    reply = client.post(f"/api/v1/cases/{first['case_id']}/replies", headers=adviser,
                        json={"channel": "email", "subject": subject, "body": "Päätös on valmis."})

    assert reply.status_code == 201, reply.get_json()
    # The subject gives way, not the tag: an answer from a mail client that keeps no
    # In-Reply-To still finds its case by it.
    expected = f"{subject[:500 - len(tag) - 1]} {tag}"
    assert len(expected) == 500
    (envelope,) = inbox.envelopes
    assert BytesParser(policy=policy.default).parsebytes(envelope.content)["Subject"] == expected
    assert reply.get_json()["contact"]["subject"] == expected
