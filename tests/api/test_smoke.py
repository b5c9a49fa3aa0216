"""Liveness and readiness probes."""

import os

import pytest

from service.version import __version__


def test_healthz_answers_without_authentication_with_the_version(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": __version__}


def test_the_openapi_document_carries_the_service_version(client):
    info = client.get("/api/v1/openapi.json").get_json()["info"]
    assert info["version"] == __version__


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["checks"]["database"] == "ok"


def test_readyz_fails_when_redis_is_configured_but_unreachable(make_app):
    client = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": "ok", "redis": "unreachable"}


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs the real Redis of REDIS_URL (CI's second pass)")
def test_readyz_checks_a_reachable_redis(make_app):
    client = make_app(REDIS_URL=os.environ["REDIS_URL"]).test_client()

    assert client.get("/readyz").get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_fails_when_the_database_is_unreachable(make_app):
    client = make_app(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
                      SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none").test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["checks"]["database"] == "unreachable"
