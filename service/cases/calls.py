"""Filling in a phone contact's times as the phone system reports them.

Reports arrive out of order and more than once. Each field is set when first known and a
later report never moves a call backwards: the answer time keeps the earliest report, the end
time the first one, and a final call status is not replaced by an earlier stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from ..extensions import db
from .models import PROVIDER_IDS, Case, Contact

# A call still "waiting" after this long lost its end callback; it is not in any queue.
WAITING_AT_MOST = timedelta(hours=3)

# Twilio's call statuses in order; several final ones share the last rank.
_STATUS_RANK = {"queued": 0, "initiated": 0, "ringing": 1, "in-progress": 2, "answered": 2,
                "completed": 3, "busy": 3, "failed": 3, "no-answer": 3, "canceled": 3, "abandoned": 3}
_FINAL = tuple(status for status, rank in _STATUS_RANK.items() if rank == 3)


@dataclass(frozen=True)
class CallReport:
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    queue_seconds: int | None = None
    duration_seconds: int | None = None
    status: str | None = None
    handled_by_id: int | None = None
    recording_planned: bool | None = None
    agent_call_sid: str | None = None


def find_call(call_sid: str) -> Contact | None:
    return db.session.scalar(select(Contact).where(Contact.channel == "phone", Contact.external_id == call_sid,
                                                    Contact.external_id_source == PROVIDER_IDS)
                             .with_for_update())


def apply_report(contact: Contact, report: CallReport) -> None:
    if report.answered_at and (contact.answered_at is None or report.answered_at < contact.answered_at):
        contact.answered_at = max(report.answered_at, contact.started_at) if contact.started_at else report.answered_at
    if report.ended_at and contact.ended_at is None:
        contact.ended_at = max(report.ended_at, contact.started_at) if contact.started_at else report.ended_at
    if report.queue_seconds is not None and contact.queue_seconds is None:
        contact.queue_seconds = report.queue_seconds
    if report.duration_seconds is not None and contact.duration_seconds is None:
        contact.duration_seconds = report.duration_seconds
    if report.handled_by_id is not None and contact.handled_by_id is None:
        contact.handled_by_id = report.handled_by_id
    if report.recording_planned is not None and contact.recording_planned is None:
        contact.recording_planned = report.recording_planned
    if report.agent_call_sid and contact.agent_call_sid is None:
        contact.agent_call_sid = report.agent_call_sid
    if report.status:
        current = _STATUS_RANK.get(contact.call_status or "", -1)
        if _STATUS_RANK.get(report.status, -1) >= current and not (current == 3 and contact.call_status != report.status):
            contact.call_status = report.status


def update_call(call_sid: str, report: CallReport) -> Contact | None:
    """Apply a report to the call's contact and commit. None when the call is unknown."""
    contact = find_call(call_sid)
    if contact is None:
        db.session.rollback()
        return None
    apply_report(contact, report)
    db.session.commit()
    return contact


def oldest_waiting_call(*, line_ids: set[int] | None, now: datetime) -> Contact | None:
    """The inbound call on these lines (None: every line) that has waited longest for an
    official: rung in by the phone system, neither answered nor ended."""
    query = (select(Contact).join(Case, Contact.case_id == Case.id)
             # The predicate of ix_contact_unfinished_call, spelt out so the index is used.
             .where(Contact.channel == "phone", Contact.answered_at.is_(None), Contact.ended_at.is_(None),
                    Contact.started_at >= now - WAITING_AT_MOST, Contact.direction == "inbound",
                    Contact.call_status.not_in(_FINAL),
                    # Set by the phone system's incoming-call webhook alone: a call a switchboard
                    # reported with no answer yet is in no queue of ours.
                    Contact.recording_planned.is_not(None)))
    if line_ids is not None:
        query = query.where(Case.service_line_id.in_(line_ids))
    return db.session.scalar(query.order_by(Contact.started_at, Contact.id).limit(1))


def call_answered_on_leg(leg_sid: str) -> str | None:
    """The customer's call that the official's call leg ``leg_sid`` took off the queue."""
    return db.session.scalar(select(Contact.external_id).where(Contact.agent_call_sid == leg_sid).limit(1))
