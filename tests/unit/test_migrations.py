"""The schema comes from the Alembic migrations alone; the models must agree with it."""

import importlib.util
import re
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import text

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


def _search_triggers(app) -> set[str]:
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT tgname FROM pg_trigger WHERE tgname LIKE 'search%' AND NOT tgisinternal"))
        else:
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'search%'"))
        return {name for (name,) in rows}


def test_every_search_trigger_survives_the_migrations_after_the_one_that_made_it(app):
    # On SQLite a later migration that rebuilds a table (batch_alter_table) drops its triggers.
    spec = importlib.util.spec_from_file_location(
        "f21", Path(__file__).resolve().parents[2] / "migrations" / "versions" / "f21_full_text_search.py")
    search = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(search)
    with app.app_context():
        dialect = db.engine.dialect.name
    expected = ({name for name, _ in search.sqlite_triggers()} if dialect == "sqlite"
                else {"search_contact", "search_note", "search_attachment", "search_case", "search_customer",
                      "search_contacts_added", "search_cases_added"})  # the last two: s30_search_set_based_insert
    assert _search_triggers(app) == expected


def _index_definitions(app) -> dict[str, str]:
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"))
        else:
            rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"))
        return {name: " ".join((sql or "").split()) for name, sql in rows}


def test_partial_indexes_have_the_models_condition(app):
    # Alembic's comparison above does not look at an index's WHERE; a partial index built
    # without it still serves its queries, but no longer answers their counts alone.
    with app.app_context():
        dialect = db.engine.dialect.name
    built = _index_definitions(app)
    partial = [(index.name, str(index.dialect_options[dialect]["where"]))
               for table in db.metadata.tables.values() for index in table.indexes
               if index.dialect_options[dialect]._non_defaults.get("where") is not None]
    assert {"ix_case_status_channel_created", "ix_case_next_due"} <= {name for name, _ in partial}
    def normalised(sql: str) -> str:
        # PostgreSQL writes a condition back with its casts and brackets.
        return re.sub(r"::(character varying|[a-z_]+)|[\"()]", "", sql.lower())

    for name, condition in partial:
        assert name in built
        assert f"where {normalised(condition)}" in normalised(built[name]), (name, built[name])
