"""The bounds on chat long polls: a poll that may not wait is answered at once with Retry-After,
so public chats can never hold every thread of the server (service/chats/waits.py).
The production server under many polls is tested in tests/integration/test_chat_long_polls.py."""

import threading
import time

import pytest


@pytest.fixture
def app(make_app):
    return make_app(PUBLIC_RATE_LIMIT_PER_MINUTE=0, CHAT_WAITS_PER_ADDRESS=2)


def _start(client):
    started = client.post("/api/v1/chats", json={"anonymous": True, "language": "fi"}).get_json()
    return started["chat_id"], {"Authorization": "Bearer " + started["token"]}


class Poll:
    """A long poll (wait=10) running in its own thread, as a browser's would."""

    def __init__(self, app, chat_id, headers, address="127.0.0.1"):
        self.response = None
        self.began = time.monotonic()

        def run():
            with app.test_client() as own:
                self.response = own.get(f"/api/v1/chats/{chat_id}/messages?after=0&wait=10", headers=headers,
                                        environ_base={"REMOTE_ADDR": address})
            self.seconds = time.monotonic() - self.began

        self.thread = threading.Thread(target=run)
        self.thread.start()

    def result(self):
        self.thread.join(timeout=15)
        return self.response


def _seated(app, count):
    """Until ``count`` polls wait (only to know when to go on; what is asserted is the answers)."""
    deadline = time.monotonic() + 5
    while app.extensions["chat_waits"].seated != count:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def _refused_at_once(response, seconds):
    assert response.status_code == 200 and response.headers["Retry-After"] == "3"
    assert response.get_json() == {"items": [], "ended": False}
    assert seconds < 2


def test_a_long_poll_with_no_seat_left_is_answered_at_once_with_retry_after(make_app):
    app = make_app(CHAT_WAITS_PER_PROCESS=0)
    chat, customer = _start(app.test_client())

    poll = Poll(app, chat, customer)

    _refused_at_once(poll.result(), poll.seconds)


def test_one_address_holds_no_more_than_its_share_of_the_waiting_polls(app, client, adviser):
    chats = [_start(client) for _ in range(4)]
    first = Poll(app, *chats[0])
    second = Poll(app, *chats[1])
    _seated(app, 2)

    third = Poll(app, *chats[2])
    _refused_at_once(third.result(), third.seconds)

    # Another address still waits, and so do officials (an office shares one address).
    elsewhere = Poll(app, *chats[3], address="192.0.2.7")
    official = Poll(app, chats[2][0], adviser)
    _seated(app, 4)
    for chat_id, _ in chats:
        client.post(f"/api/v1/chats/{chat_id}/messages", json={"body": "Hei"}, headers=adviser)
    for poll in (first, second, elsewhere, official):
        response = poll.result()
        assert [m["body"] for m in response.get_json()["items"]] == ["Hei"]
        assert "Retry-After" not in response.headers


def test_one_chat_has_at_most_two_waiting_polls_of_its_customer(make_app):
    app = make_app(PUBLIC_RATE_LIMIT_PER_MINUTE=0)
    client = app.test_client()
    chat, customer = _start(client)
    tabs = [Poll(app, chat, customer), Poll(app, chat, customer)]
    _seated(app, 2)

    third = Poll(app, chat, customer)
    _refused_at_once(third.result(), third.seconds)

    client.post(f"/api/v1/chats/{chat}/end", headers=customer)
    for tab in tabs:
        assert tab.result().get_json() == {"items": [], "ended": True}
        assert tab.seconds < 5


def test_a_poll_that_finds_messages_does_not_wait_or_take_a_seat(make_app):
    app = make_app(CHAT_WAITS_PER_PROCESS=0)
    client = app.test_client()
    chat, customer = _start(client)
    client.post(f"/api/v1/chats/{chat}/messages", json={"body": "Hei"}, headers=customer)

    response = client.get(f"/api/v1/chats/{chat}/messages?after=0&wait=10", headers=customer)

    assert [m["body"] for m in response.get_json()["items"]] == ["Hei"]
    assert "Retry-After" not in response.headers
