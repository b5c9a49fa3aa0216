"""The only module that talks to Redis and RQ.

With REDIS_URL set, jobs go to RQ. Without it (the embedded default) a job runs in-process
right away, and delayed work is left to the in-process sweeper. Callers enqueue after their
commit, so a worker never looks for a row that is not there yet. If Redis cannot be reached
the job is not lost: the row it was about stays due, and the sweeper enqueues it again.
"""

from __future__ import annotations

import logging
import time
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
        return _run_now(func, *args)
    try:
        queue = rq_queue()
        if at is not None:
            queue.enqueue_at(at, func, *args, job_timeout=120)
        else:
            queue.enqueue(func, *args, job_timeout=120)
        return True
    except Exception as exc:  # Redis down or unreachable: the database still holds the work
        return _not_queued(func, exc)


# Redis key prefix of the markers of jobs enqueued under a key and not started yet.
PENDING = "service:pending:"


def enqueue_unless_pending(func: Callable[[str], Any], key: str, *, ttl: int = 60) -> bool:
    """Enqueue ``func(key)`` unless a job enqueued under ``key`` has not started yet, so that a
    burst of triggers becomes one job. The job calls ``started(key)`` before it looks for work:
    whatever is committed after that is either seen by it or enqueues the next job. The marker
    expires after ``ttl`` seconds, in case its job is lost before it starts. Returns False when
    nothing could be queued (the sweeper will catch up)."""
    if not current_app.config.get("REDIS_URL"):
        return _run_now(func, key)
    try:
        if not redis_connection().set(PENDING + key, 1, nx=True, ex=ttl):
            return True
        rq_queue().enqueue(func, key, job_timeout=120)
        return True
    except Exception as exc:  # as in enqueue: the database still holds the work
        return _not_queued(func, exc)


def started(key: str) -> None:
    """Called by a job enqueued with ``enqueue_unless_pending`` before it looks for work."""
    if not current_app.config.get("REDIS_URL"):
        return
    try:
        redis_connection().delete(PENDING + key)
    except Exception as exc:  # the marker expires by itself
        log.warning("could not clear the pending marker of %s (%s)", key, type(exc).__name__)


def work_until_done(key: str, step: Callable[[], int], func: Callable[[str], Any], *, seconds: float) -> int:
    """The body of a job enqueued with ``enqueue_unless_pending(func, key)``: mark it started,
    then call ``step`` (which returns how much it did) until it does nothing. After ``seconds``
    the rest goes to a new job under the same key, well inside RQ's job timeout. Returns the
    sum of what the steps did."""
    started(key)
    deadline = time.monotonic() + seconds
    done = 0
    while count := step():
        done += count
        if time.monotonic() > deadline:
            enqueue_unless_pending(func, key)
            break
    return done


def _run_now(func: Callable[..., Any], *args: Any) -> bool:
    try:
        func(*args)
    except Exception:
        log.exception("in-process job %s failed", getattr(func, "__name__", func))
    return True


def _not_queued(func: Callable[..., Any], exc: Exception) -> bool:
    log.warning("could not enqueue %s (%s); the sweeper will retry", getattr(func, "__name__", func),
                type(exc).__name__)
    return False
