"""Imports every model so the metadata is complete (Alembic, tests, the purge)."""

from .audit.models import AuditChainHead, AuditEntry  # noqa: F401
from .auth.models import ApiKey, AuthToken, Official  # noqa: F401
from .cases.models import Attachment, Case, Contact, Note, SearchEntry  # noqa: F401
from .customers.models import Customer  # noqa: F401
from .lines.models import ServiceLine, ServiceLineAddress, service_line_member  # noqa: F401
from .customers.models import SmsOptOut  # noqa: F401
from .outbox.models import IdempotentRequest, OutboxMessage  # noqa: F401
from .recordings.models import Recording  # noqa: F401
from .chats.models import Chat, ChatMessage  # noqa: F401
from .forwarding.models import Authority, Disclosure  # noqa: F401
from .feedback.models import FeedbackRequest  # noqa: F401
from .privacy.models import PrivacyRequest  # noqa: F401
from .stats.models import CaseFact, ContactDaily, ContactFact  # noqa: F401
from .intake.models import InboundEnvelope  # noqa: F401
from .retention.models import ProviderCopy  # noqa: F401
from .reply_templates.models import ReplyTemplate  # noqa: F401
from .clocks.models import BusinessCalendar, ClockEvent, ServiceTarget  # noqa: F401
