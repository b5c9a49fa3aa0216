"""The privacy notices' promise, end to end: a marker planted in every place a citizen's
personal data can reach, through every channel, is found nowhere once its periods have
passed and the purge has run: not in any column of any table, not in any stored file, not
in the audit log's details. The anonymous statistics are the same before and after."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from sqlalchemy import JSON, Text, cast, func, select

from service.extensions import db
from tests.twilio_fakes import ACCOUNT_SID, FakeTwilioHttp, inbound_sms, twilio_post

NAME = "Merkki7q Nieminen"
MARKER = "merkki7q"  # in every text, name and email; found case-insensitively
PHONE = "+358457654321"
PHONE_DIGITS = "457654321"  # in any format a number is kept in
EMAIL = "merkki7q@example.fi"
LINE_NUMBER = "+358951234567"
AUDIO = b"ID3\x03\x00\x00\x00" + b"MERKKI7Q-AUDIO" * 200
PDF = b"%PDF-1.4\nMERKKI7Q attachment\n%%EOF\n"


class _Media:
    def get(self, url, auth=None, timeout=None):
        return SimpleNamespace(status_code=200, content=AUDIO, headers={"Content-Type": "audio/mpeg"})


def _plant_everywhere(app, client, api):
    admin, adviser = api.headers_for("admin"), api.headers_for("adviser")
    intake = api.api_key_headers()
    client.post("/api/v1/service-lines", headers=admin, json={
        "name": "Maahanmuutto", "phone_numbers": [LINE_NUMBER], "recording_policy": "all",
        "recording_retention_days": 365})
    authority = client.post("/api/v1/authorities", headers=admin, json={
        "name": "Verohallinto", "email": "kirjaamo@vero.example.fi"}).get_json()

    # SMS in, a reply out, a note, question and answer, a forward, closing (feedback request).
    assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms(
        "SM" + "7" * 32, from_=PHONE, to=LINE_NUMBER, body=f"Hei, olen {NAME}, {MARKER} kysyy")).status_code == 200
    (sms_case,) = client.get("/api/v1/cases?channel=sms", headers=adviser).get_json()["items"]
    case_id = sms_case["id"]
    assert client.post(f"/api/v1/cases/{case_id}/replies", headers=adviser,
                       json={"channel": "sms", "body": f"Vastaus {MARKER}"}).status_code == 201
    assert client.post(f"/api/v1/cases/{case_id}/notes", headers=adviser,
                       json={"body": f"Asiakas {NAME} toivoo soittoa {PHONE}"}).status_code == 201
    assert client.patch(f"/api/v1/cases/{case_id}", headers=adviser, json={
        "question": f"{MARKER} kysymys", "answer": f"{MARKER} vastaus", "subject": f"{MARKER} aihe"}).status_code == 200
    assert client.post(f"/api/v1/cases/{case_id}/forward", headers=adviser, json={
        "authority_id": authority["id"], "disclose": ["phone"], "legal_basis": "Hallintolaki 21 §",
        "message": f"Asia kuuluu teille ({MARKER})"}).status_code == 201
    assert client.post(f"/api/v1/cases/{case_id}/disclosures", headers=adviser, json={
        "recipient": f"Poliisi {MARKER}", "fields": ["phone"], "legal_basis": "Poliisilaki",
        "disclosed_at": "2026-11-20T10:00:00+02:00"}).status_code == 201
    # A correction: the old value is the marker, the new one is not.
    privacy = api.headers_for("privacy_officer")
    customer_id = client.get(f"/api/v1/cases/{case_id}", headers=adviser).get_json()["customer"]["id"]
    assert client.patch(f"/api/v1/customers/{customer_id}", headers=privacy, json={
        "address": f"{MARKER}katu 1"}).status_code == 200
    assert client.patch(f"/api/v1/customers/{customer_id}", headers=privacy, json={
        "address": "Uusi katu 2"}).status_code == 200
    assert client.post(f"/api/v1/cases/{case_id}/close", headers=adviser).status_code == 200
    # A data-subject request about the person, answered.
    request = client.post("/api/v1/privacy/requests", headers=privacy, json={
        "type": "erasure", "subject": {"name": NAME, "phone": PHONE, "email": EMAIL},
        "details": f"Poistakaa tietoni, {MARKER}",
        "received_at": datetime.now(timezone.utc).isoformat()}).get_json()
    assert client.post(f"/api/v1/privacy/requests/{request['id']}/complete", headers=privacy, json={
        "answer_reason": f"Lakisääteinen velvoite ({MARKER})"}).status_code == 200

    # Email with an attachment, through an integration.
    assert client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": f"<{MARKER}@mail.example.fi>",
        "from": {"email": EMAIL, "name": NAME, "phone": PHONE}, "to": "neuvonta@example.fi",
        "subject": f"Muutto {MARKER}", "body": f"Terveisin {NAME}",
        "attachments": [{"filename": f"{MARKER}.pdf", "content_type": "application/pdf",
                         "content_base64": base64.b64encode(PDF).decode()}]}).status_code in (200, 201, 202)

    # A named chat, answered and ended; a web form.
    chat = client.post("/api/v1/chats", json={"anonymous": False, "name": NAME, "email": EMAIL,
                                              "language": "fi"}).get_json()
    customer = {"Authorization": "Bearer " + chat["token"]}
    client.post(f"/api/v1/chats/{chat['chat_id']}/messages", headers=customer, json={"body": f"{MARKER} chat"})
    client.post(f"/api/v1/chats/{chat['chat_id']}/join", headers=adviser)
    client.post(f"/api/v1/chats/{chat['chat_id']}/messages", headers=adviser, json={"body": f"Hei {NAME}"})
    client.post(f"/api/v1/chats/{chat['chat_id']}/end", headers=customer)
    assert client.post("/api/v1/inbound/webform", json={
        "name": NAME, "email": EMAIL, "phone": PHONE, "subject": f"Lomake {MARKER}",
        "message": f"Lomakkeen viesti {MARKER}", "language": "fi"}).status_code == 202

    # A recorded call, its audio fetched into our storage.
    call = "CA" + "7" * 32
    twilio_post(client, "/webhooks/twilio/voice", {"CallSid": call, "AccountSid": ACCOUNT_SID, "From": PHONE,
                                                   "To": LINE_NUMBER, "CallStatus": "ringing"})
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": call, "RecordingSid": "RE" + "7" * 32, "RecordingStatus": "completed",
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{'7' * 32}",
        "RecordingDuration": "61"})

    # A message that could never be processed stays landed (an unknown channel's handler).
    with app.app_context():
        from service.intake.models import InboundEnvelope

        db.session.add(InboundEnvelope(channel="sms", external_id="SM" + "8" * 32, attempts=9,
                                       payload={"From": PHONE, "Body": MARKER},
                                       received_at=datetime.now(timezone.utc)))
        db.session.commit()
    return admin


def _where_the_marker_is(app) -> list[str]:
    found = []
    with app.app_context():
        for table in db.metadata.sorted_tables:
            for column in table.columns:
                if _python_type_or_none(column) not in (str, dict, list):
                    continue
                as_text = func.lower(cast(column, Text))
                hits = db.session.scalar(select(func.count()).select_from(table).where(
                    as_text.contains(MARKER) | as_text.contains(PHONE_DIGITS)))
                if hits:
                    found.append(f"{table.name}.{column.name}")
        storage = app.extensions["file_storage"].root
        for path in (storage.rglob("*") if storage.exists() else []):
            if path.is_file() and b"MERKKI7Q" in path.read_bytes().upper():
                found.append(f"file {path.name}")
    return found


def _python_type_or_none(column):
    if isinstance(column.type, JSON):
        return dict
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


def _statistics(app, client, headers):
    from service.jobs import roll_up_statistics

    with app.app_context():
        roll_up_statistics()
    today = datetime.now(timezone.utc).date()
    span = f"from={today - timedelta(days=2)}&to={today + timedelta(days=2)}"
    return {report: client.get(f"/api/v1/stats/{report}?{span}", headers=headers).get_json()
            for report in ("contacts", "calls", "cases", "feedback")}


def test_no_personal_data_is_kept_past_its_period_anywhere(make_app):
    from tests.conftest import Api

    http = FakeTwilioHttp()
    app = make_app(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_FROM_NUMBER=LINE_NUMBER, TWILIO_HTTP_CLIENT=http,
                   VOICE_FETCH_RECORDINGS=1, TWILIO_MEDIA_GET=_Media().get)
    client = app.test_client()
    api = Api(app, client)
    admin = _plant_everywhere(app, client, api)
    supervisor = api.headers_for("supervisor")
    planted = _where_the_marker_is(app)
    # The marker really reached every kind of place this test is about.
    for place in ("customer.name", "customer.phone", "customer.email", "contact.body", "contact.sender",
                  "note.body", "case.question", "attachment.filename", "chat_message.body",
                  "outbox_message.body", "disclosure.recipient", "feedback_request.phone", "recording.caller",
                  "inbound_envelope.payload", "rectification_history.old_value", "privacy_request.subject",
                  "privacy_request.details", "privacy_request.answer_reason"):
        assert place in planted, place
    assert any(p.startswith("file ") for p in planted)
    statistics = _statistics(app, client, supervisor)
    assert statistics["contacts"]["total"]["contacts"] >= 6, statistics["contacts"]

    later = (datetime.now(timezone.utc) + timedelta(days=4 * 365)).isoformat()
    result = app.test_cli_runner().invoke(args=["retention", "purge", "--as-of", later])
    assert result.exit_code == 0, result.output

    assert _where_the_marker_is(app) == []
    assert _statistics(app, client, supervisor) == statistics
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 0
