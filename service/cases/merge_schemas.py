"""Schemas of merging and splitting cases (service/cases/merging.py)."""

from marshmallow import Schema, fields, validate

from ..schemas import IdField, JsonBoolean, StrictSchema


class MergeIn(StrictSchema):
    into_case_id = IdField(required=True, metadata={"description": "The case that survives and receives everything"})
    dry_run = JsonBoolean(load_default=False, metadata={"description": "Only say what would move"})


class SplitIn(StrictSchema):
    contact_ids = fields.List(IdField(), required=True, validate=validate.Length(min=1, max=1000),
                              metadata={"description": "The contacts to move to a new case"})
    dry_run = JsonBoolean(load_default=False, metadata={"description": "Only say what would move"})


class CaseRef(Schema):
    id = fields.Integer()
    reference = fields.String()
    status = fields.String()


class MergeRecordOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "merge or split"})
    source_case_id = fields.Integer(attribute="source_id")
    target_case_id = fields.Integer(attribute="target_id")
    moved = fields.Function(lambda m: {name: len(ids) for name, ids in m.moved.items() if name != "case"},
                            metadata={"description": "How many rows of each kind moved"})
    by_id = fields.Integer(allow_none=True)
    at = fields.DateTime()
    undone_at = fields.DateTime(allow_none=True)
    undone_by_id = fields.Integer(allow_none=True)


class MergeOut(Schema):
    """What a merge or split moved, or with dry_run would move."""

    dry_run = fields.Function(lambda r: "merge" not in r)
    source = fields.Nested(CaseRef, metadata={"description": "The merged case, or the case split"})
    target = fields.Nested(CaseRef, allow_none=True,
                           metadata={"description": "The surviving case, or the new case (none in a split's dry run)"})
    moves = fields.Dict(keys=fields.String(), values=fields.Integer(),
                        metadata={"description": "Rows that move, by kind: contact, note, attachment, ..."})
    customers_differ = fields.Boolean()
    lines_differ = fields.Boolean()
    keep_until = fields.DateTime(allow_none=True,
                                 metadata={"description": "The result is kept at least until this, unless held"})
    legal_hold = fields.Boolean()
    merge = fields.Nested(MergeRecordOut, allow_none=True, dump_default=None)


class MergeList(Schema):
    items = fields.List(fields.Nested(MergeRecordOut))
