"""A whole chat between a customer and an adviser through the API, and the web form."""

import os
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from tests.api.problems import assert_problem


def _start(client, **body):
    payload = {"anonymous": False, "name": "Anna Asiakas", "email": "anna@example.fi", "language": "fi"}
    payload.update(body)
    response = client.post("/api/v1/chats", json=payload)
    assert response.status_code == 201, response.get_json()
    started = response.get_json()
    return started, {"Authorization": "Bearer " + started["token"]}


def test_a_whole_chat_between_a_customer_and_an_adviser(client, adviser):
    started, customer = _start(client)
    chat = started["chat_id"]

    assert client.post(f"/api/v1/chats/{chat}/messages", json={"body": "Hei! Miten haen passia?"},
                       headers=customer).status_code == 201
    assert client.post(f"/api/v1/chats/{chat}/join", headers=adviser).status_code == 200
    seen = client.get(f"/api/v1/chats/{chat}/messages?after=0", headers=adviser).get_json()
    assert [m["body"] for m in seen["items"]] == ["Hei! Miten haen passia?"]
    answer = client.post(f"/api/v1/chats/{chat}/messages", json={"body": "Hei Anna! Varaa aika poliisilta."},
                         headers=adviser).get_json()
    assert answer["author"] == "official"

    new = client.get(f"/api/v1/chats/{chat}/messages?after={seen['items'][-1]['id']}", headers=customer).get_json()
    assert [m["body"] for m in new["items"]] == ["Hei Anna! Varaa aika poliisilta."]
    assert client.post(f"/api/v1/chats/{chat}/end", headers=customer).status_code == 200

    case = client.get(f"/api/v1/cases/{started['case_id']}", headers=adviser).get_json()
    (contact,) = case["contacts"]
    assert contact["channel"] == "chat" and contact["started_at"] and contact["ended_at"] and contact["answered_at"]
    assert "Hei! Miten haen passia?" in contact["body"] and "Varaa aika poliisilta." in contact["body"]
    assert case["customer"]["email"] == "anna@example.fi" and case["status"] == "open"


def test_an_anonymous_chat_stores_no_customer_identity(client, adviser):
    started, customer = _start(client, anonymous=True, name=None, email=None)
    client.post(f"/api/v1/chats/{started['chat_id']}/messages", json={"body": "Kysymys"}, headers=customer)

    case = client.get(f"/api/v1/cases/{started['case_id']}", headers=adviser).get_json()
    assert case["customer"] is None
    assert case["contacts"][0]["sender"] is None and case["contacts"][0]["sender_name"] is None
    assert client.get("/api/v1/customers", headers=adviser).get_json()["total"] == 0


def test_an_anonymous_chat_refuses_identity_fields(client):
    response = client.post("/api/v1/chats", json={"anonymous": True, "email": "anna@example.fi"})
    assert_problem(response, 422, "validation-failed", fields=["anonymous"])


def test_a_chat_token_never_reads_another_chat(client):
    first, first_token = _start(client, email="a@example.fi")
    second, _ = _start(client, email="b@example.fi")

    assert_problem(client.get(f"/api/v1/chats/{second['chat_id']}/messages", headers=first_token), 403, "forbidden")
    assert client.post(f"/api/v1/chats/{second['chat_id']}/messages", json={"body": "x"},
                       headers=first_token).status_code == 403
    # Nor anything else of the API.
    assert client.get("/api/v1/cases", headers=first_token).status_code == 403
    assert client.get(f"/api/v1/cases/{first['case_id']}", headers=first_token).status_code == 403


def test_an_expired_chat_token_is_refused(make_app):
    client = make_app(CHAT_TOKEN_TTL_SECONDS=-1).test_client()
    started, customer = _start(client)

    response = client.get(f"/api/v1/chats/{started['chat_id']}/messages", headers=customer)

    assert_problem(response, 401, "invalid-token")


def test_a_message_to_an_ended_chat_is_a_clear_409(client, adviser):
    started, customer = _start(client)
    client.post(f"/api/v1/chats/{started['chat_id']}/end", headers=adviser)

    response = client.post(f"/api/v1/chats/{started['chat_id']}/messages", json={"body": "Vielä yksi"},
                           headers=customer)

    assert_problem(response, 409, "chat-ended")


def test_long_poll_returns_as_soon_as_the_adviser_writes(app, client, adviser):
    started, customer = _start(client)
    chat = started["chat_id"]

    def answer_soon():
        time.sleep(0.5)
        with app.test_client() as other:
            other.post(f"/api/v1/chats/{chat}/messages", json={"body": "Täällä ollaan"}, headers=adviser)

    writer = threading.Thread(target=answer_soon)
    began = time.monotonic()
    writer.start()
    polled = client.get(f"/api/v1/chats/{chat}/messages?after=0&wait=10", headers=customer).get_json()
    writer.join()

    assert [m["body"] for m in polled["items"]] == ["Täällä ollaan"]
    assert time.monotonic() - began < 5


def test_advisers_list_active_chats(client, adviser):
    active, _ = _start(client, email="a@example.fi")
    ended, token = _start(client, email="b@example.fi")
    client.post(f"/api/v1/chats/{ended['chat_id']}/end", headers=token)

    listed = client.get("/api/v1/chats?active=true", headers=adviser).get_json()

    assert [c["id"] for c in listed["items"]] == [active["chat_id"]]


def test_the_chat_list_filters_to_ended_chats_and_to_the_advisers_own_lines(client, api, admin, adviser):
    active, _ = _start(client, email="a@example.fi")
    ended, token = _start(client, email="b@example.fi")
    client.post(f"/api/v1/chats/{ended['chat_id']}/end", headers=token)
    line = client.post("/api/v1/service-lines", headers=admin, json={"name": "Oleskeluluvat"}).get_json()
    limited = api.headers_for("adviser", service_line_ids=[line["id"]])

    finished = client.get("/api/v1/chats?active=false", headers=adviser).get_json()
    assert [c["id"] for c in finished["items"]] == [ended["chat_id"]]
    assert {c["id"] for c in client.get("/api/v1/chats", headers=adviser).get_json()["items"]} \
        == {active["chat_id"], ended["chat_id"]}
    assert client.get("/api/v1/chats", headers=limited).get_json()["items"] == []  # both on the default line


def test_an_unknown_chat_is_a_404_for_every_operation(client, adviser):
    for response in (client.get("/api/v1/chats/999999/messages", headers=adviser),
                     client.post("/api/v1/chats/999999/messages", json={"body": "Hei"}, headers=adviser),
                     client.post("/api/v1/chats/999999/join", headers=adviser),
                     client.post("/api/v1/chats/999999/end", headers=adviser)):
        assert_problem(response, 404)


def test_an_ended_chat_cannot_be_joined_and_ending_it_again_changes_nothing(client, adviser):
    started, customer = _start(client)
    first = client.post(f"/api/v1/chats/{started['chat_id']}/end", headers=customer).get_json()

    assert_problem(client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=adviser), 409, "chat-ended")
    again = client.post(f"/api/v1/chats/{started['chat_id']}/end", headers=adviser)
    assert again.status_code == 200 and again.get_json()["ended_at"] == first["ended_at"]


def test_a_customer_writing_in_the_chat_reopens_a_case_waiting_on_them(client, adviser):
    started, customer = _start(client)
    client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=adviser)
    waiting = client.patch(f"/api/v1/cases/{started['case_id']}", json={"status": "waiting"}, headers=adviser)
    assert waiting.get_json()["status"] == "waiting"

    assert client.post(f"/api/v1/chats/{started['chat_id']}/messages", json={"body": "Tässä tiedot"},
                       headers=customer).status_code == 201

    assert client.get(f"/api/v1/cases/{started['case_id']}", headers=adviser).get_json()["status"] == "open"


# --- the web form ----------------------------------------------------------------------------

FORM = {"name": "Sanna Svensson", "email": "sanna@example.se", "subject": "Flyttanmälan",
        "message": "Hej, hur anmäler jag flytt?", "language": "sv", "submission_id": "form-0001-abcdef"}


def test_a_web_form_submission_opens_a_case(client, adviser):
    response = client.post("/api/v1/inbound/webform", json=FORM)

    assert response.status_code == 202 and response.get_json() == {"received": True}
    cases = client.get("/api/v1/cases?channel=webform", headers=adviser).get_json()
    assert cases["total"] == 1
    case = client.get(f"/api/v1/cases/{cases['items'][0]['id']}", headers=adviser).get_json()
    assert case["customer"]["email"] == "sanna@example.se" and case["language"] == "sv"
    assert case["contacts"][0]["body"] == "Hej, hur anmäler jag flytt?"


def test_a_resubmitted_form_creates_nothing_new(client, adviser):
    client.post("/api/v1/inbound/webform", json=FORM)
    client.post("/api/v1/inbound/webform", json=FORM)

    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 1


def test_a_form_posted_again_while_the_first_copy_waits__is_answered_the_same_and_opens_one_case(make_app,
                                                                                                admin_for):
    """With workers (RQ), the copy posted again finds the first still waiting to be processed:
    same answer, nothing landed or asked for twice, one case once the workers run."""
    import os

    import fakeredis
    from redis import Redis
    from rq import Queue, SimpleWorker

    from service.queue import flush_soon_enqueues

    url = os.environ.get("REDIS_URL")
    conn = Redis.from_url(url) if url else fakeredis.FakeStrictRedis()
    conn.flushdb()
    app = make_app(REDIS_URL=url or "redis://fake")
    app.extensions["redis"] = conn
    client, adviser = app.test_client(), admin_for(app, "adviser")

    answers = [client.post("/api/v1/inbound/webform", json=FORM) for _ in range(2)]
    assert [(a.status_code, a.get_json()) for a in answers] == [(202, {"received": True})] * 2
    flush_soon_enqueues(app)
    queue = Queue("default", connection=conn)
    assert queue.count == 1 and client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 0
    with app.app_context():
        SimpleWorker([queue], connection=conn).work(burst=True)
    cases = client.get("/api/v1/cases?channel=webform", headers=adviser).get_json()
    assert cases["total"] == 1
    case = client.get(f"/api/v1/cases/{cases['items'][0]['id']}", headers=adviser).get_json()
    assert [c["body"] for c in case["contacts"]] == ["Hej, hur anmäler jag flytt?"]
    conn.flushdb()


def test_the_honeypot_stores_nothing_but_answers_the_same(client, adviser):
    response = client.post("/api/v1/inbound/webform", json={**FORM, "website": "http://spam.example"})

    assert response.status_code == 202 and response.get_json() == {"received": True}
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 0


@pytest.mark.parametrize("change, field", [
    ({"message": ""}, "message"),
    ({"email": "not-an-address"}, "email"),
    ({"phone": "12"}, "phone"),
    ({"email": None, "phone": None}, "email"),
    ({"language": "de"}, "language"),
    ({"extra": "x"}, "extra"),
])
def test_web_form_errors_come_back_per_field(client, change, field):
    response = client.post("/api/v1/inbound/webform", json={**FORM, **change})
    assert_problem(response, 422, "validation-failed", fields=[field])


def test_the_web_form_is_rate_limited_per_client_address(make_app, admin_for):
    app = make_app(PUBLIC_RATE_LIMIT_PER_MINUTE=3)
    client = app.test_client()
    one, other = {"REMOTE_ADDR": "192.0.2.10"}, {"REMOTE_ADDR": "192.0.2.20"}
    submissions = (f"form-{i:04d}-rate" for i in range(100))

    def post(address):
        return client.post("/api/v1/inbound/webform", json={**FORM, "submission_id": next(submissions)},
                           environ_base=address)

    # 20 seconds into a minute, on a clock that stands still: no window ends inside the test.
    with time_machine.travel(datetime(2026, 6, 1, 9, 0, 20, tzinfo=timezone.utc), tick=False) as clock:
        assert [post(one).status_code for _ in range(3)] == [202, 202, 202]
        limited = post(one)
        assert_problem(limited, 429, "too-many-requests")
        assert limited.headers["Retry-After"] == "40"  # until the minute is over
        assert post(other).status_code == 202  # another address has its own count

        clock.shift(timedelta(seconds=40))
        assert post(one).status_code == 202  # a new minute, a new count


def test_with_redis_down_the_limit_falls_back_to_the_process_own_count(make_app):
    """Refusing every customer because Redis is away would be worse than a per-process limit."""
    from service.errors import TooManyRequests
    from service.ratelimit import limit_per_client

    app = make_app(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    with time_machine.travel(datetime(2026, 6, 1, 9, 0, 20, tzinfo=timezone.utc), tick=False):
        with app.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.30"}):
            for _ in range(3):
                limit_per_client("webform", per_minute=3)
            with pytest.raises(TooManyRequests) as refused:
                limit_per_client("webform", per_minute=3)
    assert refused.value.headers["Retry-After"] == "40"


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a real Redis (REDIS_URL)")
def test_with_redis_two_web_processes_share_one_count_kept_in_redis(make_app):
    """Two applications stand for two web processes. Their only shared state is Redis, so the
    second is refused only if the count lives there: the limiter's fallback, a count of each
    process's own, would let it through."""
    from redis import Redis

    from service.errors import TooManyRequests
    from service.ratelimit import limit_per_client

    first, second = make_app(), make_app()
    assert first.config["REDIS_URL"] == second.config["REDIS_URL"] == os.environ["REDIS_URL"]
    at = datetime(2026, 6, 1, 9, 0, 20, tzinfo=timezone.utc)
    key = f"ratelimit:webform:192.0.2.50:{int(at.timestamp()) // 60}"
    with time_machine.travel(at, tick=False):
        with first.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.50"}):
            for _ in range(3):
                limit_per_client("webform", per_minute=3)
        with second.test_request_context(environ_base={"REMOTE_ADDR": "192.0.2.50"}):
            with pytest.raises(TooManyRequests):
                limit_per_client("webform", per_minute=3)
            limit_per_client("webform", per_minute=5)  # the fifth request of the minute, not the first
            with pytest.raises(TooManyRequests):
                limit_per_client("webform", per_minute=5)

    conn = Redis.from_url(os.environ["REDIS_URL"])
    try:
        assert conn.get(key) == b"6"
        assert 0 < conn.ttl(key) <= 120  # gone two minutes after it was last counted
    finally:
        conn.close()
    # Neither process kept a count of its own.
    assert "ratelimit_counts" not in first.extensions and "ratelimit_counts" not in second.extensions


def test_an_adviser_limited_to_another_line_cannot_reach_the_chat(client, api, admin):
    line = client.post("/api/v1/service-lines", headers=admin, json={"name": "Oleskeluluvat"}).get_json()
    limited = api.headers_for("adviser", service_line_ids=[line["id"]])
    started, _ = _start(client)  # lands on the default line

    assert client.get(f"/api/v1/chats/{started['chat_id']}/messages", headers=limited).status_code == 404
    assert client.post(f"/api/v1/chats/{started['chat_id']}/messages", json={"body": "x"},
                       headers=limited).status_code == 404
    assert client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=limited).status_code == 404


def test_a_chat_on_a_closed_case_takes_no_more_messages(client, adviser):
    started, customer = _start(client)
    client.post(f"/api/v1/cases/{started['case_id']}/close", headers=adviser)

    response = client.post(f"/api/v1/chats/{started['chat_id']}/messages", json={"body": "Vielä"}, headers=customer)

    assert_problem(response, 409, "chat-ended")


def test_of_two_advisers_only_the_first_joins_a_chat(client, api):
    started, _customer = _start(client)
    first, second = api.headers_for("adviser"), api.headers_for("adviser")
    assert client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=first).status_code == 200
    assert_problem(client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=second), 409, "chat-taken")
    # Joining again is harmless for the one who has it.
    again = client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=first)
    assert again.status_code == 200 and again.get_json()["joined_by"]["id"] == first.id
    listed = client.get("/api/v1/chats", query_string={"active": "true"}, headers=second).get_json()
    assert listed["items"][0]["joined_by"]["id"] == first.id
    assert listed["items"][0]["case_reference"]


def test_the_widget_learns_its_lines_privacy_notice_before_a_chat(client, admin):
    line = client.post("/api/v1/service-lines", headers=admin, json={
        "name": "Neuvonta", "chat_widget_ids": ["neuvonta"], "default_language": "sv",
        "privacy_notice_url": "https://example.fi/dataskydd"}).get_json()
    assert line["privacy_notice_url"] == "https://example.fi/dataskydd"
    settings = client.get("/api/v1/chats/widgets/neuvonta")
    assert settings.status_code == 200
    assert settings.get_json() == {"widget_id": "neuvonta", "service_line": "Neuvonta", "default_language": "sv",
                                   "privacy_notice_url": "https://example.fi/dataskydd"}
    # An unknown widget's chats go to the default line, and so does its notice.
    unknown = client.get("/api/v1/chats/widgets/nobody").get_json()
    assert unknown["service_line"] != "Neuvonta" and unknown["privacy_notice_url"] is None
    assert_problem(client.patch(f"/api/v1/service-lines/{line['id']}", json={"privacy_notice_url": "javascript:x"},
                                headers=admin), 422, fields=["privacy_notice_url"])


def test_the_chat_endpoints_answer_pages_of_other_origins(client):
    preflight = client.options("/api/v1/chats", headers={
        "Origin": "https://kunta.example.fi", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    started, customer = _start(client)
    polled = client.get(f"/api/v1/chats/{started['chat_id']}/messages", headers={**customer, "Origin": "https://x.fi"})
    assert polled.headers["Access-Control-Allow-Origin"] == "*"
    assert "Retry-After" in polled.headers["Access-Control-Expose-Headers"]
    # The officials' API elsewhere stays same-origin.
    assert "Access-Control-Allow-Origin" not in client.get("/api/v1/cases").headers


def test_the_widget_and_its_page_are_served(client):
    with client.get("/chat-widget/widget.js") as script:
        assert script.status_code == 200 and script.mimetype in ("text/javascript", "application/javascript")
        assert script.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert b"localStorage" not in script.data and b"sessionStorage" not in script.data
        assert b"document.cookie" not in script.data and b"innerHTML" not in script.data
    with client.get("/chat-widget/widget.css") as style:
        assert style.status_code == 200 and style.mimetype == "text/css"
    with client.get("/chat-widget/") as page:
        assert page.status_code == 200 and b'src="widget.js"' in page.data
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert client.get("/chat-widget/other.js").status_code == 404


def test_a_customers_chat_token_cannot_join_its_own_chat_as_the_adviser(client, adviser):
    started, customer = _start(client)

    refused = client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=customer)

    assert_problem(refused, 403)
    assert client.post(f"/api/v1/chats/{started['chat_id']}/join", headers=adviser).status_code == 200


def test_without_redis__the_counts_of_past_minutes_are_dropped_once_over_ten_thousand_clients(make_app):
    """The in-process count (embedded default, or Redis down) must not grow with every address
    ever seen: past the cap, a new minute drops the old minutes' counts, and keeps its own."""
    from service.errors import TooManyRequests
    from service.ratelimit import limit_per_client

    app = make_app(REDIS_URL=None)

    def hit(address):
        with app.test_request_context(environ_base={"REMOTE_ADDR": address}):
            limit_per_client("webform", per_minute=3)

    with time_machine.travel(datetime(2026, 6, 1, 9, 0, 20, tzinfo=timezone.utc), tick=False) as clock:
        for n in range(10_001):  # a scan of addresses, each once
            hit(f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
        counts = app.extensions["ratelimit_counts"]
        assert len(counts) == 10_001

        clock.shift(timedelta(minutes=1))
        for _ in range(3):
            hit("192.0.2.40")
        assert len(counts) == 1  # only this minute's client is left
        with pytest.raises(TooManyRequests):
            hit("192.0.2.40")  # and its count was kept through the clean-up
