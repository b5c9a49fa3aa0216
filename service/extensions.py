"""Extension objects, created unbound and initialised by ``create_app``."""

from flask_migrate import Migrate
from flask_smorest import Api as _SmorestApi
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

import http
import threading

from flask_smorest.utils import prepare_response

from .errors import PROBLEM_MIMETYPE, ProblemSchema, render_http_exception

# Deterministic constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Api(_SmorestApi):
    """flask-smorest's Api with RFC 9457 errors for every HTTP error, 404 and 405 included,
    and an OpenAPI document built when it is first read rather than at start-up.

    Describing ninety-odd operations is about half of what building an application costs
    (some 60 ms), and most processes never serve the document: workers, cron, the command
    line and almost every test. The routes are registered at once; only their description
    waits, and it is added in the order the blueprints were registered, so the document is
    the same as if it had been built eagerly."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, *args, **kwargs):
        self._undocumented: list[tuple] = []
        self._documenting = threading.RLock()
        self._spec = None
        super().__init__(*args, **kwargs)

    @property
    def spec(self):
        if self._undocumented:
            with self._documenting:
                while self._undocumented:
                    blp, app, name, parameters = self._undocumented.pop(0)
                    blp.register_views_in_doc(self, app, self._spec, name=name, parameters=parameters)
                    self._spec.tag({"name": name, "description": blp.description})
        return self._spec

    @spec.setter
    def spec(self, value):
        # A new application's document starts empty; descriptions queued for an earlier
        # application's document belong to that one, which no one can read any more.
        self._undocumented = []
        self._spec = value

    def register_blueprint(self, blp, *, parameters=None, **options):
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, self._app, name, parameters))

    def handle_http_exception(self, error):
        return render_http_exception(error)

    def _register_responses(self):
        # As flask-smorest's, but documenting the content type errors really have.
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (RFC 9457 problem details)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
