"""The one door every inbound contact goes through."""

from .logic import IntakeResult, receive  # noqa: F401
from .message import InboundAttachment, InboundMessage, Sender  # noqa: F401
