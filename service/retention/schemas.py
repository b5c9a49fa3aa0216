from datetime import datetime, timezone

from marshmallow import Schema, fields, validate

from ..schemas import JsonBoolean, StrictSchema, UTCDateTimeField, required_text

_days = dict(allow_none=True, strict=True, validate=validate.Range(min=1, max=36500))


class HoldIn(StrictSchema):
    reason = required_text(2000)


class HoldOut(Schema):
    case_id = fields.Integer(attribute="id")
    legal_hold_at = fields.DateTime(allow_none=True)
    legal_hold_reason = fields.String(allow_none=True)
    retention_until = fields.DateTime(allow_none=True)


class PurgeIn(StrictSchema):
    dry_run = JsonBoolean(load_default=True, metadata={"description": "Count only (the default)"})
    # Periods are counted back from as_of, up to 100 years: a time before 2000 has nothing to
    # purge and would count back past the calendar's first year.
    as_of = UTCDateTimeField(allow_none=True, validate=validate.Range(
        min=datetime(2000, 1, 1, tzinfo=timezone.utc), max=datetime(9000, 1, 1, tzinfo=timezone.utc)),
        metadata={"description": "Purge as if it were this time (2000-9000); default now"})


class PurgeOut(Schema):
    as_of = fields.DateTime()
    dry_run = fields.Boolean()
    cases = fields.Integer()
    audit_entries = fields.Integer(metadata={"description": "Audit entries past the audit log's own period"})
    attachments = fields.Integer()
    recordings = fields.Integer()
    recordings_detached = fields.Integer(metadata={
        "description": "Recordings whose case was deleted first: kept until their own date"})
    envelopes = fields.Integer(metadata={"description": "Inbound messages that could never be processed"})
    customers = fields.Integer()
    privacy_requests = fields.Function(lambda report: report.privacy.get("privacy_requests", 0), metadata={
        "type": "integer", "description": "Answered data-subject requests whose personal fields were cleared"})
    rectification_history = fields.Function(lambda report: report.privacy.get("rectification_history", 0), metadata={
        "type": "integer", "description": "Old values of corrections past their period"})
    files = fields.Integer()
    files_missing = fields.Integer(metadata={
        "description": "Files the deleted rows named that were already gone from storage"})
    provider_copies = fields.Integer(metadata={"description": "Provider copies (Twilio's recordings and messages) deleted there"})
    held_cases_skipped = fields.Integer()


class PolicyOut(Schema):
    service_line_id = fields.Integer(attribute="id")
    service_line = fields.String(attribute="name")
    case_retention_days = fields.Integer(allow_none=True, metadata={"description": "Days after closing, or after the last activity of a case left open; null: default"})
    recording_retention_days = fields.Integer(allow_none=True, metadata={"description": "Days from recording; null: default"})


class PolicyList(Schema):
    default_case_retention_days = fields.Integer()
    default_recording_retention_days = fields.Integer()
    items = fields.List(fields.Nested(PolicyOut))


class PolicyIn(StrictSchema):
    case_retention_days = fields.Integer(**_days)
    recording_retention_days = fields.Integer(**_days)
