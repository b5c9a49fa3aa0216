"""SMS feedback requests after a case closes, and the customer's score.

A request is scheduled when a case closes (a mobile number, no STOP, a channel in the
configured set, none sent to this customer lately), cancelled if the case reopens first, and
sent by the sweeper when due. An SMS from that number within the answer window that is a
score (1-5, optionally followed by words) is the answer; anything else is ordinary intake.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .. import events
from ..audit.logic import record
from ..cases.logic import DETAIL_LOADERS
from ..cases.models import Case
from ..customers.logic import is_opted_out_of_sms
from ..customers.models import Customer
from ..customers.normalise import is_mobile, phone_or_none
from ..db_types import utcnow
from ..extensions import db
from ..intake.logic import INTERCEPTORS, IntakeResult, Interceptor
from ..outbox.models import QUEUED, OutboxMessage
from .models import ANSWERED, CANCELLED, SCHEDULED, SENT, SKIPPED, FeedbackRequest

SCORE = re.compile(r"^\s*([1-5])(?!\d)[\s.,:;!/-]*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class FeedbackSettings:
    channels: frozenset[str]
    delay_seconds: int
    min_interval_days: int
    answer_window_days: int
    templates: dict[str, str]

    @classmethod
    def from_config(cls, config) -> "FeedbackSettings":
        return cls(channels=frozenset(c.strip() for c in config["FEEDBACK_CHANNELS"].split(",") if c.strip()),
                   delay_seconds=config["FEEDBACK_DELAY_SECONDS"],
                   min_interval_days=config["FEEDBACK_MIN_INTERVAL_DAYS"],
                   answer_window_days=config["FEEDBACK_ANSWER_WINDOW_DAYS"],
                   templates={lang: config[f"FEEDBACK_TEMPLATE_{lang.upper()}"] for lang in ("fi", "sv", "en")})


def parse_score(text: str | None) -> tuple[int, str | None] | None:
    match = SCORE.match(text or "")
    if not match:
        return None
    rest = match.group(2).strip()
    return int(match.group(1)), rest or None


def schedule_for(case: Case, settings: FeedbackSettings, *, now: datetime | None = None) -> FeedbackRequest | None:
    """Schedule a request for a case that has just closed, when the rules allow one."""
    customer = case.customer
    if case.channel not in settings.channels or customer is None or not customer.phone:
        return None
    if not is_mobile(customer.phone) or is_opted_out_of_sms(customer.phone) or customer.restricted:
        return None
    now = now or case.closed_at or utcnow()
    recent = db.session.scalar(select(FeedbackRequest.id).where(
        FeedbackRequest.customer_id == customer.id, FeedbackRequest.status != CANCELLED,
        FeedbackRequest.created_at >= now - timedelta(days=settings.min_interval_days)).limit(1))
    if recent is not None:
        return None
    language = case.language if case.language in settings.templates else "fi"
    request = FeedbackRequest(case_id=case.id, customer_id=customer.id, phone=customer.phone, language=language,
                              status=SCHEDULED, send_after=now + timedelta(seconds=settings.delay_seconds),
                              created_at=now)
    db.session.add(request)
    return request


def cancel_for(case: Case) -> int:
    cancelled = 0
    for request in db.session.scalars(select(FeedbackRequest).where(FeedbackRequest.case_id == case.id,
                                                                    FeedbackRequest.status == SCHEDULED)):
        request.status = CANCELLED
        cancelled += 1
    return cancelled


def send_due(settings: FeedbackSettings, *, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Turn due requests into outbox messages; returns the outbox ids to deliver."""
    now = now or utcnow()
    due = list(db.session.scalars(select(FeedbackRequest).where(
        FeedbackRequest.status == SCHEDULED, FeedbackRequest.send_after <= now)
        .order_by(FeedbackRequest.send_after).limit(limit).with_for_update(skip_locked=True)))
    outbox_ids = []
    for request in due:
        # The request's own customer: after a merge, its case is another customer's.
        customer = db.session.get(Customer, request.customer_id) if request.customer_id else request.case.customer
        if is_opted_out_of_sms(request.phone) or (customer is not None and customer.restricted):
            request.status = SKIPPED
            continue
        # Deliverable from the moment it exists, whatever clock decided it was due.
        message = OutboxMessage(case_id=request.case_id, channel="sms", recipient=request.phone,
                                body=settings.templates[request.language], status=QUEUED,
                                next_attempt_at=min(now, utcnow()))
        db.session.add(message)
        db.session.flush()
        request.status, request.outbox_id, request.sent_at = SENT, message.id, now
        outbox_ids.append(message.id)
    db.session.commit()
    return outbox_ids


def record_answer(*, phone: str, body: str | None, region: str, answer_window_days: int,
                  now: datetime | None = None) -> FeedbackRequest | None:
    """The customer's score, when this SMS is one; a second answer replaces the first."""
    parsed = parse_score(body)
    number = phone_or_none(phone, region)
    if parsed is None or number is None:
        return None
    now = now or utcnow()
    request = db.session.scalar(select(FeedbackRequest).where(
        FeedbackRequest.phone == number, FeedbackRequest.status.in_((SENT, ANSWERED)),
        FeedbackRequest.sent_at >= now - timedelta(days=answer_window_days))
        .order_by(FeedbackRequest.sent_at.desc()).limit(1).with_for_update())
    if request is None:
        return None
    request.score, request.answer_text = parsed
    request.status, request.answered_at = ANSWERED, now
    record("feedback.answered", actor=None, object_type="case", object_id=request.case_id,
           details={"feedback_request_id": request.id})
    db.session.commit()
    return request


def _intercept(message, settings, now) -> IntakeResult | None:
    if message.channel != "sms" or not message.sender.phone:
        return None
    answer = record_answer(phone=message.sender.phone, body=message.body, region=settings.region,
                           answer_window_days=current_app.config["FEEDBACK_ANSWER_WINDOW_DAYS"], now=now)
    if answer is None:
        return None
    return IntakeResult(contact_id=None, case_id=answer.case_id, case_reference=None, created_case=False,
                        duplicate=False, ignored=True)


def _might_answer(message) -> bool:
    return message.channel == "sms" and bool(message.sender.phone) and parse_score(message.body) is not None


INTERCEPTORS.append(Interceptor(might_take=_might_answer, take=_intercept))
# A case's detail shows its feedback requests.
# (A function: the backref exists only once the mappers are configured.)
DETAIL_LOADERS.append(lambda: selectinload(Case.feedback_requests))


@events.case_closed.connect
def _on_closed(case: Case, **_) -> None:
    schedule_for(case, FeedbackSettings.from_config(current_app.config))


@events.case_reopened.connect
def _on_reopened(case: Case, **_) -> None:
    cancel_for(case)
