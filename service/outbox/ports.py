"""What the outbox asks of a delivery channel. Channel adapters implement ``Sender``; the
service only ever sees this interface."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class OutgoingFile:
    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class Outgoing:
    outbox_id: int
    channel: str
    to: str
    body: str
    subject: str | None = None
    # Email threading and similar channel-specific headers.
    headers: dict[str, str] = field(default_factory=dict)
    files: tuple[OutgoingFile, ...] = ()


@dataclass(frozen=True)
class SendResult:
    provider_id: str | None
    # The provider's own word for the state it accepted the message in (e.g. "queued").
    provider_status: str | None = None


class DeliveryFailure(Exception):
    def __init__(self, reason: str, *, code: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TemporaryFailure(DeliveryFailure):
    """Worth retrying later: the provider or the network was unavailable."""


class PermanentFailure(DeliveryFailure):
    """Will never succeed as it is: an invalid or blocked recipient, a rejected message."""


class Sender(Protocol):
    """A drain job calls ``send`` from several threads at once, outside the app context: an
    adapter must be safe to share between threads and must not use the app or the database."""

    def send(self, message: Outgoing) -> SendResult: ...
