from marshmallow import Schema, fields, validate

from ..pagination import PageArgs
from ..schemas import UTCDateTimeField, query_id
from .actions import ACTIONS


class AuditEntryOut(Schema):
    id = fields.Integer()
    at = fields.DateTime()
    actor_type = fields.String()
    actor_id = fields.Integer(allow_none=True)
    actor_role = fields.String(allow_none=True)
    action = fields.String()
    object_type = fields.String(allow_none=True)
    object_id = fields.Integer(allow_none=True)
    request_id = fields.String(allow_none=True)
    purpose = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)


class AuditActionsOut(Schema):
    items = fields.List(fields.String(), metadata={"description": "The closed vocabulary of actions, sorted"})


class AuditQuery(PageArgs):
    action = fields.String(validate=validate.OneOf(sorted(ACTIONS)))
    object_type = fields.String(validate=validate.Length(max=32))
    object_id = query_id()
    actor_type = fields.String(validate=validate.OneOf(("official", "api_key", "system")))
    actor_id = query_id()
    request_id = fields.String(validate=validate.Length(max=64))
    at_from = UTCDateTimeField()
    at_to = UTCDateTimeField()
