"""Customers (data subjects): matching contacts to a person, searching, and corrections."""

from __future__ import annotations

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from ..audit.logic import commit_read, record
from ..auth.permissions import PRIVACY_OFFICER, Principal
from ..db_types import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..lines.logic import visible_line_ids
from ..pagination import paginate
from ..sql import contains
from .models import Customer, RectificationHistory, SmsOptOut
from .normalise import InvalidContactDetail, email_or_none, normalise_email, normalise_phone, phone_or_none

EDITABLE = ("name", "address", "email", "phone", "preferred_contact_method", "language")
# Details of the person rather than of one identity: a correction of one of these on any record
# of a person linked as one (customers/linking.py) is made on every record of the person, so
# every case of theirs shows the corrected detail. Phone and email are the identities
# themselves, each held by one record, and are corrected on that record alone.
PERSON_DETAILS = ("name", "address", "preferred_contact_method", "language")


def find_or_create(*, phone: str | None, email: str | None, name: str | None,
                   language: str | None = None) -> tuple[Customer | None, bool]:
    """The customer these (already normalised) details identify, created when new.

    Phone wins over email when both are known. Details are never merged across customers
    automatically: linking two identities is an official's decision. Returns (None, False)
    when there is nothing to identify anyone by (an anonymous contact).
    """
    customer = find_customer(phone=phone, email=email)
    if customer is not None:
        if name and not customer.name:
            customer.name = name
        return customer, False
    if not (phone or email or name):
        return None, False
    customer = Customer(phone=phone, email=email, name=name, language=language)
    try:
        with db.session.begin_nested():
            db.session.add(customer)
    except IntegrityError:
        # The same person wrote twice at the same instant; the other request created them.
        for column, value in ((Customer.phone, phone), (Customer.email, email)):
            if value:
                found = db.session.scalar(select(Customer).where(column == value))
                if found is not None:
                    return found, False
        raise
    return customer, True


def find_customer(*, phone: str | None, email: str | None) -> Customer | None:
    """The customer these (already normalised) details name; phone wins over email."""
    for column, value in ((Customer.phone, phone), (Customer.email, email)):
        if value:
            customer = db.session.scalar(select(Customer).where(column == value))
            if customer is not None:
                return customer
    return None


def may_see(principal: Principal, customer: Customer) -> bool:
    return db.session.scalar(_visible(select(Customer.id).where(Customer.id == customer.id), principal)) is not None


def _visible(query, principal: Principal):
    from ..cases.models import Case

    line_ids = visible_line_ids(principal)
    if line_ids is None:
        return query
    # A merged case counts on the line of the survivor its contacts moved to, not its own: after
    # a merge across lines, the person is the survivor's line's (as their case list says).
    # Aliases, correlated to the customer only: ``query`` may read cases itself (the candidates).
    # One EXISTS over the customer's cases, the survivor looked up only for a merged one: two
    # EXISTS in an OR cannot be a semi-join, and a line adviser's customer list at a million
    # cases took 319 ms at p50 instead of 32.
    theirs, survivor = aliased(Case), aliased(Case)
    # OFFSET 0 keeps it a lookup by id for each merged case: PostgreSQL would otherwise hash every
    # case of the lines first (188 ms at a million cases once a single merged case is met).
    on_the_survivors_line = (select(survivor.id).where(survivor.id == theirs.merged_into_id,
                                                       survivor.service_line_id.in_(line_ids))
                             .offset(0).correlate(theirs).exists())
    return query.where(
        select(theirs.id).where(theirs.customer_id == Customer.id, or_(
            and_(theirs.merged_into_id.is_(None), theirs.service_line_id.in_(line_ids)),
            and_(theirs.merged_into_id.is_not(None), on_the_survivors_line))).correlate(Customer).exists())


def get_customer(*, actor: Principal, customer_id: int, audit: bool = True) -> Customer:
    customer = db.session.scalar(_visible(select(Customer).where(Customer.id == customer_id), actor))
    if customer is None:
        raise NotFound(f"Customer {customer_id} does not exist.")
    if audit:
        record("customer.read", actor=actor, object_type="customer", object_id=customer.id)
        commit_read()
    return customer


def customer_cases(*, actor: Principal, customer: Customer):
    from ..cases.models import Case

    from .linking import person_of

    # The cases of every record of the person; their cases merged into another's are listed as
    # the case they live on now.
    ids = [c.id for c in person_of(customer)]
    merged_into = select(Case.merged_into_id).where(Case.customer_id.in_(ids), Case.merged_into_id.is_not(None))
    query = (select(Case).where(or_(Case.customer_id.in_(ids), Case.id.in_(merged_into)),
                                Case.merged_into_id.is_(None))
             .order_by(Case.created_at.desc(), Case.id.desc()))
    line_ids = visible_line_ids(actor)
    if line_ids is not None:
        query = query.where(Case.service_line_id.in_(line_ids))
    return list(db.session.scalars(query))


def search_customers(*, actor: Principal, page: int, page_size: int, region: str,
                     phone: str | None = None, email: str | None = None, q: str | None = None):
    query = _visible(select(Customer), actor)
    if phone is not None:
        try:
            query = query.where(Customer.phone == normalise_phone(phone, region))
        except InvalidContactDetail:
            raise ValidationFailed("Not a phone number.", errors={"phone": ["Not a valid phone number."]}) from None
    if email is not None:
        try:
            query = query.where(Customer.email == normalise_email(email))
        except InvalidContactDetail:
            raise ValidationFailed("Not an email address.", errors={"email": ["Not a valid email address."]}) from None
    if q is not None:
        alternatives = [Customer.name.ilike(contains(q), escape="\\")]
        as_phone, as_email = phone_or_none(q, region), email_or_none(q)
        if as_phone:
            alternatives.append(Customer.phone == as_phone)
        if as_email:
            alternatives.append(Customer.email == as_email)
        query = query.where(or_(*alternatives))
    result = paginate(query.order_by(Customer.id.desc()), page=page, page_size=page_size)
    record("customer.listed", actor=actor, object_type="customer",
           details={"filters": sorted(k for k, v in (("phone", phone), ("email", email), ("q", q)) if v),
                    "count": len(result.items)})
    db.session.commit()
    return result


def ensure_not_restricted(customer: Customer | None, doing: str) -> None:
    if customer is not None and customer.restricted:
        raise Conflict(f"The customer's processing is restricted: {doing} is not allowed while it lasts.",
                       code="processing-restricted")


def restrict(*, actor: Principal, customer_id: int, reason: str, request_id: int | None = None) -> Customer:
    customer = get_customer(actor=actor, customer_id=customer_id, audit=False)
    if customer.restricted:
        raise Conflict("The customer's processing is already restricted.", code="already-restricted")
    from .linking import person_of

    # Every record of the person: a restriction on one of their identities applies to all.
    now = utcnow()
    person = person_of(customer)
    for one in person:
        if one.restricted_at is None:
            one.restricted_at, one.restriction_reason, one.restriction_request_id = now, reason, request_id
    record("customer.restricted", actor=actor, object_type="customer", object_id=customer.id,
           details={"request_id": request_id, "linked_customer_ids": [c.id for c in person if c.id != customer.id]})
    db.session.commit()
    return customer


def lift_restriction(*, actor: Principal, customer_id: int) -> Customer:
    customer = get_customer(actor=actor, customer_id=customer_id, audit=False)
    if not customer.restricted:
        raise Conflict("The customer's processing is not restricted.", code="not-restricted")
    from .linking import person_of

    person = person_of(customer)
    for one in person:
        one.restricted_at = None
        one.restriction_reason = None
        one.restriction_request_id = None
    record("customer.restriction_lifted", actor=actor, object_type="customer", object_id=customer.id,
           details={"linked_customer_ids": [c.id for c in person if c.id != customer.id]} if len(person) > 1 else None)
    db.session.commit()
    return customer


def update_customer(*, actor: Principal, customer_id: int, data: dict) -> Customer:
    customer = get_customer(actor=actor, customer_id=customer_id, audit=False)
    if customer.restricted and actor.role != PRIVACY_OFFICER:
        # The one change allowed is the correction under review, made by the privacy officer.
        ensure_not_restricted(customer, "editing their details")
    from .linking import person_of

    others = [c for c in person_of(customer) if c.id != customer.id]
    previous: dict[int, dict[str, str | None]] = {}
    for one, names in ((customer, EDITABLE), *((other, PERSON_DETAILS) for other in others)):
        for name in names:
            if name in data and getattr(one, name) != data[name]:
                previous.setdefault(one.id, {})[name] = getattr(one, name)
                setattr(one, name, data[name])
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Another customer already has this phone number or email address.") from None
    # A correction never erases what was recorded: the old values are kept, but in a table
    # with its own period, not in the audit log (kept for years, and chained, so never
    # edited). The entry refers to them by id. Each record keeps its own old values, so the
    # access export and the purge treat them as the record's.
    for one in (customer, *others):
        if one.id not in previous:
            continue
        history = [RectificationHistory(customer_id=one.id, field=name, old_value=value,
                                        corrected_by_id=actor.id if actor.is_official else None)
                   for name, value in sorted(previous[one.id].items())]
        db.session.add_all(history)
        db.session.flush()
        details = {"fields": sorted(previous[one.id]), "rectification_ids": [h.id for h in history]}
        if one is not customer:
            details["corrected_through_customer_id"] = customer.id
        record("customer.updated", actor=actor, object_type="customer", object_id=one.id, details=details)
    db.session.commit()
    return customer


def set_sms_opt_out(*, phone: str, opted_out: bool, region: str) -> None:
    """Record a STOP (or a START lifting it). A sender that is no phone number (a short code,
    an alphanumeric id) changes nothing: there is nothing to block or unblock."""
    number = phone_or_none(phone, region)
    if number is None:
        return
    if opted_out:
        if db.session.get(SmsOptOut, number) is None:
            try:
                with db.session.begin_nested():
                    db.session.add(SmsOptOut(phone=number))
            except IntegrityError:
                pass  # the same STOP arrived twice at once
    else:
        db.session.execute(delete(SmsOptOut).where(SmsOptOut.phone == number))
    customer = db.session.scalar(select(Customer).where(Customer.phone == number))
    if customer is not None:
        record("customer.sms_opt_out" if opted_out else "customer.sms_opt_in", actor=None,
               object_type="customer", object_id=customer.id)
    db.session.commit()


def is_opted_out_of_sms(phone: str) -> bool:
    return db.session.get(SmsOptOut, phone) is not None


def opted_out_of_sms(phones: list[str]) -> set[str]:
    """The numbers among ``phones`` that have opted out, in one query."""
    if not phones:
        return set()
    return set(db.session.scalars(select(SmsOptOut.phone).where(SmsOptOut.phone.in_(set(phones)))))
