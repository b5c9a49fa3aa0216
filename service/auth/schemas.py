from marshmallow import fields, validate

from ..pagination import PageArgs
from ..schemas import EmailField, IdField, JsonBoolean, PhoneField, StrictSchema, required_text, text_field
from .permissions import ROLES, SCOPES


class LoginIn(StrictSchema):
    username = required_text(64)
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))


class TokenOut(StrictSchema):
    access_token = fields.String()
    token_type = fields.String(dump_default="Bearer")
    expires_at = fields.DateTime()


class OfficialIn(StrictSchema):
    username = fields.String(required=True, validate=[
        validate.Length(min=2, max=64),
        validate.Regexp(r"^[A-Za-z0-9._@-]+$", error="Letters, digits and . _ @ - only."),
    ])
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=12, max=1024))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    name = required_text(200)
    title = text_field(200, allow_none=True)
    organisation = text_field(200, allow_none=True)
    organisation_email = EmailField(allow_none=True)
    organisation_phone = PhoneField(allow_none=True)
    organisation_address = text_field(1000, allow_none=True)
    active = JsonBoolean(load_default=True)
    service_line_ids = fields.List(IdField(), load_default=list, metadata={
        "description": "The lines the official works on. An adviser with none works on all lines; "
                       "an inspector needs at least one; a supervisor is held to them only when "
                       "`limited_to_lines` is set"})
    limited_to_lines = JsonBoolean(load_default=False, metadata={
        "description": "Supervisors only: see and work on `service_line_ids` alone instead of every line"})


class OfficialUpdate(OfficialIn):
    class Meta(StrictSchema.Meta):
        exclude = ("username",)


class OfficialOut(StrictSchema):
    id = fields.Integer()
    username = fields.String()
    role = fields.String()
    name = fields.String()
    title = fields.String(allow_none=True)
    organisation = fields.String(allow_none=True)
    organisation_email = fields.String(allow_none=True)
    organisation_phone = fields.String(allow_none=True)
    organisation_address = fields.String(allow_none=True)
    active = fields.Boolean()
    service_line_ids = fields.Function(lambda o: [line.id for line in o.service_lines])
    limited_to_lines = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class OfficialQuery(PageArgs):
    role = fields.String(validate=validate.OneOf(ROLES))
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(min=1, max=100),
                      metadata={"description": "Matches username or name"})


class MeOut(StrictSchema):
    kind = fields.String()
    id = fields.Integer()
    name = fields.String()
    role = fields.String(allow_none=True)
    scopes = fields.List(fields.String())
    permissions = fields.List(fields.String(), metadata={
        "description": "Every permission the caller holds, so a client can offer only what will be allowed"})
    service_line_ids = fields.List(fields.Integer(), allow_none=True, metadata={
        "description": "The only service lines the caller sees cases and recordings of; "
                       "null: every line (and for API keys)"})


class ApiKeyIn(StrictSchema):
    name = required_text(200)
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)), required=True,
                         validate=validate.Length(min=1))


class ApiKeyOut(StrictSchema):
    id = fields.Integer()
    name = fields.String()
    prefix = fields.String(metadata={"description": "Identifies the key without revealing it"})
    scopes = fields.List(fields.String())
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True, metadata={"description": "Within the hour"})
    revoked_at = fields.DateTime(allow_none=True)


class ApiKeyCreatedOut(ApiKeyOut):
    key = fields.String(attribute="secret", metadata={"description": "The secret; shown only in this response"})


class ApiKeyQuery(PageArgs):
    include_revoked = fields.Boolean(load_default=False)
