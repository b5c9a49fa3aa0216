from marshmallow import Schema, fields, validate

from ..pagination import PageArgs
from ..schemas import (EmailField, EventTimeField, JsonBoolean, PhoneField, StrictSchema, one_line, required_text,
                       text_field)
from .logic import DISCLOSABLE


class AuthorityIn(StrictSchema):
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), one_line])
    email = EmailField(required=True, metadata={"description": "Where forwarded matters are sent"})
    phone = PhoneField(allow_none=True)
    active = JsonBoolean(load_default=True)


class AuthorityUpdate(AuthorityIn):
    pass


class AuthorityOut(Schema):
    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    phone = fields.String(allow_none=True)
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class AuthorityQuery(PageArgs):
    active = fields.Boolean()
    q = fields.String(validate=validate.Length(min=1, max=100))


class ForwardIn(StrictSchema):
    authority_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=2**31 - 1))
    disclose = fields.List(fields.String(validate=validate.OneOf(DISCLOSABLE)), required=True,
                           validate=validate.Length(min=1),
                           metadata={"description": "Exactly what leaves: any of " + ", ".join(DISCLOSABLE)})
    legal_basis = required_text(500)
    message = text_field(10_000, allow_none=True, metadata={"description": "The adviser's words to the authority"})


class DisclosureIn(StrictSchema):
    """A disclosure made outside this service, e.g. to the police under a duty to inform."""

    recipient = required_text(254)
    fields = fields.List(fields.String(validate=validate.Length(min=1, max=50)), required=True,
                         validate=validate.Length(min=1, max=30))
    legal_basis = required_text(500)
    note = text_field(10_000, allow_none=True)
    disclosed_at = EventTimeField(allow_none=True, metadata={"description": "Default: now"})


class PersonRef(Schema):
    id = fields.Integer()
    name = fields.String()


class DisclosureOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    recipient = fields.String()
    authority = fields.Nested(PersonRef, allow_none=True)
    fields_ = fields.List(fields.String(), attribute="fields", data_key="fields")
    legal_basis = fields.String()
    note = fields.String(allow_none=True)
    disclosed_by = fields.Nested(PersonRef, allow_none=True)
    disclosed_at = fields.DateTime()
    recorded_by_hand = fields.Boolean()
    delivery_status = fields.Function(lambda d: d.outbox.status if d.outbox else None,
                                      metadata={"description": "Of the forwarding email; null when recorded by hand"})


class DisclosureList(Schema):
    items = fields.List(fields.Nested(DisclosureOut))
