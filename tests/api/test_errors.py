"""Every error is RFC 9457 application/problem+json, and no error leaks how the server is built."""

from __future__ import annotations

import io
import json
import re

import pytest

from service import create_app
from service.extensions import db
from tests.api.problems import assert_problem

PROBLEM_FIELDS = {"type", "title", "status", "detail", "instance"}


def assert_rfc9457(response, status: int, code: str) -> dict:
    body = assert_problem(response, status, code)
    assert PROBLEM_FIELDS <= set(body)
    assert body["instance"] == re.sub(r"\?.*", "", body["instance"])
    return body


def test_unknown_route__is_404_problem_naming_the_path(client):
    response = client.get("/api/v1/no-such-thing")

    body = assert_rfc9457(response, 404, "not-found")
    assert body["instance"] == "/api/v1/no-such-thing"
    assert "/api/v1/no-such-thing" in body["detail"]


def test_unknown_route_outside_the_api__is_404_problem_too(client):
    assert_rfc9457(client.get("/no-such-page"), 404, "not-found")


def test_wrong_method__is_405_problem_with_allow_header(client, adviser):
    response = client.delete("/api/v1/cases", headers=adviser)

    body = assert_rfc9457(response, 405, "method-not-allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "DELETE" not in allowed
    assert body["instance"] == "/api/v1/cases"


def test_wrong_method_on_an_item__names_its_methods(client):
    response = client.put("/api/v1/cases/1", json={})

    assert_rfc9457(response, 405, "method-not-allowed")
    assert {"GET", "PATCH"} <= {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_wrong_content_type_on_a_json_endpoint__is_415_problem(client, adviser, content_type):
    response = client.post("/api/v1/cases", data='{"subject": "x"}', content_type=content_type, headers=adviser)

    body = assert_rfc9457(response, 415, "unsupported-media-type")
    assert "application/json" in body["detail"]
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 0


def test_json_with_charset__is_accepted(client, adviser):
    response = client.post("/api/v1/cases", data='{"subject": "x"}', content_type="application/json; charset=utf-8",
                           headers=adviser)

    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("data", ['{"subject": ', "not json", '{"subject": "x"}}', "\xff\xfe"])
def test_malformed_json__is_400_problem(client, adviser, data):
    response = client.post("/api/v1/cases", data=data, content_type="application/json", headers=adviser)

    body = assert_rfc9457(response, 400, "bad-request")
    assert "JSON" in body["detail"]
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 0


def test_json_that_is_not_an_object__is_422(client, adviser):
    response = client.post("/api/v1/cases", data="[1, 2]", content_type="application/json", headers=adviser)

    assert_rfc9457(response, 422, "validation-failed")


def test_unknown_field__is_422_problem_naming_it(client, adviser):
    response = client.post("/api/v1/cases", json={"subject": "x", "priority": "urgent"}, headers=adviser)

    body = assert_rfc9457(response, 422, "validation-failed")
    assert list(body["errors"]) == ["priority"]
    assert client.get("/api/v1/cases", headers=adviser).get_json()["total"] == 0


def test_unknown_query_parameter__is_422_problem_naming_it(client, adviser):
    body = assert_rfc9457(client.get("/api/v1/cases?colour=red", headers=adviser), 422, "validation-failed")

    assert "colour" in body["errors"]


def test_body_over_the_configured_limit__is_413_problem(app, client, intake, admin):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    body = {"channel": "sms", "external_id": "SM1", "from": {"phone": "040 123 4567"}, "body": "x" * 2000}

    response = client.post("/api/v1/inbound/messages", data=json.dumps(body), content_type="application/json",
                           headers=intake)

    assert_rfc9457(response, 413, "payload-too-large")
    assert client.get("/api/v1/cases", headers=admin).get_json()["total"] == 0


def test_body_under_the_configured_limit__is_accepted(app, client, intake):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    body = {"channel": "sms", "external_id": "SM1", "from": {"phone": "040 123 4567"}, "body": "x" * 100}

    assert client.post("/api/v1/inbound/messages", json=body, headers=intake).status_code == 201


def test_upload_over_the_configured_limit__is_413_problem(app, client, adviser):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    case = client.post("/api/v1/cases", json={}, headers=adviser).get_json()

    response = client.post(f"/api/v1/cases/{case['id']}/attachments", content_type="multipart/form-data",
                           headers=adviser, data={"file": (io.BytesIO(b"x" * 5000), "a.txt", "text/plain")})

    assert_rfc9457(response, 413, "payload-too-large")
    assert client.get(f"/api/v1/cases/{case['id']}", headers=adviser).get_json()["attachments"] == []


def test_unauthenticated__is_401_problem_with_a_challenge(client):
    response = client.get("/api/v1/cases")

    assert_rfc9457(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_forbidden__is_403_problem(client, intake):
    assert_rfc9457(client.get("/api/v1/cases", headers=intake), 403, "forbidden")


@pytest.fixture
def failing_app(database_url, tmp_path):
    """A fresh app with one route that fails the way a bug would."""
    app = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "test",
                      "FILE_STORAGE_PATH": str(tmp_path / "files")})

    def explode():
        raise RuntimeError("connection to db.internal:5432 failed for user=svc password=hunter2")

    app.add_url_rule("/api/v1/explode", "explode", explode, methods=["GET"])
    yield app
    with app.app_context():
        db.engine.dispose()


def test_unexpected_error__is_500_problem_that_leaks_nothing(failing_app, caplog):
    response = failing_app.test_client().get("/api/v1/explode", headers={"X-Request-ID": "trace-500"})

    body = assert_rfc9457(response, 500, "internal-error")
    text = response.get_data(as_text=True)
    for secret in ("hunter2", "db.internal", "RuntimeError", "Traceback", ".py"):
        assert secret not in text
    assert body["request_id"] == response.headers["X-Request-ID"] == "trace-500"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The server log keeps what the client is not told.
    assert any(r.levelname == "ERROR" and r.exc_info and isinstance(r.exc_info[1], RuntimeError)
               for r in caplog.records)


@pytest.fixture
def app_without_its_database(database_url, tmp_path):
    """An app whose database refuses every connection: on PostgreSQL a port nothing listens on,
    on SQLite a file in a directory that does not exist. The suite's own database stays up."""
    if database_url.startswith("sqlite"):
        unreachable = f"sqlite:///{tmp_path / 'gone' / 'service.db'}"
    else:
        unreachable = "postgresql+psycopg://postgres@127.0.0.1:9/nowhere"
    app = create_app({"DATABASE_URL": unreachable, "TESTING": True, "SECRET_KEY": "test",
                      "FILE_STORAGE_PATH": str(tmp_path / "files")})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_database_out_of_reach__is_503_problem_with_retry_after_that_leaks_nothing(app_without_its_database,
                                                                                   caplog):
    client = app_without_its_database.test_client()

    response = client.get("/api/v1/cases", headers={"Authorization": "Bearer some-api-key"})

    assert_rfc9457(response, 503, "service-unavailable")
    assert response.headers["Retry-After"] == "5"
    text = response.get_data(as_text=True)
    for internal in ("OperationalError", "127.0.0.1", "nowhere", "gone", "Traceback"):
        assert internal not in text
    assert any(r.levelname == "ERROR" and r.getMessage().startswith("database unavailable: ")
               for r in caplog.records)


def test_security_headers__on_success_and_on_errors(client, adviser):
    for response in (client.get("/api/v1/cases", headers=adviser), client.get("/api/v1/cases"),
                     client.get("/api/v1/no-such-thing")):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert "Set-Cookie" not in response.headers  # tokens authenticate; no cookie session is kept


def test_request_id__is_echoed_in_the_header_and_the_problem(client):
    response = client.get("/api/v1/no-such-thing", headers={"X-Request-ID": "abc-123.XYZ_9"})

    assert response.headers["X-Request-ID"] == "abc-123.XYZ_9"
    assert response.get_json()["request_id"] == "abc-123.XYZ_9"


@pytest.mark.parametrize("sent", [None, "", "has spaces", "x" * 65, "semi;colon", "new\tline"])
def test_request_id__is_generated_when_missing_or_unsafe(client, sent):
    headers = {"X-Request-ID": sent} if sent is not None else {}

    response = client.get("/healthz", headers=headers)

    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert client.get("/healthz", headers=headers).headers["X-Request-ID"] != generated


def test_errors_of_a_list_item_and_of_the_whole_list_are_reported_together(client, admin):
    # marshmallow keys an item's errors by its index and the list's own by "_schema".
    line = client.post("/api/v1/service-lines", json={"name": "Neuvonta"}, headers=admin).get_json()
    calendar = client.post("/api/v1/calendars", json={"name": "Arki", "holiday_country": None,
                                                      "hours": {"mon": ["08:00", "16:00"]}}, headers=admin).get_json()

    response = client.put(f"/api/v1/service-lines/{line['id']}/targets", headers=admin, json={
        "calendar_id": calendar["id"], "targets": [{"channel": "sms", "first_response_minutes": 0},
                                                   {"channel": "sms", "first_response_minutes": 30}]})

    body = assert_problem(response, 422, "validation-failed")
    assert set(body["errors"]["targets"]) == {"0", "_schema"}
