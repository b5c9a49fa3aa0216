from datetime import timedelta

from flask import current_app
from flask_smorest.fields import Upload
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..customers.schemas import CustomerOut
from ..db_types import utcnow
from ..pagination import PageArgs
from ..schemas import (EmailField, EventTimeField, IdField, PhoneField, StrictSchema, UTCDateTimeField,
                       header_text, language_field, query_id, required_text, text_field)
from .models import CHANNELS, DIRECTIONS, INBOUND_CHANNELS, STATUSES
from .scanning import SCAN_STATUSES, openable, why_closed

MAX_BODY = 100_000


class PersonOut(Schema):
    id = fields.Integer()
    name = fields.String(allow_none=True)


class ServiceLineRef(Schema):
    id = fields.Integer()
    name = fields.String()


class ContactOut(Schema):
    id = fields.Integer()
    channel = fields.String()
    direction = fields.String()
    external_id = fields.String(allow_none=True)
    sender = fields.String(allow_none=True)
    sender_name = fields.String(allow_none=True)
    recipient = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    body = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    received_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    queue_seconds = fields.Integer(allow_none=True)
    occurred_at = fields.DateTime(metadata={"description": "When the contact happened; orders the timeline"})
    handled_by = fields.Nested(PersonOut, allow_none=True)
    created_at = fields.DateTime()


class NoteOut(Schema):
    id = fields.Integer()
    body = fields.String()
    author = fields.Nested(PersonOut, allow_none=True)
    created_at = fields.DateTime()


class AttachmentOut(Schema):
    id = fields.Integer()
    contact_id = fields.Integer(allow_none=True)
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer(allow_none=True)
    sha256 = fields.String(allow_none=True)
    downloadable = fields.Function(lambda a: openable(a),
                                   metadata={"description": "Whether the file can be downloaded, sent or exported: "
                                                            "only when its malware scan found it clean (or an "
                                                            "administrator released it)"})
    scan_status = fields.String(allow_none=True, metadata={
        "enum": list(SCAN_STATUSES),
        "description": "The malware scan: pending, clean, infected (quarantined: the bytes are deleted), "
                       "unscannable, or unscanned (no scanner configured, or stored before scanning); "
                       "null while there are no bytes here"})
    scan_detail = fields.String(allow_none=True, metadata={
        "description": "The signature an infected file matched, or why a file could not be scanned"})
    scanned_at = fields.DateTime(allow_none=True)
    not_downloadable_reason = fields.Function(lambda a: None if openable(a) else why_closed(a), allow_none=True)
    released_at = fields.DateTime(allow_none=True, metadata={"description": "When an administrator released "
                                                                            "this unscannable file"})
    release_reason = fields.String(allow_none=True)
    created_at = fields.DateTime()


class AttachmentRelease(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=500),
                           metadata={"description": "Why the file may be opened unscanned (audited)"})


class CaseSummaryOut(Schema):
    id = fields.Integer()
    reference = fields.String()
    status = fields.String()
    channel = fields.String()
    service_line = fields.Nested(ServiceLineRef)
    customer = fields.Nested(PersonOut, allow_none=True)
    subject = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    topic = fields.String(allow_none=True)
    assignee = fields.Nested(PersonOut, allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    last_activity_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    retention_until = fields.DateTime(allow_none=True, metadata={"description": "Set on closing"})
    deleted_after = fields.Method("_deleted_after", allow_none=True, metadata={
        "type": "string", "format": "date-time", "nullable": True,
        "description": "When the purge deletes the case if nothing more happens on it: its retention date once "
                       "closed; while it is not closed, its line's case period after its last activity. Null "
                       "under a legal hold."})

    first_response_due_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the first response is due, in working time; null when there is no such clock, it "
                       "has stopped, or the case is waiting on the customer"})
    resolution_due_at = fields.DateTime(allow_none=True, metadata={
        "description": "When the case is due to be resolved, in working time; null as for first_response_due_at"})
    next_due_at = fields.DateTime(allow_none=True, metadata={"description": "The earlier of the two; the queue's "
                                                                            "`sort=due` orders by it"})
    due_state = fields.Method("_due_state", allow_none=True, metadata={
        "type": "string", "nullable": True, "enum": ["breached", "due_soon", "on_time", "paused", None],
        "description": "breached: a running target is past due; due_soon: due within SERVICE_CLOCK_SOON_MINUTES; "
                       "paused: waiting on the customer; null: no running clock"})

    def _deleted_after(self, case):
        due = case.deletion_due(current_app.config["CASE_RETENTION_DAYS"])
        return due.isoformat() if due else None

    def _due_state(self, case):
        return due_state(case, utcnow(), timedelta(minutes=current_app.config["SERVICE_CLOCK_SOON_MINUTES"]))


def due_state(case, now, soon) -> str | None:
    if case.clock_paused_at is not None:
        return "paused"
    if case.next_due_at is None:
        return None
    if case.next_due_at <= now:
        return "breached"
    return "due_soon" if case.next_due_at <= now + soon else "on_time"


class ClockEventOut(Schema):
    at = fields.DateTime()
    event = fields.String(metadata={"description": "started, paused, resumed, responded, resolved, restarted "
                                                   "(reopened) or recomputed (calendar changed)"})
    first_response_due_at = fields.DateTime(allow_none=True, metadata={"description": "In force after the event "
                                                                                      "(before it, for a pause)"})
    resolution_due_at = fields.DateTime(allow_none=True)


class FeedbackOut(Schema):
    status = fields.String(metadata={"description": "scheduled, sent, answered, cancelled or skipped"})
    send_after = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    answered_at = fields.DateTime(allow_none=True)
    score = fields.Integer(allow_none=True)
    answer_text = fields.String(allow_none=True)


class CaseOut(CaseSummaryOut):
    customer = fields.Nested(CustomerOut, allow_none=True)
    question = fields.String(allow_none=True)
    answer = fields.String(allow_none=True)
    first_response_at = fields.DateTime(allow_none=True)
    created_by_id = fields.Integer(allow_none=True)
    linked_case_id = fields.Integer(allow_none=True, metadata={
        "description": "The case an email named (by its reference or a Message-ID) when its sender was not that "
                       "case's customer: the message got a case of its own, linked here for an official to check"})
    first_response_met = fields.Boolean(allow_none=True, metadata={
        "description": "Whether the first response came within its target; null until it came"})
    resolution_met = fields.Boolean(allow_none=True, metadata={
        "description": "Whether the case was closed within its resolution target; null while it is open"})
    first_response_working_seconds = fields.Integer(allow_none=True, metadata={
        "description": "Working time to the first response, pauses left out"})
    resolution_working_seconds = fields.Integer(allow_none=True, metadata={
        "description": "Working time to closing (since the last reopening), pauses left out"})
    clock_history = fields.List(fields.Nested(ClockEventOut), attribute="clock_events", metadata={
        "description": "Every start, pause, resume and stop of the case's service clocks"})
    contacts = fields.List(fields.Nested(ContactOut))
    notes = fields.List(fields.Nested(NoteOut))
    attachments = fields.List(fields.Nested(AttachmentOut))
    # Filled in by the feedback domain, which builds on cases.
    feedback = fields.List(fields.Nested(FeedbackOut), attribute="feedback_requests", dump_default=list)


class CustomerRef(StrictSchema):
    """Who a case is about: an existing customer, or details to find or create one."""

    id = IdField()
    name = header_text(200)
    phone = PhoneField()
    email = EmailField()


class CaseIn(StrictSchema):
    service_line_id = IdField(metadata={"description": "Default: the default service line"})
    channel = fields.String(load_default="internal", validate=validate.OneOf(CHANNELS))
    customer = fields.Nested(CustomerRef, allow_none=True)
    subject = header_text(500, allow_none=True)
    language = language_field(allow_none=True)
    topic = text_field(200, allow_none=True)
    question = text_field(MAX_BODY, allow_none=True)
    assignee_id = IdField(allow_none=True)


class CaseUpdate(StrictSchema):
    assignee_id = IdField(allow_none=True)
    language = language_field(allow_none=True)
    topic = text_field(200, allow_none=True)
    subject = header_text(500, allow_none=True)
    question = text_field(MAX_BODY, allow_none=True)
    answer = text_field(MAX_BODY, allow_none=True)
    status = fields.String(validate=validate.OneOf(("open", "waiting")),
                           metadata={"description": "Mark the case as waiting on the customer, or open again"})


class CaseFilters(PageArgs):
    """What the case list and the search both filter by."""

    status = fields.List(fields.String(validate=validate.OneOf(STATUSES)),
                         metadata={"description": "Repeat for several"})
    channel = fields.List(fields.String(validate=validate.OneOf(CHANNELS)))
    service_line_id = fields.List(query_id())
    assignee = fields.String(validate=validate.Regexp(r"^(me|not_me|none|\d{1,18})$"), metadata={
        "description": "An official's id, `me`, `none`, or `not_me` (unassigned or someone else's)"})
    language = fields.List(fields.String(validate=validate.OneOf(("fi", "sv", "en"))))
    customer_id = query_id()
    created_from = UTCDateTimeField()
    created_to = UTCDateTimeField()
    updated_from = UTCDateTimeField()
    updated_to = UTCDateTimeField()
    breached = fields.Boolean(metadata={"description": "true: only cases with a running service target past "
                                                       "due; false: none of them"})


SEARCH_TEXT = ("Words found in anything on the case (subject, messages both ways, chat transcripts, notes, question "
               "and answer, attachment names, the customer's name, phone and email), by their beginnings and in "
               "inflected forms; or a case reference, or the customer's exact phone number or email")


class CaseQuery(CaseFilters):
    q = fields.String(validate=validate.Length(min=1, max=200), metadata={"description": SEARCH_TEXT})
    sort = fields.String(load_default="-created_at",
                         validate=validate.OneOf(("-created_at", "created_at", "-updated_at", "updated_at",
                                                  "-last_activity_at", "due")),
                         metadata={"description": "`due`: what is due next first; cases without a running "
                                                  "service clock last"})


class CaseSearchQuery(CaseFilters):
    q = fields.String(required=True, validate=validate.Length(min=1, max=200), metadata={"description": SEARCH_TEXT})


class SnippetOut(Schema):
    source = fields.String(metadata={"enum": ["case", "customer", "contact", "note", "attachment"],
                                     "description": "Which text matched: the case's subject, question and answer; "
                                                    "its customer; a contact; a note; an attachment's name"})
    text = fields.String(metadata={"description": "A few lines of that text around the first match"})
    highlights = fields.List(fields.List(fields.Integer()), metadata={
        "description": "[start, end) character ranges of `text` holding matching words"})


class CaseHitOut(CaseSummaryOut):
    rank = fields.Float(attribute="search_rank", metadata={"description": "Higher is a better match"})
    snippet = fields.Nested(SnippetOut, attribute="search_snippet", allow_none=True, metadata={
        "description": "Null when the case matched by its reference, or its customer's exact phone or email"})


class NoteIn(StrictSchema):
    body = required_text(MAX_BODY)


class ContactIn(StrictSchema):
    """A contact an official logs by hand, e.g. a phone call taken outside any integration."""

    channel = fields.String(required=True, validate=validate.OneOf(INBOUND_CHANNELS))
    direction = fields.String(load_default="inbound", validate=validate.OneOf(DIRECTIONS))
    external_id = header_text(255, allow_none=True)
    subject = header_text(500, allow_none=True)
    body = text_field(MAX_BODY, allow_none=True)
    language = language_field(allow_none=True)
    received_at = EventTimeField(allow_none=True)
    started_at = EventTimeField(allow_none=True)
    answered_at = EventTimeField(allow_none=True)
    ended_at = EventTimeField(allow_none=True)
    queue_seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=7 * 24 * 3600))
    handled_by_id = IdField(allow_none=True, metadata={"description": "Default: you"})

    @validates_schema
    def _times_in_order(self, data, **kwargs):
        check_call_times(data)


def check_call_times(data: dict) -> None:
    started, answered, ended = data.get("started_at"), data.get("answered_at"), data.get("ended_at")
    errors = {}
    if answered and started and answered < started:
        errors["answered_at"] = ["Cannot be before started_at."]
    if ended and started and ended < started:
        errors["ended_at"] = ["Cannot be before started_at."]
    if ended and answered and ended < answered:
        errors.setdefault("ended_at", []).append("Cannot be before answered_at.")
    if (answered or ended) and not started:
        errors["started_at"] = ["Required when answered_at or ended_at is given."]
    if errors:
        raise ValidationError(errors)


class AttachmentUpload(Schema):
    file = Upload(required=True)

