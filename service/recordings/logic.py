"""Call recordings: storing what the phone system reports, and who may listen.

Advisers hear only the calls they handled; supervisors (service quality), admins and the
privacy officer (access requests) hear all; inspectors and line-limited officials only their
lines' (``visible_line_ids``). Every playback is audited. Nothing here changes a stored recording.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Response, current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from .. import events
from ..audit.logic import commit_read, record
from ..auth.permissions import ADVISER, Principal
from ..cases.models import PROVIDER_IDS, Case, Contact
from ..customers.models import Customer
from ..errors import Conflict, NotFound
from ..extensions import db
from ..file_rows import store_once
from ..lines.logic import visible_line_ids
from ..pagination import paginate
from ..storage import FileStorage
from .models import Recording

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportedRecording:
    provider_sid: str
    call_sid: str | None
    status: str
    recorded_at: datetime
    duration_seconds: int | None = None
    channels: int | None = None
    source_url: str | None = None
    # The integration key that reported it (a switchboard), which alone may upload its audio.
    reported_by_key_id: int | None = None


def _call_contact(call_sid: str | None) -> Contact | None:
    if not call_sid:
        return None
    return db.session.scalar(select(Contact).where(Contact.channel == "phone", Contact.external_id == call_sid,
                                                    Contact.external_id_source == PROVIDER_IDS))


def _link(recording: Recording, contact: Contact, default_days: int) -> None:
    recording.contact_id = contact.id
    recording.case_id = contact.case_id
    line = contact.case.service_line
    # Kept on the recording itself: it may outlive its case and call (retention).
    recording.service_line_id = line.id
    recording.caller = contact.sender
    days = line.recording_retention_days or default_days
    recording.retention_until = recording.recorded_at + timedelta(days=days)


def store_recording(report: ReportedRecording, *, default_retention_days: int) -> Recording:
    """Store a reported recording once; a repeated report returns the stored row unchanged."""
    existing = db.session.scalar(select(Recording).where(Recording.provider_sid == report.provider_sid))
    if existing is not None:
        return existing
    recording = Recording(provider_sid=report.provider_sid, call_sid=report.call_sid, status=report.status,
                          duration_seconds=report.duration_seconds, channels=report.channels,
                          source_url=report.source_url, recorded_at=report.recorded_at,
                          reported_by_key_id=report.reported_by_key_id,
                          # A recording whose call never arrives still has an end date.
                          retention_until=report.recorded_at + timedelta(days=default_retention_days))
    contact = _call_contact(report.call_sid)
    if contact is not None:
        _link(recording, contact, default_retention_days)
    try:
        with db.session.begin_nested():
            db.session.add(recording)
    except IntegrityError:
        recording = db.session.scalar(select(Recording).where(Recording.provider_sid == report.provider_sid))
    db.session.commit()
    return recording


def link_waiting_recordings(contact: Contact, *, default_retention_days: int) -> None:
    """Recordings reported before their call now find it. Runs inside the intake transaction."""
    if contact.channel != "phone" or not contact.external_id:
        return
    waiting = db.session.scalars(select(Recording).where(Recording.call_sid == contact.external_id,
                                                         Recording.contact_id.is_(None)))
    for recording in waiting:
        _link(recording, contact, default_retention_days)


# --- which line (register) a recording is on --------------------------------------------------
# Every access decision about a recording asks these two and nothing else. A recording carries
# its own line, set when it is linked to its call, because it may outlive its case (retention).

def recording_line():
    """SQL expression: the service line of ``Recording`` in the enclosing query; NULL while the
    recording waits for its call."""
    return Recording.service_line_id


def recording_line_id(recording: Recording) -> int | None:
    """The service line ``recording`` is on; None while it waits for its call."""
    return recording.service_line_id


def _visible(actor: Principal):
    line, line_ids = recording_line(), visible_line_ids(actor)
    # A recording not on a line yet (its call has not arrived) is nobody's to hear.
    query = select(Recording).where(line.is_not(None) if line_ids is None else line.in_(line_ids))
    if actor.role == ADVISER:
        query = query.join(Contact, Recording.contact_id == Contact.id).where(Contact.handled_by_id == actor.id)
    return query


def list_recordings(*, actor: Principal, page: int, page_size: int, case_id: int | None = None,
                    customer_id: int | None = None):
    query = _visible(actor)
    if case_id is not None:
        query = query.where(Recording.case_id == case_id)
    if customer_id is not None:
        # Through their cases, and by the calling number for those whose case has ended.
        phone = select(Customer.phone).where(Customer.id == customer_id).scalar_subquery()
        query = query.where(or_(Recording.case_id.in_(select(Case.id).where(Case.customer_id == customer_id)),
                                and_(Recording.case_id.is_(None), Recording.caller == phone)))
    result = paginate(query.order_by(Recording.recorded_at.desc(), Recording.id.desc()), page=page,
                      page_size=page_size)
    # Whose recordings were looked for is what legality control asks about.
    details = {"case_id": case_id, "count": len(result.items)}
    if customer_id is not None:
        details["customer_id"] = customer_id
    record("recording.listed", actor=actor, object_type="recording", details=details)
    db.session.commit()
    return result


def _visible_recording(actor: Principal, recording_id: int) -> Recording:
    recording = db.session.scalar(_visible(actor).where(Recording.id == recording_id))
    if recording is None:
        # The same answer whether it does not exist or is someone else's call.
        raise NotFound(f"Recording {recording_id} does not exist.")
    return recording


def get_recording(*, actor: Principal, recording_id: int) -> Recording:
    recording = _visible_recording(actor, recording_id)
    record("recording.read", actor=actor, object_type="recording", object_id=recording.id,
           details={"case_id": recording.case_id})
    commit_read()
    return recording


def play(*, actor: Principal, recording_id: int, respond: Callable[[Recording], Response]) -> Response:
    """``respond`` turns the recording into the HTTP answer (whole, a range, or 416 for a range
    outside the audio); only an answer that carries audio counts as played."""
    recording = _visible_recording(actor, recording_id)
    if recording.storage_key is None:
        raise Conflict("The audio has not been fetched from the phone system yet.", code="recording-not-fetched")
    response = respond(recording)
    if response.status_code in (200, 206):
        # The line too: a register's controller (or a register office) checks the plays of its own.
        record("recording.played", actor=actor, object_type="recording", object_id=recording.id,
               details={"case_id": recording.case_id, "service_line_id": recording_line_id(recording)})
        db.session.commit()
    return response


def store_audio(*, recording_id: int, content: bytes, content_type: str, storage: FileStorage) -> bool:
    """Keep the fetched audio. Done once: a recording that has audio is never rewritten."""
    return store_once(storage, Recording, recording_id, content, content_type=content_type)


@events.contact_received.connect
def _link_when_the_call_arrives(contact: Contact, **_) -> None:
    link_waiting_recordings(contact, default_retention_days=current_app.config["RECORDING_RETENTION_DAYS"])
