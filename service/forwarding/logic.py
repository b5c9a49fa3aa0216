"""Forwarding a matter to another authority, and the log of every disclosure.

Only the fields the adviser chose leave the service: the forwarding email is built from them
alone, and the disclosure log records exactly those fields.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..audit.logic import commit_read, record
from ..auth.models import Official
from ..auth.permissions import Principal
from ..cases.logic import handled_by_official, load_case, move, touch
from ..cases.models import CLOSED, FORWARDED, Case, Contact
from ..customers.logic import ensure_not_restricted
from ..db_types import utcnow
from ..errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from ..extensions import db
from ..outbox.logic import email_headers
from ..outbox.models import QUEUED, OutboxMessage
from ..pagination import paginate
from .models import Authority, Disclosure

DISCLOSABLE = ("name", "email", "phone", "address", "summary")
_LABELS = {
    "name": "Nimi / Namn / Name",
    "email": "Sähköposti / E-post / Email",
    "phone": "Puhelin / Telefon / Phone",
    "address": "Osoite / Adress / Address",
    "summary": "Asia / Ärende / Matter",
}


# --- the registry of authorities -------------------------------------------------------------

def get_authority(authority_id: int) -> Authority:
    authority = db.session.get(Authority, authority_id)
    if authority is None:
        raise NotFound(f"Authority {authority_id} does not exist.")
    return authority


def list_authorities(*, page: int, page_size: int, active: bool | None = None, q: str | None = None):
    from ..sql import contains

    query = select(Authority).order_by(Authority.name)
    if active is not None:
        query = query.where(Authority.active == active)
    if q:
        query = query.where(Authority.name.ilike(contains(q), escape="\\"))
    return paginate(query, page=page, page_size=page_size)


def save_authority(*, actor: Principal, data: dict, authority_id: int | None = None) -> Authority:
    authority = get_authority(authority_id) if authority_id else Authority()
    for name in ("name", "email", "phone", "active"):
        if name in data:
            setattr(authority, name, data[name])
    db.session.add(authority)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Another authority has this name.") from None
    record("authority.saved", actor=actor, object_type="authority", object_id=authority.id,
           details={"fields": sorted(data)})
    db.session.commit()
    return authority


# --- forwarding ------------------------------------------------------------------------------

def _disclosed_values(case: Case, fields: list[str]) -> dict[str, str]:
    customer = case.customer
    values, missing = {}, []
    for field in fields:
        if field == "summary":
            value = "\n".join(part for part in (case.subject, case.question) if part) or None
        else:
            value = getattr(customer, field, None) if customer is not None else None
        if value:
            values[field] = value
        else:
            missing.append(field)
    if missing:
        raise ValidationFailed("The case has nothing to disclose for some fields.",
                               errors={"disclose": [f"The case has no {field}." for field in missing]})
    return values


def _letter(*, case: Case, official: Official, values: dict[str, str], message: str | None) -> str:
    lines = []
    if message:
        lines += [message.strip(), ""]
    lines.append("Siirretty asia / Överfört ärende / Forwarded matter")
    for field in DISCLOSABLE:
        if field in values:
            lines.append(f"{_LABELS[field]}: {values[field]}")
    signature = ", ".join(part for part in (official.name, official.title, official.organisation,
                                            official.organisation_email, official.organisation_phone) if part)
    lines += ["", signature, f"Viite / Referens / Reference: {case.reference}"]
    return "\n".join(lines)


def forward(*, actor: Principal, case_id: int, authority_id: int, disclose: list[str], legal_basis: str,
            mail_domain: str, message: str | None = None) -> tuple[Disclosure, OutboxMessage]:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.status == CLOSED:
        raise InvalidTransition("The case is closed; reopen it before forwarding.")
    authority = db.session.get(Authority, authority_id)
    if authority is None:
        raise ValidationFailed("Unknown authority.", errors={"authority_id": ["No such authority."]})
    if not authority.active:
        raise Conflict(f"{authority.name} is no longer in use; choose another authority.", code="authority-inactive")
    ensure_not_restricted(case.customer, "forwarding their data")
    fields = list(dict.fromkeys(disclose))
    values = _disclosed_values(case, fields)
    official = db.session.get(Official, actor.id)
    now = utcnow()
    subject = f"Siirretty asia / Forwarded matter [#{case.reference}]"
    body = _letter(case=case, official=official, values=values, message=message)
    headers = email_headers(case, mail_domain, thread=False)
    contact = Contact(case=case, channel="email", direction="outbound", recipient=authority.email, subject=subject,
                      body=body, occurred_at=now, handled_by_id=actor.id, created_by_id=actor.id,
                      external_id=headers["Message-ID"])
    db.session.add(contact)
    db.session.flush()
    outbox = OutboxMessage(case_id=case.id, contact_id=contact.id, channel="email", recipient=authority.email,
                           subject=subject, body=body, status=QUEUED, next_attempt_at=now, headers=headers,
                           created_by_id=actor.id)
    db.session.add(outbox)
    db.session.flush()
    disclosure = Disclosure(case_id=case.id, customer_id=case.customer_id, authority_id=authority.id,
                            recipient=f"{authority.name} <{authority.email}>", fields=fields,
                            legal_basis=legal_basis, note=message, outbox_id=outbox.id,
                            disclosed_by_id=actor.id, disclosed_at=now)
    db.session.add(disclosure)
    handled_by_official(case, now)
    move(case, FORWARDED)
    touch(case, now)
    db.session.flush()
    record("case.forwarded", actor=actor, object_type="case", object_id=case.id,
           details={"authority_id": authority.id, "disclosure_id": disclosure.id, "fields": fields})
    db.session.commit()
    return disclosure, outbox


def record_disclosure(*, actor: Principal, case_id: int, recipient: str, fields: list[str], legal_basis: str,
                      note: str | None = None, disclosed_at: datetime | None = None) -> Disclosure:
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    disclosure = Disclosure(case_id=case.id, customer_id=case.customer_id, recipient=recipient,
                            fields=list(dict.fromkeys(fields)), legal_basis=legal_basis, note=note,
                            disclosed_by_id=actor.id, disclosed_at=disclosed_at or utcnow(), recorded_by_hand=True)
    db.session.add(disclosure)
    touch(case)
    db.session.flush()
    record("disclosure.recorded", actor=actor, object_type="case", object_id=case.id,
           details={"disclosure_id": disclosure.id, "fields": disclosure.fields})
    db.session.commit()
    return disclosure


def list_disclosures(*, actor: Principal, case_id: int) -> list[Disclosure]:
    case = load_case(actor=actor, case_id=case_id)
    rows = list(db.session.scalars(select(Disclosure).where(Disclosure.case_id == case.id)
                                   .order_by(Disclosure.disclosed_at, Disclosure.id)))
    record("case.read", actor=actor, object_type="case", object_id=case.id, details={"disclosures": len(rows)})
    commit_read()
    return rows
