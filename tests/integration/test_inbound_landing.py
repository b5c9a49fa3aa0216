"""Twilio SMS accepted first and processed after: the webhook stores the message as it arrived
and answers; jobs turn stored messages into contacts. On the real Redis of REDIS_URL when it is
set (CI's second pass), else on fakeredis; on the test database (PostgreSQL in CI's second
pass)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rq import Queue

from service.db_types import utcnow
from service.extensions import db
from service.intake import envelopes
from service.intake.models import InboundEnvelope
from service.queue import PENDING, flush_soon_enqueues
from tests.integration.test_queue import _work, queued_app, redis_conn, twilio_http  # noqa: F401  (fixtures)
from tests.integration.test_worker_killed import _worker_process
from tests.twilio_fakes import inbound_sms, twilio_post


def _waiting(app) -> list[InboundEnvelope]:
    with app.app_context():
        rows = db.session.scalars(db.select(InboundEnvelope).order_by(InboundEnvelope.id)).all()
        db.session.expunge_all()
        return rows


def _cases(app, headers) -> dict:
    return app.test_client().get("/api/v1/cases", headers=headers).get_json()


def test_the_webhook_answers_before_the_message_is_processed_and_a_worker_makes_it_a_case(queued_app, redis_conn,
                                                                                         admin_for):
    adviser = admin_for(queued_app, "adviser")
    before = datetime.now(timezone.utc)

    response = twilio_post(queued_app.test_client(), "/webhooks/twilio/sms",
                           inbound_sms("SM" + "l1" * 16, body="Oleskelulupa?"))
    after = datetime.now(timezone.utc)

    assert response.status_code == 200 and response.mimetype == "text/xml"
    assert "<Message>" not in response.get_data(as_text=True)
    assert _cases(queued_app, adviser)["total"] == 0  # not yet a case ...
    (waiting,) = _waiting(queued_app)  # ... but stored, with the time it arrived
    assert waiting.external_id == "SM" + "l1" * 16 and before <= waiting.received_at <= after
    flush_soon_enqueues(queued_app)
    assert [job.func_name for job in Queue("default", connection=redis_conn).jobs] == ["service.jobs.process_inbound"]

    _work(queued_app, redis_conn)

    (case,) = _cases(queued_app, adviser)["items"]
    detail = queued_app.test_client().get(f"/api/v1/cases/{case['id']}", headers=adviser).get_json()
    (contact,) = detail["contacts"]
    assert contact["body"] == "Oleskelulupa?"
    # The contact keeps the time the message arrived, not the time it was processed.
    assert datetime.fromisoformat(contact["received_at"]) == waiting.received_at
    assert _waiting(queued_app) == []


def test_twilio_retries_land_once_and_make_one_contact(queued_app, redis_conn, admin_for):  # noqa: F811
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    message = inbound_sms("SM" + "l2" * 16)

    for _ in range(3):
        assert twilio_post(client, "/webhooks/twilio/sms", message).status_code == 200
    assert len(_waiting(queued_app)) == 1
    flush_soon_enqueues(queued_app)
    assert Queue("default", connection=redis_conn).count == 1
    _work(queued_app, redis_conn)
    # A retry that comes after the message was processed is recognised by the contact.
    assert twilio_post(client, "/webhooks/twilio/sms", message).status_code == 200
    _work(queued_app, redis_conn)

    (case,) = _cases(queued_app, adviser)["items"]
    detail = client.get(f"/api/v1/cases/{case['id']}", headers=adviser).get_json()
    assert len(detail["contacts"]) == 1
    assert _waiting(queued_app) == []


def test_the_webhook_answers_without_waiting_for_redis(make_app, twilio_http):  # noqa: F811
    # A Redis that takes connections and never answers: a request that asked it whether a
    # job is coming would wait out the client's 5 s socket timeout.
    with socket.create_server(("127.0.0.1", 0)) as silent_redis:
        app = make_app(REDIS_URL=f"redis://127.0.0.1:{silent_redis.getsockname()[1]}/0")
        started = time.monotonic()
        response = twilio_post(app.test_client(), "/webhooks/twilio/sms", inbound_sms("SM" + "h1" * 16))
        answered_after = time.monotonic() - started

        assert response.status_code == 200
        assert answered_after < 3
        assert [row.external_id for row in _waiting(app)] == ["SM" + "h1" * 16]


def test_a_burst_of_webhooks_asks_redis_once_per_processing_key(queued_app, redis_conn, admin_for,  # noqa: F811
                                                               monkeypatch):
    adviser = admin_for(queued_app, "adviser")
    asked, first_answer = [], threading.Event()
    set_in_redis = redis_conn.set

    def slow_first_set(name, *args, **kwargs):
        if str(name).startswith(PENDING):
            asked.append(name)
            first_answer.wait(10)  # everything the requests ask for meanwhile gathers
        return set_in_redis(name, *args, **kwargs)

    monkeypatch.setattr(redis_conn, "set", slow_first_set)
    client = queued_app.test_client()
    for n in range(20):
        assert twilio_post(client, "/webhooks/twilio/sms",
                           inbound_sms(f"SM{n:032d}", from_=f"+35840{n:07d}")).status_code == 200
    first_answer.set()
    _work(queued_app, redis_conn)

    # Each of the INTAKE_JOBS keys asked in the first call or two, then once more at most for
    # all that gathered meanwhile: not once per message.
    assert max(Counter(asked).values()) <= 2
    assert len(asked) <= 2 * queued_app.config["INTAKE_JOBS"]
    assert _cases(queued_app, adviser)["total"] == 20
    assert _waiting(queued_app) == []


def test_what_a_process_gathered_is_enqueued_when_it_exits(redis_conn):  # noqa: F811
    url = os.environ.get("REDIS_URL")
    if not url:
        pytest.skip("another process needs a real Redis to reach")
    script = textwrap.dedent(f"""
        import time
        from flask import Flask
        from rq import Queue
        from service import queue
        from service.jobs import process_inbound

        app = Flask("exiting-web-worker")
        app.config["REDIS_URL"] = {url!r}
        with app.app_context():
            queue.enqueue_soon(process_inbound, "inbound-exit-1")  # enqueued at once by the thread
            while not Queue("default", connection=queue.redis_connection()).count:
                time.sleep(0.005)
            queue.enqueue_soon(process_inbound, "inbound-exit-2")  # gathered: the thread is waiting
        """)
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60,
                   cwd=Path(__file__).resolve().parents[2])

    jobs = Queue("default", connection=redis_conn).jobs
    assert sorted(job.args for job in jobs) == [("inbound-exit-1",), ("inbound-exit-2",)]


def test_a_message_that_fails_to_process_waits_for_a_retry_and_the_others_go_on(queued_app, redis_conn,  # noqa: F811
                                                                               admin_for):
    adviser = admin_for(queued_app, "adviser")
    client = queued_app.test_client()
    handlers = queued_app.extensions["inbound_handlers"]
    landed_sms = handlers["sms"]

    def failing_on_one(stored):
        if any(message.body == "bad" for message, _ in stored):
            raise RuntimeError("a bug met by one message")
        return landed_sms.stored(stored)

    # Both land before a worker runs, so they are taken in one batch, which fails as a whole;
    # each is then tried alone.
    handlers["sms"] = replace(landed_sms, stored=failing_on_one)
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "l3" * 16, from_="+358401111111", body="bad"))
    twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "l4" * 16, from_="+358402222222", body="good"))
    _work(queued_app, redis_conn)

    assert _cases(queued_app, adviser)["total"] == 1
    (waiting,) = _waiting(queued_app)
    assert (waiting.external_id, waiting.attempts, waiting.last_error) == ("SM" + "l3" * 16, 1, "RuntimeError")
    assert waiting.next_attempt_at > utcnow()  # not again at once

    handlers["sms"] = landed_sms  # the bug is fixed; the retry's time comes
    with queued_app.app_context():
        taken = envelopes.process_due(handlers, limit=10, now=utcnow() + timedelta(seconds=10))
    assert taken == 1
    assert _cases(queued_app, adviser)["total"] == 2
    assert _waiting(queued_app) == []


def test_workers_processing_a_burst_at_once_make_each_message_one_contact(make_app, redis_conn, twilio_http,  # noqa: F811
                                                                         admin_for):
    from tests.twilio_fakes import ACCOUNT_SID

    app = make_app(REDIS_URL=os.environ.get("REDIS_URL") or "redis://fake", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                   TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=twilio_http, INTAKE_JOBS=3)
    app.extensions["redis"] = redis_conn
    adviser = admin_for(app, "adviser")
    client = app.test_client()
    numbers = [f"+35840{n:07d}" for n in range(8)]
    # Three messages from each number, the first two of each new customer side by side.
    for round_ in range(3):
        for n, number in enumerate(numbers):
            twilio_post(client, "/webhooks/twilio/sms", inbound_sms(f"SM{round_:02d}{n:030d}", from_=number))
    flush_soon_enqueues(app)
    assert Queue("default", connection=redis_conn).count == 3

    workers = [_worker_process(app, redis_conn) for _ in range(3)]
    for pid in workers:
        assert os.waitpid(pid, 0)[1] == 0

    cases = client.get("/api/v1/cases", headers=adviser, query_string={"page_size": 100}).get_json()
    assert cases["total"] == len(numbers)  # one customer and one case per number
    for case in cases["items"]:
        detail = client.get(f"/api/v1/cases/{case['id']}", headers=adviser).get_json()
        assert len(detail["contacts"]) == 3
    assert _waiting(app) == []


def _terminate_backends(app, pids: list[int]) -> None:
    """As a database restart would, for these connections only."""
    with app.app_context():
        for pid in pids:  # each waits (up to 5 s) until that backend has gone
            assert db.session.scalar(db.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        db.session.commit()


def _drop_the_landing_connection(app) -> int:
    with app.app_context():
        with envelopes.landing_engine().connect() as connection:  # the one the last landing used
            pid = connection.scalar(db.text("SELECT pg_backend_pid()"))
    _terminate_backends(app, [pid])
    return pid


def test_a_landing_connection_the_database_dropped_is_replaced_without_an_error(queued_app, redis_conn):
    if not queued_app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the landing connections are PostgreSQL's")
    client = queued_app.test_client()
    assert twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "d1" * 16)).status_code == 200
    dropped = _drop_the_landing_connection(queued_app)

    # Not pinged before use, the dead connection fails the INSERT, which goes again on a new one.
    response = twilio_post(client, "/webhooks/twilio/sms", inbound_sms("SM" + "d2" * 16))

    assert response.status_code == 200
    (first, second) = _waiting(queued_app)
    assert [first.external_id, second.external_id] == ["SM" + "d1" * 16, "SM" + "d2" * 16]
    with queued_app.app_context():
        with envelopes.landing_engine().connect() as connection:
            assert connection.scalar(db.text("SELECT pg_backend_pid()")) != dropped

    # Had the first INSERT committed and only its answer been lost, the second finds the row:
    # landing reports it as stored, so that its processing is asked for.
    _drop_the_landing_connection(queued_app)
    with queued_app.app_context():
        assert envelopes.land("sms", first.external_id, {}, received_at=utcnow()) == first.id
        assert envelopes.land("sms", first.external_id, {}, received_at=utcnow()) is None  # a plain retry


def test_every_idle_landing_connection_the_database_dropped_is_replaced(queued_app, redis_conn):  # noqa: F811
    if not queued_app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the landing connections are PostgreSQL's")
    with queued_app.app_context():
        engine = envelopes.landing_engine()
        with engine.connect() as first, engine.connect() as second:  # both wait in the pool after
            pids = [connection.scalar(db.text("SELECT pg_backend_pid()")) for connection in (first, second)]
    _terminate_backends(queued_app, pids)

    # The first dead connection fails the INSERT; its retry must not be handed the second.
    response = twilio_post(queued_app.test_client(), "/webhooks/twilio/sms", inbound_sms("SM" + "d3" * 16))

    assert response.status_code == 200
    assert [row.external_id for row in _waiting(queued_app)] == ["SM" + "d3" * 16]


def test_a_burst_of_landings_waits_for_the_pools_connections_instead_of_opening_more(queued_app, redis_conn):  # noqa: F811
    """Opening a PostgreSQL session costs more than the INSERTs it serves: a threaded web
    worker under load once opened some 24 a second over the ones it kept."""
    if not queued_app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("the landing connections are PostgreSQL's")
    from sqlalchemy import event

    kept = queued_app.config["DATABASE_POOL_SIZE"]
    opened = []
    with queued_app.app_context():
        engine = envelopes.landing_engine()
        event.listen(engine, "connect", lambda *args: opened.append(1))
        busy = [engine.connect() for _ in range(kept)]  # every kept connection in an INSERT
    answers = []
    webhook = threading.Thread(target=lambda: answers.append(
        twilio_post(queued_app.test_client(), "/webhooks/twilio/sms", inbound_sms("SM" + "b1" * 16)).status_code))
    webhook.start()
    webhook.join(0.5)
    assert webhook.is_alive() and len(opened) == kept  # waiting, not opening one more

    busy.pop().close()
    webhook.join(10)
    assert answers == [200] and len(opened) == kept
    assert [row.external_id for row in _waiting(queued_app)] == ["SM" + "b1" * 16]
    for connection in busy:
        connection.close()


def test_every_postgresql_session_runs_without_jit_and_keeps_the_operators_pgoptions(monkeypatch):
    """JIT compiled a search at a million cases for about 55 ms, longer than it ran. An
    operator's own PGOPTIONS still apply."""
    from sqlalchemy import text

    from service import create_app
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        pytest.skip("JIT is PostgreSQL's")
    monkeypatch.setenv("PGOPTIONS", "-c statement_timeout=12345")
    app = create_app({"DATABASE_URL": url, "TESTING": True, "REDIS_URL": None})

    with app.app_context():
        session = db.session.execute(text("SELECT current_setting('jit'), current_setting('statement_timeout')")).one()
        with envelopes.landing_engine().connect() as landing:
            landing_session = landing.execute(text("SELECT current_setting('jit'), current_setting('statement_timeout')")).one()
        db.session.remove()
        db.engine.dispose()
        envelopes.landing_engine().dispose()

    assert tuple(session) == tuple(landing_session) == ("off", "12345ms")
