"""The embedded default's intake worker: a thread of the web process that turns landed
messages into contacts in batches, so that without Redis the webhook still answers after one
INSERT and a burst still becomes contacts many to a transaction.

Woken by each landing; it runs until nothing is due, then sleeps until woken again. Messages
landed while it is busy are in its next batch. If the process dies, they wait in the database
and the in-process sweeper (or the next start) finds them."""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask

log = logging.getLogger(__name__)


class IntakeThread:
    def __init__(self, app: Flask):
        self.pid = os.getpid()
        self._app = app
        self._woken = threading.Event()
        self.idle = threading.Event()
        self.idle.set()
        threading.Thread(target=self._run, name="intake-worker", daemon=True).start()

    def wake(self) -> None:
        self.idle.clear()
        self._woken.set()

    def _run(self) -> None:
        from ..extensions import db
        from . import processing

        while True:
            self._woken.wait()
            self._woken.clear()
            with self._app.app_context():
                try:
                    processing.process_all_due()
                except Exception:  # never let the thread die: the sweeper covers what is left
                    log.exception("the intake thread failed; the sweeper will retry")
                finally:
                    db.session.remove()
            if not self._woken.is_set():
                self.idle.set()


_made = threading.Lock()


def intake_thread(app: Flask) -> IntakeThread:
    """This process's intake thread, started on first need (after a fork, too)."""
    thread = app.extensions.get("intake_thread")
    if thread is None or thread.pid != os.getpid():
        with _made:
            thread = app.extensions.get("intake_thread")
            if thread is None or thread.pid != os.getpid():
                thread = app.extensions["intake_thread"] = IntakeThread(app)
    return thread
