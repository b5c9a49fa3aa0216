"""Data-subject requests: deadlines, answers, and finding the person (the export: export.py)."""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy import func, or_, select

from ..audit.logic import commit_read, record
from ..auth.permissions import Principal
from ..customers.linking import person_ids
from ..customers.models import Customer
from ..customers.normalise import email_or_none, phone_or_none
from ..db_types import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..pagination import paginate
from .models import ANSWERED_WITH_A_REASON, COMPLETED, OPEN, PrivacyRequest

WITHHOLDABLE = ("case", "contact", "note", "attachment", "recording", "chat", "outbox_message", "disclosure")


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, or the month's last day when it has no such day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def register(*, actor: Principal, type: str, subject: dict, received_at: datetime,
             details: str | None = None) -> PrivacyRequest:
    if not any(subject.get(k) for k in ("phone", "email", "name")):
        raise ValidationFailed("Say whom the request is about.",
                               errors={"subject": ["Give a phone number, an email address or a name."]})
    window = subject.get("contacted_between")
    if window:
        subject = {**subject, "contacted_between": {k: v.isoformat() for k, v in window.items() if v}}
    request = PrivacyRequest(type=type, subject=subject, details=details, received_at=received_at,
                             due_at=add_months(received_at, 1), status=OPEN, created_by_id=actor.id)
    db.session.add(request)
    db.session.flush()
    record("privacy.request_registered", actor=actor, object_type="privacy_request", object_id=request.id,
           details={"type": type})
    db.session.commit()
    return request


def get_request(request_id: int) -> PrivacyRequest:
    request = db.session.get(PrivacyRequest, request_id)
    if request is None:
        raise NotFound(f"Request {request_id} does not exist.")
    return request


def read_request(*, actor: Principal, request_id: int) -> PrivacyRequest:
    request = get_request(request_id)
    # A request names its data subject: reading one is reading personal data.
    record("privacy.request_read", actor=actor, object_type="privacy_request", object_id=request.id)
    commit_read()
    return request


def list_requests(*, actor: Principal, page: int, page_size: int, status: str | None = None,
                  overdue: bool | None = None, now: datetime | None = None):
    query = select(PrivacyRequest).order_by(PrivacyRequest.due_at, PrivacyRequest.id)
    if status:
        query = query.where(PrivacyRequest.status == status)
    if overdue:
        query = query.where(PrivacyRequest.status == OPEN, PrivacyRequest.due_at < (now or utcnow()))
    result = paginate(query, page=page, page_size=page_size)
    record("privacy.request_listed", actor=actor, object_type="privacy_request",
           details={"filters": sorted(k for k, v in (("status", status), ("overdue", overdue)) if v),
                    "count": len(result.items)})
    commit_read()
    return result


def extend(*, actor: Principal, request_id: int, months: int, reason: str, notified_at: datetime,
           notified_via: str, now: datetime | None = None) -> PrivacyRequest:
    """Extend the deadline once. The person must have been told, with the reasons, within the
    first month (GDPR art. 12(3)); an answer already late cannot be made on time by extending."""
    request = get_request(request_id)
    now = now or utcnow()
    if request.status != OPEN:
        raise Conflict("Only an open request can be extended.", code="request-closed")
    if request.extended_at is not None:
        raise Conflict("The request has been extended once already; the law allows one extension.",
                       code="already-extended")
    if request.due_at <= now:
        raise Conflict("The request is overdue: a deadline that has passed cannot be extended. Answer it now.",
                       code="request-overdue")
    if notified_at > now:
        raise ValidationFailed("The person cannot have been told in the future.",
                               errors={"notified_at": ["Must not be in the future."]})
    if notified_at < request.received_at:
        raise ValidationFailed("The person was told before the request was received.",
                               errors={"notified_at": ["Must not be before the request was received."]})
    request.due_at = add_months(request.due_at, months)
    request.extended_at, request.extension_reason = now, reason
    request.extension_notified_at, request.extension_notified_via = notified_at, notified_via
    record("privacy.request_extended", actor=actor, object_type="privacy_request", object_id=request.id,
           details={"months": months, "notified_via": notified_via})
    db.session.commit()
    return request


def complete(*, actor: Principal, request_id: int, answer_reason: str | None = None) -> PrivacyRequest:
    request = get_request(request_id)
    if request.status != OPEN:
        raise Conflict("The request is already completed.", code="request-closed")
    if request.type in ANSWERED_WITH_A_REASON and not (answer_reason or "").strip():
        raise ValidationFailed(
            f"A request for {request.type} is answered with its legal reason: processing by a public authority "
            "rests on a legal obligation or a public task, and the data is deleted when its retention period "
            "ends. Give the reason the person is told in answer_reason.",
            errors={"answer_reason": [f"Required to answer a request for {request.type}."]})
    request.status, request.completed_at, request.answer_reason = COMPLETED, utcnow(), answer_reason
    record("privacy.request_completed", actor=actor, object_type="privacy_request", object_id=request.id,
           details={"type": request.type})
    db.session.commit()
    return request


def withhold(*, actor: Principal, request_id: int, item_type: str, item_id: int, reason: str) -> PrivacyRequest:
    request = get_request(request_id)
    if request.status != OPEN:
        raise Conflict("The request is completed.", code="request-closed")
    items = [i for i in (request.withheld or []) if (i["type"], i["id"]) != (item_type, item_id)]
    items.append({"type": item_type, "id": item_id, "reason": reason})
    request.withheld = items
    record("privacy.item_withheld", actor=actor, object_type="privacy_request", object_id=request.id,
           details={"item_type": item_type, "item_id": item_id})
    db.session.commit()
    return request


def find_customers(subject: dict, region: str) -> list[Customer]:
    """Everyone the subject's details match, in normalised form: ``040 123 4567`` finds
    ``+358401234567``."""
    conditions = []
    phone = phone_or_none(subject.get("phone") or "", region) if subject.get("phone") else None
    email = email_or_none(subject.get("email") or "") if subject.get("email") else None
    if phone:
        conditions.append(Customer.phone == phone)
    if email:
        conditions.append(Customer.email == email)
    if subject.get("name") and not conditions:
        # The whole name, not a part of it: "Anna" must not find every Anna-Liisa.
        conditions.append(func.lower(Customer.name) == subject["name"].strip().lower())
    if not conditions:
        return []
    found = set(db.session.scalars(select(Customer.id).where(or_(*conditions))))
    # Records an official linked as the same person are answered for together.
    return list(db.session.scalars(select(Customer).where(Customer.id.in_(person_ids(found))).order_by(Customer.id)))
