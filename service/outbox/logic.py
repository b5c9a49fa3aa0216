"""Outbound messages: written with the change that causes them, delivered by jobs.

A row moves queued -> sending (claimed by one worker) -> sent (the provider accepted it) ->
delivered | undelivered | failed, or to cancelled when it must not go out any more. Provider
status callbacks only ever move a row forward, so late or repeated callbacks change nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import Executor
from email.utils import make_msgid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, union_all, update
from sqlalchemy.exc import IntegrityError

from ..audit.logic import record
from ..auth.permissions import Principal
from ..cases.logic import handled_by_official, load_case, touch
from ..cases.models import CLOSED, Attachment, Case, Contact
from ..cases.scanning import openable, why_closed
from ..customers.logic import ensure_not_restricted, is_opted_out_of_sms, opted_out_of_sms
from ..customers.models import Customer
from ..db_types import utcnow
from ..errors import Conflict, InvalidTransition, ValidationFailed
from ..extensions import db
from ..metrics import DELIVERIES
from ..schemas import LINE_BREAKS
from .models import (CANCELLED, DELIVERED, FAILED, FINAL, QUEUED, SENDING, SENT, UNDELIVERED,
                     IdempotentRequest, OutboxMessage)
from ..storage import FileStorage
from .ports import Outgoing, OutgoingFile, PermanentFailure, SendResult, Sender, TemporaryFailure

log = logging.getLogger(__name__)

# How far each status is along the way; a callback may only move a row to a higher rank.
RANK = {QUEUED: 0, SENDING: 1, SENT: 2, DELIVERED: 3, UNDELIVERED: 3, FAILED: 3, CANCELLED: 3}

# Provider statuses (Twilio's names) in our terms.
PROVIDER_STATUS = {
    "accepted": SENT, "scheduled": SENT, "queued": SENT, "sending": SENT, "sent": SENT,
    "delivered": DELIVERED, "read": DELIVERED, "undelivered": UNDELIVERED, "failed": FAILED,
    "canceled": FAILED,
}


@dataclass(frozen=True)
class DeliveryPolicy:
    max_attempts: int = 6
    # Seconds to wait before the retry after attempt n (the last value repeats).
    backoff: tuple[int, ...] = (10, 30, 120, 600, 1800)
    # A claimed row whose worker has not reported back by then is looked at again.
    lease_seconds: int = 300

    def delay_after(self, attempt: int) -> int:
        return self.backoff[min(attempt, len(self.backoff)) - 1] if attempt > 0 else 0


@dataclass(frozen=True)
class ReplyResult:
    contact: Contact
    outbox: OutboxMessage
    replayed: bool


def _recipient(case: Case, channel: str) -> str:
    customer = case.customer
    if channel == "email":
        if customer is None or not customer.email:
            raise ValidationFailed("The customer has no email address to reply to.",
                                   errors={"channel": ["No email address on this case's customer."]})
        return customer.email
    if channel == "sms":
        if customer is None or not customer.phone:
            raise ValidationFailed("The customer has no phone number to reply to.",
                                   errors={"channel": ["No phone number on this case's customer."]})
        if is_opted_out_of_sms(customer.phone):
            raise Conflict("The customer has opted out of SMS (replied STOP); nothing was sent.",
                           code="sms-opted-out")
        return customer.phone
    raise ValidationFailed("Replies on this channel are not supported yet.",
                           errors={"channel": [f"Cannot reply by {channel}."]})


def _replayed(actor: Principal, key: str, endpoint: str) -> ReplyResult | None:
    previous = db.session.scalar(select(IdempotentRequest).where(
        IdempotentRequest.actor_type == actor.kind, IdempotentRequest.actor_id == actor.id,
        IdempotentRequest.key == key))
    if previous is None:
        return None
    if previous.endpoint != endpoint:
        raise Conflict("This Idempotency-Key was used for another request.", code="idempotency-key-reused")
    contact = db.session.get(Contact, previous.resource_id)
    if contact is None:
        return None  # the reply was purged with its case; the key no longer names anything
    outbox = db.session.scalar(select(OutboxMessage).where(OutboxMessage.contact_id == contact.id))
    return ReplyResult(contact=contact, outbox=outbox, replayed=True)


def email_headers(case: Case, mail_domain: str, *, thread: bool = True) -> dict[str, str]:
    """Our own Message-ID (stored as the contact's external id, so answers thread back) and,
    for a reply to the customer, In-Reply-To the latest email on the case and References the
    thread. Mail to anyone else gets no thread: the customer's Message-IDs are theirs."""
    headers = {"Message-ID": make_msgid(idstring=f"case-{case.id}", domain=mail_domain)}
    if thread:
        earlier = db.session.scalars(
            select(Contact.external_id).where(Contact.case_id == case.id, Contact.channel == "email",
                                              Contact.external_id.is_not(None))
            .order_by(Contact.occurred_at, Contact.id)).all()
        # An id stored before line breaks were refused would make every reply undeliverable.
        earlier = [message_id for message_id in earlier if not LINE_BREAKS.search(message_id)]
        if earlier:
            headers["In-Reply-To"] = earlier[-1]
            headers["References"] = " ".join(earlier[-20:])
    return headers


def _reply_subject(case: Case, subject: str | None) -> str:
    tag = f"[#{case.reference}]"
    subject = subject or (f"Re: {case.subject}" if case.subject else "Asiasi / Ditt ärende / Your case")
    # A case subject can hold a line break (an encoded email subject, a row from before they
    # were refused); in a header it would stop delivery, so it becomes a space.
    subject = LINE_BREAKS.sub(" ", subject)
    # 500 characters fit (the subject columns); the subject gives way, never the tag, which
    # finds the case for an answer whose mail client kept no In-Reply-To.
    if tag in subject[:500]:
        return subject[:500]
    return f"{subject[:500 - len(tag) - 1]} {tag}"


def _case_files(case: Case, ids: list[int]) -> list[int]:
    """The attachments a reply sends: they must be on this case, have their bytes here, and be
    clean (a file that is pending, infected or unscannable is never sent on)."""
    if not ids:
        return []
    found = {a.id: a for a in db.session.scalars(select(Attachment).where(Attachment.id.in_(ids)))}
    missing = [i for i in ids if i not in found or found[i].case_id != case.id]
    closed = [i for i in ids if i not in missing and not openable(found[i])]
    if missing or closed:
        raise ValidationFailed("Some files cannot be sent.", errors={"attachment_ids": [
            *(f"No downloadable file {i} on this case." for i in missing),
            *(f"File {i}: {why_closed(found[i])}" for i in closed)]})
    return list(dict.fromkeys(ids))


def send_reply(*, actor: Principal, case_id: int, channel: str, body: str, subject: str | None = None,
               idempotency_key: str | None = None, mail_domain: str = "localhost",
               attachment_ids: list[int] | None = None) -> ReplyResult:
    """An official's reply on the case's channel: an outbound contact and its outbox row, in
    one transaction. With an Idempotency-Key, a retry returns the first reply instead."""
    endpoint = f"case:{case_id}:reply"
    if idempotency_key:
        replay = _replayed(actor, idempotency_key, endpoint)
        if replay is not None:
            return replay
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.status == CLOSED:
        raise InvalidTransition("The case is closed; reopen it before replying.")
    ensure_not_restricted(case.customer, "sending them messages")
    to = _recipient(case, channel)
    files = _case_files(case, attachment_ids or [])
    now = utcnow()
    headers = None
    if channel == "email":
        subject, headers = _reply_subject(case, subject), email_headers(case, mail_domain)
    contact = Contact(case=case, channel=channel, direction="outbound", recipient=to, subject=subject,
                      body=body, language=case.language, received_at=None, occurred_at=now,
                      handled_by_id=actor.id, created_by_id=actor.id,
                      external_id=headers["Message-ID"] if headers else None)
    db.session.add(contact)
    db.session.flush()
    outbox = OutboxMessage(case_id=case.id, contact_id=contact.id, channel=channel, recipient=to,
                           subject=subject, body=body, status=QUEUED, next_attempt_at=now,
                           created_by_id=actor.id, headers=headers, attachment_ids=files or None)
    db.session.add(outbox)
    handled_by_official(case, now)
    touch(case, now)
    try:
        if idempotency_key:
            db.session.add(IdempotentRequest(actor_type=actor.kind, actor_id=actor.id, key=idempotency_key,
                                             endpoint=endpoint, resource_id=contact.id))
        db.session.flush()
    except IntegrityError:
        # The same key is being used by a request that committed first: answer with its reply.
        db.session.rollback()
        replay = _replayed(actor, idempotency_key, endpoint)
        if replay is None:
            raise
        return replay
    record("contact.created", actor=actor, object_type="case", object_id=case.id,
           details={"contact_id": contact.id, "direction": "outbound", "channel": channel})
    db.session.commit()
    return ReplyResult(contact=contact, outbox=outbox, replayed=False)


def queue_automatic_message(*, case_id: int, channel: str, to: str, body: str) -> OutboxMessage:
    """A message the service sends by itself (an auto-reply), in the caller's transaction.
    Opt-out and restriction are checked at delivery, as for every message."""
    row = OutboxMessage(case_id=case_id, channel=channel, recipient=to, body=body, status=QUEUED,
                        next_attempt_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row


def _load_files(row: OutboxMessage, storage: FileStorage | None) -> tuple[OutgoingFile, ...]:
    if not row.attachment_ids:
        return ()
    files = []
    for attachment in db.session.scalars(select(Attachment).where(Attachment.id.in_(row.attachment_ids))):
        if storage is None or not openable(attachment):
            raise FileNotFoundError(attachment.id)
        with storage.open(attachment.storage_key) as handle:
            files.append(OutgoingFile(attachment.filename, attachment.content_type, handle.read()))
    return tuple(files)


@dataclass(frozen=True)
class Delivered:
    """What became of one claimed row; ``retry_at`` is set when it waits for another attempt."""
    outbox_id: int
    status: str
    retry_at: datetime | None = None


def deliver(outbox_id: int, *, senders: dict[str, Sender], policy: DeliveryPolicy,
            now: datetime | None = None, storage: FileStorage | None = None) -> str:
    """Deliver one outbox row. Safe to call twice: only the caller that claims the row sends.
    Returns the row's status afterwards."""
    now = now or utcnow()
    rows = _claim(OutboxMessage.id == outbox_id, policy=policy, now=now)
    if not rows:
        row = db.session.get(OutboxMessage, outbox_id)
        db.session.commit()
        return row.status if row else "missing"
    delivered = _deliver_claimed(rows, senders=senders, policy=policy, now=now, storage=storage)
    return delivered[0].status if delivered else "missing"  # purged with its case while it was sent


def deliver_due(*, senders: dict[str, Sender], policy: DeliveryPolicy, limit: int = 50,
                now: datetime | None = None, storage: FileStorage | None = None,
                pool: Executor | None = None) -> list[Delivered]:
    """Claim up to ``limit`` due rows that no other worker holds, and deliver them. A backlog
    then costs one claim and one write-back per batch rather than per message. With a ``pool``
    the batch's messages are sent concurrently on its threads, else one after another. An empty
    list means nothing was due."""
    now = now or utcnow()
    # Locked in a statement of its own: as a subquery of the UPDATE, PostgreSQL may run a
    # LIMIT ... SKIP LOCKED select more than once and claim more than the limit. Workers
    # draining at the same time each take other rows instead of queueing on locks.
    due = db.session.scalars(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at).limit(limit)
        .with_for_update(skip_locked=True)).all()
    rows = _claim(OutboxMessage.id.in_(due), policy=policy, now=now) if due else []
    if not rows:
        db.session.commit()
        return []
    return _deliver_claimed(rows, senders=senders, policy=policy, now=now, storage=storage, pool=pool)


def _claim(which, *, policy: DeliveryPolicy, now: datetime) -> list[OutboxMessage]:
    """Move the chosen rows that are still queued and due to ``sending`` under a lease, and
    return them. The claim is what makes a second worker (or a second job) skip a row."""
    claim = (update(OutboxMessage)
             .where(which, OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now)
             .values(status=SENDING, attempts=OutboxMessage.attempts + 1,
                     next_attempt_at=now + timedelta(seconds=policy.lease_seconds), updated_at=now)
             .returning(OutboxMessage))
    rows = db.session.scalars(claim, execution_options={"synchronize_session": False,
                                                        "populate_existing": True}).all()
    return sorted(rows, key=lambda row: row.id)


def _deliver_claimed(rows: list[OutboxMessage], *, senders: dict[str, Sender], policy: DeliveryPolicy,
                     now: datetime, storage: FileStorage | None, pool: Executor | None = None) -> list[Delivered]:
    outcomes: dict[int, Delivered] = {}
    opted_out = opted_out_of_sms([row.recipient for row in rows if row.channel == "sms"])
    restricted = _restricted_recipients(rows)
    to_send: list[Outgoing] = []
    for row in rows:
        if row.channel == "sms" and row.recipient in opted_out:
            outcomes[row.id] = _end(row, CANCELLED, error="recipient opted out of SMS", now=now)
        elif (row.case_id, row.recipient) in restricted:
            outcomes[row.id] = _end(row, CANCELLED, error="the customer's processing is restricted", now=now)
        elif row.channel not in senders:
            outcomes[row.id] = _end(row, FAILED, error=f"no sender for channel {row.channel}", now=now)
        else:
            try:
                files = _load_files(row, storage)
            except FileNotFoundError:
                outcomes[row.id] = _end(row, FAILED, error="an attached file is no longer stored", now=now)
                continue
            except OSError as failure:  # storage unavailable: this message waits, the batch goes on
                log.warning("could not read the files of outbox message %s (%s)", row.id, type(failure).__name__)
                outcomes[row.id] = _again_later(row, policy, error=f"file storage: {type(failure).__name__}",
                                                now=now)
                continue
            to_send.append(Outgoing(outbox_id=row.id, channel=row.channel, to=row.recipient, body=row.body,
                                    subject=row.subject, headers=dict(row.headers or {}), files=files))
    channels = {row.id: row.channel for row in rows}
    # The claim commits here, with the checks; no transaction (nor SQLite's write lock) is
    # kept over the sends.
    db.session.commit()
    _count(channels, {row_id: "retry" if delivered.status == QUEUED else delivered.status
                      for row_id, delivered in outcomes.items()})

    # The rows are expired by the commit; the messages hold what is sent.
    answers = dict(zip([message.outbox_id for message in to_send], _send_all(to_send, senders, pool)))
    if not answers:
        return [outcomes[row_id] for row_id in sorted(outcomes)]

    # A status callback may have got here first (it names the row, see record_provider_status):
    # read the rows again, locked, and only move them forward.
    sent_rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.id.in_(list(answers))).order_by(OutboxMessage.id)
        .with_for_update().execution_options(populate_existing=True)).all()
    written, labels = [], {}
    for row in sent_rows:
        kind, answer = answers[row.id]
        if kind == "failed":
            written.append(_end(row, FAILED, error=answer, now=now))
        elif kind == "retry":
            written.append(_again_later(row, policy, error=answer, now=now))
        else:
            row.provider_id = row.provider_id or answer.provider_id
            row.status = max(row.status, SENT, PROVIDER_STATUS.get(answer.provider_status or "", SENT),
                             key=RANK.get)
            row.sent_at = now
            row.last_error = None
            written.append(Delivered(row.id, row.status))
        labels[row.id] = "sent" if kind == "sent" else "retry" if written[-1].status == QUEUED else FAILED
    db.session.commit()
    _count(channels, labels)
    outcomes.update((delivered.outbox_id, delivered) for delivered in written)
    return [outcomes[row_id] for row_id in sorted(outcomes)]


def _send_all(messages: list[Outgoing], senders: dict[str, Sender],
              pool: Executor | None) -> Iterator[tuple[str, SendResult | str]]:
    """Each message's answer, in the order of ``messages``; each message is sent once."""
    def send(message: Outgoing) -> tuple[str, SendResult | str]:
        return _send_one(senders[message.channel], message)

    if pool is None:
        return map(send, messages)
    return pool.map(send, messages)


def _send_one(sender: Sender, message: Outgoing) -> tuple[str, SendResult | str]:
    """Runs on a sending thread: it touches neither the database session nor the app, and
    whatever one message meets stays that message's answer."""
    try:
        return "sent", sender.send(message)
    except PermanentFailure as failure:
        return "failed", _error_text(failure)
    except TemporaryFailure as failure:
        return "retry", _error_text(failure)
    except Exception as failure:  # an adapter bug or an unexpected network error: retry, log
        log.exception("sender for %s raised unexpectedly", message.channel)
        return "retry", type(failure).__name__


def _restricted_recipients(rows: list[OutboxMessage]) -> set[tuple[int, str]]:
    """(case, address) pairs among the rows that are messages to a customer whose processing is
    restricted. Forwarding mail to an authority was checked when it was made and is not the
    customer's message."""
    case_ids = {row.case_id for row in rows if row.case_id is not None}
    if not case_ids:
        return set()
    # The customers of cases merged into a row's case too: a message queued to them moved there
    # with their case, and is still to them (a merge is no way round a restriction).
    owners = union_all(
        select(Case.id.label("case_id"), Case.customer_id.label("customer_id")).where(Case.id.in_(case_ids)),
        select(Case.merged_into_id, Case.customer_id).where(Case.merged_into_id.in_(case_ids))).subquery("owners")
    found = db.session.execute(
        select(owners.c.case_id, Customer.phone, Customer.email).join(Customer, owners.c.customer_id == Customer.id)
        .where(Customer.restricted_at.is_not(None))).all()
    return {(case_id, address) for case_id, phone, email in found for address in (phone, email) if address}


def _error_text(failure) -> str:
    # Provider error codes and reasons only: never the recipient or the body.
    return (f"{failure.code}: " if failure.code else "") + failure.reason[:150]


def _end(row: OutboxMessage, status: str, *, error: str | None, now: datetime) -> Delivered:
    row.status = status
    row.last_error = error
    row.updated_at = now
    return Delivered(row.id, status)


def _again_later(row: OutboxMessage, policy: DeliveryPolicy, *, error: str, now: datetime) -> Delivered:
    if row.attempts >= policy.max_attempts:
        return _end(row, FAILED, error=f"gave up after {row.attempts} attempts; last: {error}", now=now)
    row.status = QUEUED
    row.last_error = error
    row.next_attempt_at = now + timedelta(seconds=policy.delay_after(row.attempts))
    return Delivered(row.id, QUEUED, retry_at=row.next_attempt_at)


def _count(channels: dict[int, str], labels: dict[int, str]) -> None:
    for row_id, label in labels.items():
        DELIVERIES.labels(channels[row_id], label).inc()


def record_provider_status(*, provider_id: str, provider_status: str, error_code: str | None = None,
                           outbox_id: int | None = None, now: datetime | None = None) -> OutboxMessage | None:
    """A delivery status callback. Unknown ids and backward moves are ignored.

    ``outbox_id`` is the row the provider was asked to report on (carried in the callback
    URL). When the worker died after the provider accepted the message but before it wrote
    down the provider's id, the callback writes it instead; the sweeper never sends again a
    row that has a provider id, so the customer gets the message once.
    """
    row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)
                            .with_for_update())
    if row is None and outbox_id is not None:
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.id == outbox_id,
                                                            OutboxMessage.provider_id.is_(None))
                                .with_for_update())
        if row is not None:
            row.provider_id = provider_id
    status = PROVIDER_STATUS.get(provider_status)
    if row is None or status is None:
        db.session.rollback()
        return row
    if RANK[status] > RANK[row.status] or (row.status in (SENDING, QUEUED) and status == SENT):
        row.status = status
        now = now or utcnow()
        if status == DELIVERED:
            row.delivered_at = now
        if status in (FAILED, UNDELIVERED) and error_code:
            row.last_error = f"provider error {error_code}"[:200]
    db.session.commit()
    return row


def due_for_delivery(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Rows to (re)enqueue: queued rows whose time has come, and claimed rows whose worker
    never reported back (lease expired) that were never accepted by the provider."""
    now = now or utcnow()
    stale = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == SENDING, OutboxMessage.next_attempt_at <= now,
               OutboxMessage.provider_id.is_(None))
        .values(status=QUEUED, next_attempt_at=now, updated_at=now)
    ).rowcount
    if stale:
        log.warning("%s outbox messages were claimed by a worker that never reported back", stale)
    db.session.commit()
    ids = db.session.scalars(
        select(OutboxMessage.id).where(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at).limit(limit)
    ).all()
    return list(ids)

