"""Wiring of outbox delivery to the configured senders and the queue."""

from __future__ import annotations

from flask import current_app

from ..extensions import db
from ..queue import enqueue
from ..storage import get_storage
from . import logic
from .models import QUEUED, OutboxMessage


def policy() -> logic.DeliveryPolicy:
    config = current_app.config
    return logic.DeliveryPolicy(max_attempts=config["OUTBOX_MAX_ATTEMPTS"],
                                lease_seconds=config["OUTBOX_LEASE_SECONDS"])


def senders() -> dict:
    return current_app.extensions["senders"]


def deliver_and_reschedule(outbox_id: int) -> str:
    status = logic.deliver(outbox_id, senders=senders(), policy=policy(), storage=get_storage())
    if status == QUEUED:
        from ..jobs import deliver_outbox

        row = db.session.get(OutboxMessage, outbox_id)
        enqueue(deliver_outbox, outbox_id, at=row.next_attempt_at)
    return status


def enqueue_delivery(outbox_id: int) -> None:
    from ..jobs import deliver_outbox

    enqueue(deliver_outbox, outbox_id)


def sweep() -> int:
    """Enqueue everything due: retries whose time has come and rows a lost job left behind."""
    ids = logic.due_for_delivery()
    for outbox_id in ids:
        enqueue_delivery(outbox_id)
    return len(ids)
