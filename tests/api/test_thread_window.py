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
