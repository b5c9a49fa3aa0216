"""Multi-row INSERTs as cheap for the client as for the server.

A multi-row ``INSERT ... VALUES`` of a few hundred rows has thousands of placeholders; on
PostgreSQL the driver spent more CPU parsing such a statement (its text differs with the row
count, so nothing is cached) than the server spent running it. On PostgreSQL the rows are
sent instead as one array per column, unpacked by ``unnest``: the statement's text is the
same for every batch, and each column is one parameter. SQLite keeps SQLAlchemy's own
multi-row INSERT, which costs it little.
"""

from __future__ import annotations

import json
from functools import cache

from sqlalchemy import Table, insert
from sqlalchemy.dialects import postgresql

from ..extensions import db


def insert_rows(table: Table, rows: list[dict], *, returning: tuple[str, ...] = (),
                on_conflict_do_nothing: bool = False) -> list[tuple]:
    """Insert ``rows`` (each with the same keys) in the session's transaction. Returns the
    ``returning`` columns of each row inserted, in the order of ``rows`` (rows skipped by
    ``on_conflict_do_nothing`` are left out)."""
    if not rows:
        return []
    columns = tuple(rows[0])
    if db.session.get_bind().dialect.name != "postgresql":
        return _insert_with_sqlalchemy(table, rows, returning, on_conflict_do_nothing)
    sql = _unnest_insert(table, columns, returning, on_conflict_do_nothing)
    json_columns = _json_columns(table)
    parameters = {f"p{index}": [_value(row[name], name in json_columns) for row in rows]
                  for index, name in enumerate(columns)}
    cursor = db.session.connection().connection.driver_connection.cursor()
    cursor.execute(sql, parameters)
    return [tuple(row) for row in cursor.fetchall()] if returning else []


def _value(value, is_json: bool):
    if is_json and value is not None:
        return json.dumps(value, ensure_ascii=False)
    return value


@cache
def _json_columns(table: Table) -> frozenset[str]:
    return frozenset(c.name for c in table.c if c.type.compile(dialect=postgresql.dialect()) in ("JSON", "JSONB"))


@cache
def _unnest_insert(table: Table, columns: tuple[str, ...], returning: tuple[str, ...],
                   on_conflict_do_nothing: bool) -> str:
    dialect = postgresql.dialect()
    quote = dialect.identifier_preparer.quote
    arrays = ", ".join(f"%(p{index})s::{table.c[name].type.compile(dialect=dialect)}[]"
                       for index, name in enumerate(columns))
    # WITH ORDINALITY ... ORDER BY: rows are inserted, given their serial ids and returned in
    # the order of the arrays, so the ids line up with ``rows``.
    sql = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
           f"SELECT {', '.join(f'u.c{index}' for index in range(len(columns)))} "
           f"FROM unnest({arrays}) WITH ORDINALITY "
           f"AS u({', '.join(f'c{index}' for index in range(len(columns)))}, n) ORDER BY u.n")
    if on_conflict_do_nothing:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(c) for c in returning)
    return sql


def _insert_with_sqlalchemy(table: Table, rows: list[dict], returning: tuple[str, ...],
                            on_conflict_do_nothing: bool) -> list[tuple]:
    if on_conflict_do_nothing:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).values(rows).on_conflict_do_nothing()
        if returning:
            statement = statement.returning(*(table.c[name] for name in returning))
        result = db.session.execute(statement)
        return [tuple(row) for row in result] if returning else []
    if not returning:
        db.session.execute(insert(table), rows)
        return []
    statement = insert(table).returning(*(table.c[name] for name in returning), sort_by_parameter_order=True)
    return [tuple(row) for row in db.session.execute(statement, rows)]
