"""Small helpers for building queries."""


def escape_like(text: str) -> str:
    """Make user text literal inside a LIKE pattern (used with ``escape="\\\\"``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def contains(text: str) -> str:
    return f"%{escape_like(text)}%"


def among(column, ids):
    """``column IN (ids)`` for a batch of ids. On PostgreSQL it is ``= ANY(array)``, one
    parameter: thousands of separate bound parameters cost more to send and plan than the
    work they select (measured in bench/purge.py)."""
    from sqlalchemy import Integer, any_, literal
    from sqlalchemy.dialects.postgresql import ARRAY

    from .extensions import db

    ids = list(ids)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(ids, ARRAY(Integer)))
    return column.in_(ids)
