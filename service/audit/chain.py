"""The audit log's hash chain: sealing and verifying.

Entries are inserted without a hash, so writing the audit log never queues every request
behind one lock. The sealer (every minute, and before a verification) puts entries older than
a small margin into the chain in id order: each gets the next position, the previous entry's
hash, and a SHA-256 over that hash and its own content. Changing a sealed entry breaks its
hash; removing one leaves a gap in the positions; both are found by ``verify``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from ..db_types import utcnow
from ..extensions import db
from .models import AuditChainHead, AuditEntry

GENESIS = "0" * 64
SEAL_MARGIN = timedelta(seconds=5)


def entry_digest(entry: AuditEntry, prev_hash: str) -> str:
    content = {
        "id": entry.id, "seq": entry.seq, "at": entry.at.isoformat(), "actor_type": entry.actor_type,
        "actor_id": entry.actor_id, "actor_role": entry.actor_role, "action": entry.action,
        "object_type": entry.object_type, "object_id": entry.object_id, "request_id": entry.request_id,
        "purpose": entry.purpose, "details": entry.details,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _head() -> AuditChainHead:
    head = db.session.scalar(select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update())
    if head is None:
        head = AuditChainHead(id=1, last_seq=0, last_hash=GENESIS)
        db.session.add(head)
        db.session.flush()
    return head


def seal(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Chain the unsealed entries older than the margin; returns how many were sealed."""
    cutoff = (now or utcnow()) - SEAL_MARGIN
    sealed = 0
    while True:
        head = _head()
        entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.seq.is_(None), AuditEntry.at <= cutoff)
                                          .order_by(AuditEntry.id).limit(batch_size)))
        for entry in entries:
            entry.seq = head.last_seq + 1
            entry.prev_hash = head.last_hash
            entry.entry_hash = entry_digest(entry, head.last_hash)
            head.last_seq, head.last_hash = entry.seq, entry.entry_hash
        db.session.commit()
        sealed += len(entries)
        if len(entries) < batch_size:
            return sealed


@dataclass(frozen=True)
class Verification:
    checked: int
    broken_at_seq: int | None = None
    entry_id: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at_seq is None


def verify(*, batch_size: int = 5000) -> Verification:
    """Walk the sealed chain from its checkpoint and report the first broken link."""
    head = db.session.get(AuditChainHead, 1)
    start = head.checkpoint_seq if head is not None else 0
    expected_seq, prev_hash, checked = start + 1, (head.checkpoint_hash if head and start else GENESIS), 0
    last_seen = start
    while True:
        entries = list(db.session.scalars(select(AuditEntry).where(AuditEntry.seq > last_seen)
                                          .order_by(AuditEntry.seq).limit(batch_size)))
        for entry in entries:
            if entry.seq != expected_seq:
                return Verification(checked, expected_seq, None, f"entry {expected_seq} of the chain is missing")
            if entry.prev_hash != prev_hash:
                return Verification(checked, entry.seq, entry.id, "it does not follow the entry before it")
            if entry_digest(entry, prev_hash) != entry.entry_hash:
                return Verification(checked, entry.seq, entry.id, "its content was changed after sealing")
            prev_hash, expected_seq, last_seen = entry.entry_hash, expected_seq + 1, entry.seq
            checked += 1
        db.session.rollback()
        if len(entries) < batch_size:
            break
    head = db.session.get(AuditChainHead, 1)
    if head is not None and head.last_seq != expected_seq - 1:
        return Verification(checked, expected_seq, None, "the newest sealed entries are missing")
    return Verification(checked)


def purge_before(cutoff: datetime) -> int:
    """Delete sealed entries older than ``cutoff`` (the audit log's own retention) and move the
    checkpoint past them, so the rest of the chain still verifies."""
    head = _head()
    last = db.session.scalar(select(AuditEntry).where(AuditEntry.seq.is_not(None), AuditEntry.at < cutoff)
                             .order_by(AuditEntry.seq.desc()).limit(1))
    if last is None:
        db.session.rollback()
        return 0
    removed = db.session.execute(delete(AuditEntry).where(AuditEntry.seq.is_not(None),
                                                          AuditEntry.seq <= last.seq)).rowcount
    head.checkpoint_seq, head.checkpoint_hash = last.seq, last.entry_hash
    db.session.commit()
    return removed
