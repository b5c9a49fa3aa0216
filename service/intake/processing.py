"""Wiring of landed inbound messages to the queue: as for the outbox, a landed message makes
sure a processing job is coming, spread over ``INTAKE_JOBS`` keys so that many workers can
work through a burst at once."""

from __future__ import annotations

import time
from typing import Callable

from flask import current_app

from ..queue import enqueue_soon, enqueue_unless_pending, is_pending, work_until_done
from . import envelopes
from .background import intake_thread

# A job hands the rest to a new job after this long.
PROCESS_SECONDS = 60
# Messages taken between two looks at the clock (in batches of ``envelopes.process_due``).
STEP = 400


def enqueue_processing(envelope_id: int) -> None:
    """After the commit that landed ``envelope_id``: a job will process it. The provider's
    request does not wait for Redis (``enqueue_soon``); it was answered once the row was in.
    Without Redis, the process's own intake thread does (``background``), unless processing
    in the request was asked for (tests, to read the contact as soon as the webhook answered)."""
    app = current_app._get_current_object()
    if not app.config.get("REDIS_URL") and app.extensions.get("intake_in_thread"):
        intake_thread(app).wake()
        return
    enqueue_soon(_job(), _key(envelope_id % app.config["INTAKE_JOBS"]))


def process_all_due(*, sleep: Callable[[float], None] = time.sleep) -> int:
    """Process landed messages until none is due (the intake thread's work)."""
    step = _gathering_step(sleep, handed_over=lambda: False)
    taken = 0
    while count := step():
        taken += count
    return taken


def _gathering_step(sleep: Callable[[float], None], *, handed_over: Callable[[], bool]) -> Callable[[], int]:
    """One step of a worker's loop: the messages due now, in batches. A step that worked off
    everything due waits ``INTAKE_GATHER_MS`` before the loop looks again, so that under
    steady traffic the next batch holds what landed meanwhile instead of the one or two
    messages of each moment: a batch costs about as much as 25 messages in it (a dozen
    statements whatever its size), and a worker taking batches of one as fast as they land
    spends the cores the webhook needs. Each contact is committed before the wait, so a
    message arriving after a quiet spell is on the queue at once.

    When ``handed_over()`` says that the next job is already enqueued, the step ends the loop
    instead of waiting: that job sees whatever lands meanwhile, and waits its turn in the
    queue behind other work, so steady traffic never keeps more than one worker process on
    intake per key."""
    handlers = current_app.extensions["inbound_handlers"]
    size, pause = _batch_size(), current_app.config["INTAKE_GATHER_MS"] / 1000
    over = False

    def step() -> int:
        nonlocal over
        if over:
            return 0
        taken = envelopes.process_due(handlers, limit=STEP, batch_size=size)
        if taken and taken < STEP and pause:  # less than a full step: nothing else was due
            if handed_over():
                over = True
            else:
                sleep(pause)
        return taken

    return step


def _batch_size() -> int:
    # SQLite has one writer at a time: a webhook's landing waits for the batch in progress, so
    # its batches stay short.
    from ..extensions import db

    return 50 if db.engine.dialect.name == "sqlite" else 200


def process(key: str, *, sleep: Callable[[float], None] = time.sleep) -> int:
    """Process landed messages until none is due. Returns how many were taken. A worker's
    job gathers batches (``_gathering_step``); without Redis this runs inside the request
    that landed the message (tests), which has nothing to wait for."""
    if current_app.config.get("REDIS_URL"):
        step = _gathering_step(sleep, handed_over=lambda: is_pending(key))
    else:
        handlers = current_app.extensions["inbound_handlers"]
        size = _batch_size()

        def step() -> int:
            return envelopes.process_due(handlers, limit=STEP, batch_size=size)
    return work_until_done(key, step, _job(), seconds=PROCESS_SECONDS)


def sweep() -> int:
    """Make sure jobs are coming for every due message: retries whose time has come and
    messages landed while Redis was unreachable."""
    due = envelopes.due_count()
    for slot in range(min(due, current_app.config["INTAKE_JOBS"])):
        _kick(slot)
    return due


def _kick(slot: int) -> None:
    enqueue_unless_pending(_job(), _key(slot))


def _key(slot: int) -> str:
    return f"inbound-{slot}"


def _job():
    from ..jobs import process_inbound

    return process_inbound
