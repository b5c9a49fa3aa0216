"""Multi-row INSERTs as cheap for the client as for the server.

A multi-row ``INSERT ... VALUES`` of a few hundred rows has thousands of placeholders; on
PostgreSQL the driver spent more CPU parsing such a statement (its text differs with the row
count, so nothing is cached) than the server spent running it. On PostgreSQL the rows are
sent instead as one array per column in binary, unpacked by ``unnest``: the statement's
text is the same for every batch, and each column is one parameter. On SQLite a plain
multi-row INSERT costs little.
"""

from __future__ import annotations

import json
from functools import cache

from sqlalchemy import ColumnElement, Table, any_, bindparam
from sqlalchemy.dialects import postgresql, sqlite

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
        return _insert_on_sqlite(table, rows, returning, on_conflict_do_nothing)
    sql = _unnest_insert(table, columns, returning, on_conflict_do_nothing)
    json_columns = _json_columns(table)
    parameters = {f"p{index}": [_value(row[name], name in json_columns) for row in rows]
                  for index, name in enumerate(columns)}
    result = db.session.connection().exec_driver_sql(sql, parameters)
    return [tuple(row) for row in result] if returning else []


def any_of(column, values) -> ColumnElement[bool]:
    """``column IN values`` for a batch's lookups. On PostgreSQL as ``column = ANY(array)``:
    an ``IN`` list is expanded into one placeholder per value when the statement runs, so its
    text changed with every batch's size and the driver parsed a statement of hundreds of
    placeholders each time (the worker's largest cost after the INSERTs). One array parameter
    keeps the text the same, which the driver caches and prepares on the server."""
    values = list(values)
    if db.session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, values, type_=postgresql.ARRAY(column.type)))


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
    # In binary (``%b``): the driver writes the text form of an array in Python, quoting and
    # escaping each value, which took six times the CPU of the binary one (3.3 against 0.5 ms
    # for 200 rows of eleven columns).
    arrays = ", ".join(f"%(p{index})b::{table.c[name].type.compile(dialect=dialect)}[]"
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


def _insert_on_sqlite(table: Table, rows: list[dict], returning: tuple[str, ...],
                      on_conflict_do_nothing: bool) -> list[tuple]:
    # Written out rather than compiled by SQLAlchemy, which spent milliseconds per statement
    # compiling a few hundred rows' placeholders; the values go through the columns' own
    # bind processors (UTC datetimes, JSON), as they would there. SQLAlchemy's ordered
    # RETURNING would send a statement per row on SQLite; instead the ids are sorted: the
    # transaction holds the write lock (BEGIN IMMEDIATE) and an INTEGER PRIMARY KEY takes the
    # largest id plus one, so the ids rise in the rows' order.
    columns = tuple(rows[0])
    processors = _sqlite_processors(table, columns)
    per_statement = max(1, 32766 // len(columns))  # SQLite's limit of parameters per statement
    quote = sqlite.dialect().identifier_preparer.quote
    head = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) VALUES "
    tail = (" ON CONFLICT DO NOTHING" if on_conflict_do_nothing else "") + (
        " RETURNING " + ", ".join(quote(c) for c in returning) if returning else "")
    placeholders = "(" + ", ".join("?" * len(columns)) + ")"
    returned: list[tuple] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        parameters = tuple(process(row[name]) if process else row[name]
                           for row in chunk for name, process in zip(columns, processors))
        result = db.session.connection().exec_driver_sql(head + ", ".join([placeholders] * len(chunk)) + tail,
                                                         parameters)
        if returning:
            got = [tuple(row) for row in result]
            if not on_conflict_do_nothing and returning[0] == "id":
                got.sort(key=lambda row: row[0])
            returned.extend(got)
    return returned


@cache
def _sqlite_processors(table: Table, columns: tuple[str, ...]) -> tuple:
    # The dialect's own implementation of each type (dialect_impl): a UTC datetime is written
    # as SQLAlchemy writes it on SQLite, with its microseconds, so that comparisons of the
    # stored text order it rightly beside rows the ORM wrote.
    dialect = sqlite.dialect()
    return tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns)
