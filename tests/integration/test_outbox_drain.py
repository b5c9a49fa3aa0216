"""Outbox messages delivered by drain jobs, in batches: a burst of replies becomes a few jobs,
workers draining at the same time send every message once, a batch's messages wait on the
provider at the same time, and each message in a batch gets its own outcome. On the real Redis
of REDIS_URL when it is set (CI's second pass), else on fakeredis; on the test database
(PostgreSQL in CI's second pass)."""

from __future__ import annotations

import os
import signal
import time
from email import policy
from email.parser import BytesParser

import pytest
from rq import Queue
from rq.timeouts import JobTimeoutException

from service.extensions import db
from service.outbox import delivery
from service.outbox.models import OutboxMessage
from service.outbox.ports import SendResult
from tests.conftest import Api
from tests.integration.test_queue import _work, redis_conn, sms_case, twilio_http  # noqa: F401  (the fixtures)
from tests.integration.test_worker_killed import _worker_process, twilio_server  # noqa: F401  (the fixture)
from tests.metrics import metric
from tests.twilio_fakes import ACCOUNT_SID, LoopbackTwilioClients, inbound_sms, twilio_post


def _app(make_app, redis_conn, http, **config):  # noqa: F811
    app = make_app(REDIS_URL=os.environ.get("REDIS_URL") or "redis://fake", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                   TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=http, **config)
    app.extensions["redis"] = redis_conn
    return app


def _replies(app, headers, case_id, count) -> list[int]:
    client = app.test_client()
    ids = []
    for n in range(count):
        response = client.post(f"/api/v1/cases/{case_id}/replies", headers=headers,
                               json={"channel": "sms", "body": f"Vastaus {n}"})
        assert response.status_code == 201, response.get_json()
        ids.append(response.get_json()["delivery"]["id"])
    return ids


def _statuses(app, ids) -> list[str]:
    """The rows' statuses, in the order of ``ids``."""
    with app.app_context():
        found = dict(db.session.execute(db.select(OutboxMessage.id, OutboxMessage.status)
                                        .where(OutboxMessage.id.in_(ids))).all())
    return [found[i] for i in ids]


def test_a_burst_of_replies_becomes_one_job_per_drain_slot_and_each_reply_goes_once(make_app, redis_conn, twilio_http,
                                                                                    admin_for):
    app = _app(make_app, redis_conn, twilio_http, OUTBOX_DRAIN_JOBS=3, OUTBOX_BATCH_SIZE=4)
    adviser = admin_for(app, "adviser")
    ids = _replies(app, adviser, sms_case(app, adviser), 25)

    jobs = Queue("default", connection=redis_conn).jobs
    assert [job.func_name for job in jobs] == ["service.jobs.drain_outbox"] * 3
    _work(app, redis_conn)

    assert set(_statuses(app, ids)) == {"sent"}
    bodies = sorted(request["data"]["Body"] for request in twilio_http.messages_sent)
    assert bodies == sorted(f"Vastaus {n}" for n in range(25))


def test_a_drain_claims_at_most_one_batch_at_a_time(make_app, redis_conn, twilio_http, admin_for):  # noqa: F811
    app = _app(make_app, redis_conn, twilio_http)
    adviser = admin_for(app, "adviser")
    ids = _replies(app, adviser, sms_case(app, adviser), 7)
    from service.outbox import logic

    with app.app_context():
        batch = logic.deliver_due(senders=delivery.senders(), policy=delivery.policy(), limit=3)

    assert [delivered.outbox_id for delivered in batch] == ids[:3]  # the longest waiting first
    assert _statuses(app, ids) == ["sent"] * 3 + ["queued"] * 4
    assert len(twilio_http.messages_sent) == 3


def test_a_batch_takes_the_longest_waiting_due_rows_and_sent_rows_take_no_place_in_it(make_app, redis_conn,
                                                                                       twilio_http, admin_for):
    # A sent row keeps the time its lease ended, long past: were it not left out before the
    # batch's limit, a busy outbox's history would fill every batch and nothing would go out.
    from datetime import timedelta

    from sqlalchemy import update

    from service.db_types import utcnow
    from service.outbox import logic

    app = _app(make_app, redis_conn, twilio_http)
    adviser = admin_for(app, "adviser")
    sent, also_sent, recent, older, not_yet, oldest = ids = _replies(app, adviser, sms_case(app, adviser), 6)
    now = utcnow()
    rows = {sent: ("sent", now - timedelta(hours=1)), also_sent: ("sent", now - timedelta(hours=1)),
            recent: ("queued", now - timedelta(minutes=1)), older: ("queued", now - timedelta(minutes=2)),
            not_yet: ("queued", now + timedelta(minutes=1)), oldest: ("queued", now - timedelta(minutes=10))}
    with app.app_context():
        for row_id, (status, at) in rows.items():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
                status=status, next_attempt_at=at))
        db.session.commit()

        first = logic.deliver_due(senders=delivery.senders(), policy=delivery.policy(), limit=2, now=now)
        second = logic.deliver_due(senders=delivery.senders(), policy=delivery.policy(), limit=2, now=now)

    assert [delivered.outbox_id for delivered in first] == sorted([older, oldest])
    assert [delivered.outbox_id for delivered in second] == [recent]  # and not the one not yet due
    assert _statuses(app, ids) == ["sent", "sent", "sent", "sent", "queued", "sent"]
    assert len(twilio_http.messages_sent) == 3


def test_a_long_backlog_is_handed_on_to_a_new_job(make_app, redis_conn, twilio_http, admin_for,  # noqa: F811
                                                  monkeypatch):
    app = _app(make_app, redis_conn, twilio_http, OUTBOX_DRAIN_JOBS=1, OUTBOX_BATCH_SIZE=2)
    adviser = admin_for(app, "adviser")
    ids = _replies(app, adviser, sms_case(app, adviser), 5)
    queue = Queue("default", connection=redis_conn)
    queue.empty()
    monkeypatch.setattr(delivery, "DRAIN_SECONDS", 0)

    with app.app_context():
        assert delivery.drain("outbox-drain-0") == 2  # one batch, then its time is up ...

    assert [job.func_name for job in queue.jobs] == ["service.jobs.drain_outbox"]  # ... and the rest is handed on
    _work(app, redis_conn)
    assert set(_statuses(app, ids)) == {"sent"}
    assert len(twilio_http.messages_sent) == 5


class _SlowProvider:
    """A provider that takes half a second over each message; the job's time runs out while it
    has the first one, as RQ ends a job: by a signal raising in the job's thread."""

    def __init__(self):
        self.started, self.finished = [], []

    def send(self, message):
        self.started.append(message.outbox_id)
        if len(self.started) == 1:
            signal.setitimer(signal.ITIMER_REAL, 0.1)
        time.sleep(0.5)
        self.finished.append(message.outbox_id)
        return SendResult(provider_id=f"SM{message.outbox_id:032d}")


def test_a_drain_stopped_mid_batch_ends_after_the_send_under_way_and_hands_over_no_other(
        make_app, redis_conn, twilio_http, admin_for):  # noqa: F811
    app = _app(make_app, redis_conn, twilio_http, OUTBOX_DRAIN_JOBS=1, OUTBOX_SEND_CONCURRENCY=1)
    adviser = admin_for(app, "adviser")
    ids = _replies(app, adviser, sms_case(app, adviser), 3)
    provider = app.extensions["senders"]["sms"] = _SlowProvider()

    def time_is_up(signum, frame):
        raise JobTimeoutException("the job's time is up")

    previous = signal.signal(signal.SIGALRM, time_is_up)
    try:
        with app.app_context(), pytest.raises(JobTimeoutException):
            delivery.drain("outbox-drain-0")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    # The job's process may end as soon as the drain does: no send may still be under way then.
    assert provider.finished == ids[:1]
    time.sleep(0.6)
    assert provider.started == ids[:1]
    # No answer was written down: the rows wait for their lease to run out.
    assert _statuses(app, ids) == ["sending"] * 3


def _deliveries_counted(client) -> dict[str, float]:
    return {outcome: metric(client, "outbox_deliveries_total", missing=0.0, channel="sms", outcome=outcome)
            for outcome in ("cancelled", "failed", "retry", "sent")}


def test_each_message_of_a_batch_gets_its_own_outcome(make_app, redis_conn, twilio_http, admin_for, api):  # noqa: F811
    app = _app(make_app, redis_conn, twilio_http, OUTBOX_DRAIN_JOBS=1)
    client = app.test_client()
    adviser = admin_for(app, "adviser")
    privacy = admin_for(app, "privacy_officer")
    numbers = ["+358401000001", "+358401000002", "+358401000003", "+358401000004", "+358401000005"]
    cases = [sms_case(app, adviser, sid=f"SM{n:032d}", phone=phone) for n, phone in enumerate(numbers)]
    queue = Queue("default", connection=redis_conn)
    ids = [_replies(app, adviser, case_id, 1)[0] for case_id in cases]
    # Before the drain runs: the first customer says STOP and the second is restricted.
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "s" * 32, from_=numbers[0], body="STOP"))
    customer = client.get(f"/api/v1/cases/{cases[1]}", headers=adviser).get_json()["customer"]["id"]
    restricted = client.post(f"/api/v1/customers/{customer}/restriction", headers=privacy,
                             json={"reason": "Accuracy contested"})
    assert restricted.status_code == 200, restricted.get_json()
    # Twilio refuses the third (an invalid number) and is unavailable for the fourth, while
    # the batch's sends are on their way at the same time.
    twilio_http.fail_to = {numbers[2]: (400, 21211), numbers[3]: (503, 20500)}
    before = _deliveries_counted(client)

    _work(app, redis_conn)

    with app.app_context():
        rows = {row.id: row for row in db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
        outcome = [(rows[i].status, rows[i].last_error) for i in ids]
    assert outcome == [("cancelled", "recipient opted out of SMS"),
                       ("cancelled", "the customer's processing is restricted"),
                       ("failed", "21211: Twilio refused the message"),
                       ("queued", "20500: Twilio is unavailable"),
                       ("sent", None)]
    assert sorted(r["data"]["To"] for r in twilio_http.messages_sent) == numbers[2:]
    after = _deliveries_counted(client)
    assert {outcome: after[outcome] - before[outcome] for outcome in after} == {"cancelled": 2, "failed": 1,
                                                                                "retry": 1, "sent": 1}
    # The one that may go through later waits for its retry as a job of its own.
    assert [job.args for job in (queue.fetch_job(i) for i in queue.scheduled_job_registry.get_job_ids())] == [(ids[3],)]


def test_workers_draining_at_the_same_time_send_every_message_once(make_app, redis_conn, twilio_server,  # noqa: F811
                                                                    admin_for):
    http = LoopbackTwilioClients(twilio_server.base)
    app = _app(make_app, redis_conn, http, OUTBOX_DRAIN_JOBS=3, OUTBOX_BATCH_SIZE=3)
    adviser = admin_for(app, "adviser")
    ids = _replies(app, adviser, sms_case(app, adviser), 40)
    assert Queue("default", connection=redis_conn).count == 3

    workers = [_worker_process(app, redis_conn) for _ in range(3)]
    for pid in workers:
        assert os.waitpid(pid, 0)[1] == 0

    assert set(_statuses(app, ids)) == {"sent"}
    bodies = sorted(message["body"] for message in twilio_server.accepted)
    assert bodies == sorted(f"Vastaus {n}" for n in range(40))
    http.close()


def _cases_of(app, adviser, numbers) -> list[int]:
    """A case for each of ``numbers``, made before any reply is queued (making one runs the
    queue)."""
    return [sms_case(app, adviser, sid=f"SM{n:032d}", phone=phone) for n, phone in enumerate(numbers)]


def _rows(app, ids) -> list[tuple]:
    with app.app_context():
        rows = {row.id: row for row in db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
        return [(rows[i].status, rows[i].provider_id, rows[i].last_error) for i in ids]


def test_a_batch_waits_on_the_provider_for_several_messages_at_once_and_each_row_gets_its_own_answer(
        make_app, redis_conn, twilio_server, admin_for):  # noqa: F811
    twilio_server.delay = 0.5  # a provider's latency
    http = LoopbackTwilioClients(twilio_server.base)
    app = _app(make_app, redis_conn, http, OUTBOX_DRAIN_JOBS=1, OUTBOX_SEND_CONCURRENCY=4)
    adviser = admin_for(app, "adviser")
    numbers = [f"+3584010000{n:02d}" for n in range(8)]
    ids = [_replies(app, adviser, case_id, 1)[0] for case_id in _cases_of(app, adviser, numbers)]

    started = time.monotonic()
    _work(app, redis_conn)
    elapsed = time.monotonic() - started

    assert twilio_server.most_in_flight == 4  # the setting, neither more nor one at a time
    # Twilio's client is not thread-safe: each send in flight had one of its own, kept for the next.
    assert len(http.made) == 4
    assert elapsed < 8 * 0.5  # one after another, the sends alone would take 4 s
    sid_for = {message["to"]: message["sid"] for message in twilio_server.accepted}
    assert sorted(sid_for) == numbers and len(twilio_server.accepted) == 8  # each message once
    # Each row holds the id Twilio gave its own message, and the callback Twilio was given
    # names that row.
    assert _rows(app, ids) == [("sent", sid_for[number], None) for number in numbers]
    callback_for = {message["to"]: message["status_callback"] for message in twilio_server.accepted}
    assert [callback_for[number].rsplit("?", 1)[1] for number in numbers] == [f"outbox={i}" for i in ids]
    http.close()


def test_a_send_that_fails_among_concurrent_ones_fails_alone(make_app, redis_conn, twilio_server,  # noqa: F811
                                                             admin_for):
    twilio_server.delay = 0.2
    http = LoopbackTwilioClients(twilio_server.base)
    app = _app(make_app, redis_conn, http, OUTBOX_DRAIN_JOBS=1, OUTBOX_SEND_CONCURRENCY=3)
    adviser = admin_for(app, "adviser")
    numbers = [f"+3584020000{n:02d}" for n in range(6)]
    ids = [_replies(app, adviser, case_id, 1)[0] for case_id in _cases_of(app, adviser, numbers)]
    # One number is refused for good, and for another the connection drops before any answer.
    twilio_server.refuse = {numbers[1]: (400, 21211)}
    twilio_server.drop = {numbers[4]}

    _work(app, redis_conn)

    sid_for = {message["to"]: message["sid"] for message in twilio_server.accepted}
    assert sorted(sid_for) == [numbers[0], numbers[2], numbers[3], numbers[5]]
    assert twilio_server.most_in_flight > 1
    assert _rows(app, ids) == [
        ("sent", sid_for[numbers[0]], None),
        ("failed", None, "21211: Twilio refused the message"),
        ("sent", sid_for[numbers[2]], None),
        ("sent", sid_for[numbers[3]], None),
        ("queued", None, "network error: ConnectionError"),  # waits for its retry
        ("sent", sid_for[numbers[5]], None),
    ]
    queue = Queue("default", connection=redis_conn)
    assert [queue.fetch_job(i).args for i in queue.scheduled_job_registry.get_job_ids()] == [(ids[4],)]
    http.close()


def test_a_batch_of_emails_goes_out_over_an_smtp_connection_each(make_app, redis_conn, smtpd, admin_for):  # noqa: F811
    controller, inbox = smtpd
    app = make_app(REDIS_URL=os.environ.get("REDIS_URL") or "redis://fake", SMTP_HOST="127.0.0.1",
                   SMTP_PORT=controller.port, SMTP_STARTTLS=0, MAIL_FROM="asiakaspalvelu@virasto.fi",
                   MAIL_DOMAIN="virasto.fi", OUTBOX_DRAIN_JOBS=1, OUTBOX_SEND_CONCURRENCY=4)
    app.extensions["redis"] = redis_conn
    client = app.test_client()
    intake = Api(app, client).api_key_headers()
    adviser = admin_for(app, "adviser")
    addresses = [f"asiakas{n}@example.fi" for n in range(6)]
    ids = []
    for n, address in enumerate(addresses):
        received = client.post("/api/v1/inbound/messages", headers=intake, json={
            "channel": "email", "external_id": f"<in.{n}@example.fi>", "from": {"email": address},
            "subject": f"Kysymys {n}", "body": "Hei"})
        assert received.status_code == 201, received.get_json()
        reply = client.post(f"/api/v1/cases/{received.get_json()['case_id']}/replies", headers=adviser,
                            json={"channel": "email", "body": f"Vastaus {n}"})
        assert reply.status_code == 201, reply.get_json()
        ids.append(reply.get_json()["delivery"]["id"])

    _work(app, redis_conn)

    sent = [(envelope.rcpt_tos, BytesParser(policy=policy.default).parsebytes(envelope.content))
            for envelope in inbox.envelopes]
    message_id_to = {rcpt_tos[0]: mail["Message-ID"] for rcpt_tos, mail in sent}
    assert sorted(rcpt_tos for rcpt_tos, _ in sent) == [[address] for address in addresses]  # each once
    assert _rows(app, ids) == [("sent", message_id_to[address], None) for address in addresses]


def test_the_sweep_finds_due_rows_oldest_first_and_frees_only_rows_a_lost_worker_left_unsent(
        make_app, redis_conn, twilio_http, admin_for):  # noqa: F811
    from datetime import timedelta

    from sqlalchemy import update

    from service.db_types import utcnow
    from service.outbox import logic

    app = _app(make_app, redis_conn, twilio_http)
    adviser = admin_for(app, "adviser")
    ids = _replies(app, adviser, sms_case(app, adviser), 6)
    now = utcnow().replace(microsecond=0)
    lost, accepted, working, later, due, long_lost = ids
    rows = {lost: ("sending", now, None),  # its lease ends this very moment
            long_lost: ("sending", now - timedelta(seconds=30), None),  # its lease ended before `due` was due
            accepted: ("sending", now - timedelta(minutes=1), "SM" + "a" * 32),  # the provider has it
            working: ("sending", now + timedelta(minutes=1), None),  # still within its lease
            later: ("queued", now + timedelta(minutes=1), None),  # a retry not yet due
            due: ("queued", now - timedelta(seconds=10), None)}
    with app.app_context():
        for row_id, (status, at, provider_id) in rows.items():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
                status=status, next_attempt_at=at, provider_id=provider_id))
        db.session.commit()

        # A freed row is due from the moment it was freed: it does not go before a row already
        # waiting, however long ago its lease ended.
        assert logic.due_for_delivery(now=now, limit=1) == [due]
        found = logic.due_for_delivery(now=now)
        assert found[0] == due and sorted(found[1:]) == sorted([lost, long_lost])
        for row_id in (lost, long_lost):
            freed = db.session.get(OutboxMessage, row_id)
            assert (freed.status, freed.next_attempt_at, freed.updated_at) == ("queued", now, now)
    assert _statuses(app, [accepted, working, later]) == ["sending", "sending", "queued"]


def test_the_sweep_sends_one_drain_job_to_each_slot_with_rows_due(make_app, redis_conn, twilio_http,  # noqa: F811
                                                                   admin_for):
    app = _app(make_app, redis_conn, twilio_http, OUTBOX_DRAIN_JOBS=3)
    adviser = admin_for(app, "adviser")
    ids = _replies(app, adviser, sms_case(app, adviser), 7)
    redis_conn.flushdb()  # the replies' own drain jobs were lost: only the sweep can find the rows

    with app.app_context():
        assert delivery.sweep() == 7

    # Each slot's key, once: as many drains as the setting allows, none per row, none merged.
    keys = sorted(job.args for job in Queue("default", connection=redis_conn).jobs)
    assert keys == [(f"outbox-drain-{slot}",) for slot in range(3)]
    assert set(_statuses(app, ids)) == {"queued"}
