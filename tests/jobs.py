"""Jobs in the tests, as production runs them.

With REDIS_URL set (CI's second pass), every app a test makes without choosing its own Redis
runs as production does: jobs go through that Redis and a real RQ worker runs them. The worker
runs after each request of the test client (``WorkingClient``), so a test reads the same on both
passes; a test that enqueues outside a request calls ``run_queued_jobs(app)`` itself. Without
REDIS_URL, jobs run in-process (the embedded default) and both are no-ops.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from flask.testing import FlaskClient
from rq import Queue, SimpleWorker
from rq.timeouts import TimerDeathPenalty

from service.extensions import db
from service.outbox.models import OutboxMessage
from service.queue import flush_soon_enqueues, redis_connection

log = logging.getLogger(__name__)

REAL_REDIS_URL = os.environ.get("REDIS_URL") or None


class _TestWorker(SimpleWorker):
    # A job's time limit by a timer thread, not SIGALRM: the worker may run in a request's thread.
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self):
        # Requests of the concurrency tests come from threads, where signals cannot be set; the
        # burst ends by itself.
        pass


def _on_real_redis(app) -> bool:
    return REAL_REDIS_URL is not None and app.config.get("REDIS_URL") == REAL_REDIS_URL


def run_queued_jobs(app) -> int:
    """Run every job waiting in the app's Redis with a real RQ worker, in this process and in
    the app's context, until none is left (jobs may enqueue more). Returns how many bursts
    found work. Does nothing for an app with in-process jobs, whose jobs have already run."""
    if not _on_real_redis(app):
        return 0
    flush_soon_enqueues(app)
    bursts = 0
    with app.app_context():
        conn = redis_connection()
        queue = Queue("default", connection=conn)
        # A served app's BackgroundWorker may hold a job this request queued: the queue is empty
        # then, but the job's work is not done. Wait for it as for our own (a job left started
        # by a killed worker is given up on after the deadline).
        deadline = time.monotonic() + 5
        while True:
            if queue.count:
                _TestWorker([queue], connection=conn).work(burst=True, logging_level="WARNING")
                flush_soon_enqueues(app)
                bursts += 1
            elif queue.started_job_registry.count and time.monotonic() < deadline:
                time.sleep(0.01)
            else:
                break
    return bursts


class WorkingClient(FlaskClient):
    """A test client whose app's jobs are run by a real RQ worker after each request, as a
    worker process would soon after it in production."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        run_queued_jobs(self.application)
        return response


class BackgroundWorker:
    """A real RQ worker beside a served app (the console's live server), as production runs
    one beside the web process: it runs the app's queued jobs every ``seconds`` until stopped.
    Nothing to do for an app with in-process jobs."""

    def __init__(self, app, seconds: float = 0.05):
        self._app = app
        self._seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rq-worker", daemon=True)

    def _run(self):
        while not self._stop.wait(self._seconds):
            try:
                run_queued_jobs(self._app)
            except Exception:  # a failing job is in RQ's failed registry; keep working
                log.exception("the test's background worker failed")

    def start(self) -> "BackgroundWorker":
        if _on_real_redis(self._app):
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)


def delivery_status(app, outbox_id: int) -> tuple[str, str | None]:
    """Where an outbox message stands once the jobs have run: (status, last error)."""
    run_queued_jobs(app)
    with app.app_context():
        message = db.session.get(OutboxMessage, outbox_id)
        return message.status, message.last_error
