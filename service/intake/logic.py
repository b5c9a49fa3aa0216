"""Receiving an inbound contact: one transaction from provider message to a contact on a case.

Idempotency rests on the unique (channel, external_id) constraint of contacts, not on a read
before the write: a replay racing the original loses at the insert, rolls back everything it
did, and answers with the contact the original stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .. import events
from ..audit.logic import record
from ..auth.permissions import Principal
from ..cases.attachments import check_file, store
from ..cases.logic import move, new_case, touch
from ..cases.merging import survivor_of
from ..cases.models import CLOSED, OPEN, PROVIDER_IDS, WAITING, Attachment, Case, Contact
from ..customers.logic import find_or_create
from ..customers.models import Customer
from ..customers.normalise import email_or_none, phone_or_none
from ..db_types import utcnow
from ..extensions import db
from ..lines.logic import line_for_address
from ..metrics import INTAKE
from ..storage import FileStorage
from . import batch
from .message import InboundMessage, shortened, without_nul

@dataclass(frozen=True)
class Interceptor:
    """A domain built on intake that may take a message before it becomes a contact (a
    feedback score answering our request is no new matter). ``take`` returns a result when it
    took the message; ``might_take`` answers without the database whether it could, so that
    batches look up only the few messages that could be taken (``batch.is_plain``)."""

    might_take: Callable[[InboundMessage], bool]
    take: Callable[[InboundMessage, "IntakeSettings", datetime], "IntakeResult | None"]


INTERCEPTORS: list[Interceptor] = []

REFERENCE_TAG = re.compile(r"\[#(\d{4}-\d{6,})\]")


@dataclass(frozen=True)
class IntakeSettings:
    region: str = "FI"
    thread_window_days: int = 30
    max_attachment_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_config(cls, config) -> "IntakeSettings":
        return cls(region=config["DEFAULT_PHONE_REGION"], thread_window_days=config["THREAD_WINDOW_DAYS"],
                   max_attachment_bytes=config["MAX_ATTACHMENT_BYTES"])


@dataclass(frozen=True)
class IntakeResult:
    contact_id: int | None
    case_id: int | None
    case_reference: str | None
    created_case: bool
    duplicate: bool
    # An automatic message (auto-reply, bounce) that named no case: nothing was stored.
    ignored: bool = False


def _existing(channel: str, external_id: str | None) -> IntakeResult | None:
    if not external_id:
        return None
    row = db.session.execute(
        select(Contact.id, Case.id, Case.reference).join(Case, Contact.case_id == Case.id)
        .where(Contact.channel == channel, Contact.external_id == external_id,
               Contact.external_id_source == PROVIDER_IDS)
    ).first()
    if row is None:
        return None
    return IntakeResult(contact_id=row[0], case_id=row[1], case_reference=row[2], created_case=False,
                        duplicate=True)


def _case_named_by_email(message: InboundMessage) -> Case | None:
    match = REFERENCE_TAG.search(message.subject or "")
    if match:
        # A merged case's reference (an old subject tag) leads to the case it was merged into.
        named = db.session.scalar(select(Case).where(Case.reference == match.group(1)))
        case = survivor_of(named) if named is not None else None
        if case is not None and case.status != CLOSED:
            return case
    if message.in_reply_to:
        case = db.session.scalar(
            select(Case).join(Contact, Contact.case_id == Case.id)
            .where(Contact.channel == "email", Contact.external_id.in_(message.in_reply_to),
                   Contact.external_id_source == PROVIDER_IDS,
                   Case.status != CLOSED)
            .order_by(Contact.id.desc()).limit(1)
        )
        if case is not None:
            return case
    return None


def _from_the_cases_customer(case: Case, *, phone: str | None, email: str | None) -> bool:
    """References are sequential and Message-IDs travel in forwarded mail: naming a case is no
    proof of being its customer. Only the customer's own address or number joins it."""
    # The customer of a case merged into this one joins it too: it was their matter.
    customers = [case.customer, *db.session.scalars(select(Customer).join(Case, Case.customer_id == Customer.id)
                                                     .where(Case.merged_into_id == case.id))]
    return any(customer is not None and ((email and customer.email == email) or (phone and customer.phone == phone))
               for customer in customers)


def _open_case_of(customer: Customer, *, line_id: int, channel: str, since: datetime) -> Case | None:
    return db.session.scalar(
        select(Case).where(Case.customer_id == customer.id, Case.service_line_id == line_id,
                           Case.channel == channel, Case.status != CLOSED, Case.merged_into_id.is_(None),
                           Case.last_activity_at >= since)
        .order_by(Case.last_activity_at.desc(), Case.id.desc()).limit(1)
    )


def receive(message: InboundMessage, *, actor: Principal | None, settings: IntakeSettings,
            storage: FileStorage, now: datetime | None = None,
            on_stored: Callable[[IntakeResult], None] | None = None) -> IntakeResult:
    """Store an inbound contact. ``on_stored`` adds the caller's own rows (e.g. a chat) in the
    same transaction, so they commit or roll back with the contact."""
    message = without_nul(message)
    replay = _existing(message.channel, message.external_id)
    if replay is not None:
        return replay
    now = now or utcnow()
    for interceptor in INTERCEPTORS:
        taken = interceptor.take(message, settings, now)
        if taken is not None:
            return taken
    # Refuse bad files before anything is written: no half-stored contact.
    files = [(*check_file(a.filename, a.content_type, a.content, max_bytes=settings.max_attachment_bytes,
                          field=f"attachments.{index}"), a.content)
             for index, a in enumerate(message.attachments)]

    stored_keys: list[str] = []
    try:
        if batch.is_plain(message, INTERCEPTORS):
            result = batch.store_plain([message], actor=actor, settings=settings, now=now)[0]
        else:
            result = _store(message, actor=actor, settings=settings, storage=storage, now=now,
                            files=files, stored_keys=stored_keys)
        if on_stored is not None and not result.ignored:
            on_stored(result)
        db.session.commit()
        if not result.ignored:
            INTAKE.labels(message.channel).inc()
        return result
    except IntegrityError:
        db.session.rollback()
        for key in stored_keys:
            storage.delete(key)
        replay = _existing(message.channel, message.external_id)
        if replay is None:
            raise
        return replay
    except BaseException:
        db.session.rollback()
        for key in stored_keys:
            storage.delete(key)
        raise


def _store(message: InboundMessage, *, actor, settings, storage, now, files, stored_keys) -> IntakeResult:
    phone = phone_or_none(message.sender.phone, settings.region) if message.sender.phone else None
    email = email_or_none(message.sender.email) if message.sender.email else None
    line = line_for_address(message.channel, message.to, settings.region)
    case = _case_named_by_email(message) if message.channel == "email" else None
    named_by_a_stranger = None
    if case is not None and not _from_the_cases_customer(case, phone=phone, email=email):
        # A case of its own, linked to the one it named, for an official to merge if it belongs.
        case, named_by_a_stranger = None, case
    if case is None and message.automatic:
        return IntakeResult(contact_id=None, case_id=None, case_reference=None, created_case=False,
                            duplicate=False, ignored=True)
    customer, created_customer = find_or_create(phone=phone, email=email, name=message.sender.name,
                                                language=message.language)
    if created_customer:
        record("customer.created", actor=actor, object_type="customer", object_id=customer.id)

    if case is None and customer is not None and named_by_a_stranger is None:
        # One request at a time per customer from here on, so two first messages arriving
        # together end up on one case (PostgreSQL row lock; SQLite serialises writers anyway).
        db.session.execute(select(Customer.id).where(Customer.id == customer.id).with_for_update())
        case = _open_case_of(customer, line_id=line.id, channel=message.channel,
                             since=now - timedelta(days=settings.thread_window_days))
    created_case = case is None
    if case is None:
        case = new_case(service_line_id=line.id, channel=message.channel, customer=customer,
                        subject=message.subject,
                        language=message.language or (customer.language if customer else None)
                        or line.default_language,
                        at=now)
        if named_by_a_stranger is not None:
            case.linked_case_id = named_by_a_stranger.id

    occurred_at = message.started_at or message.received_at or now
    contact = Contact(
        case=case, channel=message.channel, direction=message.direction, external_id=message.external_id,
        sender=phone or email or shortened(message.sender.phone or message.sender.email, 254),
        sender_name=shortened(message.sender.name, 200), recipient=shortened(message.to, 254),
        subject=message.subject, body=message.body, language=message.language,
        received_at=message.received_at or (None if message.started_at else now),
        started_at=message.started_at, answered_at=message.answered_at, ended_at=message.ended_at,
        queue_seconds=message.queue_seconds, occurred_at=occurred_at,
    )
    db.session.add(contact)
    db.session.flush()
    for filename, content_type, content in files:
        attachment = store(storage, case=case, filename=filename, content_type=content_type,
                           content=content, contact_id=contact.id)
        stored_keys.append(attachment.storage_key)
    for refused in message.refused_files:
        db.session.add(Attachment(case=case, contact_id=contact.id, filename=refused.filename,
                                  content_type=refused.content_type, size=refused.size))
    for index, media in enumerate(message.media, start=1):
        db.session.add(Attachment(case=case, contact_id=contact.id, filename=f"media-{index}",
                                  content_type=(media.content_type or "application/octet-stream")[:127],
                                  source_url=media.url))
    if case.status == WAITING:
        move(case, OPEN)
    touch(case, now)
    record("contact.received", actor=actor, object_type="case", object_id=case.id,
           details={"contact_id": contact.id, "channel": message.channel})
    events.contact_received.send(contact)
    db.session.flush()
    return IntakeResult(contact_id=contact.id, case_id=case.id, case_reference=case.reference,
                        created_case=created_case, duplicate=False)

