"""Refused attempts leave a trace too: probing for other lines' cases or for a role's
endpoints is what a legality check looks for.

A 403, and a 404 an authenticated caller gets from an endpoint that names an object (the answer
for an object outside the caller's lines is the same as for one that does not exist), is
recorded as ``access.denied`` with the route's template and the object's id: never the query
string or the body, which may hold personal data. Officials and API keys only: a chat
customer's token is public, and its refusals would let anyone fill the log.
"""

from __future__ import annotations

import logging

from flask import Flask, g, request

from ..extensions import db
from .logic import record

log = logging.getLogger(__name__)

_REFUSALS = (403, 404)


def install(app: Flask) -> None:
    app.after_request(_record_refusal)


def _record_refusal(response):
    principal = g.get("principal")
    rule = request.url_rule
    if response.status_code not in _REFUSALS or principal is None or rule is None or principal.kind == "chat":
        return response
    if response.status_code == 404 and not request.view_args:
        return response
    object_type, object_id = _named_object(request.view_args or {})
    try:
        # The refused use case wrote nothing that may stay.
        db.session.rollback()
        record("access.denied", actor=principal, object_type=object_type, object_id=object_id,
               details={"method": request.method, "path": rule.rule, "status": response.status_code})
        db.session.commit()
    except Exception:  # the refusal is answered whatever happens to its trace
        db.session.rollback()
        log.exception("could not record a refused request")
    return response


def _named_object(view_args: dict) -> tuple[str | None, int | None]:
    # The innermost id names the object: /cases/<case_id>/attachments/<attachment_id>.
    for name, value in reversed(list(view_args.items())):
        if name.endswith("_id") and isinstance(value, int):
            return name[:-3], value
    return None, None
