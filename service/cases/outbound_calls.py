"""Calls an official makes from a case through the phone system.

The call is an outbound phone contact on the case from the moment it is placed; the phone
system's callbacks fill in its times as for inbound calls. The line's recording policy
applies as it does to inbound calls, and the recording starts when the customer answers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from ..audit.logic import record
from ..customers.logic import ensure_not_restricted
from ..auth.permissions import Principal
from ..db_types import utcnow
from ..errors import Conflict, InvalidTransition, ServiceUnavailable, ValidationFailed
from ..extensions import db
from ..lines.logic import records_call
from .logic import handled_by_official, load_case, touch
from .models import CLOSED, Contact


@dataclass(frozen=True)
class CallRequest:
    contact_id: int
    to: str
    official_username: str
    record: bool


class CallPlacingFailed(Exception):
    pass


class CallPlacer(Protocol):
    def place(self, request: CallRequest) -> str:
        """Start the call; returns the phone system's call id."""


def start_call(*, actor: Principal, case_id: int, placer: CallPlacer | None, draw: float | None = None) -> Contact:
    if placer is None:
        raise Conflict("No phone system is configured for outbound calls.", code="no-phone-system")
    case = load_case(actor=actor, case_id=case_id, for_update=True)
    if case.status == CLOSED:
        raise InvalidTransition("The case is closed; reopen it before calling.")
    ensure_not_restricted(case.customer, "calling them")
    if case.customer is None or not case.customer.phone:
        raise ValidationFailed("The customer has no phone number to call.",
                               errors={"case": ["No phone number on this case's customer."]})
    from ..auth.models import Official

    official = db.session.get(Official, actor.id)
    now = utcnow()
    recorded = records_call(case.service_line, random.random() if draw is None else draw)
    contact = Contact(case=case, channel="phone", direction="outbound", recipient=case.customer.phone,
                      started_at=now, occurred_at=now, handled_by_id=actor.id, created_by_id=actor.id,
                      call_status="initiated", recording_planned=recorded, language=case.language)
    db.session.add(contact)
    handled_by_official(case, now)
    touch(case, now)
    db.session.flush()
    record("contact.created", actor=actor, object_type="case", object_id=case.id,
           details={"contact_id": contact.id, "direction": "outbound", "channel": "phone"})
    request = CallRequest(contact_id=contact.id, to=case.customer.phone, official_username=official.username,
                          record=recorded)
    db.session.commit()  # the contact exists before the phone rings; no lock is held over the call
    try:
        call_id = placer.place(request)
    except CallPlacingFailed as failure:
        contact.call_status = "failed"
        db.session.commit()
        raise ServiceUnavailable(f"The phone system did not place the call: {failure}.") from None
    contact.external_id = call_id
    db.session.commit()
    return contact
