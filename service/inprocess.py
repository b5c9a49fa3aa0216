"""The embedded default's stand-in for the RQ scheduler: a daemon thread that periodically
enqueues due work (retries, anything a lost job left behind). Only without REDIS_URL, and
never under tests, which drive the sweep themselves."""

from __future__ import annotations

import logging
import threading

from flask import Flask

log = logging.getLogger(__name__)


def start_inprocess_sweeper(app: Flask) -> threading.Thread | None:
    interval = app.config.get("INPROCESS_SWEEP_SECONDS", 0)
    if app.config.get("REDIS_URL") or app.config.get("TESTING") or interval <= 0:
        return None
    stop = threading.Event()

    def run():
        from .jobs import roll_up_statistics, sweep_inbound, sweep_outbox
        from .extensions import db

        while not stop.wait(interval):
            with app.app_context():
                for job in (sweep_inbound, sweep_outbox, roll_up_statistics):
                    try:
                        job()
                    except Exception:
                        log.exception("in-process %s failed", job.__name__)
                    finally:
                        db.session.remove()

    thread = threading.Thread(target=run, name="inprocess-sweeper", daemon=True)
    thread.start()
    app.extensions["inprocess_sweeper_stop"] = stop
    return thread
