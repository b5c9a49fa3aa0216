"""The only module that talks to Redis and RQ.

With REDIS_URL set, jobs go to RQ. Without it (the embedded default) a job runs in-process
right away, and delayed work is left to the in-process sweeper. Callers enqueue after their
commit, so a worker never looks for a row that is not there yet. If Redis cannot be reached
the job is not lost: the row it was about stays due, and the sweeper enqueues it again.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Callable

from flask import current_app

log = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"


def redis_connection():
    from redis import Redis

    app = current_app
    conn = app.extensions.get("redis")
    if conn is None:
        conn = Redis.from_url(app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5)
        app.extensions["redis"] = conn
    return conn


def rq_queue(name: str = DEFAULT_QUEUE):
    from rq import Queue

    return Queue(name, connection=redis_connection())


def enqueue(func: Callable[..., Any], *args: Any, at: datetime | None = None) -> bool:
    """Run ``func(*args)`` as a job, now or at ``at``. Returns False when it could not be
    queued (the sweeper will catch up)."""
    if not current_app.config.get("REDIS_URL"):
        if at is not None:
            return False  # the in-process sweeper runs it when it is due
        try:
            func(*args)
        except Exception:
            log.exception("in-process job %s failed", getattr(func, "__name__", func))
        return True
    try:
        queue = rq_queue()
        if at is not None:
            queue.enqueue_at(at, func, *args, job_timeout=120)
        else:
            queue.enqueue(func, *args, job_timeout=120)
        return True
    except Exception as exc:  # Redis down or unreachable: the database still holds the work
        log.warning("could not enqueue %s (%s); the sweeper will retry", getattr(func, "__name__", func),
                    type(exc).__name__)
        return False
