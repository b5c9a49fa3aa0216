"""Standing in for Twilio in tests: signing webhooks exactly as Twilio does, and a fake HTTP
client for the REST API that records requests and answers like Twilio."""

from __future__ import annotations

import json
import threading

from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from tests.conftest import PUBLIC_BASE_URL, TWILIO_AUTH_TOKEN

ACCOUNT_SID = "AC" + "0" * 32


def twilio_post(client, path, params, *, token=TWILIO_AUTH_TOKEN, base=PUBLIC_BASE_URL, algorithm=None,
                signature=None):
    """POST form params to ``path`` as Twilio would: signed over the public URL. The request
    itself reaches the app on its internal URL, as behind a TLS-terminating proxy."""
    validator = RequestValidator(token)
    headers = {"X-Twilio-Signature": signature if signature is not None
               else validator.compute_signature(base + path, params, algorithm)}
    if algorithm:
        headers["X-Twilio-Webhooks-Signature-Settings"] = f"key=k1,algorithm={algorithm}"
    return client.post(path, data=params, headers=headers)


def inbound_sms(sid, *, from_="+358401234567", to="+358501112223", body="Hei", **extra):
    params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": from_, "To": to,
              "Body": body, "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01",
              "FromCountry": "FI"}
    params.update(extra)
    return params


class FakeTwilioHttp(HttpClient):
    """Answers Messages.json like Twilio. ``fail_with`` makes the next answers errors:
    (status, code) pairs consumed in order; ``fail_to`` makes every answer for a recipient one.
    Safe to share between the threads a drain job sends on."""

    def __init__(self):
        super().__init__(logger=None, is_async=False)
        self.requests = []
        self.fail_with: list[tuple[int, int]] = []
        self.fail_to: dict[str, tuple[int, int]] = {}
        # The same for DELETE requests (a provider's copy the purge deletes).
        self.fail_deletes_with: list[tuple[int, int]] = []
        # What Twilio says of a message it accepted.
        self.message_status = "queued"
        self._lock = threading.Lock()

    def request(self, method, uri, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        with self._lock:
            return self._answer(method, uri, data)

    def _answer(self, method, uri, data):
        self.requests.append({"method": method, "uri": uri, "data": dict(data or {})})
        if (data or {}).get("To") in self.fail_to:
            status, code = self.fail_to[data["To"]]
            return Response(status, json.dumps({"code": code, "message": "fake failure", "status": status}))
        if method == "DELETE":
            if self.fail_deletes_with:
                status, code = self.fail_deletes_with.pop(0)
                return Response(status, json.dumps({"code": code, "message": "fake failure", "status": status}))
            return Response(204, "")
        if self.fail_with:
            status, code = self.fail_with.pop(0)
            return Response(status, json.dumps({"code": code, "message": "fake failure", "status": status}))
        if uri.endswith("/Calls.json"):
            return Response(201, json.dumps({"sid": "CA%032d" % len(self.requests), "status": "queued",
                                             "to": (data or {}).get("To"), "from": (data or {}).get("From"),
                                             "account_sid": ACCOUNT_SID}))
        sid = "SM%032d" % len(self.requests)
        return Response(201, json.dumps({"sid": sid, "status": self.message_status, "to": (data or {}).get("To"),
                                         "from": (data or {}).get("From"), "body": (data or {}).get("Body"),
                                         "account_sid": ACCOUNT_SID}))

    @property
    def messages_sent(self):
        return [r for r in self.requests if r["uri"].endswith("/Messages.json")]

    @property
    def calls_placed(self):
        return [r for r in self.requests if r["uri"].endswith("/Calls.json")]


class LoopbackTwilioHttp(TwilioHttpClient):
    """The twilio library's own HTTP client, sending to a server on loopback that stands in
    for api.twilio.com (a real HTTP exchange, unlike FakeTwilioHttp)."""

    def __init__(self, base: str, *, timeout: int = 30):
        super().__init__(timeout=timeout)
        self.loopback = base

    def request(self, method, uri, *args, **kwargs):
        return super().request(method, uri.replace("https://api.twilio.com", self.loopback), *args, **kwargs)


class LoopbackTwilioClients:
    """Makes a ``LoopbackTwilioHttp`` for each Twilio client the SMS sender makes (one per
    send in flight; ``TWILIO_HTTP_CLIENT`` takes a function), and closes them all at the end."""

    def __init__(self, base: str, *, timeout: int = 30):
        self.base, self.timeout = base, timeout
        self.made: list[LoopbackTwilioHttp] = []
        self._lock = threading.Lock()

    def __call__(self) -> LoopbackTwilioHttp:
        http = LoopbackTwilioHttp(self.base, timeout=self.timeout)
        with self._lock:
            self.made.append(http)
        return http

    def close(self) -> None:
        for http in self.made:
            http.session.close()
