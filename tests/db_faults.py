"""A database that refuses one kind of write: a trigger raising an error, as a database failing
in the middle of a request would. On the suite's shared schema, so always removed again."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import text

from service.extensions import db

NAME = "test_write_fails"


def _run(statements: list[str]) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


@contextmanager
def failing_writes(table: str, *, when: str = "UPDATE", condition: str = "TRUE"):
    """Inside an app context: ``when`` (``INSERT`` or ``UPDATE OF column``) on ``table`` fails
    while the row matches ``condition`` (SQL over ``NEW``). Yields a function that lifts the
    fault early; it is lifted at the end in any case."""
    if db.engine.dialect.name == "sqlite":
        create = [f"CREATE TRIGGER {NAME} BEFORE {when} ON {table} WHEN {condition} "
                  f"BEGIN SELECT RAISE(ABORT, 'the database failed'); END"]
        drop = [f"DROP TRIGGER IF EXISTS {NAME}"]
    else:
        create = [f"CREATE FUNCTION {NAME}() RETURNS trigger LANGUAGE plpgsql AS "
                  "$$ BEGIN RAISE EXCEPTION 'the database failed'; END $$",
                  f"CREATE TRIGGER {NAME} BEFORE {when} ON {table} FOR EACH ROW WHEN ({condition}) "
                  f"EXECUTE FUNCTION {NAME}()"]
        drop = [f"DROP TRIGGER IF EXISTS {NAME} ON {table}", f"DROP FUNCTION IF EXISTS {NAME}()"]
    _run(create)
    try:
        yield lambda: _run(drop)
    finally:
        _run(drop)
