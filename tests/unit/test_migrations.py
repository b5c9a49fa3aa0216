"""The schema comes from the Alembic migrations alone; the models must agree with it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from service.cases.models import in_the_models
from service.extensions import db


def _differences(app):
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True, "include_object": in_the_models(conn.dialect.name)})
        return compare_metadata(context, db.metadata)


def test_models_and_migrations_agree(app):
    assert _differences(app) == []


def test_migrations_downgrade_to_base_and_upgrade_again(app):
    with app.app_context():
        db.session.remove()
        downgrade(revision="base")
        upgrade()
    assert _differences(app) == []
