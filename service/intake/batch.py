"""Storing many inbound contacts in one transaction with set-based SQL.

Intake used to make one message a contact through the ORM: a dozen round trips and a few
milliseconds of Python per message, which capped how fast an adviser's queue could fill at a
small share of what the webhook could land. Here a batch costs the same dozen statements
whatever its size: customers found and created with one statement each, their open cases
found with one, and contacts, cases, statistics facts and audit entries inserted with one
multi-row statement per table.

The rules are the ones ``logic._store`` keeps for a single message, for every message this
module takes (``is_plain``): idempotency on the provider's id, one open case per customer,
line and channel within the thread window, a waiting case reopened by the customer's answer,
anonymous contacts on cases of their own. Messages in a batch are taken in their order, so a
customer's second message joins the case their first one opened. Messages that need more
(files, email threading, automatic mail, calls, a possible feedback answer) go through
``logic._store`` one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import g, has_request_context
from sqlalchemy import bindparam, case as when, or_, select, text, update

from ..auth.permissions import Principal
from ..cases.logic import move
from ..clocks import logic as clocks
from ..cases.models import CLOSED, NEW, OPEN, PROVIDER_IDS, WAITING, Attachment, Case, Contact
from ..customers.models import Customer
from ..customers.normalise import email_or_none, phone_or_none
from ..db_types import utcnow
from ..extensions import db
from ..lines.logic import line_for_address
from ..stats.models import CaseFact, ContactFact, StatsRecount
from ..stats.recorder import _minute  # the facts' minute, as the recorder cuts it
from ..audit.models import AuditEntry
from .bulk_sql import any_of, insert_rows
from .message import InboundMessage, shortened

# Channels with rules of their own: email threads by reference and may be automatic; a call
# links recordings reported before it.
_CHANNELS_WITH_RULES = frozenset({"email", "phone"})


def is_plain(message: InboundMessage, interceptors) -> bool:
    """Whether ``message`` is one this module stores: most SMS, chats, web forms and API posts."""
    return (message.direction == "inbound" and message.channel not in _CHANNELS_WITH_RULES
            and not message.attachments and not message.refused_files and not message.automatic
            and not any(interceptor.might_take(message) for interceptor in interceptors))


@dataclass
class _NewCustomer:
    phone: str | None
    email: str | None
    name: str | None
    language: str | None
    id: int | None = None


@dataclass(eq=False)
class _CaseSlot:
    """A case a message goes to: one found open, or one this batch opens. Compared by
    identity: two messages from senders with no number or address that could be kept (an
    alphanumeric sender id) each open a case of their own, however alike the two look."""
    id: int | None
    reference: str | None
    status: str
    language: str | None
    service_line_id: int
    channel: str
    customer: int | _NewCustomer | None
    subject: str | None = None
    created: bool = False
    fact_id: int | None = None


@dataclass
class _Planned:
    message: InboundMessage
    phone: str | None
    email: str | None
    slot: _CaseSlot | None = None
    duplicate_of: tuple[int, int, str] | None = None  # (contact id, case id, reference)
    contact_id: int | None = None
    extra: dict = field(default_factory=dict)




def store_plain(messages: list[InboundMessage], *, actor: Principal | None, settings, now: datetime) -> list:
    """Store ``messages`` (each ``is_plain``) as contacts in the caller's transaction, in their
    order, and return an ``IntakeResult`` for each. The caller commits; an IntegrityError
    means another writer stored one of them at the same moment (retry them one by one)."""
    from .logic import IntakeResult

    session = db.session
    planned = [_Planned(message=m, phone=phone_or_none(m.sender.phone, settings.region) if m.sender.phone else None,
                        email=email_or_none(m.sender.email) if m.sender.email else None)
               for m in messages]
    _mark_replays(planned)
    fresh = [p for p in planned if p.duplicate_of is None]
    if fresh:
        customers = _customers(fresh, actor=actor, now=now)
        _assign_cases(fresh, customers, settings=settings, now=now)
        _insert_cases([p.slot for p in fresh], now=now)
        _insert_contacts(fresh, now=now)
        _touch_existing_cases(fresh, now=now)
        _audit(actor, [("contact.received", "case", p.slot.id, {"contact_id": p.contact_id,
                                                                 "channel": p.message.channel})
                       for p in fresh if p.duplicate_of is None])
    session.flush()
    results = []
    for p in planned:
        if p.duplicate_of is not None:
            contact_id, case_id, reference = p.duplicate_of
            results.append(IntakeResult(contact_id=contact_id, case_id=case_id, case_reference=reference,
                                        created_case=False, duplicate=True))
        else:
            results.append(IntakeResult(contact_id=p.contact_id, case_id=p.slot.id, case_reference=p.slot.reference,
                                        created_case=p.extra.pop("opened", False), duplicate=False))
    return results


def _mark_replays(planned: list[_Planned]) -> None:
    """A provider's id seen before (stored earlier, or earlier in this batch) is a replay."""
    keys = {(p.message.channel, p.message.external_id) for p in planned if p.message.external_id}
    if not keys:
        return
    stored = {}
    for chunk in _chunks(sorted(keys), 500):
        # The channels and the ids each as one list; a row they match beyond the pairs asked
        # for (an id of one channel seen on another) is keyed by its own pair, never asked for.
        rows = db.session.execute(
            select(Contact.channel, Contact.external_id, Contact.id, Case.id, Case.reference)
            .join(Case, Contact.case_id == Case.id)
            .where(Contact.external_id_source == PROVIDER_IDS,
                   any_of(Contact.channel, {channel for channel, _ in chunk}),
                   any_of(Contact.external_id, [external_id for _, external_id in chunk])))
        stored.update({(channel, external_id): (contact, case_id, reference)
                       for channel, external_id, contact, case_id, reference in rows})
    first_in_batch: dict[tuple, _Planned] = {}
    for p in planned:
        key = (p.message.channel, p.message.external_id)
        if not p.message.external_id:
            continue
        if key in stored:
            p.duplicate_of = stored[key]
        elif key in first_in_batch:
            p.extra["same_as"] = first_in_batch[key]
        else:
            first_in_batch[key] = p


def _customers(planned: list[_Planned], *, actor, now) -> dict[int, int | _NewCustomer | None]:
    """The customer of each message (by its index in ``planned``): found by phone, else by
    email, as ``customers.logic.find_or_create`` does, and created when new (once per person
    however many of their messages the batch holds)."""
    phones = {p.phone for p in planned if p.phone}
    emails = {p.email for p in planned if p.email}
    by_phone: dict[str, tuple] = {}
    by_email: dict[str, tuple] = {}
    if phones or emails:
        condition = []
        if phones:
            condition.append(any_of(Customer.phone, phones))
        if emails:
            condition.append(any_of(Customer.email, emails))
        for row in db.session.execute(select(Customer.id, Customer.phone, Customer.email, Customer.name,
                                             Customer.language).where(or_(*condition))):
            if row.phone:
                by_phone[row.phone] = row
            if row.email:
                by_email[row.email] = row
    chosen: dict[int, int | _NewCustomer | None] = {}
    new: list[_NewCustomer] = []
    new_by_phone: dict[str, _NewCustomer] = {}
    new_by_email: dict[str, _NewCustomer] = {}
    names_to_fill: dict[int, str] = {}
    for index, p in enumerate(planned):
        name = shortened(p.message.sender.name, 200)
        found = (p.phone and by_phone.get(p.phone)) or (p.email and by_email.get(p.email))
        if found:
            p.extra["customer_language"] = found.language
            if name and not found.name and found.id not in names_to_fill:
                names_to_fill[found.id] = name
            chosen[index] = found.id
            continue
        pending = (p.phone and new_by_phone.get(p.phone)) or (p.email and new_by_email.get(p.email))
        if pending:
            if name and not pending.name:
                pending.name = name
            chosen[index] = pending
            continue
        if not (p.phone or p.email or name):
            chosen[index] = None  # anonymous
            continue
        pending = _NewCustomer(phone=p.phone, email=p.email, name=name, language=p.message.language)
        new.append(pending)
        if p.phone:
            new_by_phone[p.phone] = pending
        if p.email:
            new_by_email[p.email] = pending
        chosen[index] = pending
    if names_to_fill:
        db.session.execute(update(Customer.__table__).where(Customer.__table__.c.id == bindparam("b_id"))
                           .values(name=bindparam("b_name"), updated_at=now),
                           [{"b_id": id_, "b_name": name} for id_, name in names_to_fill.items()])
    if new:
        created = _insert_customers(new, now=now)
        _audit(actor, [("customer.created", "customer", customer.id, None) for customer in created])
    # One writer at a time per customer from here on, so two workers' first messages from one
    # person end up on one case (SQLite serialises writers anyway). In id order: no deadlock.
    ids = sorted({c if isinstance(c, int) else c.id for c in chosen.values() if c is not None})
    if ids and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(select(Customer.id).where(any_of(Customer.id, ids)).order_by(Customer.id).with_for_update())
    return chosen


def _insert_customers(new: list[_NewCustomer], *, now) -> list[_NewCustomer]:
    """Give each of ``new`` its id; returns those this batch created (not another worker)."""
    table = Customer.__table__

    def rows(customers: list[_NewCustomer]) -> list[dict]:
        return [{"phone": c.phone, "email": c.email, "name": c.name, "language": c.language,
                 "created_at": now, "updated_at": now} for c in customers]

    # A person known only by a name (a chat signed so) collides with no one: their ids come
    # back in their order. Looked up below by a detail they lack, they were given whichever
    # customer lacked it too: another person.
    named_only = [c for c in new if not (c.phone or c.email)]
    for customer, id_ in zip(named_only, _insert_returning_ids(table, rows(named_only))):
        customer.id = id_
    created = list(named_only)
    new = [c for c in new if c.phone or c.email]
    # Another worker may create the same person at the same moment: their row wins, and is
    # looked up below.
    made_by_phone, made_by_email = {}, {}
    for id_, phone, email in insert_rows(table, rows(new), returning=("id", "phone", "email"),
                                         on_conflict_do_nothing=True):
        if phone:
            made_by_phone[phone] = id_
        if email:
            made_by_email[email] = id_
    missing = []
    for customer in new:
        customer.id = (customer.phone and made_by_phone.get(customer.phone)) or (
            customer.email and made_by_email.get(customer.email)) or None
        if customer.id is None:
            missing.append(customer)
        else:
            created.append(customer)
    for customer in missing:
        column, value = (table.c.phone, customer.phone) if customer.phone else (table.c.email, customer.email)
        customer.id = db.session.scalar(select(table.c.id).where(column == value))
        if customer.id is None:
            raise LookupError("a new customer was neither stored nor found")
    return created


def _assign_cases(planned: list[_Planned], customers: dict, *, settings, now) -> None:
    lines = {}
    for p in planned:
        key = (p.message.channel, p.message.to)
        if key not in lines:
            lines[key] = line_for_address(p.message.channel, p.message.to, settings.region)
    # Every customer's id, a new one's too: one another worker created at the same moment may
    # already have a case this message belongs on.
    ids = {index: (c if isinstance(c, int) or c is None else c.id) for index, c in customers.items()}
    known_ids = sorted({i for i in ids.values() if i is not None})
    open_cases: dict[tuple, _CaseSlot] = {}
    if known_ids:
        since = now - timedelta(days=settings.thread_window_days)
        rows = db.session.execute(
            select(Case.id, Case.customer_id, Case.service_line_id, Case.channel, Case.status, Case.reference,
                   Case.language)
            .where(any_of(Case.customer_id, known_ids), Case.status != CLOSED, Case.last_activity_at >= since,
                   Case.merged_into_id.is_(None))
            .order_by(Case.last_activity_at.desc(), Case.id.desc()))
        for row in rows:
            key = (row.customer_id, row.service_line_id, row.channel)
            if key not in open_cases:  # the most recently active one, as logic._open_case_of
                open_cases[key] = _CaseSlot(id=row.id, reference=row.reference, status=row.status,
                                            language=row.language, service_line_id=row.service_line_id,
                                            channel=row.channel, customer=row.customer_id)
    for index, p in enumerate(planned):
        if "same_as" in p.extra:  # a repeat of a message earlier in this batch
            continue
        line = lines[(p.message.channel, p.message.to)]
        customer = customers[index]
        key = None
        if customer is not None:
            key = (ids[index], line.id, p.message.channel)
            slot = open_cases.get(key)
            if slot is not None:
                p.slot = slot
                continue
        customer_language = None
        if isinstance(customer, _NewCustomer):
            customer_language = customer.language
        elif isinstance(customer, int):
            customer_language = p.extra.get("customer_language")
        slot = _CaseSlot(id=None, reference=None, status=NEW,
                         language=p.message.language or customer_language or line.default_language,
                         service_line_id=line.id, channel=p.message.channel, customer=customer,
                         subject=p.message.subject, created=True)
        p.slot = slot
        p.extra["opened"] = True
        if key is not None:
            open_cases[key] = slot
    for p in planned:
        if "same_as" in p.extra:
            p.duplicate_of = ("pending", p.extra.pop("same_as"))


def _insert_cases(slots: list[_CaseSlot], *, now) -> None:
    new = []
    for slot in slots:
        if slot is not None and slot.created and slot.id is None and slot not in new:
            new.append(slot)
    if not new:
        return
    fact_ids = _insert_returning_ids(CaseFact.__table__, [
        {"channel": s.channel, "language": s.language, "service_line_id": s.service_line_id,
         "opened_at": _minute(now)} for s in new])
    # The ids first, so that the reference derived from each (as cases.logic.format_reference:
    # no counter serialises intake) and the clocks go in the INSERT itself. An UPDATE of a new
    # row would write a second version of it and an entry in each of the case's indexes.
    case_ids = _new_case_ids(len(new))
    clocks_by_kind = clocks.clocks_of_new_cases({(s.service_line_id, s.channel) for s in new}, now)
    # One multi-row INSERT needs the same columns in every row: a case without clocks gets the
    # columns any clocks set (``_new_clocks`` always sets the same ones), left null.
    no_clocks = dict.fromkeys(next(iter(clocks_by_kind.values()))) if clocks_by_kind else {}
    rows = []
    for slot, case_id, fact_id in zip(new, case_ids, fact_ids):
        slot.id, slot.fact_id, slot.reference = case_id, fact_id, f"{now.year}-{case_id:06d}"
        rows.append({
            "id": case_id, "reference": slot.reference, "service_line_id": slot.service_line_id,
            "channel": slot.channel,
            "customer_id": slot.customer if isinstance(slot.customer, int) or slot.customer is None else slot.customer.id,
            "status": NEW, "subject": shortened(slot.subject, 500), "language": slot.language, "created_at": now,
            "updated_at": now, "last_activity_at": now, "stats_fact_id": fact_id,
            **clocks_by_kind.get((slot.service_line_id, slot.channel), no_clocks)})
    insert_rows(Case.__table__, rows)
    clocks.record_starts([(slot.id, clocks_by_kind[(slot.service_line_id, slot.channel)]) for slot in new
                          if (slot.service_line_id, slot.channel) in clocks_by_kind], now)
    # The day the cases opened on is recounted by the statistics rollup (stats.recorder).
    insert_rows(StatsRecount.__table__, [{"at": _minute(now)}])


def _new_case_ids(count: int) -> list[int]:
    """``count`` ids for new cases, rising, as the table itself would give them."""
    if db.session.get_bind().dialect.name == "postgresql":
        return sorted(db.session.connection().exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('\"case\"', 'id')) FROM generate_series(1, %(count)s)",
            {"count": count}).scalars())
    # SQLite's AUTOINCREMENT gives the largest id ever given plus one (kept in sqlite_sequence,
    # so a purged case's id is not given again), and this transaction holds the write lock
    # (BEGIN IMMEDIATE, service.sqlite): no one else takes these meanwhile. Inserting them
    # moves sqlite_sequence on.
    largest = db.session.scalar(text(
        "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'case'), 0),"
        " coalesce((SELECT max(id) FROM \"case\"), 0))"))
    return list(range(largest + 1, largest + 1 + count))


def _insert_contacts(planned: list[_Planned], *, now) -> None:
    stored = [p for p in planned if p.duplicate_of is None]
    rows, facts = [], []
    for p in stored:
        m = p.message
        occurred_at = m.started_at or m.received_at or now
        facts.append({"occurred_at": _minute(occurred_at), "channel": m.channel, "direction": m.direction,
                      "language": m.language or p.slot.language, "service_line_id": p.slot.service_line_id,
                      "rolled_up": False})
        rows.append({
            "case_id": p.slot.id, "channel": m.channel, "direction": m.direction, "external_id": m.external_id,
            "external_id_source": PROVIDER_IDS,
            "sender": p.phone or p.email or shortened(m.sender.phone or m.sender.email, 254),
            "sender_name": shortened(m.sender.name, 200), "recipient": shortened(m.to, 254),
            "subject": shortened(m.subject, 500), "body": m.body, "language": m.language,
            "received_at": m.received_at or (None if m.started_at else now), "started_at": m.started_at,
            "answered_at": m.answered_at, "ended_at": m.ended_at, "queue_seconds": m.queue_seconds,
            "occurred_at": occurred_at, "created_at": now})
    if not rows:
        return
    fact_ids = _insert_returning_ids(ContactFact.__table__, facts)
    for row, fact_id in zip(rows, fact_ids):
        row["stats_fact_id"] = fact_id
    contact_ids = _insert_returning_ids(Contact.__table__, rows)
    media = []
    for p, contact_id in zip(stored, contact_ids):
        p.contact_id = contact_id
        for index, item in enumerate(p.message.media, start=1):
            media.append({"case_id": p.slot.id, "contact_id": contact_id, "filename": f"media-{index}",
                          "content_type": (item.content_type or "application/octet-stream")[:127],
                          "source_url": item.url, "created_at": now})
    if media:
        insert_rows(Attachment.__table__, media)
    for p in planned:  # a repeat of an earlier message of this batch answers with its contact
        if p.duplicate_of and p.duplicate_of[0] == "pending":
            first = p.duplicate_of[1]
            p.duplicate_of = (first.contact_id, first.slot.id, first.slot.reference)


def _touch_existing_cases(planned: list[_Planned], *, now) -> None:
    """The customer's contact moves their case's clock (``cases.logic.touch``) and takes a case
    waiting on them back to the advisers (``cases.logic.move``, which keeps the case's other
    bookkeeping of status changes; few cases wait, so they go one by one)."""
    stored = [p for p in planned if p.duplicate_of is None and not p.slot.created]
    ids = sorted({p.slot.id for p in stored})
    if not ids:
        return
    waiting = sorted({p.slot.id for p in stored if p.slot.status == WAITING})
    if waiting:
        for case in db.session.scalars(select(Case).where(Case.id.in_(waiting))):
            if case.status == WAITING:
                move(case, OPEN, now)  # the service clocks resume, keeping the time already used
        db.session.flush()
        for p in stored:
            if p.slot.id in waiting:
                p.slot.status = OPEN
    table = Case.__table__
    for chunk in _chunks(ids, 500):
        db.session.execute(update(table).where(any_of(table.c.id, chunk)).values(
            updated_at=now,
            last_activity_at=when((table.c.last_activity_at < now, now), else_=table.c.last_activity_at)))
    # Cases loaded in this session (above, or by the caller) must not keep the old values.
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, Case) and obj.id in ids:
            db.session.expire(obj)


def _audit(actor: Principal | None, entries: list[tuple]) -> None:
    if not entries:
        return
    request_id = purpose = None
    if has_request_context():
        request_id, purpose = g.get("request_id"), g.get("purpose")
    at = utcnow()  # as audit.logic.record: when it was written, whatever clock intake ran on
    insert_rows(AuditEntry.__table__, [
        {"at": at, "actor_type": actor.kind if actor else "system", "actor_id": actor.id if actor else None,
         "actor_role": actor.label if actor else None, "action": action, "object_type": object_type,
         "object_id": object_id, "request_id": request_id, "purpose": purpose, "details": details}
        for action, object_type, object_id, details in entries])


def _insert_returning_ids(table, rows: list[dict]) -> list[int]:
    return [row[0] for row in insert_rows(table, rows, returning=("id",))]


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start:start + size]
