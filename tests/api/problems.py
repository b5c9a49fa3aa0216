"""Assertions on RFC 9457 problem responses, shared by the API tests."""

from __future__ import annotations

PROBLEM_MIMETYPE = "application/problem+json"


def assert_problem(response, status: int, code: str | None = None, fields=()) -> dict:
    """The response is a problem+json of ``status``; returns its body.

    ``code`` is the last segment of the problem ``type``; ``fields`` must be named in ``errors``.
    """
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_MIMETYPE, response.mimetype
    body = response.get_json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("https://")
    if code is not None:
        assert body["type"].rsplit("/", 1)[-1] == code, body["type"]
    for field in fields:
        assert field in (body.get("errors") or {}), body
    return body
