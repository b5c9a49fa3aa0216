"""Open chats never starve the server: the production server (gunicorn with gunicorn.conf.py)
on a loopback port, on the tests' database, with three times as many chat long polls open as
it has threads, still answers its health check and an adviser at once, and a waiting customer
gets the adviser's answer as soon as it is written.

The server is small (2 workers of 8 threads) so that the test stays short; every other setting
is the production one. With REDIS_URL set it uses that Redis too.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKERS, THREADS = 2, 8
POLLS = 3 * WORKERS * THREADS
BOUND = 2.0  # seconds an adviser may wait for an answer meanwhile


@pytest.fixture
def app(make_app):
    # The chats are started from one address, faster than the public limit allows.
    return make_app(PUBLIC_RATE_LIMIT_PER_MINUTE=0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(port: int, path: str, headers: dict, timeout: float) -> tuple[int, dict, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        conn.close()


@pytest.fixture
def server(app, tmp_path):
    port = _free_port()
    env = {**os.environ, "BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(WORKERS),
           "GUNICORN_THREADS": str(THREADS), "DATABASE_URL": app.config["DATABASE_URL"],
           "SECRET_KEY": app.config["SECRET_KEY"], "FILE_STORAGE_PATH": str(tmp_path / "files"),
           # Every poll comes from this machine's address; the bound under test is the threads'.
           "CHAT_WAITS_PER_ADDRESS": "1000"}
    # With REDIS_URL (CI's second pass) the workers wake each other's polls through it.
    log = open(tmp_path / "gunicorn.log", "wb")
    process = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(port, "/healthz", {}, timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()
            time.sleep(0.2)
        time.sleep(1.0)  # every worker up, not only the first
        yield port, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.mark.serial  # its 2-second answers are about this server, not about another worker's load
def test_hundreds_of_open_chat_polls_leave_the_server_answering_advisers(client, api, server):
    port, process = server
    adviser = api.headers_for("adviser")
    client.post("/api/v1/inbound/messages", headers=api.api_key_headers(),
                json={"channel": "sms", "external_id": "SM" + "1" * 32, "from": {"phone": "040 123 4567"},
                      "body": "Hei"})
    chats = []
    for _ in range(POLLS):
        started = client.post("/api/v1/chats", json={"anonymous": True, "language": "fi"}).get_json()
        chats.append((started["chat_id"], {"Authorization": "Bearer " + started["token"]}))

    answers: dict[int, tuple] = {}

    def poll(chat_id, headers):
        began = time.monotonic()
        try:
            status, response_headers, body = _get(port, f"/api/v1/chats/{chat_id}/messages?after=0&wait=25",
                                                  headers, timeout=30)
        except OSError as exc:
            status, response_headers, body = type(exc).__name__, {}, None
        answers[chat_id] = (status, response_headers, body, time.monotonic() - began)

    pollers = [threading.Thread(target=poll, args=chat, daemon=True) for chat in chats]
    for poller in pollers:
        poller.start()
    time.sleep(1.5)  # every poll has arrived; those let wait are waiting

    began = time.monotonic()
    health = _get(port, "/healthz", {}, timeout=BOUND * 3)
    health_seconds = time.monotonic() - began
    began = time.monotonic()
    cases = _get(port, "/api/v1/cases", adviser, timeout=BOUND * 3)
    cases_seconds = time.monotonic() - began

    assert health[0] == 200 and health_seconds < BOUND
    assert cases[0] == 200 and cases[2]["total"] == POLLS + 1 and cases_seconds < BOUND

    # A quarter of each worker's threads stays free: no more than three quarters wait.
    waiting = [chat_id for chat_id, _ in chats if chat_id not in answers]
    assert 0 < len(waiting) <= WORKERS * THREADS * 3 // 4
    turned_away = [a for a in answers.values() if a[0] == 200 and a[1].get("Retry-After") == "3"]
    assert len(turned_away) == POLLS - len(waiting)
    assert all(a[2] == {"items": [], "ended": False} and a[3] < BOUND for a in turned_away)

    # A waiting customer gets the adviser's answer as it is written.
    chat_id = waiting[0]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=BOUND * 3)
    conn.request("POST", f"/api/v1/chats/{chat_id}/messages", body=json.dumps({"body": "Täällä ollaan"}),
                 headers={**adviser, "Content-Type": "application/json"})
    assert conn.getresponse().status == 201
    conn.close()
    written = time.monotonic()
    deadline = written + BOUND
    while chat_id not in answers and time.monotonic() < deadline:
        time.sleep(0.05)
    status, headers, body, _ = answers[chat_id]
    assert status == 200 and "Retry-After" not in headers
    assert [m["body"] for m in body["items"]] == ["Täällä ollaan"]

    # A deploy stops the server (SIGTERM): the polls still waiting are answered, not cut after
    # graceful_timeout, and the server is gone at once.
    stopping = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=15)
    assert time.monotonic() - stopping < 5
    for poller in pollers:
        poller.join(timeout=5)
    assert sorted(answers) == sorted(chat_id for chat_id, _ in chats)
    assert all(status == 200 for status, *_ in answers.values())


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a real Redis (REDIS_URL)")
def test_a_poll_waiting_in_one_process_is_woken_by_a_message_written_in_another(make_app, api):
    # Two applications stand for two web processes; only Redis connects their waiting rooms.
    waiting_in = make_app(REDIS_URL=os.environ["REDIS_URL"], PUBLIC_RATE_LIMIT_PER_MINUTE=0)
    written_in = make_app(REDIS_URL=os.environ["REDIS_URL"])
    adviser = api.headers_for("adviser")
    started = waiting_in.test_client().post("/api/v1/chats", json={"anonymous": True}).get_json()
    chat_id, customer = started["chat_id"], {"Authorization": "Bearer " + started["token"]}
    answer = {}

    def poll():
        with waiting_in.test_client() as own:
            answer["response"] = own.get(f"/api/v1/chats/{chat_id}/messages?after=0&wait=20", headers=customer)

    poller = threading.Thread(target=poll)
    poller.start()
    deadline = time.monotonic() + 5
    while waiting_in.extensions["chat_waits"].seated != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # the subscriber thread has subscribed

    written = time.monotonic()
    assert written_in.test_client().post(f"/api/v1/chats/{chat_id}/messages", json={"body": "Hei"},
                                         headers=adviser).status_code == 201
    poller.join(timeout=20)

    assert [m["body"] for m in answer["response"].get_json()["items"]] == ["Hei"]
    # Sooner than the waiter's own second look (recheck_seconds) would have found it.
    assert time.monotonic() - written < waiting_in.extensions["chat_waits"].recheck_seconds / 2
