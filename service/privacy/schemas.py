from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..pagination import PageArgs
from ..schemas import StrictSchema, UTCDateTimeField, required_text, text_field
from .logic import WITHHOLDABLE
from .models import REQUEST_TYPES


class ContactedBetween(StrictSchema):
    from_ = UTCDateTimeField(data_key="from", attribute="from")
    to = UTCDateTimeField()


class SubjectIn(StrictSchema):
    phone = text_field(40)
    email = text_field(254)
    name = text_field(200)
    contacted_between = fields.Nested(ContactedBetween)


class PrivacyRequestIn(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(REQUEST_TYPES + ("erasure",)))
    subject = fields.Nested(SubjectIn, required=True)
    received_at = UTCDateTimeField(required=True)
    details = text_field(10_000, allow_none=True)

    @validates_schema
    def _no_erasure(self, data, **kwargs):
        if data.get("type") == "erasure":
            raise ValidationError(
                "Erasure is not offered: the authority processes this data under a legal obligation, and the "
                "data is deleted when its retention period ends. Ask for rectification or restriction instead.",
                "type")


class PrivacyRequestOut(Schema):
    id = fields.Integer()
    type = fields.String()
    subject = fields.Dict()
    details = fields.String(allow_none=True)
    status = fields.String()
    received_at = fields.DateTime()
    due_at = fields.DateTime()
    extended_at = fields.DateTime(allow_none=True)
    extension_reason = fields.String(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    withheld = fields.List(fields.Dict(), allow_none=True)


class PrivacyRequestQuery(PageArgs):
    status = fields.String(validate=validate.OneOf(("open", "completed")))
    overdue = fields.Boolean(metadata={"description": "Open requests past their due date"})


class ExtendIn(StrictSchema):
    months = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2))
    reason = required_text(2000)


class WithholdIn(StrictSchema):
    item_type = fields.String(required=True, validate=validate.OneOf(WITHHOLDABLE))
    item_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    reason = required_text(2000, metadata={"description": "The legal ground for keeping it from the person"})


class ExportQuery(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "zip")))
