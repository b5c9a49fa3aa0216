from marshmallow import Schema, fields, validate

from ..pagination import PageArgs
from ..schemas import IdField, JsonBoolean, StrictSchema, language_field, one_line, query_id
from .logic import VARIABLES

_VARIABLES = ", ".join("{" + name + "}" for name in VARIABLES)


class ReplyTemplateIn(StrictSchema):
    service_line_id = IdField(required=True)
    language = language_field(required=True)
    title = fields.String(required=True, validate=[validate.Length(min=1, max=200), one_line])
    body = fields.String(required=True, validate=validate.Length(min=1, max=5000),
                         metadata={"description": f"The answer; may use {_VARIABLES} (and {{{{ }}}} for braces)"})
    active = JsonBoolean(load_default=True)


class ReplyTemplateUpdate(ReplyTemplateIn):
    pass


class ReplyTemplateOut(Schema):
    id = fields.Integer()
    service_line_id = fields.Integer()
    language = fields.String()
    title = fields.String()
    body = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ReplyTemplateQuery(PageArgs):
    service_line_id = query_id()
    language = language_field()
    active = fields.Boolean()


class CaseTemplatesQuery(StrictSchema):
    language = language_field(metadata={"description": "Another language than the case's"})


class FilledTemplateOut(Schema):
    id = fields.Integer()
    title = fields.String()
    language = fields.String()
    body = fields.String(metadata={"description": "Filled in from the case"})
    missing = fields.List(fields.String(), metadata={
        "description": "Variables this case could not fill; they are left empty in the body"})


class FilledTemplateList(Schema):
    items = fields.List(fields.Nested(FilledTemplateOut))
