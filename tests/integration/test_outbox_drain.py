"""Outbox messages delivered by drain jobs, in batches: a burst of replies becomes a few jobs,
workers draining at the same time send every message once, and each message in a batch gets
its own outcome. On the real Redis of REDIS_URL when it is set (CI's second pass), else on
fakeredis; on the test database (PostgreSQL in CI's second pass)."""

from __future__ import annotations

import os

import pytest
from rq import Queue

from service.extensions import db
from service.outbox import delivery
from service.outbox.models import OutboxMessage
from tests.integration.test_queue import _work, redis_conn, sms_case, twilio_http  # noqa: F401  (the fixtures)
from tests.integration.test_worker_killed import _worker_process, twilio_server  # noqa: F401  (the fixture)
from tests.twilio_fakes import ACCOUNT_SID, LoopbackTwilioHttp, inbound_sms, twilio_post


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
    # Twilio refuses the third (an invalid number) and is unavailable for the fourth.
    twilio_http.fail_with = [(400, 21211), (503, 20500)]

    _work(app, redis_conn)

    with app.app_context():
        rows = {row.id: row for row in db.session.scalars(db.select(OutboxMessage).where(OutboxMessage.id.in_(ids)))}
        outcome = [(rows[i].status, rows[i].last_error) for i in ids]
    assert outcome == [("cancelled", "recipient opted out of SMS"),
                       ("cancelled", "the customer's processing is restricted"),
                       ("failed", "21211: Twilio refused the message"),
                       ("queued", "20500: Twilio is unavailable"),
                       ("sent", None)]
    assert [r["data"]["To"] for r in twilio_http.messages_sent] == numbers[2:]
    # The one that may go through later waits for its retry as a job of its own.
    assert [job.args for job in (queue.fetch_job(i) for i in queue.scheduled_job_registry.get_job_ids())] == [(ids[3],)]


def test_workers_draining_at_the_same_time_send_every_message_once(make_app, redis_conn, twilio_server,  # noqa: F811
                                                                    admin_for):
    http = LoopbackTwilioHttp(twilio_server.base)
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
    if http.session is not None:
        http.session.close()


def test_the_sweep_finds_due_rows_oldest_first_and_frees_only_rows_a_lost_worker_left_unsent(
        make_app, redis_conn, twilio_http, admin_for):  # noqa: F811
    from datetime import timedelta

    from sqlalchemy import update

    from service.db_types import utcnow
    from service.outbox import logic

    app = _app(make_app, redis_conn, twilio_http)
    adviser = admin_for(app, "adviser")
    ids = _replies(app, adviser, sms_case(app, adviser), 5)
    now = utcnow().replace(microsecond=0)
    lost, accepted, working, later, due = ids
    rows = {lost: ("sending", now, None),  # its lease ends this very moment
            accepted: ("sending", now - timedelta(minutes=1), "SM" + "a" * 32),  # the provider has it
            working: ("sending", now + timedelta(minutes=1), None),  # still within its lease
            later: ("queued", now + timedelta(minutes=1), None),  # a retry not yet due
            due: ("queued", now - timedelta(seconds=10), None)}
    with app.app_context():
        for row_id, (status, at, provider_id) in rows.items():
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
                status=status, next_attempt_at=at, provider_id=provider_id))
        db.session.commit()

        assert logic.due_for_delivery(now=now, limit=1) == [due]
        assert logic.due_for_delivery(now=now) == [due, lost]
        freed = db.session.get(OutboxMessage, lost)
        assert (freed.status, freed.next_attempt_at, freed.updated_at) == ("queued", now, now)
    assert _statuses(app, [accepted, working, later]) == ["sending", "sending", "queued"]
