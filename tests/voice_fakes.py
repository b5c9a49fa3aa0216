"""Twilio voice webhooks as a test plays them: a recorded line, a call, its recording."""

from types import SimpleNamespace
from xml.etree import ElementTree

from tests.twilio_fakes import ACCOUNT_SID, twilio_post

CALLER = "+358401234567"
LINE_NUMBER = "+358951234567"


def call_params(sid, **extra):
    params = {"CallSid": sid, "AccountSid": ACCOUNT_SID, "From": CALLER, "To": LINE_NUMBER,
              "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    params.update(extra)
    return params


def twiml(response):
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    return ElementTree.fromstring(response.data)


def voice_line(client, admin, **fields):
    body = {"name": "Muuttoilmoitukset", "phone_numbers": [LINE_NUMBER], "recording_policy": "all",
            "recording_retention_days": 182}
    body.update(fields)
    response = client.post("/api/v1/service-lines", json=body, headers=admin)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


MP3 = b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 40


class FakeMediaServer:
    def __init__(self):
        self.requests = []

    def get(self, url, auth=None, timeout=None):
        self.requests.append((url, auth))
        return SimpleNamespace(status_code=200, content=MP3)


def recorded_call(client, admin, sid, official_username=None, recording_sid=None):
    twilio_post(client, "/webhooks/twilio/voice", call_params(sid))
    if official_username:
        agent = twiml(twilio_post(client, "/webhooks/twilio/voice/agent",
                                 {"CallSid": "CAagent", "From": f"client:{official_username}"}))
        twilio_post(client, agent.find("Dial/Queue").get("url"), {"CallSid": sid, "QueueTime": "5"})
    twilio_post(client, "/webhooks/twilio/voice/recording", {
        "CallSid": sid, "RecordingSid": recording_sid or "RE" + sid[2:], "RecordingStatus": "completed",
        "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT_SID}/Recordings/RE{sid[2:]}",
        "RecordingDuration": "61", "RecordingChannels": "2",
        "RecordingStartTime": "Thu, 26 Nov 2026 09:00:00 +0000"})
