"""Accept first, then process: a provider's webhook is answered once its message is stored as
it arrived (one INSERT), and a job turns stored messages into contacts.

The provider then waits for one INSERT instead of the whole of intake (customer, case, contact,
statistics, audit), and a burst of messages queues up in the database instead of in front of
the web workers. Each channel that lands messages registers a handler that turns its stored
payload into a contact (``app.extensions["inbound_handlers"]``).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Callable

from flask import current_app
from sqlalchemy import Engine, bindparam, create_engine, delete, func, literal_column, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

from ..db_types import utcnow
from ..extensions import db
from .models import InboundEnvelope

log = logging.getLogger(__name__)

# (external id, payload, received at) -> None; stores the contact and may commit.
Handler = Callable[[str, dict, datetime], None]


@dataclass(frozen=True)
class RetryPolicy:
    # Seconds before the next attempt after attempt n (the last value repeats). A message is
    # never given up: it waits, visible in the metrics, until the fault is fixed.
    backoff: tuple[int, ...] = (5, 30, 120, 600, 1800)

    def delay_after(self, attempt: int) -> int:
        return self.backoff[min(attempt, len(self.backoff)) - 1]


def land(channel: str, external_id: str, payload: dict, *, received_at: datetime) -> int | None:
    """Store an arrived message, committed. Returns its row id, or None when a message with
    this id is already waiting (a provider's retry)."""
    values = {"channel": channel, "external_id": external_id, "payload": payload, "received_at": received_at}
    if db.engine.dialect.name == "postgresql":
        return _land_on_postgresql(values)
    with db.engine.begin() as connection:  # SQLite: our own BEGIN IMMEDIATE (service.sqlite)
        return connection.scalar(_landing_statement("sqlite"), values)


def _land_on_postgresql(values: dict) -> int | None:
    # Every provider request waits for this INSERT, and going through SQLAlchemy's execution
    # (compiled-statement lookup, parameter processing, result set-up) cost about twice the
    # CPU of the INSERT itself. So it is sent as the SQL that SQLAlchemy compiled once, on the
    # driver connection of a pooled connection, prepared on the server.
    engine = landing_engine()
    parameters = {**values, "payload": json.dumps(values["payload"])}
    try:
        return _insert_once(engine, parameters)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    # The database dropped the connection (a restart). The INSERT is idempotent, so it goes
    # again once on a fresh one; if the first had committed and only its answer was lost,
    # the row is there and its id is what it would have returned.
    return _insert_once(engine, parameters, or_find_landed=True)


def _insert_once(engine: Engine, parameters: dict, *, or_find_landed: bool = False) -> int | None:
    pooled = connection = None
    try:
        pooled = engine.raw_connection()
        connection = pooled.driver_connection
        row = connection.execute(_landing_sql(), parameters, prepare=True).fetchone()
        if row is None and or_find_landed:
            row = connection.execute(_landed_id_sql(), parameters).fetchone()
        return row[0] if row else None
    except engine.dialect.loaded_dbapi.Error as error:
        # Raised as SQLAlchemy raises it (without the parameters: they are personal data),
        # so that the application's error handlers answer as for any other statement.
        gone = connection is not None and engine.dialect.is_disconnect(error, connection, None)
        if gone:
            pooled.invalidate(error)
            # The other idle connections went with the database too: the retry must not be
            # handed one of them (SQLAlchemy's own execution invalidates the pool likewise).
            engine.dispose()
        raise DBAPIError.instance(None, None, error, engine.dialect.loaded_dbapi.Error, hide_parameters=True,
                                  connection_invalidated=gone, dialect=engine.dialect) from error
    except BaseException:
        # Interrupted mid-statement (a timeout, an exit): the connection may be mid-protocol.
        if connection is not None:
            pooled.invalidate()
        raise
    finally:
        if pooled is not None:
            pooled.close()


_engine_made = threading.Lock()


def landing_engine() -> Engine:
    """The landing INSERT's own connections: in autocommit, one round trip instead of three
    (begin, insert, commit), and not pinged before each use as the application's are (another
    round trip, on the path every provider request waits for); ``land`` retries instead.
    Opened when first needed, in the process that uses them."""
    extensions = current_app.extensions
    if "landing_engine" not in extensions:
        with _engine_made:
            if "landing_engine" not in extensions:
                extensions["landing_engine"] = create_engine(db.engine.url, isolation_level="AUTOCOMMIT",
                                                             hide_parameters=True)
    return extensions["landing_engine"]


# The SQL as psycopg takes it (the driver normalise_database_url gives every PostgreSQL URL).
@cache
def _landing_sql() -> str:
    return str(_landing_statement("postgresql").compile(dialect=postgresql_psycopg.dialect()))


@cache
def _landed_id_sql() -> str:
    table = InboundEnvelope.__table__
    statement = (select(table.c.id).where(table.c.channel == bindparam("channel"),
                                          table.c.external_id == bindparam("external_id")))
    return str(statement.compile(dialect=postgresql_psycopg.dialect()))


@cache
def _landing_statement(dialect_name: str):
    # Built once: constructing the statement cost more CPU per request than sending it.
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    table = InboundEnvelope.__table__
    return (dialect.insert(table)
            .values(channel=bindparam("channel"), external_id=bindparam("external_id"),
                    payload=bindparam("payload", type_=table.c.payload.type),
                    received_at=bindparam("received_at", type_=table.c.received_at.type),
                    attempts=literal_column("0"),
                    next_attempt_at=bindparam("received_at", type_=table.c.received_at.type))
            .on_conflict_do_nothing(index_elements=["channel", "external_id"])
            .returning(table.c.id))


def process_due(handlers: dict[str, Handler], *, limit: int, policy: RetryPolicy = RetryPolicy(),
                now: datetime | None = None) -> int:
    """Turn up to ``limit`` waiting messages into contacts, oldest first, each in a transaction
    of its own with the deletion of its row. Returns how many rows were taken; 0 means none
    was due."""
    now = now or utcnow()
    taken = 0
    while taken < limit:
        # Locked in a statement of its own, skipping rows another worker holds.
        envelope_id = db.session.scalar(
            select(InboundEnvelope.id).where(InboundEnvelope.next_attempt_at <= now)
            .order_by(InboundEnvelope.id).limit(1).with_for_update(skip_locked=True))
        if envelope_id is None:
            db.session.commit()
            break
        row = db.session.execute(
            delete(InboundEnvelope).where(InboundEnvelope.id == envelope_id)
            .returning(InboundEnvelope.channel, InboundEnvelope.external_id, InboundEnvelope.payload,
                       InboundEnvelope.received_at)).first()
        if row is None:  # SQLite has no row locks: another worker took it first
            db.session.commit()
            continue
        taken += 1
        channel, external_id, payload, received_at = row
        try:
            handler = handlers[channel]
            # The deletion commits with the contact; if the handler fails, both roll back.
            handler(external_id, payload, received_at)
            db.session.commit()
        except Exception as failure:
            db.session.rollback()
            log.exception("inbound %s message %s could not be processed; it waits for a retry", channel, envelope_id)
            _postpone(envelope_id, error=type(failure).__name__, policy=policy, now=now)
    return taken


def _postpone(envelope_id: int, *, error: str, policy: RetryPolicy, now: datetime) -> None:
    attempts = db.session.scalar(select(InboundEnvelope.attempts).where(InboundEnvelope.id == envelope_id))
    if attempts is None:  # another worker took it once the rollback released it
        db.session.rollback()
        return
    db.session.execute(update(InboundEnvelope).where(InboundEnvelope.id == envelope_id).values(
        attempts=attempts + 1, last_error=error[:200],
        next_attempt_at=now + timedelta(seconds=policy.delay_after(attempts + 1))))
    db.session.commit()


def due_count(now: datetime | None = None) -> int:
    return db.session.scalar(select(func.count()).select_from(InboundEnvelope)
                             .where(InboundEnvelope.next_attempt_at <= (now or utcnow())))


def backlog() -> tuple[int, datetime | None]:
    """How many messages wait, and when the oldest arrived (for the metrics)."""
    count, oldest = db.session.execute(select(func.count(), func.min(InboundEnvelope.received_at))).one()
    return count, oldest
