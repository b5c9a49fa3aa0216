from marshmallow import Schema, fields, validate

from ..pagination import PageArgs
from ..schemas import StrictSchema, UTCDateTimeField, required_text, text_field
from .logic import WITHHOLDABLE
from .models import NOTIFIED_VIA, REQUEST_TYPES


class ContactedBetween(StrictSchema):
    from_ = UTCDateTimeField(data_key="from", attribute="from")
    to = UTCDateTimeField()


class SubjectIn(StrictSchema):
    phone = text_field(40)
    email = text_field(254)
    name = text_field(200)
    contacted_between = fields.Nested(ContactedBetween)


class PrivacyRequestIn(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(REQUEST_TYPES), metadata={
        "description": "Every right can be asked for and is answered within the deadline; erasure, objection "
                       "and portability are answered with the legal reason they do not apply (see complete)"})
    subject = fields.Nested(SubjectIn, required=True)
    received_at = UTCDateTimeField(required=True)
    details = text_field(10_000, allow_none=True)


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
    extension_notified_at = fields.DateTime(allow_none=True, metadata={"description": "When the person was told"})
    extension_notified_via = fields.String(allow_none=True, metadata={"description": "How the person was told"})
    completed_at = fields.DateTime(allow_none=True)
    answer_reason = fields.String(allow_none=True)
    personal_data_deleted_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the purge deleted the request's personal fields"})
    withheld = fields.List(fields.Dict(), allow_none=True)


class PrivacyRequestQuery(PageArgs):
    status = fields.String(validate=validate.OneOf(("open", "completed")))
    overdue = fields.Boolean(metadata={"description": "Open requests past their due date"})


class ExtendIn(StrictSchema):
    months = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2))
    reason = required_text(2000, metadata={"description": "The reasons for the delay, as the person was told them"})
    notified_at = UTCDateTimeField(required=True, metadata={"description": "When the person was told"})
    notified_via = fields.String(required=True, validate=validate.OneOf(NOTIFIED_VIA),
                                 metadata={"description": "How the person was told"})


class CompleteIn(StrictSchema):
    answer_reason = text_field(10_000, allow_none=True, metadata={
        "description": "The legal reasoning the person was given; required for erasure, objection and portability"})


class WithholdIn(StrictSchema):
    item_type = fields.String(required=True, validate=validate.OneOf(WITHHOLDABLE))
    item_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    reason = required_text(2000, metadata={"description": "The legal ground for keeping it from the person"})


class ExportQuery(StrictSchema):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "zip")))
