from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db_types import UTCDateTime, utcnow
from ..extensions import db

CHANNELS = ("email", "sms", "chat", "phone", "webform", "internal")
INBOUND_CHANNELS = ("email", "sms", "chat", "phone", "webform")
LANGUAGES = ("fi", "sv", "en")
DIRECTIONS = ("inbound", "outbound")

NEW, OPEN, WAITING, FORWARDED, CLOSED = "new", "open", "waiting", "forwarded", "closed"
STATUSES = (NEW, OPEN, WAITING, FORWARDED, CLOSED)


# Namespaces of Contact.external_id: providers and integrations (their ids are how replays
# are recognised), and ids an official typed in.
PROVIDER_IDS = "provider"
HAND_LOGGED_IDS = "hand"

class Case(db.Model):
    __tablename__ = "case"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Derived from the id after insert ("2026-000123"), so no counter row serialises intake.
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    service_line_id: Mapped[int] = mapped_column(ForeignKey("service_line.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customer.id"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=NEW)
    subject: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(2))
    topic: Mapped[str | None] = mapped_column(String(200))
    question: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The clock of a case nobody has closed: it is purged when its line's case period has
    # passed since this moment (service.retention), so an untouched case still ends.
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the case is closed (closed_at plus its line's period); NULL while it is open.
    retention_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A legal hold keeps the case and its recordings from the purge while it lasts.
    legal_hold_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    # The anonymous statistics fact counting this case (service.stats). It outlives the case;
    # the link runs only this way, so nothing leads back from the fact once the case is gone.
    stats_fact_id: Mapped[int | None] = mapped_column(ForeignKey("stats_case_fact.id"))
    # An email that named another case (its reference, or one of its Message-IDs) from someone
    # who is not that case's customer gets a case of its own, linked to the named one for an
    # official to look at.
    linked_case_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="SET NULL"))
    # Set on a case merged into another (service/cases/merging.py): everything it held moved to
    # that case, and this row stays behind only so its reference still threads there and the
    # merge can be undone. It is hidden from every list and goes with the case it points at.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"))
    # Service clocks (service.clocks), counted in working time on the line's calendar. While a
    # clock runs its due time is set; while the case waits on the customer the due times are
    # null and *_left_seconds hold the working time that was left when it paused.
    first_response_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The earlier of the two running due times: what the queue sorts on.
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The moment the running clocks last started or resumed; *_left_seconds count from it.
    clock_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    clock_paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_left_seconds: Mapped[int | None]
    resolution_left_seconds: Mapped[int | None]
    first_response_target_seconds: Mapped[int | None]
    resolution_target_seconds: Mapped[int | None]
    resolution_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the clock stops: whether the target was met, and the working time it took.
    first_response_met: Mapped[bool | None]
    resolution_met: Mapped[bool | None]
    first_response_working_seconds: Mapped[int | None]
    resolution_working_seconds: Mapped[int | None]

    service_line: Mapped["ServiceLine"] = relationship()  # noqa: F821
    customer: Mapped["Customer | None"] = relationship()  # noqa: F821
    assignee: Mapped["Official | None"] = relationship(foreign_keys=[assignee_id])  # noqa: F821
    stats_fact: Mapped["CaseFact | None"] = relationship()  # noqa: F821
    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="case", cascade="all, delete-orphan",
        order_by="(Contact.occurred_at, Contact.id)",
    )
    notes: Mapped[list["Note"]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="(Note.created_at, Note.id)"
    )
    attachments: Mapped[list["Attachment"]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="Attachment.id"
    )
    clock_events: Mapped[list["ClockEvent"]] = relationship(  # noqa: F821
        back_populates="case", cascade="all, delete-orphan", passive_deletes=True,
        order_by="(ClockEvent.at, ClockEvent.id)",
    )

    def deletion_due(self, default_days: int) -> datetime | None:
        """When the purge deletes this case if nothing more happens on it (service.retention):
        its retention date once closed, else its line's period after its last activity; never
        while under a legal hold."""
        if self.legal_hold_at is not None:
            return None
        if self.status == CLOSED:
            return self.retention_until
        return self.last_activity_at + timedelta(days=self.service_line.case_retention_days or default_days)

    __table_args__ = (
        Index("ix_case_status_created", "status", "created_at"),
        # The adviser's queue: open cases of one channel, newest first, and their count
        # (an index-only scan; bench/queue.py). Partial like the next one: every list leaves
        # merged cases out, and an index holding them cannot answer that count alone (it
        # would read each case's row to see merged_into_id).
        Index("ix_case_status_channel_created", "status", "channel", "created_at", "id",
              postgresql_where=text("merged_into_id IS NULL"), sqlite_where=text("merged_into_id IS NULL")),
        Index("ix_case_created_at", "created_at"),
        Index("ix_case_updated_at", "updated_at"),
        Index("ix_case_channel_created", "channel", "created_at"),
        # An adviser's lines: their list and its count, the count from the index alone (channel
        # and merged_into_id are keys so that it need not read each case's row).
        Index("ix_case_line_status", "service_line_id", "status", "channel", "merged_into_id"),
        Index("ix_case_assignee_status", "assignee_id", "status"),
        Index("ix_case_language", "language"),
        # The purge's look for cases left open past their line's period.
        Index("ix_case_line_activity", "service_line_id", "last_activity_at"),
        # Threading looks up a customer's open case on one line and channel; whether a
        # line-limited official sees a customer reads each of their cases' line and merge here
        # (index-only: customers.logic._visible).
        Index("ix_case_customer_thread", "customer_id", "service_line_id", "channel", "status", "merged_into_id"),
        # The queue sorted by what is due next (walked in order, so a page reads a few rows
        # whatever the filters), and the breached and due-soon counts. Not partial on a due
        # time: the queue lists the cases without a running clock too, last, and such an index
        # could not serve that order; merged cases, which no list or count shows, are left out.
        # Status, channel and line trail the order: a filter on one of each is checked on the
        # index entry, so the cases a page skips (nine in ten for open SMS) cost no table row.
        Index("ix_case_next_due", "next_due_at", "id", "status", "channel", "service_line_id",
              postgresql_where=text("merged_into_id IS NULL"), sqlite_where=text("merged_into_id IS NULL")),
        # Looked up only by a value (the purge's closed cases past their date; the cases merged
        # into one), so an open, unmerged case, as every case intake writes is, has no entry:
        # each touch of a case writes every index it is in (no index here can let it be HOT).
        Index("ix_case_retention_until", "retention_until",
              postgresql_where=text("retention_until IS NOT NULL"), sqlite_where=text("retention_until IS NOT NULL")),
        Index("ix_case_merged_into_id", "merged_into_id",
              postgresql_where=text("merged_into_id IS NOT NULL"), sqlite_where=text("merged_into_id IS NOT NULL")),
        # A purged case's id, and so its reference, is never given to a new case (see
        # migration a32_case_ids_never_reused); PostgreSQL's sequence never reuses one anyway.
        {"sqlite_autoincrement": True},
    )


class Contact(db.Model):
    """One inbound or outbound contact on a case, with the timestamps of the contact itself."""

    __tablename__ = "contact"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    # The provider's id (MessageSid, Message-ID, CallSid): a replayed webhook finds its contact.
    external_id: Mapped[str | None] = mapped_column(String(255))
    # Whose namespace external_id is in: an id an official logs by hand is never the key a
    # provider's message is matched by, so no one can claim a provider's id in advance.
    external_id_source: Mapped[str] = mapped_column(String(8), default=PROVIDER_IDS,
                                                    server_default=PROVIDER_IDS)
    sender: Mapped[str | None] = mapped_column(String(254))
    sender_name: Mapped[str | None] = mapped_column(String(200))
    recipient: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str | None] = mapped_column(String(500))
    body: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(2))
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queue_seconds: Mapped[int | None]
    duration_seconds: Mapped[int | None]
    # Calls: the provider's last word on the call (ringing, in-progress, completed, no-answer...).
    call_status: Mapped[str | None] = mapped_column(String(20))
    # Calls: whether the line's recording policy chose to record this call.
    recording_planned: Mapped[bool | None]
    # Calls through the queue: the official's own call leg that took this call off the queue.
    # The phone system reports the recording made on that leg under the leg's id.
    agent_call_sid: Mapped[str | None] = mapped_column(String(64))
    # When the contact happened (received_at or started_at); orders the timeline.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    handled_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # As on Case: the anonymous fact that counts this contact and outlives it.
    stats_fact_id: Mapped[int | None] = mapped_column(ForeignKey("stats_contact_fact.id"))

    case: Mapped[Case] = relationship(back_populates="contacts")
    stats_fact: Mapped["ContactFact | None"] = relationship()  # noqa: F821
    handled_by: Mapped["Official | None"] = relationship(foreign_keys=[handled_by_id])  # noqa: F821

    __table_args__ = (
        UniqueConstraint("channel", "external_id_source", "external_id"),
        Index("ix_contact_occurred_at", "occurred_at"),
        # Calls still ringing or waiting: what an official's phone client takes next. Only
        # unfinished calls are in it, so it stays small however long the contact table grows.
        Index("ix_contact_unfinished_call", "started_at",
              sqlite_where=text("channel = 'phone' AND answered_at IS NULL AND ended_at IS NULL"),
              postgresql_where=text("channel = 'phone' AND answered_at IS NULL AND ended_at IS NULL")),
        # Looked up by a call leg's id only; messages have none.
        Index("ix_contact_agent_call_sid", "agent_call_sid",
              postgresql_where=text("agent_call_sid IS NOT NULL"), sqlite_where=text("agent_call_sid IS NOT NULL")),
    )


class Note(db.Model):
    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="notes")
    author: Mapped["Official | None"] = relationship()  # noqa: F821


class Attachment(db.Model):
    """File metadata; the bytes live in file storage under ``storage_key``. A file still held
    by a provider (``source_url``) has no bytes here yet."""

    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int | None]
    sha256: Mapped[str | None] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    source_url: Mapped[str | None] = mapped_column(String(1000))
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The malware scan (service/cases/scanning.py): None while there are no bytes here.
    scan_status: Mapped[str | None] = mapped_column(String(16))
    # The signature an infected file matched, or why a file could not be scanned.
    scan_detail: Mapped[str | None] = mapped_column(String(255))
    scanned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Scanner errors about this file so far; past SCAN_MAX_ATTEMPTS it is unscannable.
    scan_attempts: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    # A pending file is not tried before this time (a retry's wait, or a worker's lease).
    scan_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An administrator let an unscannable file be opened, and why.
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    release_reason: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index("ix_attachment_scan_status", "scan_status", "scan_due_at"),)

    case: Mapped[Case] = relationship(back_populates="attachments")


class SearchEntry(db.Model):
    """One searchable text of a case: its subject, question and answer; its customer's name,
    phone and email; a contact; a note; an attachment's file name.

    Written only by database triggers (migration f21_full_text_search), in the statement that
    changes the text, so every write path keeps the index and a deleted row takes its text
    with it. ``tsv`` is the text stemmed by the case's language (PostgreSQL); SQLite indexes
    ``body`` in the FTS5 table ``search_fts`` instead and leaves ``tsv`` empty.
    """

    __tablename__ = "search_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    # case, customer, contact, note or attachment; source_id is that row's id (the case's for
    # the first two).
    kind: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[int]
    body: Mapped[str] = mapped_column(Text)
    tsv: Mapped[str | None] = mapped_column(TSVECTOR().with_variant(Text(), "sqlite"))

    __table_args__ = (
        UniqueConstraint("kind", "source_id"),
        # The customers' entries are searched through the customer table (x32_customer_name_search).
        Index("ix_search_entry_tsv", "tsv", postgresql_using="gin",
              postgresql_where=text("kind <> 'customer'")).ddl_if(dialect="postgresql"),
    )



def in_the_models(dialect_name: str):
    """Alembic's ``include_object`` for a database of ``dialect_name``: leaves out what only the
    search migration knows of. The FTS5 table and its shadow tables have no model (SQLAlchemy
    cannot describe a virtual table), the GIN index exists on PostgreSQL only, the trigram
    index only where pg_trgm could be installed, and the customers' generated text column and
    its index exist on PostgreSQL only, for the search alone."""
    def include(obj, name, type_, reflected, compare_to) -> bool:
        if type_ == "table" and name and name.startswith("search_fts"):
            return False
        if type_ == "index" and name == "ix_search_entry_tsv":
            return dialect_name == "postgresql"
        if type_ == "index" and name == "ix_search_entry_trgm":
            return False  # only where pg_trgm could be installed (the migration says why)
        if (type_ == "column" and name == "search_tsv") or (type_ == "index" and name == "ix_customer_search_tsv"):
            return False  # the customers' text, on PostgreSQL only (x32_customer_name_search)
        return True
    return include


MERGE, SPLIT = "merge", "split"


class CaseMerge(db.Model):
    """One merge or split: which rows moved from which case to which, and who did it. What a
    merge moved is what its undo moves back (rows written on the survivor since stay there)."""

    __tablename__ = "case_merge"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    # A merge: the merged case; a split: the case the contacts were taken from.
    source_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    # A merge: the surviving case; a split: the new case.
    target_id: Mapped[int] = mapped_column(ForeignKey("case.id", ondelete="CASCADE"), index=True)
    # Table name -> ids of the rows that moved (ids only: no personal data is copied here).
    moved: Mapped[dict] = mapped_column(JSON)
    by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("official.id", ondelete="SET NULL"))
