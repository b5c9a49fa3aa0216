"""Malware scanning of attachments: every file is stored ``pending`` and a job scans it, so
intake never waits on the scanner; only a file that ends ``clean`` can be opened.

The scanner itself is a port (``Scanner``); the ClamAV adapter lives in ``channels/clamd.py``
and is installed as ``app.extensions["malware_scanner"]``. Without one, files are stored
``unscanned``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO, Callable, Protocol

from flask import Flask, current_app
from sqlalchemy import event, func, or_, select, update
from sqlalchemy.orm import Session

from ..db_types import utcnow
from ..extensions import db
from .models import Attachment

log = logging.getLogger(__name__)

PENDING, CLEAN, INFECTED, UNSCANNABLE, UNSCANNED = "pending", "clean", "infected", "unscannable", "unscanned"
SCAN_STATUSES = (PENDING, CLEAN, INFECTED, UNSCANNABLE, UNSCANNED)

# The job key every scan trigger shares, so a burst of stored files becomes one job.
SCAN_KEY = "scan-files"

# Set on a session whose commit stores a file that waits for its scan.
_WANTED = "scan_wanted"


@dataclass(frozen=True)
class Verdict:
    """What the scanner says of one file: ``clean``, ``infected`` (detail: the signature) or
    ``unscannable`` (detail: why, e.g. an encrypted archive or one over the scanner's limits)."""
    status: str
    detail: str | None = None


class ScannerUnavailable(Exception):
    """The scanner cannot be reached: the file waits, it is never passed."""


class ScanFailed(Exception):
    """The scanner was reached and failed on this file; tried again up to SCAN_MAX_ATTEMPTS."""


class Scanner(Protocol):
    def scan(self, stream: BinaryIO, size: int) -> Verdict: ...

    def ping(self) -> bool: ...


def scanner() -> Scanner | None:
    return current_app.extensions.get("malware_scanner")


def initial_status() -> str:
    return PENDING if scanner() is not None else UNSCANNED


def openable(attachment: Attachment) -> bool:
    """Whether the file may be downloaded, sent with a reply, forwarded or exported."""
    if attachment.storage_key is None:
        return False
    status = attachment.scan_status
    if status == CLEAN:
        return True
    if status == UNSCANNABLE:
        return attachment.released_at is not None
    # The embedded default has no scanner: refusing every file would leave it no attachments
    # at all, so its files open, marked unscanned. Once a scanner is configured they wait for
    # `flask scan backfill` like every file stored before it.
    return status == UNSCANNED and scanner() is None


def ensure_openable(attachment: Attachment) -> None:
    """Raise the 409 an official sees instead of a file that is not clean."""
    from ..errors import Conflict

    if not openable(attachment):
        code = "attachment-not-fetched" if attachment.storage_key is None else f"attachment-{attachment.scan_status}"
        raise Conflict(why_closed(attachment), code=code)


def why_closed(attachment: Attachment) -> str:
    """The reason a file cannot be opened, in words an official understands."""
    if attachment.storage_key is None:
        return "The file is still held by the provider and has not been fetched."
    status = attachment.scan_status
    if status == PENDING:
        return "The file waits for its malware scan."
    if status == INFECTED:
        return f"The file was infected ({attachment.scan_detail}) and has been quarantined."
    if status == UNSCANNABLE:
        return f"The file could not be scanned ({attachment.scan_detail}); an administrator may release it."
    return "The file has not been scanned; it opens once `flask scan backfill` has scanned it."


# --- triggering the scan when a file is stored ----------------------------------------------

def _mark_new_files(session: Session, _context, _instances) -> None:
    """Any path that stores a file (intake, an official's upload) gets a scan state, and a
    pending one asks for the scan job once its transaction commits."""
    for obj in session.new:
        if isinstance(obj, Attachment) and obj.storage_key is not None and obj.scan_status is None:
            obj.scan_status = initial_status()
        if isinstance(obj, Attachment) and obj.scan_status == PENDING:
            session.info[_WANTED] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_WANTED, False):
        ask_for_scans()


def _after_rollback(session: Session, *_) -> None:
    session.info.pop(_WANTED, None)


def ask_for_scans() -> None:
    """Have pending files scanned soon: by an RQ worker, or on the embedded default by the
    in-process sweeper, woken now (the request never runs the scan itself)."""
    app = current_app
    if app.config.get("REDIS_URL"):
        from ..jobs import scan_files
        from ..queue import enqueue_soon

        enqueue_soon(scan_files, SCAN_KEY)
        return
    wake = app.extensions.get("inprocess_wake")
    if wake is not None:
        wake.set()


def init_scanning(app: Flask) -> None:
    for name, listener in (("before_flush", _mark_new_files), ("after_commit", _after_commit),
                           ("after_rollback", _after_rollback), ("after_soft_rollback", _after_rollback)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


# --- scanning ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ScanSettings:
    max_attempts: int
    retry_seconds: int
    lease_seconds: int

    @classmethod
    def from_config(cls, config) -> "ScanSettings":
        return cls(max_attempts=config["SCAN_MAX_ATTEMPTS"], retry_seconds=config["SCAN_RETRY_SECONDS"],
                   lease_seconds=config["CLAMD_TIMEOUT_SECONDS"] + 60)


def _due(now: datetime):
    return (Attachment.scan_status == PENDING,
            or_(Attachment.scan_due_at.is_(None), Attachment.scan_due_at <= now))


def _claim(attachment_id: int, settings: ScanSettings, now: datetime) -> Attachment | None:
    """Take one due pending file for this worker, for the length of a lease: of two workers
    that pick the same file, one scans it."""
    won = db.session.execute(update(Attachment).where(Attachment.id == attachment_id, *_due(now))
                             .values(scan_due_at=now + timedelta(seconds=settings.lease_seconds))).rowcount
    db.session.commit()
    return db.session.get(Attachment, attachment_id) if won else None


def _finish(attachment_id: int, **values) -> bool:
    done = db.session.execute(update(Attachment).where(Attachment.id == attachment_id,
                                                       Attachment.scan_status == PENDING)
                              .values(**values)).rowcount
    return bool(done)


def scan_one(attachment_id: int, *, settings: ScanSettings, now: datetime | None = None) -> str | None:
    """Scan one pending file, if it is due and no other worker has it. Returns its state after
    the attempt, or None when it was not this worker's to scan. Raises ScannerUnavailable
    (the file stays pending, due again after SCAN_RETRY_SECONDS)."""
    from ..audit.logic import record
    from ..metrics import SCANS
    from ..storage import get_storage

    port = scanner()
    if port is None:
        return None
    now = now or utcnow()
    attachment = _claim(attachment_id, settings, now)
    if attachment is None:
        return None
    storage, key, size, case_id = get_storage(), attachment.storage_key, attachment.size, attachment.case_id
    db.session.rollback()  # no transaction (nor SQLite's write lock) is held over the scan
    retry_at = utcnow() + timedelta(seconds=settings.retry_seconds)
    try:
        with storage.open(key) as handle:
            verdict = port.scan(handle, size or 0)
    except ScannerUnavailable:
        _finish(attachment_id, scan_due_at=retry_at)
        db.session.commit()
        SCANS.labels("scanner_unavailable").inc()
        raise
    except (ScanFailed, OSError) as failure:
        row = db.session.get(Attachment, attachment_id)
        if row is None:  # purged with its case meanwhile
            db.session.rollback()
            return None
        attempts = row.scan_attempts + 1
        if attempts < settings.max_attempts:
            _finish(attachment_id, scan_attempts=attempts, scan_due_at=retry_at)
            db.session.commit()
            SCANS.labels("error").inc()
            log.warning("scan of attachment %s failed (%s); trying again", attachment_id, type(failure).__name__)
            return PENDING
        verdict = Verdict(UNSCANNABLE, f"scanner error after {attempts} attempts")
        _finish(attachment_id, scan_attempts=attempts)
    detail = verdict.detail[:255] if verdict.detail else None
    if not _finish(attachment_id, scan_status=verdict.status, scan_detail=detail, scanned_at=utcnow(),
                   scan_due_at=None):
        db.session.rollback()
        return None
    if verdict.status == INFECTED:
        record("attachment.quarantined", actor=None, object_type="case", object_id=case_id,
               details={"attachment_id": attachment_id, "signature": verdict.detail})
    elif verdict.status == UNSCANNABLE:
        record("attachment.unscannable", actor=None, object_type="case", object_id=case_id,
               details={"attachment_id": attachment_id, "reason": verdict.detail})
    db.session.commit()
    if verdict.status == INFECTED:
        # Quarantine: the bytes go, the metadata (name, type, size, hash, signature) stays.
        storage.delete(key)
    SCANS.labels(verdict.status).inc()
    return verdict.status


def due_ids(limit: int, now: datetime | None = None) -> list[int]:
    now = now or utcnow()
    ids = list(db.session.scalars(select(Attachment.id).where(*_due(now)).order_by(Attachment.id).limit(limit)))
    db.session.rollback()
    return ids


def scan_due(*, settings: ScanSettings, now: datetime | None = None) -> int:
    """One step of the scan job: scan the first due file this worker can claim. Returns how
    many it scanned (0 or 1); 0 when nothing is due or the scanner is down."""
    for attachment_id in due_ids(8, now):
        try:
            if scan_one(attachment_id, settings=settings, now=now) is not None:
                return 1
        except ScannerUnavailable:
            log.warning("the malware scanner is unreachable; files wait for it")
            return 0
    return 0


def drain(key: str) -> int:
    from ..jobs import scan_files
    from ..queue import work_until_done

    settings = ScanSettings.from_config(current_app.config)
    return work_until_done(key, lambda: scan_due(settings=settings), scan_files, seconds=60)


def sweep() -> int:
    """Ask for the scan job when files are due (retries, and jobs lost with Redis)."""
    if scanner() is None or not due_ids(1):
        return 0
    from ..jobs import scan_files
    from ..queue import enqueue_unless_pending

    enqueue_unless_pending(scan_files, SCAN_KEY)
    return 1


# --- the backfill of files stored before scanning --------------------------------------------

@dataclass
class BackfillReport:
    total: int = 0
    scanned: int = 0
    by_status: dict = None

    def __post_init__(self):
        self.by_status = self.by_status or {}


def backfill(*, settings: ScanSettings, batch_size: int = 100,
             progress: Callable[[BackfillReport], None] = lambda report: None) -> BackfillReport:
    """Scan every file stored ``unscanned``. Each batch is marked pending first, so a file the
    backfill cannot finish (the scanner went away) waits for the workers instead."""
    if scanner() is None:
        raise RuntimeError("no malware scanner is configured (CLAMD_SOCKET or CLAMD_HOST)")
    unscanned = (Attachment.scan_status == UNSCANNED, Attachment.storage_key.is_not(None))
    report = BackfillReport(total=db.session.scalar(select(func.count()).select_from(Attachment).where(
        or_(Attachment.scan_status == PENDING, *unscanned[:1]), Attachment.storage_key.is_not(None))))
    db.session.rollback()
    while True:
        ids = list(db.session.scalars(select(Attachment.id).where(*unscanned).order_by(Attachment.id)
                                      .limit(batch_size)))
        if ids:
            db.session.execute(update(Attachment).where(Attachment.id.in_(ids), *unscanned)
                               .values(scan_status=PENDING, scan_due_at=None))
        db.session.commit()
        ids = due_ids(batch_size)
        if not ids:
            return report
        for attachment_id in ids:
            status = scan_one(attachment_id, settings=settings)  # ScannerUnavailable ends the run
            if status is not None and status != PENDING:
                report.scanned += 1
                report.by_status[status] = report.by_status.get(status, 0) + 1
        progress(report)


# --- an administrator's release of an unscannable file ----------------------------------------

def release(*, actor, case_id: int, attachment_id: int, reason: str) -> Attachment:
    from ..audit.logic import record
    from ..errors import Conflict
    from .attachments import find_attachment

    attachment = find_attachment(actor=actor, case_id=case_id, attachment_id=attachment_id)
    if attachment.scan_status != UNSCANNABLE or attachment.released_at is not None:
        raise Conflict(f"Only an unscannable file that is not released yet can be released; this one is "
                       f"{attachment.scan_status or 'not stored here'}"
                       f"{' and released' if attachment.released_at else ''}.", code="not-releasable")
    attachment.released_at, attachment.released_by_id, attachment.release_reason = utcnow(), actor.id, reason
    record("attachment.released", actor=actor, object_type="case", object_id=case_id,
           details={"attachment_id": attachment.id, "scan_detail": attachment.scan_detail, "reason": reason})
    db.session.commit()
    return attachment


def counts() -> list[tuple[str, int]]:
    return list(db.session.execute(select(Attachment.scan_status, func.count()).where(
        Attachment.scan_status.is_not(None)).group_by(Attachment.scan_status)).all())


def oldest_pending() -> datetime | None:
    return db.session.scalar(select(func.min(Attachment.created_at)).where(Attachment.scan_status == PENDING))
