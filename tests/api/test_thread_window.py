"""The thread window: a customer's new message joins their open case on the same line and
channel only while that case was active within THREAD_WINDOW_DAYS (documented default: 30
days), through the inbound API and through a Twilio webhook alike."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from tests.twilio_fakes import inbound_sms, twilio_post

START = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)
DOCUMENTED_WINDOW = timedelta(days=30)


PDF = base64.b64encode(b"%PDF-1.4\nthread window\n%%EOF\n").decode()


def _via_api(client, intake, n, phone="+358401119001", *, attached=False):
    body = {"channel": "sms", "external_id": f"SM-window-{n}", "from": {"phone": phone}, "body": f"viesti {n}"}
    if attached:  # a message with a file is stored one at a time, not on the batch path
        body["attachments"] = [{"filename": f"liite-{n}.pdf", "content_type": "application/pdf",
                                "content_base64": PDF}]
    response = client.post("/api/v1/inbound/messages", headers=intake, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["case_id"]


def _case_ids(client, admin):
    return sorted(case["id"] for case in client.get("/api/v1/cases", headers=admin).get_json()["items"])


@pytest.mark.parametrize("attached", [False, True], ids=["plain", "with-a-file"])
def test_a_message_inside_the_window_joins_the_open_case_and_one_after_it_opens_another(client, intake, admin,
                                                                                        attached):
    with time_machine.travel(START, tick=False) as clock:
        first = _via_api(client, intake, 1, attached=attached)
        clock.shift(DOCUMENTED_WINDOW - timedelta(minutes=1))
        assert _via_api(client, intake, 2, attached=attached) == first  # and the case was active again just now
        clock.shift(DOCUMENTED_WINDOW - timedelta(minutes=1))
        assert _via_api(client, intake, 3, attached=attached) == first
        clock.shift(DOCUMENTED_WINDOW + timedelta(minutes=1))
        later = _via_api(client, intake, 4, attached=attached)

    assert later != first
    assert _case_ids(client, admin) == sorted([first, later])
    assert client.get(f"/api/v1/cases/{first}", headers=admin).get_json()["status"] != "closed"


def test_the_window_is_the_setting_for_twilio_webhooks_too(make_app, admin_for):
    app = make_app(THREAD_WINDOW_DAYS=2)
    client = app.test_client()
    admin = admin_for(app, "admin")
    with time_machine.travel(START, tick=False) as clock:
        assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a1" * 16)).status_code == 200
        clock.shift(timedelta(days=1))
        assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a2" * 16)).status_code == 200
        assert len(_case_ids(client, admin)) == 1
        clock.shift(timedelta(days=2, minutes=1))
        assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "a3" * 16)).status_code == 200

    cases = _case_ids(client, admin)
    assert len(cases) == 2
    contacts = [len(client.get(f"/api/v1/cases/{case}", headers=admin).get_json()["contacts"]) for case in cases]
    assert contacts == [2, 1]


# A split leaves the customer two open cases on one line and channel. Plain SMS go through
# intake's batch path; email and messages with files through its path one at a time.
@pytest.mark.parametrize("channel, attached", [("sms", False), ("sms", True), ("email", False)],
                         ids=["sms", "sms-with-a-file", "email"])
def test_of_two_open_cases_a_message_joins_the_one_active_last_and_on_a_tie_the_newer(client, intake, adviser,
                                                                                      channel, attached):
    sender = {"phone": "+358401119002"} if channel == "sms" else {"email": "kaksi.asiaa@example.fi"}
    sent = iter(range(1, 100))

    def write():
        n = next(sent)
        body = {"channel": channel, "external_id": f"<order-{n}@example.fi>", "from": sender,
                "subject": "Kaksi asiaa", "body": f"viesti {n}"}
        if attached:
            body["attachments"] = [{"filename": f"liite-{n}.pdf", "content_type": "application/pdf",
                                    "content_base64": PDF}]
        response = client.post("/api/v1/inbound/messages", headers=intake, json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    with time_machine.travel(START, tick=False) as clock:
        older = write()["case_id"]
        clock.shift(timedelta(minutes=1))
        moved = write()["contact_id"]
        clock.shift(timedelta(minutes=1))
        split = client.post(f"/api/v1/cases/{older}/split", json={"contact_ids": [moved]}, headers=adviser)
        assert split.status_code == 200, split.get_json()
        newer = split.get_json()["target"]["id"]

        # The split touched both at the same moment: the newer case takes the next message.
        clock.shift(timedelta(minutes=1))
        assert write()["case_id"] == newer
        # A note on the older case makes it the one active last.
        clock.shift(timedelta(minutes=1))
        note = client.post(f"/api/v1/cases/{older}/notes", json={"body": "Soitin asiakkaalle"}, headers=adviser)
        assert note.status_code == 201
        clock.shift(timedelta(minutes=1))
        assert write()["case_id"] == older
