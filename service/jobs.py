"""Job functions run by RQ workers, or in-process on the embedded default.

They take ids and primitives, reload state, and are safe to run twice. Inside a request (the
in-process mode) they use its application; in an RQ worker they use the one the composition
root (``wsgi``) builds, once per worker process.
"""

from __future__ import annotations

import contextlib
import importlib

from flask import current_app, has_app_context

from .extensions import db

_worker_app = None


def use_application(app) -> None:
    """The application this process's jobs run in, for a worker started from code (a
    benchmark) rather than by ``rq worker``, which builds it from ``wsgi``. Each job still
    runs in an application context of its own, as under ``rq worker``: a job that fails on a
    connection the database dropped leaves no broken session to the next one."""
    global _worker_app
    _worker_app = app


@contextlib.contextmanager
def _application():
    if has_app_context():
        yield current_app
        return
    global _worker_app
    if _worker_app is None:
        _worker_app = importlib.import_module("wsgi").app
    with _worker_app.app_context():
        try:
            yield _worker_app
        finally:
            db.session.remove()


def deliver_outbox(outbox_id: int) -> str:
    from .outbox import delivery

    with _application():
        return delivery.deliver_and_reschedule(outbox_id)


def drain_outbox(key: str) -> int:
    """Deliver due outbox messages in batches until none is left."""
    from .outbox import delivery

    with _application():
        return delivery.drain(key)


def process_inbound(key: str) -> int:
    """Turn landed inbound messages into contacts until none is left."""
    from .intake import processing

    with _application():
        return processing.process(key)


def sweep_inbound() -> int:
    """Make sure landed inbound messages that are due get processed."""
    from .intake import processing

    with _application():
        return processing.sweep()


def sweep_outbox() -> int:
    """Send due feedback requests, then enqueue every outbox message that is due."""
    from .feedback.logic import FeedbackSettings, send_due
    from .outbox import delivery

    with _application() as app:
        send_due(FeedbackSettings.from_config(app.config))
        return delivery.sweep()


def fetch_recording(recording_id: int) -> bool:
    """Bring a recording's audio from the phone system into our storage (once)."""
    from .recordings import audio

    with _application():
        return audio.fetch(recording_id)


def fetch_attachment(attachment_id: int) -> bool:
    """Bring a provider-held attachment (e.g. an MMS image) into our storage (once)."""
    from .cases import remote_files

    with _application():
        return remote_files.fetch(attachment_id)


def scan_files(key: str) -> int:
    """Scan pending attachments for malware until none is due (or the scanner is down)."""
    from .cases import scanning

    with _application():
        return scanning.drain(key)


def sweep_scans() -> int:
    """Ask for the scan job when files are due: retries, and jobs lost with Redis."""
    from .cases import scanning

    with _application():
        return scanning.sweep()


def purge_expired() -> dict:
    """The daily retention purge."""
    from .retention.logic import PurgeSettings, purge
    from .storage import get_storage

    with _application() as app:
        return purge(storage=get_storage(), settings=PurgeSettings.from_app(app)).counts()


def delete_provider_copies() -> int:
    """Delete the provider's copies of what the purge deleted here, where still due."""
    from .retention.logic import delete_provider_copies as delete_due

    with _application() as app:
        return delete_due(app.extensions.get("provider_copy_deleters", {}))


def seal_audit_log() -> int:
    """Put new audit entries into the hash chain."""
    from .audit.chain import seal

    with _application():
        return seal()


def roll_up_statistics() -> int:
    """Count new contacts into the daily statistics."""
    from .stats.logic import StatsSettings
    from .stats.rollup import roll_up

    with _application() as app:
        return roll_up(StatsSettings.from_config(app.config).zone)
