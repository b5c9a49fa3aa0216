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

from ..config import postgresql_session_options
from ..db_types import utcnow
from ..extensions import db
from ..metrics import INTAKE
from ..storage import get_storage
from . import batch
from .bulk_sql import any_of
from .message import InboundMessage, without_nul
from .models import InboundEnvelope

log = logging.getLogger(__name__)

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
    Opened when first needed, in the process that uses them.

    Bounded as the application's pool is (``DATABASE_POOL_SIZE``, no overflow): a thread waits
    the moment another's INSERT takes rather than opening a connection. With SQLAlchemy's
    default overflow, a threaded web worker under load opened and closed connections over the
    five it kept, some 24 a second, and starting a PostgreSQL session (a process, its caches,
    the statement prepared again) cost more than the INSERTs it served."""
    extensions = current_app.extensions
    if "landing_engine" not in extensions:
        with _engine_made:
            if "landing_engine" not in extensions:
                extensions["landing_engine"] = create_engine(
                    db.engine.url, isolation_level="AUTOCOMMIT", hide_parameters=True,
                    pool_size=current_app.config["DATABASE_POOL_SIZE"], max_overflow=0,
                    # In autocommit there is no transaction to end when a connection goes back.
                    pool_reset_on_return=None,
                    connect_args={"options": postgresql_session_options()})
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


@dataclass(frozen=True)
class LandedChannel:
    """How a channel's landed payloads become contacts (``app.extensions["inbound_handlers"]``).

    ``decode`` turns a stored payload back into the message; ``stored`` runs in the transaction
    that stored a batch of them, with each message and its ``IntakeResult`` (e.g. an automatic
    answer to each new case), and may return what to do once that transaction committed
    (enqueue the jobs it made)."""

    decode: Callable[[str, dict, datetime], InboundMessage]
    stored: Callable[[list[tuple[InboundMessage, object]]], Callable[[], None] | None] | None = None


@dataclass
class _Landed:
    envelope_id: int
    channel: str
    message: InboundMessage | None


def process_due(channels: dict[str, LandedChannel], *, limit: int, policy: RetryPolicy = RetryPolicy(),
                now: datetime | None = None, batch_size: int = 200) -> int:
    """Turn up to ``limit`` waiting messages into contacts, oldest first. Most go in batches,
    many to a transaction with the deletion of their rows (``batch.store_plain``); a message
    with rules of its own, or any message of a batch that failed, goes in a transaction of its
    own, so one bad message is retried alone and never holds back the rest. Returns how many
    rows were taken; 0 means none was due."""
    from . import logic

    now = now or utcnow()
    taken = 0
    while taken < limit:
        landed = _claim(channels, now=now, limit=min(batch_size, limit - taken))
        if not landed:
            db.session.commit()
            break
        plain = [item for item in landed if item.message is not None
                 and batch.is_plain(item.message, logic.INTERCEPTORS)]
        alone = [item for item in landed if item not in plain]
        if plain:
            done = _store_batch(channels, plain, now=now)
            if done is None:  # the batch failed: each of its messages tries alone
                alone = sorted(plain + alone, key=lambda item: item.envelope_id)
            else:
                taken += done
        else:
            db.session.commit()  # releases the claim; each is taken again below
        for item in alone:
            taken += _process_alone(channels, item, policy=policy, now=now)
    return taken


def _claim(channels, *, now: datetime, limit: int) -> list[_Landed]:
    """The oldest due messages, locked (in a statement of its own, skipping rows another
    worker holds) but not yet deleted, decoded."""
    rows = db.session.execute(
        select(InboundEnvelope.id, InboundEnvelope.channel, InboundEnvelope.external_id, InboundEnvelope.payload,
               InboundEnvelope.received_at)
        .where(InboundEnvelope.next_attempt_at <= now)
        .order_by(InboundEnvelope.id).limit(limit).with_for_update(skip_locked=True)).all()
    landed = []
    for envelope_id, channel, external_id, payload, received_at in rows:
        try:
            message = channels[channel].decode(external_id, payload, received_at)
        except Exception:  # an unknown channel or an unreadable payload: it fails alone, below
            message = None
        landed.append(_Landed(envelope_id, channel, message))
    return landed


def _store_batch(channels, plain: list[_Landed], *, now: datetime) -> int | None:
    """One transaction: delete the rows, store their contacts, run the channels' hooks.
    Returns how many rows it took, or None when it failed and rolled back."""
    from . import logic

    ids = [item.envelope_id for item in plain]
    try:
        # SQLite has no row locks: another worker may have taken some since the claim.
        still_there = set(db.session.scalars(delete(InboundEnvelope).where(any_of(InboundEnvelope.id, ids))
                                             .returning(InboundEnvelope.id)))
        mine = [item for item in plain if item.envelope_id in still_there]
        settings = logic.IntakeSettings.from_config(current_app.config)
        messages = [without_nul(item.message) for item in mine]
        results = batch.store_plain(messages, actor=None, settings=settings, now=now)
        after = _run_stored_hooks(channels, mine, messages, results)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("a batch of %d inbound messages failed; each is tried alone", len(plain))
        return None
    _count_and_follow_up(messages, results, after)
    return len(mine)


def _process_alone(channels, item: _Landed, *, policy: RetryPolicy, now: datetime) -> int:
    """One message in a transaction of its own with the deletion of its row; on failure the
    row stays and waits for a retry."""
    from . import logic

    try:
        row = db.session.execute(delete(InboundEnvelope).where(InboundEnvelope.id == item.envelope_id)
                                 .returning(InboundEnvelope.id)).first()
        if row is None:  # another worker took it
            db.session.commit()
            return 0
        if item.message is None:
            raise ValueError(f"no channel can read a landed {item.channel} message")
        message = without_nul(item.message)
        hooks: list[list[Callable[[], None]]] = []

        def stored(result):
            hooks.append(_run_stored_hooks(channels, [item], [message], [result]))

        # The deletion commits with the contact; if storing fails, both roll back.
        logic.receive(message, actor=None, settings=logic.IntakeSettings.from_config(current_app.config),
                      storage=get_storage(), now=now, on_stored=stored)
        db.session.commit()
    except Exception as failure:
        db.session.rollback()
        log.exception("inbound %s message %s could not be processed; it waits for a retry",
                      item.channel, item.envelope_id)
        _postpone(item.envelope_id, error=type(failure).__name__, policy=policy, now=now)
        return 1
    _count_and_follow_up([], [], [follow_up for hook in hooks for follow_up in hook])
    return 1


def _run_stored_hooks(channels, items: list[_Landed], messages, results) -> list[Callable[[], None]]:
    by_channel: dict[str, list] = {}
    for item, message, result in zip(items, messages, results):
        if not (result.duplicate or result.ignored):
            by_channel.setdefault(item.channel, []).append((message, result))
    follow_ups = []
    for channel, pairs in by_channel.items():
        hook = channels[channel].stored
        if hook is not None:
            follow_up = hook(pairs)
            if follow_up is not None:
                follow_ups.append(follow_up)
    return follow_ups


def _count_and_follow_up(messages, results, follow_ups) -> None:
    for message, result in zip(messages, results):
        if not (result.duplicate or result.ignored):
            INTAKE.labels(message.channel).inc()
    for follow_up in follow_ups:
        try:
            follow_up()
        except Exception:  # a job not enqueued is found by its sweeper
            log.exception("a follow-up of stored inbound messages failed")


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
