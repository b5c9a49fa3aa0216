"""A delivery worker killed with SIGKILL in the middle of sending an SMS: the customer gets the
message once, whether Twilio had accepted it before the kill or not.

The worker is a real RQ worker in its own process; Twilio is a real HTTP server on loopback
that holds the request open while the test kills the worker, and then sends the status
callback Twilio would send, to the callback URL the worker gave it.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from rq import Queue, SimpleWorker

from service.extensions import db
from service.jobs import sweep_outbox
from service.outbox.models import OutboxMessage
from tests.integration.test_queue import redis_conn, sms_case  # noqa: F401  (the fixture)
from tests.twilio_fakes import ACCOUNT_SID, LoopbackTwilioClients, twilio_post

_sids = itertools.count(1)

# A forked worker's fakeredis is a copy: the job it takes would still wait in the parent's, and
# the retry would come from that copy instead of the sweep. Only a real Redis shows the kill.
pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"),
                                reason="needs the real Redis of REDIS_URL (CI's second pass)")


class LoopbackTwilio(ThreadingHTTPServer):
    """Twilio's Messages endpoint. While ``hold`` is set, a request waits for ``release``:
    with ``accept_first`` it has been accepted (recorded) before it waits, else only after.
    ``delay`` is the provider's answer time, and ``most_in_flight`` the most requests it has
    had open at once. A recipient in ``refuse`` gets that (status, code) as an error; for one
    in ``drop`` the connection is closed with no answer."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.accepted: list[dict] = []
        self.hold = False
        self.accept_first = True
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.delay = 0.0
        self.refuse: dict[str, tuple[int, int]] = {}
        self.drop: set[str] = set()
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackTwilio

    def do_POST(self):
        server = self.server
        with server.lock:
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        answered = False

        def answered_now():
            # A request stops counting before its answer is written: once the client has the
            # answer it may send its next request before this thread would run its ``finally``.
            nonlocal answered
            if not answered:
                answered = True
                with server.lock:
                    server.in_flight -= 1

        try:
            time.sleep(server.delay)
            self._answer(dict(parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode())),
                         answered_now)
        finally:
            answered_now()

    def _answer(self, form, answered_now):
        server = self.server
        if form.get("To") in server.drop:
            answered_now()
            self.close_connection = True
            return
        if form.get("To") in server.refuse:
            status, code = server.refuse[form["To"]]
            answered_now()
            self._json(status, {"code": code, "message": "refused", "status": status})
            return
        message = {"sid": f"SM{next(_sids):032d}", "status": "queued", "to": form.get("To"),
                   "body": form.get("Body"), "status_callback": form.get("StatusCallback")}
        holding = server.hold
        if not holding or server.accept_first:
            server.accepted.append(message)
        if holding:
            server.arrived.set()
            server.release.wait(30)
            return  # the worker is dead by now; nobody reads an answer
        answered_now()
        self._json(201, {**message, "account_sid": ACCOUNT_SID})

    def _json(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def twilio_server():
    server = LoopbackTwilio()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def worker_app(make_app, redis_conn, twilio_server):  # noqa: F811
    http = LoopbackTwilioClients(twilio_server.base)
    app = make_app(REDIS_URL=os.environ.get("REDIS_URL") or "redis://fake", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                   TWILIO_FROM_NUMBER="+358501112223", TWILIO_HTTP_CLIENT=http, OUTBOX_LEASE_SECONDS=1)
    app.extensions["redis"] = redis_conn
    yield app
    http.close()


# The forked workers still running: a test that fails before it reaps its worker leaves one
# held at a stalled Twilio or a sleeping hook; tests/integration/conftest.py kills them.
FORKED_WORKERS: set[int] = set()


def _worker_process(app, redis_conn) -> int:  # noqa: F811
    """Fork a process that runs an RQ worker over the queue, as `rq worker` would."""
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            with app.app_context():
                db.engine.dispose(close=False)  # never share the parent's connections
                SimpleWorker([Queue("default", connection=redis_conn)], connection=redis_conn).work(burst=True)
        finally:
            os._exit(0)
    FORKED_WORKERS.add(pid)
    return pid


def _kill_while_sending(app, redis_conn, twilio_server) -> None:  # noqa: F811
    twilio_server.hold = True
    pid = _worker_process(app, redis_conn)
    assert twilio_server.arrived.wait(30), "the worker never reached Twilio"
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    twilio_server.hold = False
    twilio_server.release.set()


def _reply(app, adviser):
    client = app.test_client()
    case_id = sms_case(app, adviser, sid="SM" + "k" * 32)
    response = client.post(f"/api/v1/cases/{case_id}/replies", json={"channel": "sms", "body": "Hei!"},
                           headers=adviser)
    assert response.status_code == 201, response.get_json()
    return response.get_json()["delivery"]["id"]


def _retry_after_the_lease(app, redis_conn) -> None:  # noqa: F811
    # The killed worker had taken the only job: what sends the message now is the sweep, as in
    # production, not a copy of the job left behind.
    assert Queue("default", connection=redis_conn).count == 0
    time.sleep(1.2)  # the killed worker's one-second lease runs out
    with app.app_context():
        sweep_outbox()
        SimpleWorker([Queue("default", connection=redis_conn)], connection=redis_conn).work(burst=True)


def _row(app, outbox_id) -> OutboxMessage:
    with app.app_context():
        return db.session.get(OutboxMessage, outbox_id)


def test_killed_after_twilio_accepted_the_message_it_is_not_sent_again(worker_app, redis_conn, twilio_server,
                                                                        admin_for):
    outbox_id = _reply(worker_app, admin_for(worker_app, "adviser"))

    _kill_while_sending(worker_app, redis_conn, twilio_server)
    (accepted,) = twilio_server.accepted
    assert _row(worker_app, outbox_id).provider_id is None  # the worker died before writing it down

    # Twilio reports on the message to the callback URL the worker gave it, which names the row.
    callback = urlsplit(accepted["status_callback"])
    assert callback.query == f"outbox={outbox_id}"
    response = twilio_post(worker_app.test_client(), f"{callback.path}?{callback.query}",
                           {"MessageSid": accepted["sid"], "MessageStatus": "sent", "AccountSid": ACCOUNT_SID})
    assert response.status_code == 204

    _retry_after_the_lease(worker_app, redis_conn)

    assert len(twilio_server.accepted) == 1  # one message to the customer
    row = _row(worker_app, outbox_id)
    assert (row.status, row.provider_id) == ("sent", accepted["sid"])


def test_killed_before_twilio_accepted_the_message_it_is_sent_once_on_retry(worker_app, redis_conn, twilio_server,
                                                                             admin_for):
    outbox_id = _reply(worker_app, admin_for(worker_app, "adviser"))
    twilio_server.accept_first = False

    _kill_while_sending(worker_app, redis_conn, twilio_server)
    assert twilio_server.accepted == []

    _retry_after_the_lease(worker_app, redis_conn)

    (accepted,) = twilio_server.accepted
    row = _row(worker_app, outbox_id)
    assert (row.status, row.provider_id, row.attempts) == ("sent", accepted["sid"], 2)
