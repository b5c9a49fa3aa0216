"""Retention: legal holds, policy changes, and the purge.

Every case ends, whether or not anyone closes it:
- a closed case when its ``retention_until`` (closing plus its line's period) has passed;
- a case left open when its line's period has passed since its last activity
  (``last_activity_at``: a contact in or out, a note, any change). Nothing closes it or
  backdates anything; the purge looks at both clocks.
A recording has its own clock (``retention_until``, from the recording) and outlives its case
when that clock runs longer: the case goes, the recording stays detached until its date.

What the purge must never delete:
- a case whose clock has not run out, or any case under legal hold, or any recording of such
  a case;
- a recording before its own retention_until;
- a customer who still has a case, or whom an open data-subject request is about;
- the audit log (it has its own period, handled by ``audit.chain.purge_before``) and anonymous
  statistics.
Everything else past its date goes: the case with its contacts, notes, attachments, chats,
disclosures, feedback and outbound messages (``deletion.delete_cases``), the files of its
attachments and recordings, customers left with no case, and inbound messages that could
never be processed. The provider's copies (Twilio's recordings and messages) are queued for
deletion in the same transaction (``ProviderCopy``) and deleted after it. Work is done in
batches, one transaction each, so an interrupted run loses nothing and a rerun carries on;
each run writes one audit entry with counts only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from typing import Mapping

from sqlalchemy import and_, delete, exists, func, insert, or_, select

from .. import events

from ..audit.logic import record
from ..auth.permissions import Principal
from ..cases.logic import load_case, touch
from ..cases.models import CLOSED, Attachment, Case, Contact
from ..customers.models import Customer
from ..db_types import utcnow
from ..errors import Conflict
from ..extensions import db
from ..lines.models import ServiceLine
from ..intake.models import InboundEnvelope
from ..metrics import PURGED
from ..outbox.models import OutboxMessage
from ..privacy.retention import purge_expired_privacy_records
from ..recordings.models import Recording
from ..storage import FileStorage
from ..sql import among
from .deletion import (delete_cases, delete_customers_left_without_a_case, detach_or_delete_recordings, has_no_case,
                       may_switch_off_row_triggers, switch_off_row_triggers)
from .models import ProviderCopy

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
    # Recordings whose case went first: kept, detached, until their own date.
    recordings_detached: int = 0
    customers: int = 0
    envelopes: int = 0
    files: int = 0
    provider_copies: int = 0
    held_cases_skipped: int = 0
    batches: int = 0
    # Files the rows named that were already gone from storage: the storage and the database
    # disagree, which an operator should look into (a restored backup, a hand deletion).
    files_missing: int = 0
    # Side tables on their own periods (service/privacy/retention.py), by table.
    privacy: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict:
        return {"cases": self.cases, "audit_entries": self.audit_entries, "attachments": self.attachments, "recordings": self.recordings,
                "recordings_detached": self.recordings_detached, "envelopes": self.envelopes,
                "customers": self.customers, "files": self.files, "files_missing": self.files_missing, "provider_copies": self.provider_copies, "held_cases_skipped": self.held_cases_skipped,
                **self.privacy}


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

def recompute_for_line(line: ServiceLine, *, default_case_days: int, default_recording_days: int) -> None:
    """After a policy change: new retention dates for the line's closed cases and recordings.

    A closed case another case was merged into is recounted too when only the merged case is on
    this line, and keeps the latest clock of the two (``cases.logic.retention_date``)."""
    from ..cases.logic import retention_date
    from ..cases.models import MERGE, CaseMerge

    case_days = line.case_retention_days or default_case_days
    recording_days = line.recording_retention_days or default_recording_days
    # Merges are few: only the cases a merge touched need the merged clocks looked up.
    touched_by_a_merge = set(db.session.scalars(select(CaseMerge.target_id).where(CaseMerge.kind == MERGE))) | set(
        db.session.scalars(select(CaseMerge.source_id).where(CaseMerge.kind == MERGE,
                                                             CaseMerge.undone_at.is_not(None))))
    survivors = select(Case.merged_into_id).where(Case.service_line_id == line.id, Case.merged_into_id.is_not(None))
    cases = db.session.scalars(select(Case).where(
        or_(Case.service_line_id == line.id, Case.id.in_(survivors)), Case.status == CLOSED,
        Case.closed_at.is_not(None)))
    for case in cases:
        case.retention_until = (retention_date(case, closed_at=case.closed_at, default_days=default_case_days)
                                if case.id in touched_by_a_merge else case.closed_at + timedelta(days=case_days))
    # By the recording's own line: one whose case is already gone follows the policy too.
    for recording in db.session.scalars(select(Recording).where(Recording.service_line_id == line.id)):
        recording.retention_until = recording.recorded_at + timedelta(days=recording_days)


# --- the purge -------------------------------------------------------------------------------

@dataclass(frozen=True)
class PurgeSettings:
    """What the purge needs from the configuration and the composition root."""

    default_case_days: int = 365
    privacy_request_days: int = 3 * 365
    audit_retention_days: int | None = None
    region: str = "FI"
    # Per kind of provider copy ("recording", "message"): an object whose ``delete(sid)``
    # deletes the provider's copy, treating "already gone" as done.
    provider_deleters: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_app(cls, app) -> "PurgeSettings":
        return cls(default_case_days=app.config["CASE_RETENTION_DAYS"],
                   privacy_request_days=app.config["PRIVACY_REQUEST_RETENTION_DAYS"],
                   audit_retention_days=app.config["AUDIT_RETENTION_DAYS"],
                   region=app.config["DEFAULT_PHONE_REGION"],
                   provider_deleters=app.extensions.get("provider_copy_deleters", {}))


def _case_periods(default_case_days: int) -> list[tuple[int, int]]:
    """(line id, days) for every line: a case's period is its line's, else the default."""
    return [(line_id, days or default_case_days)
            for line_id, days in db.session.execute(select(ServiceLine.id, ServiceLine.case_retention_days))]


def _expired_cases(as_of: datetime, periods: list[tuple[int, int]]):
    closed_and_past = and_(Case.status == CLOSED, Case.retention_until.is_not(None), Case.retention_until <= as_of)
    # One condition per line: lines are few, and each uses ix_case_line_activity.
    left_open_and_past = [and_(Case.service_line_id == line_id, Case.status != CLOSED,
                               Case.last_activity_at <= as_of - timedelta(days=days))
                          for line_id, days in periods]
    # A merged case goes with the case it was merged into (service/cases/merging.py), never on
    # a clock of its own: its reference must thread there as long as that case lives.
    return select(Case.id).where(or_(closed_and_past, *left_open_and_past), Case.merged_into_id.is_(None))


def _expired_recordings(as_of: datetime):
    held = exists().where(Case.id == Recording.case_id, Case.legal_hold_at.is_not(None))
    return select(Recording.id).where(Recording.retention_until.is_not(None), Recording.retention_until <= as_of,
                                      ~held)


def purge(*, as_of: datetime | None = None, dry_run: bool = False, storage: FileStorage,
          actor: Principal | None = None, batch_size: int = BATCH_SIZE, settings: PurgeSettings | None = None,
          progress: Callable[[PurgeReport], None] | None = None) -> PurgeReport:
    settings = settings or PurgeSettings()
    as_of = as_of or utcnow()
    report = PurgeReport(as_of=as_of, dry_run=dry_run)
    expired = _expired_cases(as_of, _case_periods(settings.default_case_days))
    report.held_cases_skipped = db.session.scalar(select(func.count()).select_from(
        expired.where(Case.legal_hold_at.is_not(None)).subquery())) or 0
    expired = expired.where(Case.legal_hold_at.is_(None))
    if dry_run:
        _count_only(report, as_of, expired)
        report.customers += len(set(db.session.scalars(select(Customer.id).where(has_no_case())))
                                - _customers_under_request(settings.region))
    else:
        kinds = set(settings.provider_deleters)
        _purge_recordings(report, as_of, storage, batch_size, progress, kinds)
        under_request = _customers_under_request(settings.region)
        _purge_cases(report, as_of, expired, storage, batch_size, progress, under_request, kinds)
        report.customers += _purge_customers_no_longer_under_request(under_request, batch_size)
        report.envelopes = _purge_stale_envelopes(as_of, settings.default_case_days)
        if settings.audit_retention_days:
            from ..audit.chain import purge_before, seal

            # The audit log's clock is the real one: a purge run "as of" a later time must not
            # take the record of officials' own actions with it.
            seal()
            report.audit_entries = purge_before(utcnow() - timedelta(days=settings.audit_retention_days))
    report.privacy = purge_expired_privacy_records(as_of=as_of, request_days=settings.privacy_request_days,
                                                   case_days=settings.default_case_days, dry_run=dry_run,
                                                   batch_size=batch_size)
    if not dry_run:
        for kind in ("cases", "recordings", "customers", "files", "audit_entries"):
            PURGED.labels(kind).inc(getattr(report, kind))
    # Written after the audit purge, so this entry always survives it.
    record("retention.purged" if not dry_run else "retention.dry_run", actor=actor,
           details={"as_of": as_of.isoformat(), **report.counts()})
    db.session.commit()
    if not dry_run:
        report.provider_copies = delete_provider_copies(settings.provider_deleters)
    log.info("retention purge%s as of %s: %s", " (dry run)" if dry_run else "", as_of.isoformat(), report.counts())
    if report.files_missing:
        # Counts only: a file's key may hold a customer's file name.
        log.warning("retention purge: %d files its rows named were already missing from storage", report.files_missing)
    return report


def _count_only(report: PurgeReport, as_of: datetime, expired) -> None:
    case_ids = select(expired.subquery().c.id)
    report.cases = db.session.scalar(select(func.count()).select_from(expired.subquery())) or 0
    report.attachments = db.session.scalar(select(func.count()).select_from(Attachment)
                                           .where(Attachment.case_id.in_(case_ids))) or 0
    report.recordings = db.session.scalar(select(func.count()).select_from(Recording).where(
        Recording.id.in_(select(_expired_recordings(as_of).subquery().c.id)))) or 0
    left = select(Case.customer_id).where(Case.id.in_(case_ids), Case.customer_id.is_not(None))
    kept = select(Case.customer_id).where(Case.id.not_in(case_ids), Case.customer_id.is_not(None))
    report.customers = db.session.scalar(select(func.count()).select_from(Customer).where(
        Customer.id.in_(left), Customer.id.not_in(kept))) or 0


def _delete_files(report: PurgeReport, storage: FileStorage, keys: list[str]) -> None:
    for key in keys:
        if not storage.exists(key):
            report.files_missing += 1
            continue
        storage.delete(key)
        report.files += 1


def _queue_provider_copies(kinds: set[str], kind: str, sids) -> None:
    """In the batch's transaction: the provider's copies of what it deletes, to delete there."""
    if kind not in kinds:
        return
    rows = [{"kind": kind, "provider_sid": sid} for sid in set(sids) if sid]
    if rows:
        db.session.execute(insert(ProviderCopy), rows)


def delete_provider_copies(deleters: Mapping[str, object], *, limit: int = 1000) -> int:
    """Delete the provider's copies that are due; a failure is tried again later with backoff.
    Returns how many were deleted. Run after each purge and by the sweepers."""
    if not deleters:
        return 0
    now = utcnow()
    due = db.session.scalars(select(ProviderCopy).where(ProviderCopy.next_attempt_at <= now,
                                                       ProviderCopy.kind.in_(list(deleters)))
                             .order_by(ProviderCopy.id).limit(limit)).all()
    deleted = 0
    for copy in due:
        try:
            deleters[copy.kind].delete(copy.provider_sid)
        except Exception as failure:  # noqa: BLE001 - any failure: the copy stays queued
            copy.attempts += 1
            copy.last_error = type(failure).__name__[:200]
            # The exponent's own cap only keeps the product in timedelta's range; the day is the cap.
            copy.next_attempt_at = utcnow() + min(timedelta(minutes=5) * 2 ** min(copy.attempts, 16), timedelta(days=1))
            log.warning("could not delete a provider's copy (%s), attempt %d: %s", copy.kind, copy.attempts,
                        type(failure).__name__)
        else:
            db.session.delete(copy)
            deleted += 1
        db.session.commit()
    return deleted


def _purge_recordings(report, as_of, storage, batch_size, progress, kinds: set[str]) -> None:
    while True:
        rows = db.session.execute(_expired_recordings(as_of).add_columns(Recording.storage_key, Recording.provider_sid)
                                  .order_by(Recording.id).limit(batch_size)
                                  .with_for_update(skip_locked=True)).all()
        if not rows:
            return
        db.session.execute(delete(Recording).where(Recording.id.in_([r[0] for r in rows])))
        _queue_provider_copies(kinds, "recording", [r[2] for r in rows])
        db.session.commit()
        _delete_files(report, storage, [r[1] for r in rows if r[1]])
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


def _purge_customers_no_longer_under_request(under_request: set[int], batch_size: int) -> int:
    """Customers whose last case went while a request about them was open were kept for its
    answer (every record of a linked person, too); once it is answered they go here, as they
    would have gone with their last case."""
    deleted, after = 0, 0
    while True:
        batch = list(db.session.scalars(select(Customer.id).where(
            Customer.id > after, has_no_case())
            .order_by(Customer.id).limit(batch_size)))
        if not batch:
            return deleted
        after = batch[-1]
        deleted += delete_customers_left_without_a_case(set(batch) - under_request)
        db.session.commit()
        if len(batch) < batch_size:
            return deleted


def _purge_cases(report, as_of, expired, storage, batch_size, progress, keep_customers: set[int],
                 kinds: set[str]) -> None:
    row_triggers_off = may_switch_off_row_triggers()
    after = 0
    while True:
        # Locked, so a hold, a reopening or new activity committed meanwhile is seen before
        # anything goes: the conditions are checked again on the locked rows.
        # Onwards from the last batch: the index entries of the cases deleted before stay until
        # vacuum, and scanning from the start would walk all of them again for every batch. A
        # case skipped because another transaction held it waits for the next run.
        ids = list(db.session.scalars(expired.where(Case.id > after).order_by(Case.id)
                                      .limit(batch_size).with_for_update(skip_locked=True)))
        if not ids:
            return
        after = ids[-1]
        # What goes with the batch outside the database: counted, and deleted after the commit.
        attachment_keys = list(db.session.scalars(select(Attachment.storage_key)
                                                  .where(among(Attachment.case_id, ids))))
        recordings, detached = detach_or_delete_recordings(ids, as_of)
        report.attachments += len(attachment_keys)
        report.recordings += len(recordings)
        report.recordings_detached += detached
        customer_ids = set(db.session.scalars(select(Case.customer_id).where(
            or_(among(Case.id, ids), among(Case.merged_into_id, ids)), Case.customer_id.is_not(None)))) - keep_customers
        _queue_provider_copies(kinds, "message", _provider_message_ids(ids))
        _queue_provider_copies(kinds, "recording", [sid for _, sid in recordings])
        if row_triggers_off:
            switch_off_row_triggers()  # until this batch commits
        delete_cases(ids)
        report.customers += delete_customers_left_without_a_case(customer_ids)
        db.session.commit()
        _delete_files(report, storage, [key for key in attachment_keys + [key for key, _ in recordings] if key])
        report.cases += len(ids)
        report.batches += 1
        if progress:
            progress(report)
        if len(ids) < batch_size:
            return


def _provider_message_ids(case_ids: list[int]) -> list[str]:
    """The provider's ids of the SMS of these cases, both ways. Which of them the provider
    knows is its deleter's business (a hand-logged contact's id means nothing there)."""
    inbound = db.session.scalars(select(Contact.external_id).where(
        among(Contact.case_id, case_ids), Contact.channel == "sms", Contact.external_id.is_not(None)))
    outbound = db.session.scalars(select(OutboxMessage.provider_id).where(
        among(OutboxMessage.case_id, case_ids), OutboxMessage.channel == "sms", OutboxMessage.provider_id.is_not(None)))
    return [*inbound, *outbound]


def _purge_stale_envelopes(as_of: datetime, default_case_days: int) -> int:
    """Inbound messages that could never become contacts hold a number and a text: they go
    when the shortest case period of any line has passed since they arrived."""
    shortest = min([days for _, days in _case_periods(default_case_days)] or [default_case_days])
    deleted = db.session.execute(delete(InboundEnvelope).where(
        InboundEnvelope.received_at <= as_of - timedelta(days=shortest))).rowcount or 0
    db.session.commit()
    return deleted


@events.retention_policy_changed.connect
def _on_policy_change(line: ServiceLine, **_) -> None:
    from flask import current_app

    recompute_for_line(line, default_case_days=current_app.config["CASE_RETENTION_DAYS"],
                       default_recording_days=current_app.config["RECORDING_RETENTION_DAYS"])
