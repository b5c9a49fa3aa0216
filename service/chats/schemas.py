from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..pagination import PageArgs
from ..schemas import EmailField, JsonBoolean, StrictSchema, language_field, text_field


class ChatStartIn(StrictSchema):
    anonymous = JsonBoolean(required=True)
    name = text_field(200, allow_none=True)
    email = EmailField(allow_none=True)
    language = language_field(load_default="fi")
    widget_id = text_field(100, allow_none=True, metadata={"description": "Picks the service line"})

    @validates_schema
    def _identity(self, data, **kwargs):
        if data.get("anonymous") and (data.get("name") or data.get("email")):
            raise ValidationError("An anonymous chat takes no name or email.", "anonymous")


class ChatStartedOut(Schema):
    chat_id = fields.Integer()
    case_id = fields.Integer()
    token = fields.String(metadata={"description": "Opens this chat only; send as `Authorization: Bearer <token>`"})
    expires_at = fields.DateTime()


class ChatOfficialOut(Schema):
    id = fields.Integer()
    name = fields.String()


class ChatOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    contact_id = fields.Integer()
    anonymous = fields.Boolean()
    language = fields.String(allow_none=True)
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    joined_by = fields.Function(
        lambda chat: {"id": chat.contact.handled_by.id, "name": chat.contact.handled_by.name}
        if chat.contact.handled_by is not None else None,
        metadata={"description": "The adviser who took the chat; null while it waits"})
    case_reference = fields.Function(lambda chat: chat.contact.case.reference)


class WidgetSettingsOut(Schema):
    widget_id = fields.String()
    service_line = fields.String(metadata={"description": "The register chats from this widget go to"})
    default_language = fields.String()
    privacy_notice_url = fields.String(allow_none=True)


class ChatMessageIn(StrictSchema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class ChatMessageOut(Schema):
    id = fields.Integer()
    author = fields.String(metadata={"description": "customer or official"})
    official_name = fields.Function(lambda m: m.official.name if m.official else None)
    body = fields.String()
    created_at = fields.DateTime()


class ChatMessagesQuery(StrictSchema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**31 - 1),
                           metadata={"description": "The id of the last message you have"})
    wait = fields.Integer(load_default=0, validate=validate.Range(min=0, max=25),
                          metadata={"description": "Seconds to wait for a new message (long poll)"})


class ChatMessagesOut(Schema):
    items = fields.List(fields.Nested(ChatMessageOut))
    ended = fields.Boolean()


class ChatQuery(PageArgs):
    active = fields.Boolean()
