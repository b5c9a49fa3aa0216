from marshmallow import fields, validate

from ..auth.guard import current_principal
from ..pagination import PageArgs
from ..schemas import EmailField, IdField, PhoneField, StrictSchema, language_field, text_field
from .models import CONTACT_METHODS


class CustomerUpdate(StrictSchema):
    name = text_field(200, allow_none=True, metadata={"description": "Full name, or a first name only"})
    address = text_field(1000, allow_none=True)
    email = EmailField(allow_none=True)
    phone = PhoneField(allow_none=True)
    preferred_contact_method = fields.String(allow_none=True, validate=validate.OneOf(CONTACT_METHODS))
    language = language_field(allow_none=True)


class CustomerOut(StrictSchema):
    id = fields.Integer()
    name = fields.String(allow_none=True)
    address = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    phone = fields.String(allow_none=True)
    preferred_contact_method = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    restricted = fields.Boolean(metadata={"description": "Processing restricted: nothing is sent to or about them"})
    restricted_at = fields.DateTime(allow_none=True)
    restriction_reason = fields.String(allow_none=True)
    merged_into_id = fields.Integer(allow_none=True, metadata={
        "description": "The main record of the person this record was linked to by an official"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class RestrictionIn(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    request_id = fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=2**31 - 1),
                                metadata={"description": "The data-subject request this comes from"})


class CustomerCaseOut(StrictSchema):
    id = fields.Integer()
    reference = fields.String()
    status = fields.String()
    channel = fields.String()
    subject = fields.String(allow_none=True)
    service_line_id = fields.Integer()
    created_at = fields.DateTime()
    closed_at = fields.DateTime(allow_none=True)
    legal_hold_at = fields.DateTime(allow_none=True, metadata={
        "description": "Since when a legal hold keeps the case from the purge; null: not held"})
    legal_hold_reason = fields.Method("_hold_reason", allow_none=True, metadata={
        "type": "string", "nullable": True,
        "description": "Why the case is held; only for those who place and release holds "
                       "(`retention.manage`), null for everyone else"})

    def _hold_reason(self, case):
        # A hold's reason may tell of a lawsuit or an investigation: not every case worker's business.
        if case.legal_hold_at is None or not current_principal().may("retention.manage"):
            return None
        return case.legal_hold_reason


class CustomerDetailOut(CustomerOut):
    cases = fields.List(fields.Nested(CustomerCaseOut))
    linked = fields.List(fields.Nested(lambda: CustomerOut()), dump_default=list, metadata={
        "description": "The other records of the same person (their phones and emails are the person's too)"})


class LinkIn(StrictSchema):
    into_customer_id = IdField(required=True, metadata={"description": "A record of the person this one is"})


class LinkCandidateOut(StrictSchema):
    customer = fields.Nested(CustomerOut)
    reasons = fields.List(fields.String(), metadata={
        "description": "identity_seen_on_their_cases, their_identity_seen_on_its_cases, same_name_and_address"})


class LinkCandidateList(StrictSchema):
    items = fields.List(fields.Nested(LinkCandidateOut))


class CustomerQuery(PageArgs):
    phone = fields.String(validate=validate.Length(min=1, max=40),
                          metadata={"description": "Any common format; matched in E.164"})
    email = fields.String(validate=validate.Length(min=1, max=254))
    q = fields.String(validate=validate.Length(min=1, max=200),
                      metadata={"description": "Matches name, email or phone"})
