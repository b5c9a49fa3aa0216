from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..cases.schemas import ContactOut
from ..schemas import StrictSchema, header_text

REPLY_CHANNELS = ("sms", "email")


class ReplyIn(StrictSchema):
    channel = fields.String(required=True, validate=validate.OneOf(REPLY_CHANNELS))
    body = fields.String(required=True, validate=validate.Length(min=1, max=100_000),
                         metadata={"description": "SMS: at most 1600 characters (10 segments)"})
    subject = header_text(500, allow_none=True,
                         metadata={"description": "Email: default `Re: <case subject>`; the case tag is added"})

    attachment_ids = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=2**31 - 1)),
                                 load_default=list, validate=validate.Length(max=20),
                                 metadata={"description": "Email: files on the case to send along (upload new "
                                                          "ones first with POST /cases/{id}/attachments)"})

    @validates_schema
    def _sms_length(self, data, **kwargs):
        if data.get("channel") == "sms" and data.get("attachment_ids"):
            raise ValidationError({"attachment_ids": ["SMS replies carry no files."]})
        if data.get("channel") == "sms" and len(data.get("body") or "") > 1600:
            raise ValidationError({"body": ["An SMS reply is at most 1600 characters."]})


class DeliveryOut(Schema):
    id = fields.Integer()
    status = fields.String(metadata={"description": "queued, sending, sent, delivered, undelivered, failed or cancelled"})
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class ReplyOut(Schema):
    contact = fields.Nested(ContactOut)
    delivery = fields.Nested(DeliveryOut)
