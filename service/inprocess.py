"""The embedded default's stand-in for RQ's cron: a daemon thread that runs the periodic work
(retries, anything a lost job left behind, statistics) every few seconds, and the retention
purge once a day, so a small office on the default keeps nothing past its period either.
Only without REDIS_URL, and never under tests unless a test starts it itself."""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

log = logging.getLogger(__name__)

PURGE_EVERY_SECONDS = 24 * 3600


class _Stop(threading.Event):
    """Stopping also wakes the sweeper, so it ends at once rather than at its next tick."""

    def __init__(self, wake: threading.Event):
        super().__init__()
        self._wake = wake

    def set(self) -> None:
        super().set()
        self._wake.set()


def start_inprocess_sweeper(app: Flask, *, under_test: bool = False) -> threading.Thread | None:
    interval = app.config.get("INPROCESS_SWEEP_SECONDS", 0)
    if app.config.get("REDIS_URL") or (app.config.get("TESTING") and not under_test) or interval <= 0:
        return None
    # Set after a commit that stored a file to scan, so it is scanned now, not at the next tick.
    wake = threading.Event()
    stop = _Stop(wake)

    def run():
        from .cases.scanning import SCAN_KEY
        from .extensions import db
        from .jobs import (delete_provider_copies, purge_expired, roll_up_statistics, scan_files, sweep_inbound,
                           sweep_outbox)

        def scan():
            scan_files(SCAN_KEY)

        scan.__name__ = "scan_files"
        # The first purge comes at the first tick: a service restarted every night would
        # otherwise never reach a purge 24 hours after its start.
        next_purge = time.monotonic()
        next_tick = time.monotonic() + interval
        while not stop.is_set():
            woken = wake.wait(max(0.0, next_tick - time.monotonic()))
            wake.clear()
            if stop.is_set():
                break
            if woken and time.monotonic() < next_tick:
                jobs = [scan]
            else:
                next_tick = time.monotonic() + interval
                jobs = [sweep_inbound, sweep_outbox, roll_up_statistics, delete_provider_copies, scan]
                if time.monotonic() >= next_purge:
                    jobs.append(purge_expired)
                    next_purge = time.monotonic() + PURGE_EVERY_SECONDS
            with app.app_context():
                for job in jobs:
                    try:
                        job()
                    except Exception:
                        log.exception("in-process %s failed", job.__name__)
                    finally:
                        db.session.remove()

    thread = threading.Thread(target=run, name="inprocess-sweeper", daemon=True)
    thread.start()
    app.extensions["inprocess_sweeper_stop"] = stop
    app.extensions["inprocess_wake"] = wake
    return thread
