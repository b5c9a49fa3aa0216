"""PostgreSQL restarted while inbound messages keep arriving: requests that meet the restart
get a clean 503 problem+json with Retry-After (integrations and Twilio retry those), nothing
half-written is left, and the service recovers by itself without a restart of its own.

Runs where the tests' database is a local PostgreSQL cluster this machine can restart
(Debian's pg_ctlcluster); elsewhere it is skipped.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from itertools import count
from urllib.parse import urlsplit

import pytest

from service.cases.models import Case, Contact
from service.customers.models import Customer
from service.extensions import db
from service.intake.models import InboundEnvelope
from tests.twilio_fakes import inbound_sms, twilio_post


def _cluster() -> tuple[str, str] | None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres") or shutil.which("pg_lsclusters") is None:
        return None
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost"):
        return None
    port = str(parts.port or 5432)
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False).stdout
    for line in listing.splitlines():
        version, name, cluster_port, *_ = line.split()
        if cluster_port == port:
            return version, name
    return None


CLUSTER = _cluster()
pytestmark = [
    pytest.mark.skipif(CLUSTER is None, reason="needs a local PostgreSQL cluster to restart"),
    pytest.mark.serial,  # every parallel worker's database goes down with it
]


@pytest.fixture
def cluster():
    yield CLUSTER
    # Whatever happened, leave the database running for the rest of the suite.
    subprocess.run(["pg_ctlcluster", *CLUSTER, "start"], capture_output=True, check=False, timeout=60)


def test_requests_during_a_restart_fail_cleanly_and_the_service_recovers(app, api, cluster):
    intake = api.api_key_headers()
    numbers = count()
    results: list[tuple[float, str, int, str, dict | None]] = []
    retry_after: list[str | None] = []  # of every 503
    stop = threading.Event()

    def post_messages():
        client = app.test_client()
        while not stop.is_set():
            external_id = f"SM-restart-{next(numbers)}"
            response = client.post("/api/v1/inbound/messages", headers=intake, json={
                "channel": "sms", "external_id": external_id, "from": {"phone": "+358401110000"},
                "body": "Hei"})
            _record(response, external_id)

    def post_twilio_webhooks():
        # Twilio's webhook lands the message on connections of its own (intake.envelopes).
        client = app.test_client()
        while not stop.is_set():
            external_id = f"SM-restart-{next(numbers)}"
            response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms(external_id, from_="+358401110001"))
            _record(response, external_id)
            webhook_ids.add(external_id)

    def _record(response, external_id):
        if response.status_code == 503:
            retry_after.append(response.headers.get("Retry-After"))
        results.append((time.monotonic(), external_id, response.status_code, response.mimetype,
                        response.get_json(silent=True)))

    webhook_ids: set[str] = set()
    senders = [threading.Thread(target=post_messages) for _ in range(2)]
    senders.append(threading.Thread(target=post_twilio_webhooks))
    for sender in senders:
        sender.start()
    time.sleep(0.5)
    subprocess.run(["pg_ctlcluster", *cluster, "restart"], check=True, capture_output=True, timeout=60)
    restarted = time.monotonic()
    deadline = restarted + 20
    while time.monotonic() < deadline and not any(at > restarted and status in (200, 201)
                                                   for at, _, status, _, _ in list(results)):
        time.sleep(0.1)
    time.sleep(0.5)
    stop.set()
    for sender in senders:
        sender.join(timeout=30)

    statuses = {status for _, _, status, _, _ in results}
    assert statuses <= {200, 201, 503}, statuses  # never a 500, never a hang
    refused = [(mimetype, body) for _, _, status, mimetype, body in results if status == 503]
    assert refused, "no request met the restart"
    assert all(mimetype == "application/problem+json" and body["status"] == 503 for mimetype, body in refused)
    # Integrations and Twilio wait this many seconds before trying again.
    assert len(retry_after) == len(refused) and all(value and value.isdigit() and int(value) > 0
                                                    for value in retry_after), retry_after
    recovered = [status for at, _, status, _, _ in results if at > restarted]
    assert recovered and recovered[-1] in (200, 201), "the service did not recover by itself"

    webhooks_after = [status for at, external_id, status, _, _ in results
                      if at > restarted and external_id in webhook_ids]
    assert webhooks_after and webhooks_after[-1] == 200, "the webhook did not recover by itself"

    accepted = {external_id for _, external_id, status, _, _ in results if status in (200, 201)}
    with app.app_context():
        stored = set(db.session.scalars(db.select(Contact.external_id).where(
            Contact.external_id.like("SM-restart-%"))))
        # A landed message whose processing met the restart waits for its retry.
        stored |= set(db.session.scalars(db.select(InboundEnvelope.external_id)))
    assert accepted <= stored  # everything acknowledged was kept
    assert accepted & webhook_ids

    # Nothing half-written: no message stored twice, no case without its message, no customer
    # without the case their message opened.
    with app.app_context():
        contact_ids = list(db.session.scalars(db.select(Contact.external_id).where(
            Contact.external_id.like("SM-restart-%"))))
        empty_cases = db.session.scalar(db.select(db.func.count()).select_from(Case).where(
            ~db.select(Contact.id).where(Contact.case_id == Case.id).exists()))
        lone_customers = db.session.scalar(db.select(db.func.count()).select_from(Customer).where(
            ~db.select(Case.id).where(Case.customer_id == Customer.id).exists()))
    assert len(contact_ids) == len(set(contact_ids))
    assert empty_cases == 0 and lone_customers == 0
