"""The access export: everything held about a person, as one document and the files with it.

``SHOWN`` names, for every table that holds a person's data, the columns the export shows
(and under which key); ``NOT_SHOWN`` every other column with the reason it is left out. A test
compares the two with the schema, so a new column has to be decided on here.
"""

from __future__ import annotations

import io
import json
import logging
import mimetypes
import re
import zipfile
from datetime import datetime

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import selectinload

from ..audit.logic import record
from ..auth.permissions import Principal
from ..cases.models import Attachment, Case, CaseMerge, Contact, Note, SearchEntry
from ..cases.scanning import openable, why_closed
from ..chats.models import Chat, ChatMessage
from ..clocks.models import ClockEvent
from ..customers.models import Customer, RectificationHistory, SmsOptOut
from ..customers.normalise import phone_or_none
from ..db_types import utcnow
from ..errors import Conflict
from ..extensions import db
from ..feedback.models import FeedbackRequest
from ..forwarding.models import Disclosure
from ..outbox.models import OutboxMessage
from ..recordings.models import Recording
from ..storage import FileStorage
from .logic import find_customers, get_request

log = logging.getLogger(__name__)

_NESTED = "shown nested under its parent"
_OFFICIAL = "identifies an official, not the person"
_INTERNAL = "an internal or the provider's technical identifier"
_CLOCK = "service clock bookkeeping; its due times, results and history are shown"

SHOWN: dict[type, dict[str, str]] = {
    Customer: {"id": "id", "name": "name", "email": "email", "phone": "phone", "address": "address",
               "preferred_contact_method": "preferred_contact_method", "language": "language",
               "created_at": "created_at", "updated_at": "updated_at",
               "restricted_at": "processing_restricted_since", "restriction_reason": "restriction_reason",
               "merged_into_id": "same_person_as_customer_id"},
    SmsOptOut: {"opted_out_at": "sms_opted_out_at"},
    RectificationHistory: {"id": "id", "field": "field", "old_value": "old_value", "corrected_at": "corrected_at"},
    Case: {"id": "id", "reference": "reference", "channel": "channel", "status": "status", "subject": "subject",
           "language": "language", "topic": "topic", "question": "question", "answer": "answer",
           "created_at": "opened_at", "updated_at": "updated_at", "last_activity_at": "last_activity_at",
           "first_response_at": "first_response_at", "closed_at": "closed_at", "retention_until": "retention_until",
           "legal_hold_at": "legal_hold_since", "first_response_due_at": "first_response_due_at",
           "resolution_due_at": "resolution_due_at", "first_response_met": "first_response_met",
           "resolution_met": "resolution_met", "merged_into_id": "merged_into_case_id"},
    ClockEvent: {"at": "at", "event": "event", "first_response_due_at": "first_response_due_at",
                 "resolution_due_at": "resolution_due_at"},
    Contact: {"id": "id", "channel": "channel", "direction": "direction", "external_id": "external_id",
              "sender": "from", "sender_name": "from_name", "recipient": "to", "subject": "subject", "body": "body",
              "language": "language", "occurred_at": "occurred_at", "received_at": "received_at",
              "started_at": "started_at", "answered_at": "answered_at", "ended_at": "ended_at",
              "queue_seconds": "queue_seconds", "duration_seconds": "duration_seconds", "call_status": "call_status",
              "recording_planned": "recording_planned", "created_at": "created_at"},
    Note: {"id": "id", "body": "body", "created_at": "written_at"},
    Attachment: {"id": "id", "contact_id": "contact_id", "filename": "filename", "content_type": "content_type",
                 "size": "size", "sha256": "sha256", "created_at": "created_at", "storage_key": "file_in_archive",
                 "scan_status": "scan_status", "scan_detail": "scan_detail"},
    Recording: {"id": "id", "contact_id": "contact_id", "status": "status", "recorded_at": "recorded_at",
                "duration_seconds": "duration_seconds", "channels": "channels", "content_type": "content_type",
                "size": "size", "sha256": "sha256", "retention_until": "retention_until", "created_at": "created_at",
                "storage_key": "audio_in_archive", "caller": "caller"},
    Chat: {"id": "id", "contact_id": "contact_id", "anonymous": "anonymous", "language": "language",
           "started_at": "started_at", "ended_at": "ended_at"},
    ChatMessage: {"id": "id", "author": "author", "body": "body", "created_at": "written_at"},
    FeedbackRequest: {"id": "id", "phone": "phone", "language": "language", "status": "status",
                      "send_after": "send_after", "sent_at": "sent_at", "answered_at": "answered_at",
                      "score": "score", "answer_text": "answer", "created_at": "created_at"},
    Disclosure: {"id": "id", "case_id": "case_id", "recipient": "recipient", "fields": "fields",
                 "legal_basis": "legal_basis", "note": "note", "disclosed_at": "disclosed_at",
                 "recorded_by_hand": "recorded_by_hand"},
    # The search index copies texts shown above (and their stems): nothing of its own.
    SearchEntry: {},
    # Read for no one: which case was merged into or split from which, by whom. The cases are shown.
    CaseMerge: {},
    OutboxMessage: {"id": "id", "contact_id": "contact_id", "channel": "channel", "recipient": "to",
                    "subject": "subject", "body": "body", "status": "status", "attachment_ids": "attachment_ids",
                    "created_at": "created_at", "sent_at": "sent_at", "delivered_at": "delivered_at"},
}

_SEARCH_COPY = "the search index's copy of a text shown in the case, or its stems"

NOT_SHOWN: dict[type, dict[str, str]] = {
    Customer: {"restriction_request_id": "the request shown in this export"},
    SmsOptOut: {"phone": "the customer's phone, shown"},
    RectificationHistory: {"customer_id": _NESTED, "corrected_by_id": _OFFICIAL},
    Case: {"service_line_id": "shown as the register's name", "customer_id": _NESTED,
           "linked_case_id": "a case the person's email named, perhaps someone else's", "assignee_id": _OFFICIAL,
           "created_by_id": _OFFICIAL, "stats_fact_id": "anonymous statistics, about no one",
           "legal_hold_reason": "the authority's reason for keeping the case; the hold itself is shown",
           **{name: _CLOCK for name in ("next_due_at", "clock_since", "clock_paused_at", "first_response_left_seconds",
                                        "resolution_left_seconds", "first_response_target_seconds",
                                        "resolution_target_seconds", "resolution_started_at",
                                        "first_response_working_seconds", "resolution_working_seconds")}},
    ClockEvent: {"id": _INTERNAL, "case_id": _NESTED},
    Contact: {"case_id": _NESTED, "handled_by_id": _OFFICIAL, "created_by_id": _OFFICIAL,
              "agent_call_sid": "the official's leg of the call: " + _INTERNAL,
              "external_id_source": "whether the external id is the provider's or was logged by hand",
              "stats_fact_id": "anonymous statistics, about no one"},
    Note: {"case_id": _NESTED, "author_id": _OFFICIAL},
    Attachment: {"case_id": _NESTED, "uploaded_by_id": _OFFICIAL,
                 "source_url": "the provider's address of a file not fetched yet (flagged held_by_provider)",
                 "scanned_at": "scan mechanics", "scan_attempts": "scan mechanics", "scan_due_at": "scan mechanics",
                 "released_at": "an administrator's security decision (audited)", "released_by_id": _OFFICIAL,
                 "release_reason": "an administrator's security decision (audited)"},
    Recording: {"case_id": _NESTED, "service_line_id": "shown as the register's name", "provider_sid": _INTERNAL,
                "reported_by_key_id": "the integration that reported it", "audio_uploaded_at": "delivery mechanics", "call_sid": "the call's external_id, shown on it",
                "source_url": "the phone system's address; the archive fetches the audio from it"},
    Chat: {"case_id": _NESTED, "token_hash": "a secret", "token_expires_at": _INTERNAL},
    ChatMessage: {"chat_id": _NESTED, "official_id": _OFFICIAL},
    FeedbackRequest: {"case_id": _NESTED, "customer_id": _NESTED, "outbox_id": "the SMS, shown in messages"},
    Disclosure: {"customer_id": _NESTED, "authority_id": "shown as the recipient",
                 "outbox_id": "the forwarding email, shown in messages", "disclosed_by_id": _OFFICIAL},
    SearchEntry: {column: _SEARCH_COPY for column in ("id", "case_id", "kind", "source_id", "body", "tsv")},
    CaseMerge: {**{name: "the record of a merge or split: the cases it names are shown" for name in
                   ("id", "kind", "source_id", "target_id", "moved", "at", "undone_at")},
                "by_id": _OFFICIAL, "undone_by_id": _OFFICIAL},
    OutboxMessage: {"case_id": _NESTED, "provider_id": _INTERNAL, "headers": "email threading headers",
                    "attempts": "delivery mechanics", "next_attempt_at": "delivery mechanics",
                    "last_error": "delivery mechanics", "created_by_id": _OFFICIAL, "updated_at": "delivery mechanics"},
}


class Remote(str):
    """The phone system's address of a file not in our storage."""


def _value(value):
    return value.isoformat() if isinstance(value, datetime) else value


def _row(obj) -> dict:
    return {key: _value(getattr(obj, column)) for column, key in SHOWN[type(obj)].items()
            if column != "storage_key"}


def _safe_name(name: str) -> str:
    # The archive is opened on the person's computer: no directories, no parent references.
    return re.sub(r"[^\w.\-]+", "_", name).strip("._")[:100] or "file"


class _Export:
    """One export being built: the withheld items, and the files the archive carries."""

    def __init__(self, withheld: dict):
        self.withheld = withheld
        self.files: list[tuple[str, str]] = []

    def kept(self, kind: str, item_id: int, build) -> dict:
        if (kind, item_id) in self.withheld:
            return {"withheld": True, "type": kind, "id": item_id, "reason": self.withheld[(kind, item_id)]}
        return build()

    def attachment(self, a: Attachment) -> dict:
        entry = _row(a)
        entry["file_in_archive"] = None
        entry["held_by_provider"] = a.storage_key is None and a.source_url is not None
        # Only a clean file goes into the archive, which is opened on the person's own computer;
        # any other is named, with the reason.
        if a.storage_key and not openable(a):
            entry["file_not_included"] = why_closed(a)
        elif a.storage_key:
            entry["file_in_archive"] = f"files/attachment-{a.id}-{_safe_name(a.filename)}"
            self.files.append((entry["file_in_archive"], a.storage_key))
        return entry

    def recording(self, r: Recording) -> dict:
        entry = _row(r)
        entry["audio_in_archive"] = None
        entry["held_by_phone_system"] = r.storage_key is None and r.source_url is not None
        if r.storage_key or r.source_url:
            extension = mimetypes.guess_extension(r.content_type or "audio/mpeg") or ".bin"
            entry["audio_in_archive"] = f"files/recording-{r.id}{extension}"
            # Audio the phone system still holds is fetched into the archive (only there).
            self.files.append((entry["audio_in_archive"], r.storage_key or Remote(r.source_url)))
        return entry

    def chat(self, chat: Chat) -> dict:
        return {**_row(chat), "messages": [_row(m) for m in chat.messages]}

    def case(self, case: Case) -> dict:
        by_case = {model: list(db.session.scalars(select(model).where(model.case_id == case.id).order_by(model.id)))
                   for model in (Recording, Chat, OutboxMessage, FeedbackRequest)}
        return {
            **_row(case),
            "register": case.service_line.name if case.service_line else None,
            "contacts": [self.kept("contact", c.id, lambda c=c: _row(c)) for c in case.contacts],
            "notes": [self.kept("note", n.id, lambda n=n: _row(n)) for n in case.notes],
            "attachments": [self.kept("attachment", a.id, lambda a=a: self.attachment(a)) for a in case.attachments],
            "recordings": [self.kept("recording", r.id, lambda r=r: self.recording(r)) for r in by_case[Recording]],
            "chats": [self.kept("chat", c.id, lambda c=c: self.chat(c)) for c in by_case[Chat]],
            "messages": [self.kept("outbox_message", m.id, lambda m=m: _row(m)) for m in by_case[OutboxMessage]],
            "feedback": [_row(f) for f in by_case[FeedbackRequest]],
            "service_clock_history": [_row(e) for e in case.clock_events],
        }


def _cases(customer: Customer, window: dict):
    # A case of theirs merged into someone else's case took their contacts there: the access
    # export follows them to it.
    merged_into = select(Case.merged_into_id).where(Case.customer_id == customer.id, Case.merged_into_id.is_not(None))
    query = select(Case).where(or_(Case.customer_id == customer.id, Case.id.in_(merged_into))).options(
        selectinload(Case.contacts), selectinload(Case.notes), selectinload(Case.attachments),
        selectinload(Case.clock_events), selectinload(Case.service_line)).order_by(Case.id)
    # "My call on date X" names when the contact happened, not when its case was opened: a
    # case opened in March holds the call of May too.
    within = []
    if window.get("from"):
        within.append(Contact.occurred_at >= datetime.fromisoformat(window["from"]))
    if window.get("to"):
        within.append(Contact.occurred_at < datetime.fromisoformat(window["to"]))
    if within:
        query = query.where(exists().where(Contact.case_id == Case.id, *within))
    return db.session.scalars(query)


def _detached_recordings(customers, subject: dict, window: dict, region: str):
    """Recordings on a longer clock than their case: the case (and perhaps the customer) is
    gone, so they are found by the calling number (retention keeps it on the recording)."""
    phones = {c.phone for c in customers if c.phone}
    if subject.get("phone"):
        phones.add(phone_or_none(subject["phone"], region))
    phones.discard(None)
    if not phones:
        return []
    query = select(Recording).where(Recording.case_id.is_(None), Recording.caller.in_(sorted(phones)))
    if window.get("from"):
        query = query.where(Recording.recorded_at >= datetime.fromisoformat(window["from"]))
    if window.get("to"):
        query = query.where(Recording.recorded_at < datetime.fromisoformat(window["to"]))
    return db.session.scalars(query.order_by(Recording.recorded_at, Recording.id)).all()


def build_export(*, actor: Principal, request_id: int, region: str) -> tuple[dict, list[tuple[str, str]]]:
    """Everything held about the subject, as one document a person can read, and the files
    (archive name, storage key) that go with it. Withheld items are named, not shown."""
    request = get_request(request_id)
    if request.type != "access":
        raise Conflict("Only an access request has an export.", code="not-an-access-request")
    if request.personal_data_deleted_at is not None:
        raise Conflict("The request's period has ended and whom it was about has been deleted.",
                       code="request-purged")
    withheld = {(i["type"], i["id"]): i["reason"] for i in (request.withheld or [])}
    export = _Export(withheld)
    customers = find_customers(request.subject, region)
    window = (request.subject or {}).get("contacted_between") or {}

    people = []
    for customer in customers:
        opt_out = db.session.get(SmsOptOut, customer.phone) if customer.phone else None
        history = db.session.scalars(select(RectificationHistory).where(RectificationHistory.customer_id == customer.id)
                                     .order_by(RectificationHistory.id))
        disclosures = db.session.scalars(select(Disclosure).where(Disclosure.customer_id == customer.id)
                                         .order_by(Disclosure.disclosed_at, Disclosure.id))
        people.append({
            "customer": {**_row(customer), "sms_opted_out_at": _value(opt_out.opted_out_at) if opt_out else None},
            "corrections": [_row(h) for h in history],
            "cases": [export.kept("case", case.id, lambda case=case: export.case(case))
                      for case in _cases(customer, window)],
            "disclosures": [export.kept("disclosure", d.id, lambda d=d: _row(d)) for d in disclosures],
        })
    document = {
        "recordings_whose_case_has_ended": [
            export.kept("recording", r.id, lambda r=r: {**export.recording(r), "register": r.service_line.name
                                                        if r.service_line else None})
            for r in _detached_recordings(customers, request.subject or {}, window, region)],
        "request": {"id": request.id, "type": request.type, "received_at": _value(request.received_at),
                    "due_at": _value(request.due_at)},
        "generated_at": utcnow().isoformat(),
        "about": "Personal data held by the customer service about the person who made this request.",
        "people": people,
        "withheld_items": [{"type": t, "id": i, "reason": r} for (t, i), r in withheld.items()],
    }
    record("privacy.exported", actor=actor, object_type="privacy_request", object_id=request.id,
           details={"customers": len(customers), "files": len(export.files), "withheld": len(withheld)})
    db.session.commit()
    return document, export.files


def write_zip(document: dict, files: list[tuple[str, str]], storage: FileStorage, fetcher=None) -> io.BytesIO:
    """export.json and the bytes of every file it names: from storage, or for a ``Remote`` one
    through ``fetcher`` (the phone system's ``fetch(url) -> (bytes, content type)``). A file that
    cannot be had is listed in export.json's ``missing_files`` rather than silently absent."""
    contents, missing = {}, []
    for name, key in files:
        if isinstance(key, Remote):
            try:
                contents[name] = fetcher.fetch(key)[0] if fetcher is not None else None
            except Exception as failure:  # the archive is still made, naming what it lacks
                log.warning("could not fetch a recording for an access export: %s", type(failure).__name__)
                contents[name] = None
            if contents[name] is None:
                missing.append(name)
        elif not storage.exists(key):
            missing.append(name)
    if missing:
        document = {**document, "missing_files": missing}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("export.json", json.dumps(document, ensure_ascii=False, indent=2))
        for name, key in files:
            if name in missing:
                continue
            if isinstance(key, Remote):
                archive.writestr(name, contents[name])
            else:
                archive.write(storage.path(key), name)
    buffer.seek(0)
    return buffer
