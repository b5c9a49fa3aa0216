"""Logs carry no phone numbers, email addresses or message bodies, whatever happens."""

import io
import logging

import pytest

from service.logs import MaskingFormatter, RequestContextFilter
from tests.twilio_fakes import inbound_sms, twilio_post

PHONE, EMAIL, BODY = "+358401234567", "salainen.asiakas@example.fi", "Minulla on salainen asia"


@pytest.fixture
def captured_log():
    """Everything logged at DEBUG and above, formatted as the service formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(MaskingFormatter("%(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


@pytest.fixture
def app(make_app):
    """The app, with a route that fails quoting personal data (registered before any request)."""
    app = make_app()

    @app.get("/boom-with-data")
    def boom():
        raise RuntimeError(f"failed for {EMAIL} {PHONE}")

    return app


def test_a_busy_day_leaves_no_personal_data_in_the_log(app, client, intake, adviser, captured_log):
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "email", "external_id": "<log@example.fi>", "from": {"email": EMAIL, "phone": PHONE},
        "subject": "Salainen", "body": BODY}).get_json()
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "4" * 32, from_=PHONE, body=BODY))
    client.post(f"/api/v1/cases/{posted['case_id']}/replies", json={"channel": "sms", "body": BODY}, headers=adviser)
    client.get(f"/api/v1/customers?phone={PHONE}&email={EMAIL}", headers=adviser)
    client.post("/api/v1/inbound/messages", headers=intake, json={"channel": "sms", "from": {"phone": "12"}})
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "5" * 32, from_=PHONE), signature="forged")
    client.get("/boom-with-data")

    log = captured_log.getvalue()
    assert "unhandled error" in log and "request_id=" in log  # the log did capture the day
    for secret in (PHONE, "0401234567", EMAIL, "salainen.asiakas", BODY):
        assert secret not in log
