"""Wiring of outbox delivery to the configured senders and the queue.

A committed message does not get a job of its own: it makes sure a drain job is on its way.
Drain jobs deliver whatever is due in batches until nothing is left, so a backlog of
thousands of replies costs a few jobs, not thousands. Queued rows are spread over
``OUTBOX_DRAIN_JOBS`` keys, so that many workers can drain at once. Within a batch, up to
``OUTBOX_SEND_CONCURRENCY`` messages wait on the provider at once: a provider answers in a
tenth of a second or more, and one after another a batch of 50 would take seconds.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from flask import current_app

from ..extensions import db
from ..queue import enqueue, enqueue_unless_pending, work_until_done
from ..storage import get_storage
from . import logic
from .models import QUEUED, OutboxMessage

# One drain job stops after this long and hands the rest to a new job, well inside RQ's job
# timeout (120 s), so a long backlog never gets a job killed half-way through a batch.
DRAIN_SECONDS = 60


def policy() -> logic.DeliveryPolicy:
    config = current_app.config
    return logic.DeliveryPolicy(max_attempts=config["OUTBOX_MAX_ATTEMPTS"],
                                lease_seconds=config["OUTBOX_LEASE_SECONDS"])


def senders() -> dict:
    return current_app.extensions["senders"]


def deliver_and_reschedule(outbox_id: int) -> str:
    status = logic.deliver(outbox_id, senders=senders(), policy=policy(), storage=get_storage())
    if status == QUEUED:
        row = db.session.get(OutboxMessage, outbox_id)
        _retry(outbox_id, row.next_attempt_at)
    return status


def enqueue_delivery(outbox_id: int) -> None:
    """After the commit that queued ``outbox_id``: a drain job will deliver it."""
    _kick_drain(outbox_id % current_app.config["OUTBOX_DRAIN_JOBS"])


def drain(key: str) -> int:
    """Deliver due messages, a batch at a time, until none is left. Returns how many rows it
    claimed."""
    config = current_app.config

    def one_batch() -> int:
        batch = logic.deliver_due(senders=senders(), policy=policy(), storage=get_storage(),
                                  limit=config["OUTBOX_BATCH_SIZE"], pool=pool)
        for delivered in batch:
            if delivered.retry_at is not None:
                _retry(delivered.outbox_id, delivered.retry_at)
        return len(batch)

    # The pool's threads only send: they have no app context, so they cannot reach the
    # database session, which belongs to this thread.
    pool = ThreadPoolExecutor(max_workers=config["OUTBOX_SEND_CONCURRENCY"], thread_name_prefix="outbox-send")
    try:
        return work_until_done(key, one_batch, _drain_job(), seconds=DRAIN_SECONDS)
    finally:
        # Interrupted (a job timeout, a lost database): messages not yet handed to the
        # provider are not sent; their rows go back to the queue when their lease runs out.
        pool.shutdown(wait=True, cancel_futures=True)


def sweep() -> int:
    """Make sure drain jobs are on their way for everything due: retries whose time has come
    and rows a lost job left behind."""
    ids = logic.due_for_delivery()
    for slot in sorted({outbox_id % current_app.config["OUTBOX_DRAIN_JOBS"] for outbox_id in ids}):
        _kick_drain(slot)
    return len(ids)


def _kick_drain(slot: int) -> None:
    enqueue_unless_pending(_drain_job(), f"outbox-drain-{slot}")


def _drain_job():
    from ..jobs import drain_outbox

    return drain_outbox


def _retry(outbox_id: int, at) -> None:
    from ..jobs import deliver_outbox

    enqueue(deliver_outbox, outbox_id, at=at)
