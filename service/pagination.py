"""Page-number pagination with a total, shared by every list endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from marshmallow import Schema, fields, validate
from sqlalchemy import Select, func, literal, select

from .extensions import db
from .schemas import StrictSchema

MAX_PAGE_SIZE = 100


class PageArgs(StrictSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100_000))
    page_size = fields.Integer(load_default=25, validate=validate.Range(min=1, max=MAX_PAGE_SIZE))


def page_schema(item_schema: type[Schema], name: str) -> type[Schema]:
    """A response envelope ``{items, total, page, page_size}`` around ``item_schema``."""
    return Schema.from_dict(
        {
            "items": fields.List(fields.Nested(item_schema)),
            "total": fields.Integer(metadata={"description": (
                "Items matching the filters, on all pages, counted up to the service's LIST_COUNT_UP_TO "
                "(10,000 by default) or the end of this page if that is further; when `total_exact` is "
                "false, more than this match")}),
            "total_exact": fields.Boolean(metadata={"description": (
                "False when counting stopped at `total`: more items match, and the next page has some")}),
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
    total_exact: bool = True


def count_up_to(query: Select, limit: int) -> tuple[int, bool]:
    """How many rows ``query`` gives, counting no further than ``limit``, and whether that is all."""
    # Only a constant is selected under the LIMIT, so PostgreSQL can answer from an index alone.
    counted = query.order_by(None).with_only_columns(literal(1), maintain_column_froms=True).limit(limit + 1)
    found = db.session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    return min(found, limit), found <= limit


def paginate(query: Select, *, page: int, page_size: int, scalars: bool = True) -> Page:
    # An exact total of a queue of 200,000 cases is an index scan of all of them on every poll
    # (most of the request at 1,000,000 cases), and nobody pages that far. The count reaches at
    # least the end of the page asked for, so a pager never ends before it.
    total, exact = count_up_to(query, max(current_app.config["LIST_COUNT_UP_TO"], page * page_size))
    paged = query.limit(page_size).offset((page - 1) * page_size)
    rows = db.session.scalars(paged) if scalars else db.session.execute(paged)
    return Page(items=list(rows.unique() if scalars else rows), total=total, page=page,
                page_size=page_size, total_exact=exact)
