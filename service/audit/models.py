from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, JSON
from sqlalchemy.orm import Mapped, mapped_column

from ..db_types import UTCDateTime, utcnow
from ..extensions import db


class AuditEntry(db.Model):
    """One read or change of personal data, or a security event. Rows are only ever inserted.

    Actor ids are plain integers, not foreign keys: an entry must outlive the official or key
    it names.
    """

    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))  # official | api_key | system
    actor_id: Mapped[int | None]
    actor_role: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[int | None]
    request_id: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict | None] = mapped_column(JSON)
    # The hash chain, filled in by the sealer: the entry's position, the hash of the entry
    # before it, and its own hash over both. Unsealed entries have none yet.
    seq: Mapped[int | None] = mapped_column(unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    entry_hash: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_entry_object", "object_type", "object_id"),
        Index("ix_audit_entry_actor", "actor_type", "actor_id"),
    )


class AuditChainHead(db.Model):
    """The end of the sealed chain. Only the sealer writes it, so it is no hot row."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64))
    # Where the chain starts after the oldest entries were purged: the last purged entry's
    # position and hash. The first kept entry must follow it.
    checkpoint_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    checkpoint_hash: Mapped[str | None] = mapped_column(String(64))
