"""The only module that talks to Redis and RQ.

With REDIS_URL set, jobs go to RQ. Without it (the embedded default) a job runs in-process
right away, and delayed work is left to the in-process sweeper. Callers enqueue after their
commit, so a worker never looks for a row that is not there yet. If Redis cannot be reached
the job is not lost: the row it was about stays due, and the sweeper enqueues it again.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from datetime import datetime
from typing import Any, Callable

from flask import Flask, current_app

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


def enqueue_soon(func: Callable[[str], Any], key: str) -> None:
    """``enqueue_unless_pending(func, key)``, done by a thread of this process within
    ``GATHER_SECONDS``, so that a web request does not wait for Redis and a burst of requests
    asking for the same keys costs one Redis call per key, not one per request. Call it after
    the commit, as ``enqueue_unless_pending``. If the process dies before the thread has
    enqueued, the work is still due in the database and the sweeper finds it."""
    if not current_app.config.get("REDIS_URL"):
        _run_now(func, key)
        return
    _gatherer(current_app._get_current_object()).ask(func, key)


def flush_soon_enqueues(app: Flask) -> None:
    """Enqueue at once whatever ``enqueue_soon`` has gathered in this process (at exit, and
    for tests that look at the queue)."""
    gatherer = app.extensions.get("enqueue_gatherer")
    if gatherer is not None:
        gatherer.flush()


# An idle process enqueues at once; under load, what is asked for within this long after an
# enqueue waits for the next one, together with everything else asked for meanwhile.
GATHER_SECONDS = 0.1

_gatherer_made = threading.Lock()


def _gatherer(app: Flask) -> "_Gatherer":
    gatherer = app.extensions.get("enqueue_gatherer")
    if gatherer is None or gatherer.pid != os.getpid():  # none yet, or inherited over a fork
        with _gatherer_made:
            gatherer = app.extensions.get("enqueue_gatherer")
            if gatherer is None or gatherer.pid != os.getpid():
                gatherer = app.extensions["enqueue_gatherer"] = _Gatherer(app)
    return gatherer


class _Gatherer:
    def __init__(self, app: Flask):
        self.pid = os.getpid()
        self._app = app
        self._wanted: dict[str, Callable[[str], Any]] = {}
        self._changed = threading.Condition()
        self._flushing = threading.Lock()  # the thread and an exit-time flush, one at a time
        threading.Thread(target=self._run, name="enqueue-soon", daemon=True).start()
        atexit.register(self.flush)

    def ask(self, func: Callable[[str], Any], key: str) -> None:
        with self._changed:
            self._wanted[key] = func
            self._changed.notify()

    def flush(self) -> None:
        if os.getpid() != self.pid:  # a forked child's copy: its thread and asks are the parent's
            return
        with self._flushing:
            with self._changed:
                wanted, self._wanted = self._wanted, {}
            if wanted:
                with self._app.app_context():
                    for key, func in wanted.items():
                        enqueue_unless_pending(func, key)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._wanted)
            flushed = time.monotonic()
            try:
                self.flush()
            except Exception:  # never let the thread die: the sweeper covers what was lost
                log.exception("enqueueing gathered jobs failed")
            time.sleep(max(0.0, GATHER_SECONDS - (time.monotonic() - flushed)))


def is_pending(key: str) -> bool:
    """Whether a job enqueued under ``key`` has not started yet (False when unsure)."""
    if not current_app.config.get("REDIS_URL"):
        return False
    try:
        return bool(redis_connection().exists(PENDING + key))
    except Exception:  # then the caller goes on as if none were coming
        return False


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


def publish(channel: str, message: str) -> bool:
    """Tell every process listening on ``channel`` (``listen``). False when Redis is not
    configured or not reachable: listeners then notice the change by looking again later."""
    if not current_app.config.get("REDIS_URL"):
        return False
    try:
        redis_connection().publish(channel, message)
        return True
    except Exception as exc:
        log.warning("could not publish on %s (%s)", channel, type(exc).__name__)
        return False


def listen(redis_url: str, channel: str, on_message: Callable[[bytes], None], on_gap: Callable[[], None]) -> None:
    """Call ``on_message`` with each message published on ``channel``, forever, on a connection
    of its own (run it in a thread). Whenever the subscription is lost, ``on_gap`` is called:
    anything published meanwhile was missed."""
    from redis import Redis

    while True:
        try:
            conn = Redis.from_url(redis_url, socket_connect_timeout=2, socket_keepalive=True,
                                  health_check_interval=30)
            pubsub = conn.pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(channel)
            for message in pubsub.listen():
                on_message(message["data"])
        except Exception as exc:
            log.warning("subscription to %s lost (%s); subscribing again", channel, type(exc).__name__)
        try:
            on_gap()
        except Exception:
            log.exception("handling a lost subscription failed")
        time.sleep(1.0)
