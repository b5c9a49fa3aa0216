"""Keeps the anonymous facts in step with the cases, contacts and feedback they count.

It listens to every ORM flush rather than to each place that creates a contact: replies,
forwarding letters, calls, manual entries and intake all write contacts, and a statistic that
depended on each of them remembering to report would drift. Only attributes that matter to a
statistic wake it, so a bulk change of, say, retention dates costs nothing here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, object_session

from ..cases.models import FORWARDED, Case, Contact
from ..feedback.models import ANSWERED, SENT, FeedbackRequest
from .models import CaseFact, ContactFact, StatsRecount

_CASE_FIELDS = ("status", "first_response_at", "closed_at", "language", "service_line_id", "channel",
                "first_response_met", "resolution_met")
_CALL_FIELDS = ("answered_at", "ended_at", "started_at", "queue_seconds", "call_status")
_FEEDBACK_FIELDS = ("status", "sent_at", "answered_at", "score")
_FACT_TIMES = ("opened_at", "first_response_at", "forwarded_at", "closed_at", "feedback_sent_at",
               "feedback_answered_at")
# A change in these changes what every day of the fact counted, not only one day's.
_FACT_VALUES = ("channel", "language", "service_line_id", "first_response_seconds", "close_seconds",
                "feedback_score", "first_response_met", "resolution_met", "first_response_working_seconds",
                "resolution_working_seconds")
_FINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled", "abandoned"})


def _minute(at: datetime | None) -> datetime | None:
    return at.replace(second=0, microsecond=0) if at else None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds()))


def _changed(obj, names) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _snapshot(fact: CaseFact | None) -> tuple | None:
    if fact is None:
        return None
    return tuple(getattr(fact, name) for name in (*_FACT_VALUES, *_FACT_TIMES))


def _queue_recounts(case: Case, fact: CaseFact, before: tuple | None) -> None:
    """Have the rollup recount the days of the times that changed, old and new; all of the
    fact's days when its breakdown or a duration or score changed (each counted the old)."""
    after = _snapshot(fact)
    if before == after:
        return
    groups = len(_FACT_VALUES)
    regrouped = before is None or before[:groups] != after[:groups]
    moments = set()
    for old, new in zip(before[groups:] if before else (None,) * len(_FACT_TIMES), after[groups:]):
        if regrouped or old != new:
            moments.update(at for at in (old, new) if at is not None)
    session = object_session(fact) or object_session(case)
    session.add_all(StatsRecount(at=at) for at in sorted(moments))


def sync_case(case: Case) -> CaseFact:
    fact = case.stats_fact
    before = _snapshot(fact)
    if fact is None:
        fact = CaseFact(opened_at=_minute(case.created_at))
        case.stats_fact = fact
    fact.channel = case.channel
    fact.language = case.language
    fact.service_line_id = case.service_line_id
    fact.first_response_at = _minute(case.first_response_at)
    fact.first_response_seconds = _seconds(case.created_at, case.first_response_at)
    fact.closed_at = _minute(case.closed_at)
    fact.close_seconds = _seconds(case.created_at, case.closed_at)
    # Service clocks: a reopened case's resolution is counted again when it closes again.
    fact.first_response_met = case.first_response_met
    fact.first_response_working_seconds = case.first_response_working_seconds
    fact.resolution_met = case.resolution_met if case.closed_at is not None else None
    fact.resolution_working_seconds = case.resolution_working_seconds if case.closed_at is not None else None
    if case.status == FORWARDED and fact.forwarded_at is None:
        fact.forwarded_at = _minute(case.updated_at)
    _queue_recounts(case, fact, before)
    return fact


def call_figures(contact: Contact) -> tuple[str | None, int | None, int | None]:
    """(outcome, queue seconds, handling seconds) of a call as far as it is known."""
    if contact.answered_at is not None:
        queue = contact.queue_seconds if contact.queue_seconds is not None else _seconds(contact.started_at,
                                                                                          contact.answered_at)
        return "answered", queue, _seconds(contact.answered_at, contact.ended_at)
    if contact.ended_at is not None or contact.call_status in _FINAL_CALL_STATUSES:
        queue = contact.queue_seconds if contact.queue_seconds is not None else _seconds(contact.started_at,
                                                                                          contact.ended_at)
        return "abandoned", queue, None
    return None, None, None


def sync_contact(contact: Contact) -> ContactFact:
    fact = contact.stats_fact
    if fact is None:
        case = contact.case
        fact = ContactFact(occurred_at=_minute(contact.occurred_at), channel=contact.channel,
                           direction=contact.direction,
                           language=contact.language or (case.language if case is not None else None),
                           service_line_id=case.service_line_id if case is not None else None, rolled_up=False)
        contact.stats_fact = fact
    if contact.channel == "phone":
        figures = call_figures(contact)
        if figures != (fact.call_outcome, fact.queue_seconds, fact.handling_seconds):
            fact.call_outcome, fact.queue_seconds, fact.handling_seconds = figures
            fact.rolled_up = False  # its day's calls are recounted with what the call became
    return fact


def sync_feedback(request: FeedbackRequest) -> None:
    if request.status not in (SENT, ANSWERED) or request.case is None:
        return
    fact = request.case.stats_fact or sync_case(request.case)
    before = _snapshot(fact)
    fact.feedback_sent_at = _minute(request.sent_at)
    if request.score is not None:
        fact.feedback_answered_at = _minute(request.answered_at)
        fact.feedback_score = request.score
    _queue_recounts(request.case, fact, before)


@event.listens_for(Session, "before_flush")
def _record(session: Session, _flush_context, _instances) -> None:
    new, dirty = list(session.new), list(session.dirty)
    with session.no_autoflush:
        # Cases first: a new contact takes its line and language from its case's fact.
        for obj in new:
            if isinstance(obj, Case):
                sync_case(obj)
        for obj in dirty:
            if isinstance(obj, Case) and _changed(obj, _CASE_FIELDS):
                sync_case(obj)
        for obj in new:
            if isinstance(obj, Contact):
                sync_contact(obj)
        for obj in dirty:
            if isinstance(obj, Contact) and obj.channel == "phone" and _changed(obj, _CALL_FIELDS):
                sync_contact(obj)
        for obj in new:
            if isinstance(obj, FeedbackRequest):
                sync_feedback(obj)
        for obj in dirty:
            if isinstance(obj, FeedbackRequest) and _changed(obj, _FEEDBACK_FIELDS):
                sync_feedback(obj)
