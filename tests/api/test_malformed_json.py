"""JSON that parses in Python but is not storable text (a lone surrogate escape) or nests past
any schema (recursion) is a 400 problem on every endpoint, public ones included, never a 500."""

import pytest

from tests.api.problems import assert_problem

LONE_SURROGATE = "\\ud800"
DEPTH = 1100


def _deep() -> str:
    return "[" * DEPTH + "]" * DEPTH


def _post(client, path, raw: str, headers=None):
    return client.post(path, data=raw.encode(), content_type="application/json", headers=headers or {})


@pytest.mark.parametrize("path, template", [
    ("/api/v1/auth/token", '{"username": "%s", "password": "x"}'),
    ("/api/v1/chats", '{"anonymous": false, "name": "%s", "language": "fi"}'),
    ("/api/v1/inbound/webform", '{"name": "A", "email": "a@example.fi", "subject": "S", "message": "%s",'
                                ' "language": "fi", "submission_id": "form-0001-abcdef"}'),
])
def test_a_lone_surrogate_in_a_public_body_is_a_400(client, path, template):
    response = _post(client, path, template % LONE_SURROGATE)

    body = assert_problem(response, 400, "bad-request")
    assert "surrogate" in body["errors"]["json"][0]


def test_a_lone_surrogate_in_a_key_or_an_official_body_is_a_400(client, intake, adviser):
    raw = '{"channel": "sms", "external_id": "SM1", "from": {"phone": "0401234567"}, "body": "x", "%s": 1}'
    assert_problem(_post(client, "/api/v1/inbound/messages", raw % LONE_SURROGATE, intake), 400)
    assert_problem(_post(client, "/api/v1/cases", '{"subject": "%s"}' % LONE_SURROGATE, adviser), 400)


def test_a_surrogate_pair_is_text_and_accepted(client):
    # An escaped emoji is two surrogates that make one character: that is text.
    response = _post(client, "/api/v1/inbound/webform",
                     '{"name": "A", "email": "a@example.fi", "subject": "S", "message": "Kiitos \\ud83d\\ude00",'
                     ' "language": "fi", "submission_id": "form-0002-abcdef"}')

    assert response.status_code == 202, response.get_json()


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/chats", "/api/v1/inbound/webform"])
def test_json_nested_past_any_schema_is_a_400(client, path):
    response = _post(client, path, '{"name": %s}' % _deep())

    body = assert_problem(response, 400, "bad-request")
    assert "nest" in body["errors"]["json"][0]


def test_json_deeper_than_the_bound_is_refused_below_the_recursion_limit(client):
    response = _post(client, "/api/v1/auth/token", '{"username": %s, "password": "x"}' % ("[" * 40 + "]" * 40))

    assert_problem(response, 400, "bad-request")
