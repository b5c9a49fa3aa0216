"""Data-subject requests: deadlines, finding the person, and the access export."""

from __future__ import annotations

import calendar
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..audit.logic import commit_read, record
from ..auth.permissions import Principal
from ..cases.models import Case
from ..customers.models import Customer
from ..customers.normalise import email_or_none, phone_or_none
from ..db_types import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..forwarding.models import Disclosure
from ..pagination import paginate
from ..recordings.models import Recording
from .models import COMPLETED, OPEN, PrivacyRequest

WITHHOLDABLE = ("case", "contact", "note", "attachment", "recording", "disclosure")


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


def extend(*, actor: Principal, request_id: int, months: int, reason: str) -> PrivacyRequest:
    request = get_request(request_id)
    if request.status != OPEN:
        raise Conflict("Only an open request can be extended.", code="request-closed")
    if request.extended_at is not None:
        raise Conflict("The request has been extended once already; the law allows one extension.",
                       code="already-extended")
    request.due_at = add_months(request.due_at, months)
    request.extended_at, request.extension_reason = utcnow(), reason
    record("privacy.request_extended", actor=actor, object_type="privacy_request", object_id=request.id,
           details={"months": months})
    db.session.commit()
    return request


def complete(*, actor: Principal, request_id: int) -> PrivacyRequest:
    request = get_request(request_id)
    if request.status != OPEN:
        raise Conflict("The request is already completed.", code="request-closed")
    request.status, request.completed_at = COMPLETED, utcnow()
    record("privacy.request_completed", actor=actor, object_type="privacy_request", object_id=request.id)
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
    return list(db.session.scalars(select(Customer).where(or_(*conditions)).order_by(Customer.id)))


def _iso(value):
    return value.isoformat() if value else None


def build_export(*, actor: Principal, request_id: int, region: str) -> tuple[dict, list[tuple[str, str]]]:
    """Everything held about the subject, as one document a person can read, and the files
    (archive name, storage key) that go with it. Withheld items are named, not shown."""
    request = get_request(request_id)
    if request.type != "access":
        raise Conflict("Only an access request has an export.", code="not-an-access-request")
    withheld = {(i["type"], i["id"]): i["reason"] for i in (request.withheld or [])}
    customers = find_customers(request.subject, region)
    window = (request.subject or {}).get("contacted_between") or {}
    files: list[tuple[str, str]] = []

    def kept(kind, item_id, build):
        if (kind, item_id) in withheld:
            return {"withheld": True, "type": kind, "id": item_id, "reason": withheld[(kind, item_id)]}
        return build()

    people = []
    for customer in customers:
        query = select(Case).where(Case.customer_id == customer.id).options(
            selectinload(Case.contacts), selectinload(Case.notes), selectinload(Case.attachments)).order_by(Case.id)
        if window.get("from"):
            query = query.where(Case.created_at >= datetime.fromisoformat(window["from"]))
        if window.get("to"):
            query = query.where(Case.created_at < datetime.fromisoformat(window["to"]))
        cases = []
        for case in db.session.scalars(query):
            cases.append(kept("case", case.id, lambda case=case: _case_export(case, kept, files)))
        disclosures = db.session.scalars(select(Disclosure).where(Disclosure.customer_id == customer.id)
                                         .order_by(Disclosure.disclosed_at))
        people.append({
            "customer": {"id": customer.id, "name": customer.name, "email": customer.email, "phone": customer.phone,
                         "address": customer.address, "preferred_contact_method": customer.preferred_contact_method,
                         "language": customer.language, "created_at": _iso(customer.created_at),
                         "processing_restricted_since": _iso(customer.restricted_at)},
            "cases": cases,
            "disclosures": [kept("disclosure", d.id, lambda d=d: {
                "id": d.id, "case_id": d.case_id, "recipient": d.recipient, "fields": d.fields,
                "legal_basis": d.legal_basis, "disclosed_at": _iso(d.disclosed_at)}) for d in disclosures],
        })
    document = {
        "request": {"id": request.id, "received_at": _iso(request.received_at), "due_at": _iso(request.due_at)},
        "generated_at": utcnow().isoformat(),
        "about": "Personal data held by the customer service about the person who made this request.",
        "people": people,
        "withheld_items": [{"type": t, "id": i, "reason": r} for (t, i), r in withheld.items()],
    }
    record("privacy.exported", actor=actor, object_type="privacy_request", object_id=request.id,
           details={"customers": len(customers), "files": len(files), "withheld": len(withheld)})
    db.session.commit()
    return document, files


def _case_export(case: Case, kept, files) -> dict:
    recordings = db.session.scalars(select(Recording).where(Recording.case_id == case.id).order_by(Recording.id))
    attachments = []
    for attachment in case.attachments:
        def build(a=attachment):
            entry = {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size,
                     "sha256": a.sha256, "file_in_archive": None}
            if a.storage_key:
                entry["file_in_archive"] = f"files/attachment-{a.id}-{a.filename}"
                files.append((entry["file_in_archive"], a.storage_key))
            return entry
        attachments.append(kept("attachment", attachment.id, build))
    return {
        "id": case.id, "reference": case.reference, "channel": case.channel, "status": case.status,
        "subject": case.subject, "question": case.question, "answer": case.answer,
        "opened_at": _iso(case.created_at), "closed_at": _iso(case.closed_at),
        "retention_until": _iso(case.retention_until),
        "contacts": [kept("contact", c.id, lambda c=c: {
            "id": c.id, "channel": c.channel, "direction": c.direction, "from": c.sender, "to": c.recipient,
            "subject": c.subject, "body": c.body, "received_at": _iso(c.received_at), "started_at": _iso(c.started_at),
            "answered_at": _iso(c.answered_at), "ended_at": _iso(c.ended_at)}) for c in case.contacts],
        "notes": [kept("note", n.id, lambda n=n: {"id": n.id, "body": n.body, "written_at": _iso(n.created_at)})
                  for n in case.notes],
        "attachments": attachments,
        "recordings": [kept("recording", r.id, lambda r=r: {
            "id": r.id, "recorded_at": _iso(r.recorded_at), "duration_seconds": r.duration_seconds,
            "audio": f"/api/v1/recordings/{r.id}/audio" if r.storage_key else None}) for r in recordings],
        "feedback": [{"sent_at": _iso(f.sent_at), "score": f.score, "answer": f.answer_text}
                     for f in getattr(case, "feedback_requests", [])],
    }
