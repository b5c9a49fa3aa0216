from marshmallow import ValidationError, fields, validate, validates_schema

from ..pagination import PageArgs
from ..schemas import EmailField, IdField, JsonBoolean, PhoneField, StrictSchema, required_text, text_field
from .permissions import ROLES, SCOPES


class LoginIn(StrictSchema):
    username = required_text(64)
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=1024))
    code = fields.String(load_only=True, validate=validate.Length(min=1, max=64), metadata={
        "description": "The six-digit code of the official's authenticator app, or one of their "
                       "recovery codes; needed once they have enrolled one (else a 401 "
                       "`second-factor-required`)"})


class TokenOut(StrictSchema):
    access_token = fields.String()
    token_type = fields.String(dump_default="Bearer")
    expires_at = fields.DateTime()
    second_factor_enrolment_required = fields.Boolean(metadata={
        "description": "The official's role requires a second factor and none is enrolled: until "
                       "one is, this token may only enrol (`/auth/second-factor/...`)"})


class SessionOut(StrictSchema):
    id = fields.Integer()
    method = fields.String(metadata={"description": "`password` or `oidc`"})
    second_factor = fields.Boolean()
    client = fields.String(allow_none=True, metadata={"description": "The User-Agent that signed in"})
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True, metadata={"description": "Within a minute"})
    expires_at = fields.DateTime()
    current = fields.Boolean(metadata={"description": "The session this request was made with"})


class SecondFactorOut(StrictSchema):
    totp_enabled = fields.Boolean()
    enrolment_pending = fields.Boolean()
    required = fields.Boolean(metadata={"description": "The official's role requires a second factor"})
    recovery_codes_left = fields.Integer()


class TotpEnrolmentOut(StrictSchema):
    secret = fields.String(metadata={"description": "Base32, for typing into an app by hand"})
    otpauth_uri = fields.String()
    qr_svg = fields.String(metadata={"description": "The otpauth URI as a QR code: an SVG data URI"})


class CodeIn(StrictSchema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={
        "description": "A current code of the authenticator app (or, where said, a recovery code)"})


class RecoveryCodesOut(StrictSchema):
    recovery_codes = fields.List(fields.String(), metadata={
        "description": "Each works once instead of a code; shown only in this response"})


class SignInMethodsOut(StrictSchema):
    password = fields.Boolean()
    oidc = fields.Boolean()


class OfficialIn(StrictSchema):
    username = fields.String(required=True, validate=[
        validate.Length(min=2, max=64),
        validate.Regexp(r"^[A-Za-z0-9._@-]+$", error="Letters, digits and . _ @ - only."),
    ])
    password = fields.String(load_only=True, validate=validate.Length(min=12, max=1024), metadata={
        "description": "Required unless `oidc_subject` is given"})
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    oidc_subject = text_field(255, allow_none=True, metadata={
        "description": "The official's identifier at the OpenID provider (the OIDC_SUBJECT_CLAIM "
                       "claim, e.g. Entra ID's object id)"})
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
    may_link_customers = JsonBoolean(load_default=False, metadata={
        "description": "Advisers and supervisors only: may confirm that two customer records are one "
                       "person, and undo it (`customers.link`, which their role lacks)"})


    @validates_schema(skip_on_field_errors=False)
    def _password_or_subject(self, data, partial=False, **kwargs):
        # An official who signs in only at the OpenID provider needs no password here.
        if not partial and not data.get("password") and not data.get("oidc_subject"):
            raise ValidationError({"password": ["Missing data for required field."]})


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
    may_link_customers = fields.Boolean()
    oidc_subject = fields.String(allow_none=True)
    totp_enabled = fields.Function(lambda o: o.totp_secret is not None)
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
    second_factor_missing = fields.Boolean(metadata={
        "description": "This session may only enrol a second factor, which the role requires"})


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


class LogoutTokenIn(StrictSchema):
    logout_token = fields.String(required=True, validate=validate.Length(min=1, max=16384))


class FrontChannelLogoutQuery(StrictSchema):
    iss = fields.String(validate=validate.Length(max=1000))
    sid = fields.String(required=True, validate=validate.Length(min=1, max=255))
