"""Extension objects, created unbound and initialised by ``create_app``."""

from flask_migrate import Migrate
from flask_smorest import Api as _SmorestApi
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from .errors import ProblemSchema, render_http_exception

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
    """flask-smorest's Api with RFC 9457 errors for every HTTP error, 404 and 405 included."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error):
        return render_http_exception(error)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
