"""The OpenAPI document is valid, complete, and the API keeps to it under fuzzing."""

import io
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from service import create_app
from service.extensions import db
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                         response_schema_conformance, status_code_conformance)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]

# Recording audio is sent as raw bytes: some that look like audio, most that do not.
schemathesis.openapi.media_type("audio/mpeg", st.one_of(st.binary(max_size=64), st.just(b"ID3\x03" + bytes(60))),
                                aliases=("audio/wav", "audio/ogg", "audio/flac"))


def test_openapi_document_lists_every_api_route(client, app):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    documented = {path.replace("{", "<").replace("}", ">") for path in document["paths"]}
    for rule in app.url_map.iter_rules():
        path = rule.rule
        if path.startswith("/api/v1/") and "openapi" not in path and "/docs" not in path:
            normalised = path.replace("<int:", "<")
            assert normalised in documented, f"{path} is not documented"


def test_every_operation_documents_its_errors_as_problem_json(client):
    document = client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert "default" in operation["responses"], f"{method} {path}"
            assert operation.get("summary"), f"{method} {path} has no summary"


def test_docs_page_is_served(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"swagger" in response.data.lower()


def _operation_labels() -> list[str]:
    # The document does not depend on the database, so an app without one lists the operations.
    app = create_app({"DATABASE_URL": "sqlite://", "TESTING": True})
    loaded = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok().label for result in loaded.get_all_operations()]


def _fuzz_schema(app):
    """The served document, minus its security requirements: the test sends each caller's
    credentials itself, so a generated "missing Authorization" case would be a false alarm."""
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    for operations in document["paths"].values():
        for operation in operations.values():
            if isinstance(operation, dict):
                operation.pop("security", None)
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = app
    return loaded


CALLERS = ["admin", "adviser", "supervisor", "privacy_officer", "intake"]
# Failing examples are kept here (git-ignored) and replayed first on the next run, per
# operation and caller, until they pass.
EXAMPLES = DirectoryBasedExampleDatabase(str(Path(__file__).resolve().parents[2] / ".hypothesis" / "fuzz"))


@pytest.fixture
def caller_headers(api, request):
    if request.param == "intake":
        return dict(api.api_key_headers())
    return dict(api.headers_for(request.param))


def _restart_id_sequences(app) -> None:
    # Emptied tables keep their PostgreSQL sequences; restarting them makes the small ids the
    # fuzzer favours (1, 2, ...) name the objects seeded below, as they do on SQLite.
    with app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name != "postgresql":
            return
        for (name,) in conn.exec_driver_sql(
                "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema = 'public'"):
            conn.exec_driver_sql(f'ALTER SEQUENCE "{name}" RESTART')


@pytest.fixture
def seeded(app, api):
    """One of most things, made through the API before the caller signs in, so that the fuzzer's
    small ids reach real objects and not only 404s."""
    _restart_id_sequences(app)
    client, admin, intake = api.client, api.headers_for("admin"), api.api_key_headers()

    def made(response, status=201):
        assert response.status_code == status, response.get_data(as_text=True)
        return response.get_json()

    line = made(client.post("/api/v1/service-lines", json={
        "name": "Neuvonta", "phone_numbers": ["+358951234567"], "chat_widget_ids": ["neuvonta"],
        "recording_policy": "all"}, headers=admin))
    case_id = made(api.inbound(intake, to="+358951234567"))["case_id"]
    made(client.post(f"/api/v1/cases/{case_id}/notes", json={"body": "Soitettu"}, headers=admin))
    made(client.post(f"/api/v1/cases/{case_id}/attachments", headers=admin, content_type="multipart/form-data",
                     data={"file": (io.BytesIO(b"Hakemus\n"), "hakemus.txt", "text/plain")}))
    made(client.post("/api/v1/inbound/calls", headers=intake, json={
        "external_id": "pbx-1", "from": {"phone": "040 123 4567"}, "to": "+358951234567",
        "started_at": "2026-11-26T08:00:00Z", "ended_at": "2026-11-26T08:05:00Z",
        "recording": {"reference": "pbx-rec-1", "duration_seconds": 300}}))
    made(client.post("/api/v1/calendars", json={"name": "Virka-aika", "hours": {"mon": ["08:00", "16:00"]}},
                     headers=admin))
    made(client.post("/api/v1/authorities", json={"name": "Maistraatti", "email": "kirjaamo@example.fi"},
                     headers=admin))
    made(client.post("/api/v1/reply-templates", json={"service_line_id": line["id"], "language": "fi",
                                                      "title": "Kiitos", "body": "Kiitos viestistä."}, headers=admin))
    made(client.post("/api/v1/privacy/requests", json={"type": "access", "subject": {"phone": "040 123 4567"},
                                                       "received_at": "2026-11-01T10:00:00Z"}, headers=admin))
    made(client.post("/api/v1/chats", json={"anonymous": True, "language": "fi"}))


@pytest.mark.parametrize("caller_headers", CALLERS, indirect=True)
@pytest.mark.parametrize("label", _operation_labels())
def test_api_keeps_to_its_schema_under_fuzzing(app, seeded, label, caller_headers, request):
    """No server error, and every answer matches the documented status, type and schema,
    for generated valid and invalid input, as every kind of caller, on a database that holds
    one of most things."""
    loaded = _fuzz_schema(app)
    operation = next(r.ok() for r in loaded.get_all_operations() if r.ok().label == label)

    strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                         operation.as_strategy(GenerationMode.NEGATIVE))

    @given(case=strategy)
    @settings(max_examples=20, deadline=None, database=EXAMPLES,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    def check(case):
        case.call_and_validate(headers=caller_headers, checks=CHECKS)

    # One entry in the example database per operation and caller, not one for all of them.
    check.hypothesis.inner_test._hypothesis_internal_add_digest = request.node.name.encode()
    check()
