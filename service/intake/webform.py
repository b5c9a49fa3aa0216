"""The authority's contact form, landed first like an SMS: the form's answer is the same for
every submission, so the citizen waits for one INSERT, and the submission becomes a contact in
the next batch with everything else that arrived."""

from __future__ import annotations

from datetime import datetime

from ..db_types import utcnow
from .envelopes import LandedChannel, land
from .message import InboundMessage, Sender
from .processing import enqueue_processing

_FIELDS = ("name", "email", "phone", "subject", "message", "language", "form_id")


def land_submission(external_id: str, data: dict) -> None:
    payload = {name: data.get(name) for name in _FIELDS}
    envelope_id = land("webform", external_id, payload, received_at=utcnow())
    if envelope_id is not None:  # else the same submission is already waiting
        enqueue_processing(envelope_id)


def decode(external_id: str, payload: dict, received_at: datetime) -> InboundMessage:
    return InboundMessage(
        channel="webform", external_id=external_id,
        sender=Sender(phone=payload.get("phone"), email=payload.get("email"), name=payload.get("name")),
        to=payload.get("form_id"), subject=payload.get("subject"), body=payload["message"],
        language=payload.get("language"), received_at=received_at)


LANDED = LandedChannel(decode=decode)
