"""What every channel adapter hands to intake, whatever the provider."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime


@dataclass(frozen=True)
class InboundAttachment:
    filename: str | None
    content_type: str | None
    content: bytes


@dataclass(frozen=True)
class RemoteMedia:
    """A file the provider holds (e.g. an MMS image behind a Twilio media URL). Stored as
    metadata; the bytes are fetched separately, if at all."""

    url: str
    content_type: str | None


@dataclass(frozen=True)
class RefusedFile:
    """A file that came with a message but was not kept (too large, or a refused type): the
    case still shows that it existed."""

    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Sender:
    """Raw sender details as the provider gave them; intake normalises them."""

    phone: str | None = None
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    channel: str
    external_id: str | None
    sender: Sender
    to: str | None = None
    subject: str | None = None
    body: str | None = None
    received_at: datetime | None = None
    language: str | None = None
    attachments: tuple[InboundAttachment, ...] = ()
    media: tuple[RemoteMedia, ...] = ()
    refused_files: tuple[RefusedFile, ...] = ()
    # An auto-reply, bounce or bulk mail: joins a case it names, never opens one.
    automatic: bool = False
    # Calls an official made are outbound contacts too.
    direction: str = "inbound"
    # Calls: the times of the call itself.
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    queue_seconds: int | None = None
    # Email threading: Message-IDs this message answers.
    in_reply_to: tuple[str, ...] = field(default=())


def shortened(text: str | None, limit: int) -> str | None:
    """``text`` cut to a column's length (empty and missing texts as they are)."""
    return text[:limit] if text else text


def without_nul(message: InboundMessage) -> InboundMessage:
    """NUL characters replaced by U+FFFD in every text of the message.

    Mail and SMS may carry them (a broken client, an encoded-word, a probe); PostgreSQL cannot
    store one in text, and losing a whole message over one character is worse than marking
    where it was."""

    if not any(getattr(message, name) for name in _TUPLE_FIELDS) and not any(
            "\x00" in text for text in (*(getattr(message, name) for name in _TEXT_FIELDS),
                                         *(getattr(message.sender, name) for name in _SENDER_FIELDS)) if text):
        return message  # the usual case, answered without copying the message field by field

    def clean(value):
        if isinstance(value, str):
            return value.replace("\x00", "\ufffd") if "\x00" in value else value
        if isinstance(value, tuple):
            return tuple(clean(item) for item in value)
        if isinstance(value, (Sender, RemoteMedia, RefusedFile, InboundAttachment)):
            changes = {f.name: clean(getattr(value, f.name)) for f in fields(value)}
            return replace(value, **changes)
        return value

    return replace(message, **{f.name: clean(getattr(message, f.name)) for f in fields(message)})


# The texts and tuples of texts of a message, for the quick look above.
_TEXT_FIELDS = tuple(f.name for f in fields(InboundMessage) if f.type in ("str", "str | None"))
_TUPLE_FIELDS = tuple(f.name for f in fields(InboundMessage) if f.type.startswith("tuple"))
_SENDER_FIELDS = tuple(f.name for f in fields(Sender))
