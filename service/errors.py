"""RFC 9457 problem details for every error the service answers with.

Domain code raises ``Problem`` subclasses; Werkzeug's HTTP errors (404, 405, 413, webargs' 422)
and database failures are rendered by the same function, so a client sees one error format.
"""

from __future__ import annotations

import logging

from flask import Flask, g, request
from flask import json as flask_json
from marshmallow import Schema, fields
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import NotFound as WerkzeugNotFound

PROBLEM_MIMETYPE = "application/problem+json"
TYPE_BASE = "https://case-backend.invalid/problems/"

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error a client can act on. ``code`` is stable and becomes the problem ``type``."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, *, errors: dict | None = None, headers: dict | None = None,
                 code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        if code:
            self.code = code


class BadRequest(Problem):
    status, code, title = 400, "bad-request", "Bad request"


class Unauthorized(Problem):
    status, code, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str, **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="api"'})
        super().__init__(detail, **kwargs)


class Forbidden(Problem):
    status, code, title = 403, "forbidden", "Not allowed"


class NotFound(Problem):
    status, code, title = 404, "not-found", "Not found"


class Conflict(Problem):
    status, code, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    code, title = "invalid-transition", "Invalid state transition"


class PayloadTooLarge(Problem):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(Problem):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ValidationFailed(Problem):
    status, code, title = 422, "validation-failed", "Validation failed"


class TooManyRequests(Problem):
    status, code, title = 429, "too-many-requests", "Too many requests"


class ServiceUnavailable(Problem):
    status, code, title = 503, "service-unavailable", "Service unavailable"


class ProblemSchema(Schema):
    """The error body of every endpoint (documentation only)."""

    type = fields.String(metadata={"description": "URI naming the kind of problem"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String(metadata={"description": "The request path"})
    request_id = fields.String()
    errors = fields.Dict(metadata={"description": "Per-field messages, on validation errors"})


def problem_response(status: int, code: str, title: str, detail: str, *,
                     errors: dict | None = None, headers: dict | None = None):
    body = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = _string_keys(errors)
    response = Flask.response_class(
        flask_json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _string_keys(errors):
    # marshmallow names a list's items by index and the list itself by "_schema" in one dict:
    # JSON keys are strings anyway, and mixed keys cannot be sorted for the JSON encoder.
    if isinstance(errors, dict):
        return {str(key): _string_keys(value) for key, value in errors.items()}
    return errors


_HTTP_CODES = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 409: "conflict", 413: "payload-too-large",
    415: "unsupported-media-type", 422: "validation-failed", 429: "too-many-requests",
}


def render_http_exception(error: HTTPException):
    status = error.code or 500
    if status >= 500:
        return _internal_error(error)
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    headers = dict(data.get("headers") or {})
    if status == 405 and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    detail = data.get("message") or error.description or error.name
    if status == 422 and errors:
        detail = "The request did not pass validation; see errors for each field."
        errors = _flatten_locations(errors)
    if status == 400 and errors and "json" in errors:
        detail = "The request body is not valid JSON."
    if status == 404 and detail == WerkzeugNotFound.description:
        detail = f"There is no resource at {request.path}."
    return problem_response(status, _HTTP_CODES.get(status, "http-error"), error.name, detail,
                            errors=errors, headers=headers)


def _flatten_locations(errors: dict) -> dict:
    """webargs nests messages under the location (json, query, form); clients want the fields."""
    if len(errors) == 1:
        (location, inner), = errors.items()
        if location in {"json", "query", "form", "files", "headers", "view_args"} and isinstance(inner, dict):
            return inner
    return errors


def _internal_error(error):
    # Never echo internals: the request id ties the client's report to the server log.
    return problem_response(500, "internal-error", "Internal server error",
                            "The server failed to handle this request; it has been logged.")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(error: Problem):
        return problem_response(error.status, error.code, error.title, error.detail,
                                errors=error.errors, headers=error.headers)

    @app.errorhandler(IntegrityError)
    def _integrity(error: IntegrityError):
        from .extensions import db
        db.session.rollback()
        log.info("integrity error turned into 409: %s", type(error.orig).__name__)
        return problem_response(409, "conflict", "Conflict",
                                "The change conflicts with existing data (a duplicate or a missing reference).")

    @app.errorhandler(DataError)
    def _unstorable(error: DataError):
        # Input validation should have caught this; answer as the client error it is.
        from .extensions import db
        db.session.rollback()
        log.warning("database refused a value: %s", type(error.orig).__name__)
        return problem_response(422, "validation-failed", "Validation failed",
                                "A value is out of the range or format the database can store.")

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_down(error: DBAPIError):
        from .extensions import db
        try:
            db.session.rollback()
        except Exception:  # the connection may be gone; the session is discarded at teardown anyway
            pass
        log.error("database unavailable: %s", type(error.orig).__name__ if error.orig else type(error).__name__)
        return problem_response(503, "service-unavailable", "Service unavailable",
                                "The database is not reachable right now; retry shortly.",
                                headers={"Retry-After": "5"})

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return render_http_exception(error)
        log.exception("unhandled error")
        return _internal_error(error)
