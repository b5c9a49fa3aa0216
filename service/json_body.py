"""Request JSON for the whole app: one strict parser behind ``request.get_json`` and the
schemas' argument parser alike.

Python's ``json`` accepts what no database or mail header can hold: a lone surrogate escape
(``"\\ud800"``) decodes to a ``str`` that cannot be encoded as UTF-8, and deep nesting exhausts the
interpreter's recursion limit. Both used to surface far from the parser as a 500; here they are
a 400 before any view runs.
"""

from __future__ import annotations

import json
from typing import Any

from flask.json.provider import DefaultJSONProvider
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

# Far deeper than any schema of the API nests, far below the interpreter's recursion limit.
MAX_JSON_DEPTH = 32


class UnacceptableJSON(json.JSONDecodeError):
    """Syntactically JSON, but not text the service can store."""

    def __init__(self, reason: str, doc: str):
        super().__init__(reason, doc or " ", 0)
        self.reason = reason


def loads_strict(data: str | bytes) -> Any:
    if isinstance(data, (bytes, bytearray)):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise json.JSONDecodeError(f"The body is not UTF-8: {exc.reason}", " ", exc.start) from exc
    else:
        text = data
    try:
        value = json.loads(text)
    except RecursionError:
        raise UnacceptableJSON(f"JSON may nest at most {MAX_JSON_DEPTH} levels deep.", text) from None
    _check(value, text)
    return value


def _check(value: Any, text: str) -> None:
    # Iterative: a recursive walk would fail on the very nesting it is there to refuse.
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, text)
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise UnacceptableJSON(f"JSON may nest at most {MAX_JSON_DEPTH} levels deep.", text)
            if isinstance(item, dict):
                for key, inner in item.items():
                    _check_text(key, text)
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)


def _check_text(item: str, text: str) -> None:
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:
        raise UnacceptableJSON(
            "A string holds an unpaired surrogate escape (\\ud800-\\udfff), which is not text.", text) from None


class StrictJSONProvider(DefaultJSONProvider):
    """``request.get_json`` (and anything else reading JSON through Flask) uses the strict parser."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_strict(s)


class StrictParser(FlaskParser):
    """webargs reads bodies with ``json.loads`` itself; route it through the strict parser."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        return loads_strict(req.get_data(cache=True))

    def _handle_invalid_json_error(self, error, req, *args, **kwargs):
        reason = getattr(error, "reason", None) or "Invalid JSON body."
        abort(400, exc=error, messages={"json": [reason]})
