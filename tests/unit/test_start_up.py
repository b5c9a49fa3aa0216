"""What an application defers at start-up still comes out the same when it is needed."""

from __future__ import annotations

import gc
import json
import weakref

import channels
from flask import after_this_request, url_for
from flask_smorest import Api as SmorestApi
from werkzeug.routing import Map, Rule

from service import create_app
from service.extensions import Api

CONFIG = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": None}


def _openapi_document(app) -> dict:
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_document_built_on_first_read_equals_one_built_at_start_up(monkeypatch):
    deferred = _openapi_document(create_app(CONFIG, plugins=[channels.install]))

    monkeypatch.setattr(Api, "register_blueprint", SmorestApi.register_blueprint)
    at_start_up = _openapi_document(create_app(CONFIG, plugins=[channels.install]))

    assert len(deferred["paths"]) > 50
    assert json.dumps(deferred, sort_keys=False) == json.dumps(at_start_up, sort_keys=False)


def test_openapi_document_read_twice_lists_each_operation_once():
    app = create_app(CONFIG, plugins=[channels.install])
    first = _openapi_document(app)
    second = _openapi_document(app)
    assert first == second
    tags = [tag["name"] for tag in second["tags"]]
    assert len(tags) == len(set(tags))


def test_url_for_builds_what_werkzeug_builds_eagerly():
    app = create_app(CONFIG, plugins=[channels.install])
    eager = Map([Rule("/api/v1/cases/<int:case_id>/notes", endpoint="notes")]).bind("cs.example.fi")
    with app.test_request_context():
        assert url_for("console.index") == "/console/"
        built = url_for("cases.add_note", case_id=42, page=2)
        built_again = url_for("cases.add_note", case_id=7)
    assert built == eager.build("notes", {"case_id": 42, "page": 2}) == "/api/v1/cases/42/notes?page=2"
    assert built_again == "/api/v1/cases/7/notes"


def test_a_hook_made_for_one_request_is_not_kept_once_the_request_is_answered():
    """Flask asks whether each hook is a coroutine, and the service remembers the answer. A hook
    made for one request (``after_this_request``) closes over that request, perhaps a citizen's
    message: the service must not keep it, or its data, for the life of the process."""
    app = create_app(CONFIG)
    made = []

    def view():
        message = {"body": "Hei, muutin Tampereelle"}

        @after_this_request
        def seen(response):
            response.headers["X-Seen"] = str(len(message["body"]))
            return response

        made.append(weakref.ref(seen))
        return "ok"

    app.add_url_rule("/one-request-hook", view_func=view)
    client = app.test_client()
    for _ in range(3):
        assert client.get("/one-request-hook").headers["X-Seen"] == "23"
    gc.collect()

    assert [ref() for ref in made] == [None, None, None]
