"""The one door every inbound contact goes through."""

from .logic import IntakeResult, IntakeSettings, receive  # noqa: F401
from .message import InboundAttachment, InboundMessage, RefusedFile, RemoteMedia, Sender  # noqa: F401
