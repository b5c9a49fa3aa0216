"""Prometheus metrics: intake by channel, request latency, outbox backlog, deliveries."""

import re

from tests.api.problems import assert_problem
from tests.twilio_fakes import inbound_sms, twilio_post


def _value(text, name, **labels):
    pattern = re.escape(name) + r"\{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + r"\} (\S+)"
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def test_metrics_report_intake_deliveries_and_latency(client, adviser):
    before = client.get("/metrics").get_data(as_text=True)
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "m" * 32))
    case_id = client.get("/api/v1/cases", headers=adviser).get_json()["items"][0]["id"]
    client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei"}, headers=adviser)

    after = client.get("/metrics")

    assert after.status_code == 200 and after.mimetype == "text/plain"
    text = after.get_data(as_text=True)
    assert _value(text, "intake_contacts_total", channel="sms") == _value(before, "intake_contacts_total", channel="sms") + 1
    for outcome, more in (("sent", 1), ("failed", 0), ("retry", 0)):
        counted = [_value(page, "outbox_deliveries_total", channel="sms", outcome=outcome) for page in (before, text)]
        assert counted[1] == counted[0] + more, outcome
    assert "http_request_duration_seconds_bucket" in text
    assert "outbox_oldest_waiting_seconds 0.0" in text
    assert "+358" not in text


def test_the_backlog_shows_waiting_messages(app, client, adviser, intake):
    posted = client.post("/api/v1/inbound/messages", headers=intake, json={
        "channel": "sms", "external_id": "SM-backlog", "from": {"phone": "+358401234567"}}).get_json()
    from service.auth.permissions import Principal
    from service.outbox.logic import send_reply

    with app.app_context():  # written but not yet delivered
        send_reply(actor=Principal(kind="official", id=adviser.id, name="x", role="adviser"), case_id=posted["case_id"],
                   channel="sms", body="Hei")

    text = client.get("/metrics").get_data(as_text=True)
    assert 'outbox_backlog{channel="sms"} 1.0' in text


def test_the_inbound_backlog_shows_messages_accepted_and_not_yet_processed(app, client):
    from datetime import timedelta

    from service.db_types import utcnow
    from service.intake.envelopes import land

    assert "inbound_backlog 0.0" in client.get("/metrics").get_data(as_text=True)
    with app.app_context():  # landed by the webhook 90 s ago; no worker has come by since
        land("sms", "SM-waiting", {"From": "+358401234567", "Body": "Hei"}, received_at=utcnow() - timedelta(seconds=90))

    text = client.get("/metrics").get_data(as_text=True)
    assert "inbound_backlog 1.0" in text
    assert 90 <= float(re.search(r"^inbound_oldest_waiting_seconds (\S+)$", text, re.M).group(1)) < 120
    assert "+358" not in text


def test_metrics_can_require_a_token(make_app):
    client = make_app(METRICS_TOKEN="scrape-secret").test_client()

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-secret"}).status_code == 200


def test_without_a_token_metrics_are_served_to_this_machine_only(client):
    assert client.get("/metrics").status_code == 200  # the test client calls from 127.0.0.1
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200

    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"})

    assert response.status_code == 403
    assert "inbound_backlog" not in response.get_data(as_text=True)


def test_with_a_token_metrics_are_served_anywhere_to_its_holder(make_app):
    client = make_app(METRICS_TOKEN="scrape-secret").test_client()

    response = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"},
                          headers={"Authorization": "Bearer scrape-secret"})

    assert response.status_code == 200


def test_an_officials_token_does_not_open_the_metrics(make_app, admin_for):
    # The metrics count every line (e.g. service_clock_breached_cases): they are the operator's,
    # not a supervisor's, however many lines the supervisor sees.
    with_token = make_app(METRICS_TOKEN="scrape-secret")
    supervisor = admin_for(with_token, "supervisor")
    assert_problem(with_token.test_client().get("/metrics", headers=supervisor), 401)

    without_token = make_app()
    supervisor = admin_for(without_token, "supervisor")
    response = without_token.test_client().get("/metrics", headers=supervisor,
                                               environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert_problem(response, 403)
    assert "service_clock_breached_cases" not in response.get_data(as_text=True)
