"""Page-number pagination with a total, shared by every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, fields, validate

from .schemas import StrictSchema
from sqlalchemy import Select, func, select

from .extensions import db

MAX_PAGE_SIZE = 100


class PageArgs(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=25, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """A response envelope ``{items, total, page, page_size}`` around ``item_schema``."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "total": fields.Integer(metadata={"description": "Items matching the filters, on all pages"}),
            "page": fields.Integer(),
            "page_size": fields.Integer(),
        },
        name=name,
    )


@dataclass
class Page:
    items: list[Any]
    total: int
    page: int
    page_size: int


def paginate(query: Select, *, page: int, page_size: int, scalars: bool = True) -> Page:
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    paged = query.limit(page_size).offset((page - 1) * page_size)
    rows = db.session.scalars(paged) if scalars else db.session.execute(paged)
    return Page(items=list(rows.unique() if scalars else rows), total=total or 0, page=page,
                page_size=page_size)
