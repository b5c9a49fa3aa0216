"""Retention: legal holds, policy changes, and the purge.

What the purge must never delete:
- a case that is not closed, or whose retention_until is after the as-of time;
- a case under legal hold, or any recording of such a case;
- a recording before its own retention_until;
- a customer who still has a case;
- the audit log (it has its own period, not handled here) and anonymous statistics.
Everything else past its date goes: the case with its contacts, notes, attachments, chats,
disclosures, feedback and outbound messages (``deletion.delete_cases``), the files of its attachments
and recordings, and customers left with no case. Work is done in batches, one transaction
each, so an interrupted run loses nothing and a rerun carries on; each run writes one audit
entry with counts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import delete, exists, func, select

from .. import events

from ..audit.logic import record
from ..auth.permissions import Principal
from ..cases.logic import load_case, touch
from ..cases.models import CLOSED, Attachment, Case
from ..customers.models import Customer
from ..db_types import utcnow
from ..errors import Conflict
from ..extensions import db
from ..lines.models import ServiceLine
from ..metrics import PURGED
from ..recordings.logic import recording_line
from ..recordings.models import Recording
from ..storage import FileStorage
from ..sql import among
from .deletion import (delete_cases, delete_customers_left_without_a_case, may_switch_off_row_triggers,
                       switch_off_row_triggers)

log = logging.getLogger(__name__)

BATCH_SIZE = 1000


@dataclass
class PurgeReport:
    as_of: datetime
    dry_run: bool
    cases: int = 0
    audit_entries: int = 0
    attachments: int = 0
    recordings: int = 0
    customers: int = 0
    files: int = 0
    provider_copies: int = 0
    held_cases_skipped: int = 0
    batches: int = 0
    missing_files: list[str] = field(default_factory=list)

    def counts(self) -> dict:
        return {"cases": self.cases, "audit_entries": self.audit_entries, "attachments": self.attachments, "recordings": self.recordings,
                "customers": self.customers, "files": self.files, "provider_copies": self.provider_copies, "held_cases_skipped": self.held_cases_skipped}


# --- legal hold ------------------------------------------------------------------------------

def place_hold(*, actor: Principal, case_id: int, reason: str) -> Case:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.legal_hold_at is not None:
        raise Conflict("The case is already under a legal hold.", code="already-held")
    case.legal_hold_at, case.legal_hold_reason = utcnow(), reason
    touch(case)
    record("case.hold_placed", actor=actor, object_type="case", object_id=case.id)
    db.session.commit()
    return case


def release_hold(*, actor: Principal, case_id: int) -> Case:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.legal_hold_at is None:
        raise Conflict("The case is not under a legal hold.", code="not-held")
    case.legal_hold_at, case.legal_hold_reason = None, None
    touch(case)
    record("case.hold_released", actor=actor, object_type="case", object_id=case.id)
    db.session.commit()
    return case


# --- policy changes --------------------------------------------------------------------------

def recompute_for_line(line: ServiceLine, *, default_case_days: int, default_recording_days: int) -> tuple[int, int]:
    """After a policy change: new retention dates for the line's closed cases and recordings."""
    case_days = line.case_retention_days or default_case_days
    recording_days = line.recording_retention_days or default_recording_days
    cases = db.session.scalars(select(Case).where(Case.service_line_id == line.id, Case.status == CLOSED,
                                                  Case.closed_at.is_not(None)))
    changed_cases = 0
    for case in cases:
        case.retention_until = case.closed_at + timedelta(days=case_days)
        changed_cases += 1
    recordings = db.session.scalars(select(Recording).where(recording_line() == line.id))
    changed_recordings = 0
    for recording in recordings:
        recording.retention_until = recording.recorded_at + timedelta(days=recording_days)
        changed_recordings += 1
    return changed_cases, changed_recordings


# --- the purge -------------------------------------------------------------------------------

def _expired_cases(as_of: datetime):
    return select(Case.id).where(Case.status == CLOSED, Case.retention_until.is_not(None),
                                 Case.retention_until <= as_of, Case.legal_hold_at.is_(None))


def _expired_recordings(as_of: datetime):
    held = exists().where(Case.id == Recording.case_id, Case.legal_hold_at.is_not(None))
    return select(Recording.id).where(Recording.retention_until.is_not(None), Recording.retention_until <= as_of,
                                      ~held)


def purge(*, as_of: datetime | None = None, dry_run: bool = False, storage: FileStorage,
          actor: Principal | None = None, batch_size: int = BATCH_SIZE, audit_retention_days: int | None = None,
          region: str = "FI", progress: Callable[[PurgeReport], None] | None = None,
          provider_deleter=None) -> PurgeReport:
    """``provider_deleter``, when given, also deletes the phone system's copy of each purged
    recording (its ``delete(provider_sid)``); a failure there is logged and the purge goes on."""
    as_of = as_of or utcnow()
    report = PurgeReport(as_of=as_of, dry_run=dry_run)
    report.held_cases_skipped = db.session.scalar(select(func.count()).select_from(Case).where(
        Case.status == CLOSED, Case.retention_until <= as_of, Case.legal_hold_at.is_not(None))) or 0
    if dry_run:
        _count_only(report, as_of)
    else:
        _purge_recordings(report, as_of, storage, batch_size, progress, provider_deleter)
        _purge_cases(report, as_of, storage, batch_size, progress, _customers_under_request(region),
                     provider_deleter)
        if audit_retention_days:
            from ..audit.chain import purge_before, seal

            # The audit log's clock is the real one: a purge run "as of" a later time must not
            # take the record of officials' own actions with it.
            seal()
            report.audit_entries = purge_before(utcnow() - timedelta(days=audit_retention_days))
    if not dry_run:
        for kind in ("cases", "recordings", "customers", "files", "audit_entries"):
            PURGED.labels(kind).inc(getattr(report, kind))
    # Written after the audit purge, so this entry always survives it.
    record("retention.purged" if not dry_run else "retention.dry_run", actor=actor,
           details={"as_of": as_of.isoformat(), **report.counts()})
    db.session.commit()
    log.info("retention purge%s as of %s: %s", " (dry run)" if dry_run else "", as_of.isoformat(), report.counts())
    return report


def _count_only(report: PurgeReport, as_of: datetime) -> None:
    case_ids = select(_expired_cases(as_of).subquery().c.id)
    report.cases = db.session.scalar(select(func.count()).select_from(_expired_cases(as_of).subquery())) or 0
    report.attachments = db.session.scalar(select(func.count()).select_from(Attachment)
                                           .where(Attachment.case_id.in_(case_ids))) or 0
    report.recordings = db.session.scalar(select(func.count()).select_from(Recording).where(
        (Recording.case_id.in_(case_ids)) | Recording.id.in_(select(_expired_recordings(as_of).subquery().c.id))
    )) or 0
    left = select(Case.customer_id).where(Case.id.in_(case_ids), Case.customer_id.is_not(None))
    kept = select(Case.customer_id).where(Case.id.not_in(case_ids), Case.customer_id.is_not(None))
    report.customers = db.session.scalar(select(func.count()).select_from(Customer).where(
        Customer.id.in_(left), Customer.id.not_in(kept))) or 0


def _delete_files(report: PurgeReport, storage: FileStorage, keys: list[str]) -> None:
    for key in keys:
        if not storage.exists(key):
            report.missing_files.append(key)
        storage.delete(key)
        report.files += 1


def _delete_provider_copies(report: PurgeReport, deleter, sids: list[str]) -> None:
    if deleter is None:
        return
    for sid in sids:
        try:
            deleter.delete(sid)
            report.provider_copies += 1
        except Exception as failure:  # the provider keeps its copy; ours is gone either way
            log.warning("could not delete the phone system's copy of a recording: %s", type(failure).__name__)


def _purge_recordings(report, as_of, storage, batch_size, progress, deleter=None) -> None:
    while True:
        rows = db.session.execute(_expired_recordings(as_of).add_columns(Recording.storage_key, Recording.provider_sid)
                                  .order_by(Recording.id).limit(batch_size)
                                  .with_for_update(skip_locked=True)).all()
        if not rows:
            return
        db.session.execute(delete(Recording).where(Recording.id.in_([r[0] for r in rows])))
        db.session.commit()
        _delete_files(report, storage, [r[1] for r in rows if r[1]])
        _delete_provider_copies(report, deleter, [r[2] for r in rows])
        report.recordings += len(rows)
        report.batches += 1
        if progress:
            progress(report)
        if len(rows) < batch_size:
            return


def _customers_under_request(region: str) -> set[int]:
    """Customers an open data-subject request is about: kept even with no case left."""
    from ..privacy.logic import find_customers
    from ..privacy.models import OPEN, PrivacyRequest

    ids: set[int] = set()
    for request in db.session.scalars(select(PrivacyRequest).where(PrivacyRequest.status == OPEN)):
        ids.update(c.id for c in find_customers(request.subject or {}, region))
    return ids


def _purge_cases(report, as_of, storage, batch_size, progress, keep_customers: set[int], deleter=None) -> None:
    row_triggers_off = may_switch_off_row_triggers()
    after = 0
    while True:
        # Locked, so a hold or a reopening committed meanwhile is seen before anything goes.
        # Onwards from the last batch: the index entries of the cases deleted before stay until
        # vacuum, and scanning from the start would walk all of them again for every batch. A
        # case skipped because another transaction held it waits for the next run.
        ids = list(db.session.scalars(_expired_cases(as_of).where(Case.id > after).order_by(Case.id)
                                      .limit(batch_size).with_for_update(skip_locked=True)))
        if not ids:
            return
        after = ids[-1]
        # What goes with the batch outside the database: counted, and deleted after the commit.
        attachment_keys = list(db.session.scalars(select(Attachment.storage_key)
                                                  .where(among(Attachment.case_id, ids))))
        recordings = db.session.execute(select(Recording.storage_key, Recording.provider_sid)
                                        .where(among(Recording.case_id, ids))).all()
        report.attachments += len(attachment_keys)
        report.recordings += len(recordings)
        customer_ids = set(db.session.scalars(select(Case.customer_id).where(
            among(Case.id, ids), Case.customer_id.is_not(None)))) - keep_customers
        if row_triggers_off:
            switch_off_row_triggers()  # until this batch commits
        delete_cases(ids)
        report.customers += delete_customers_left_without_a_case(customer_ids)
        db.session.commit()
        _delete_files(report, storage, [key for key in attachment_keys + [key for key, _ in recordings] if key])
        _delete_provider_copies(report, deleter, [sid for _, sid in recordings])
        report.cases += len(ids)
        report.batches += 1
        if progress:
            progress(report)
        if len(ids) < batch_size:
            return


@events.retention_policy_changed.connect
def _on_policy_change(line: ServiceLine, **_) -> None:
    from flask import current_app

    recompute_for_line(line, default_case_days=current_app.config["CASE_RETENTION_DAYS"],
                       default_recording_days=current_app.config["RECORDING_RETENTION_DAYS"])
