from marshmallow import Schema, fields

from ..pagination import PageArgs
from ..schemas import query_id


class RecordingOut(Schema):
    id = fields.Integer()
    case_id = fields.Integer(allow_none=True)
    contact_id = fields.Integer(allow_none=True)
    status = fields.String()
    duration_seconds = fields.Integer(allow_none=True)
    channels = fields.Integer(allow_none=True)
    recorded_at = fields.DateTime()
    retention_until = fields.DateTime(allow_none=True)
    playable = fields.Function(lambda r: r.storage_key is not None,
                               metadata={"description": "False until the audio is fetched from the phone system"})
    content_type = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)


class RecordingQuery(PageArgs):
    case_id = query_id()
    customer_id = query_id(metadata={"description": "A data subject's recordings (e.g. to answer an access request)"})
