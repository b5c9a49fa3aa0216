import base64
import binascii

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from ..cases.models import INBOUND_CHANNELS
from ..cases.schemas import MAX_BODY, check_call_times
from ..schemas import (EmailField, EventTimeField, PhoneField, StrictSchema, header_text, language_field, one_line,
                       text_field)

MAX_ATTACHMENTS = 20


class SenderIn(StrictSchema):
    phone = PhoneField(metadata={"description": "Any common format; normalised to E.164"})
    email = EmailField()
    name = header_text(200)


class AttachmentIn(StrictSchema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=255))
    content_type = fields.String(required=True, validate=validate.Length(min=3, max=127))
    content_base64 = fields.String(required=True, load_only=True)

    @post_load
    def _decode(self, data, **kwargs):
        # MIME tools wrap base64 at 76 characters; the line breaks are not content.
        text = "".join(data.pop("content_base64").split())
        try:
            data["content"] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError({"content_base64": ["Not valid base64."]}) from None
        return data


class InboundMessageIn(StrictSchema):
    channel = fields.String(required=True, validate=validate.OneOf(INBOUND_CHANNELS))
    external_id = fields.String(required=True, validate=[validate.Length(min=1, max=255), one_line],
                                metadata={"description": "The provider's id; posting it again creates nothing"})
    sender = fields.Nested(SenderIn, required=True, data_key="from")
    to = text_field(254, allow_none=True, metadata={"description": "The address the customer contacted; picks the service line"})
    subject = header_text(500, allow_none=True)
    body = text_field(MAX_BODY, allow_none=True)
    received_at = EventTimeField(allow_none=True, metadata={"description": "With a time zone; default: now"})
    language = language_field(allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentIn), load_default=list,
                              validate=validate.Length(max=MAX_ATTACHMENTS))
    started_at = EventTimeField(allow_none=True, metadata={"description": "Calls: when the call came in"})
    answered_at = EventTimeField(allow_none=True)
    ended_at = EventTimeField(allow_none=True)
    queue_seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=7 * 24 * 3600))

    @validates_schema
    def _identifiable(self, data, **kwargs):
        sender = data.get("sender") or {}
        if data.get("channel") in ("sms", "phone") and not sender.get("phone"):
            raise ValidationError({"from": {"phone": ["Required for sms and phone contacts."]}})
        if data.get("channel") == "email" and not sender.get("email"):
            raise ValidationError({"from": {"email": ["Required for email contacts."]}})
        if not any(sender.get(k) for k in ("phone", "email", "name")) and data.get("channel") != "chat":
            raise ValidationError({"from": ["Give a phone, an email or a name."]})
        check_call_times(data)


class IntakeOut(Schema):
    contact_id = fields.Integer()
    case_id = fields.Integer()
    case_reference = fields.String()
    created_case = fields.Boolean()


class InboundCallOut(IntakeOut):
    recording_id = fields.Integer(allow_none=True, metadata={
        "description": "The stored recording; upload its audio with PUT /api/v1/recordings/{id}/audio"})


class RecordingRefIn(StrictSchema):
    reference = fields.String(required=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "The switchboard's id of the recording"})
    url = fields.String(validate=validate.Length(max=1000), allow_none=True,
                        metadata={"description": "Where the audio can be fetched, if anywhere"})
    duration_seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=7 * 24 * 3600))
    recorded_at = EventTimeField(allow_none=True, metadata={"description": "Default: when the call was answered"})


class InboundCallIn(StrictSchema):
    """A call reported by a switchboard that is not Twilio."""

    external_id = fields.String(required=True, validate=validate.Length(min=1, max=64),
                                metadata={"description": "The switchboard's call id; reporting it again creates nothing"})
    sender = fields.Nested(SenderIn, data_key="from", load_default=dict,
                           metadata={"description": "The customer: the caller, or whom the official called"})
    to = text_field(254, allow_none=True, metadata={"description": "The number called; picks the service line"})
    direction = fields.String(load_default="inbound", validate=validate.OneOf(("inbound", "outbound")))
    started_at = EventTimeField(required=True)
    answered_at = EventTimeField(allow_none=True)
    ended_at = EventTimeField(allow_none=True)
    queue_seconds = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=0, max=7 * 24 * 3600))
    handled_by_id = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=2**31 - 1),
                                   metadata={"description": "The official who answered or made the call"})
    language = language_field(allow_none=True)
    recording = fields.Nested(RecordingRefIn, allow_none=True)

    @validates_schema
    def _times(self, data, **kwargs):
        check_call_times(data)


class WebFormIn(StrictSchema):
    """The authority's own contact form. `website` is a honeypot: people never see it."""

    name = header_text(200, allow_none=True)
    email = EmailField(allow_none=True)
    phone = PhoneField(allow_none=True)
    subject = header_text(500, allow_none=True)
    message = fields.String(required=True, validate=validate.Length(min=1, max=MAX_BODY))
    language = language_field(load_default="fi")
    form_id = text_field(100, allow_none=True, metadata={"description": "Picks the service line"})
    submission_id = fields.String(validate=validate.Length(min=8, max=100), allow_none=True,
                                  metadata={"description": "Set by the form page; a resubmission creates nothing"})
    website = fields.String(allow_none=True, validate=validate.Length(max=500),
                            metadata={"description": "Leave empty (a trap for bots)"})

    @validates_schema
    def _reachable(self, data, **kwargs):
        if not (data.get("email") or data.get("phone")):
            raise ValidationError({"email": ["Give an email address or a phone number so we can answer."]})


class ReceivedOut(Schema):
    received = fields.Boolean()
