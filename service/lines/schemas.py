from marshmallow import fields, validate, validates_schema, ValidationError

from ..pagination import PageArgs
from ..schemas import JsonBoolean, StrictSchema, language_field, required_text, text_field
from .models import RECORDING_POLICIES

_days = dict(allow_none=True, validate=validate.Range(min=1, max=36500),
             metadata={"description": "Days; null means the service-wide default"})


class ServiceLineIn(StrictSchema):
    name = required_text(200)
    description = text_field(2000, allow_none=True)
    phone_numbers = fields.List(fields.String(validate=validate.Length(min=1, max=40)),
                                load_default=list, validate=validate.Length(max=100),
                                metadata={"description": "Numbers customers call or text; any common format"})
    email_addresses = fields.List(fields.String(validate=validate.Length(min=3, max=254)),
                                  load_default=list, validate=validate.Length(max=100))
    chat_widget_ids = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                                  load_default=list, validate=validate.Length(max=100))
    default_language = language_field(load_default="fi")
    is_default = JsonBoolean(load_default=False,
                                metadata={"description": "Receives contacts whose address matches no line"})
    active = JsonBoolean(load_default=True)
    case_retention_days = fields.Integer(load_default=None, **_days)
    merge_across_lines = JsonBoolean(load_default=False, metadata={
        "description": "A supervisor may merge this line's cases with those of another line that allows it too"})
    recording_retention_days = fields.Integer(load_default=None, **_days)
    recording_policy = fields.String(load_default="none", validate=validate.OneOf(RECORDING_POLICIES))
    recording_share = fields.Float(load_default=None, allow_none=True, validate=validate.Range(min=0, max=1),
                                   metadata={"description": "Share of calls recorded when the policy is random"})
    privacy_notice_url = fields.Url(load_default=None, allow_none=True, schemes={"https", "http"},
                                    validate=validate.Length(max=500),
                                    metadata={"description": "The register's privacy notice; the chat widget links to it"})

    @validates_schema
    def _share_with_random(self, data, **kwargs):
        policy = data.get("recording_policy")
        share = data.get("recording_share")
        if policy == "random" and share is None and not self.partial:
            raise ValidationError("Give the share of calls to record.", "recording_share")


class ServiceLineUpdate(ServiceLineIn):
    pass


class ServiceLineOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String(allow_none=True)
    phone_numbers = fields.Function(lambda line: line.addresses_of("phone"))
    email_addresses = fields.Function(lambda line: line.addresses_of("email"))
    chat_widget_ids = fields.Function(lambda line: line.addresses_of("chat_widget"))
    default_language = fields.String()
    is_default = fields.Boolean()
    active = fields.Boolean()
    case_retention_days = fields.Integer(allow_none=True)
    merge_across_lines = fields.Boolean()
    recording_retention_days = fields.Integer(allow_none=True)
    recording_policy = fields.String()
    recording_share = fields.Float(allow_none=True)
    privacy_notice_url = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ServiceLineQuery(PageArgs):
    active = fields.Boolean()
