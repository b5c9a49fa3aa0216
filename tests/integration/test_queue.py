"""Replies delivered by RQ workers: on the real Redis of REDIS_URL when it is set (CI's
second pass), else on fakeredis. Jobs run in a SimpleWorker in this process."""

import os
from datetime import datetime

import fakeredis
import pytest
import time_machine
from redis import Redis
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler

from service.extensions import db
from service.outbox.models import OutboxMessage
from service.queue import flush_soon_enqueues
from tests.twilio_fakes import ACCOUNT_SID, FakeTwilioHttp, inbound_sms, twilio_post


@pytest.fixture
def redis_conn():
    url = os.environ.get("REDIS_URL")
    conn = Redis.from_url(url) if url else fakeredis.FakeStrictRedis()
    conn.flushdb()
    yield conn
    conn.flushdb()


@pytest.fixture
def twilio_http():
    return FakeTwilioHttp()


@pytest.fixture
def queued_app(make_app, redis_conn, twilio_http):
    """An app whose jobs go to RQ (the connection is injected, so fakeredis works too)."""
    app = make_app(REDIS_URL=os.environ.get("REDIS_URL") or "redis://fake", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                   TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=twilio_http)
    app.extensions["redis"] = redis_conn
    return app


def _work(app, redis_conn):
    flush_soon_enqueues(app)  # what the web requests asked for, not left to the gathering thread
    with app.app_context():
        SimpleWorker([Queue("default", connection=redis_conn)], connection=redis_conn).work(burst=True)


def sms_case(app, headers, *, sid="SM" + "q" * 32, phone="+358401234567") -> int:
    """A customer's SMS as in production: the webhook lands it and a worker makes it a case.
    Returns the newest case."""
    client = app.test_client()
    assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms(sid, from_=phone)).status_code == 200
    _work(app, app.extensions["redis"])
    return client.get("/api/v1/cases", headers=headers).get_json()["items"][0]["id"]


def _reply(app, headers, body="Hei!"):
    client = app.test_client()
    case_id = sms_case(app, headers)
    response = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": body}, headers=headers)
    assert response.status_code == 201
    return response.get_json()


def test_a_reply_is_queued_in_redis_and_a_worker_delivers_it(queued_app, redis_conn, twilio_http, admin_for):
    adviser = admin_for(queued_app, "adviser")
    reply = _reply(queued_app, adviser)

    assert reply["delivery"]["status"] == "queued"  # the web request did not wait for Twilio
    assert Queue("default", connection=redis_conn).count == 1
    _work(queued_app, redis_conn)

    with queued_app.app_context():
        assert db.session.get(OutboxMessage, reply["delivery"]["id"]).status == "sent"
    assert len(twilio_http.messages_sent) == 1


def test_with_redis_down_messages_are_accepted_and_replies_stored_and_each_goes_on_once_it_is_back(
        queued_app, redis_conn, twilio_http, admin_for):
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    case_id = sms_case(queued_app, adviser)
    queued_app.extensions["redis"] = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)

    reply = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"}, headers=adviser)
    assert reply.status_code == 201 and reply.get_json()["delivery"]["status"] == "queued"
    # Inbound messages are accepted meanwhile too, Twilio's retry of one included.
    for _ in range(2):
        accepted = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "r" * 32, from_="+358409998887"))
        assert accepted.status_code == 200

    queued_app.extensions["redis"] = redis_conn  # Redis is back
    with queued_app.app_context():
        from service.jobs import sweep_inbound, sweep_outbox
        assert (sweep_outbox(), sweep_inbound()) == (1, 1)
        assert (sweep_outbox(), sweep_inbound()) == (1, 1)  # swept twice before any worker ran ...
    _work(queued_app, redis_conn)

    assert len(twilio_http.messages_sent) == 1  # ... and still sent once
    cases = client.get("/api/v1/cases", headers=adviser).get_json()
    assert cases["total"] == 2  # ... and the message is on one new case, once
    newest = client.get(f"/api/v1/cases/{cases['items'][0]['id']}", headers=adviser).get_json()
    assert [c["external_id"] for c in newest["contacts"]] == ["SM" + "r" * 32]


def test_the_cron_configuration_enqueues_the_periodic_jobs(redis_conn):
    scheduler = CronScheduler(connection=redis_conn)
    scheduler.load_config_from_file("service.cron")  # as `rq cron service.cron` loads it

    scheduler.enqueue_jobs()

    jobs = Queue("default", connection=redis_conn).jobs
    # The interval jobs are due at once; the daily purge waits for its hour.
    assert sorted(job.func_name for job in jobs) == [
        "service.jobs.delete_provider_copies", "service.jobs.roll_up_statistics", "service.jobs.seal_audit_log",
        "service.jobs.sweep_inbound", "service.jobs.sweep_outbox", "service.jobs.sweep_scans"]


def test_the_cron_configuration_enqueues_the_retention_purge_daily_at_0230_local_time(redis_conn):
    """The purge is what deletes personal data on time (docs/data-protection.md): it is queued
    at 02:30 of the cron process's local time, every day, and at no other minute."""
    def local(hour, minute, second=0, day=1):
        return datetime(2026, 6, day, hour, minute, second).astimezone()  # this machine's zone, as RQ's cron

    with time_machine.travel(local(2, 29, 30), tick=False) as clock:
        scheduler = CronScheduler(connection=redis_conn)
        scheduler.load_config_from_file("service.cron")
        [purge] = [job for job in scheduler.get_jobs() if job.func_name == "service.jobs.purge_expired"]
        assert (purge.cron, purge.queue_name) == ("30 2 * * *", "default")

        assert "service.jobs.purge_expired" not in {job.func_name for job in scheduler.enqueue_jobs()}
        clock.move_to(local(2, 29, 59))
        assert scheduler.enqueue_jobs() == []  # the interval jobs are not due again for a minute
        clock.move_to(local(2, 30))
        assert [job.func_name for job in scheduler.enqueue_jobs()] == ["service.jobs.purge_expired"]
        assert purge.next_enqueue_time == local(2, 30, day=2)  # and again the next day, not before
        clock.move_to(local(2, 29, 59, day=2))
        assert "service.jobs.purge_expired" not in {job.func_name for job in scheduler.enqueue_jobs()}

    queued = Queue("default", connection=redis_conn).jobs
    assert [job.func_name for job in queued].count("service.jobs.purge_expired") == 1
