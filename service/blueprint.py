"""The Blueprint every API module uses: flask-smorest's, plus declared permissions."""

from __future__ import annotations

import flask_smorest

from .auth.guard import require
from .errors import PROBLEM_MIMETYPE, ProblemSchema
from .json_body import StrictParser


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = StrictParser()

    def arguments(self, schema, *, location="json", **kwargs):
        # webargs drops unknown query parameters by default (EXCLUDE), overriding the query
        # schemas' own `unknown = RAISE`: a misspelt filter (`?stauts=closed`) would silently
        # return everything. `unknown=None` lets the schema decide, so it is a 422 as in bodies.
        if location == "query":
            kwargs.setdefault("unknown", None)
        return super().arguments(schema, location=location, **kwargs)

    def requires(self, permission: str, *, chat_customer: bool = False):
        """Check ``permission`` first and document the bearer security and its 401/403."""

        def decorator(view):
            guarded = require(permission, chat_customer=chat_customer)(view)
            guarded = self.alt_response(401, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description="Not authenticated")(guarded)
            guarded = self.alt_response(403, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                                        description=f"Not allowed: needs `{permission}`")(guarded)
            guarded = self.doc(security=[{"bearerAuth": []}])(guarded)
            guarded.required_permission = permission
            return guarded

        return decorator

    def public(self, view):
        """Mark an endpoint as deliberately open to anyone (documented as such)."""
        view = self.doc(security=[])(view)
        view.required_permission = None
        return view
