"""Reply templates: administrators keep them per service line and language; advisers get them
filled in from the case they are answering.

A template's body names variables in braces (``{reference}``). Only the names in ``VARIABLES``
exist; a template naming another is refused when saved, so an adviser never sees a brace left
unfilled. Literal braces are written doubled (``{{``), as in Python's format strings.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..audit.logic import record
from ..auth.models import Official
from ..auth.permissions import Principal
from ..cases.logic import load_case
from ..cases.models import Case
from ..db_types import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..lines.models import ServiceLine
from ..pagination import paginate
from .models import ReplyTemplate

VARIABLES = ("reference", "first_name", "official_name", "today", "opened_on")

_MONTHS = {
    "fi": None,
    "sv": None,
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
}


def format_date(day: date, language: str) -> str:
    """A date as a letter in that language writes it: 29.11.2026 (fi, sv), 29 November 2026 (en)."""
    if language == "en":
        return f"{day.day} {_MONTHS['en'][day.month - 1]} {day.year}"
    return f"{day.day}.{day.month}.{day.year}"


def variables_in(body: str) -> list[str]:
    """The variable names a body uses; ValueError for a brace that is not a variable."""
    names = []
    for _literal, name, spec, conversion in string.Formatter().parse(body):
        if name is None:
            continue
        if spec or conversion or name not in VARIABLES:
            raise ValueError(name)
        names.append(name)
    return names


def _check_body(body: str) -> None:
    try:
        variables_in(body)
    except ValueError as unknown:
        raise ValidationFailed(
            "The template uses a variable that does not exist.",
            errors={"body": [f"Unknown variable {{{unknown}}}; use {', '.join('{' + v + '}' for v in VARIABLES)}, "
                             "and {{ or }} for a literal brace."]}) from None


def get_template(template_id: int) -> ReplyTemplate:
    template = db.session.get(ReplyTemplate, template_id)
    if template is None:
        raise NotFound(f"Reply template {template_id} does not exist.")
    return template


def list_templates(*, page: int, page_size: int, service_line_id: int | None = None, language: str | None = None,
                   active: bool | None = None):
    query = select(ReplyTemplate).order_by(ReplyTemplate.service_line_id, ReplyTemplate.language,
                                           ReplyTemplate.title, ReplyTemplate.id)
    if service_line_id is not None:
        query = query.where(ReplyTemplate.service_line_id == service_line_id)
    if language is not None:
        query = query.where(ReplyTemplate.language == language)
    if active is not None:
        query = query.where(ReplyTemplate.active == active)
    return paginate(query, page=page, page_size=page_size)


def save_template(*, actor: Principal, data: dict, template_id: int | None = None) -> ReplyTemplate:
    template = get_template(template_id) if template_id else ReplyTemplate()
    if "service_line_id" in data and db.session.get(ServiceLine, data["service_line_id"]) is None:
        raise ValidationFailed("Unknown service line.", errors={"service_line_id": ["No such service line."]})
    if "body" in data:
        _check_body(data["body"])
    for name in ("service_line_id", "language", "title", "body", "active"):
        if name in data:
            setattr(template, name, data[name])
    db.session.add(template)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("The line already has a template with this title in this language.",
                       code="template-title-taken") from None
    record("reply_template.saved", actor=actor, object_type="reply_template", object_id=template.id,
           details={"fields": sorted(data), "service_line_id": template.service_line_id})
    db.session.commit()
    return template


def delete_template(*, actor: Principal, template_id: int) -> None:
    template = get_template(template_id)
    record("reply_template.deleted", actor=actor, object_type="reply_template", object_id=template.id,
           details={"service_line_id": template.service_line_id})
    db.session.delete(template)
    db.session.commit()


@dataclass(frozen=True)
class FilledTemplate:
    id: int
    title: str
    language: str
    body: str
    # Variables the case could not fill (e.g. the name of an anonymous customer): left empty.
    missing: list[str]


def case_language(case: Case) -> str:
    return case.language or case.service_line.default_language


def _values(case: Case, official: Official | None, *, now: datetime, zone: ZoneInfo) -> dict[str, str | None]:
    language = case_language(case)
    name = (case.customer.name or "").strip() if case.customer is not None else ""
    return {
        "reference": case.reference,
        "first_name": name.split()[0] if name else None,
        "official_name": official.name if official is not None else None,
        "today": format_date(now.astimezone(zone).date(), language),
        "opened_on": format_date(case.created_at.astimezone(zone).date(), language),
    }


def templates_for_case(*, actor: Principal, case_id: int, time_zone: str, language: str | None = None,
                       now: datetime | None = None) -> list[FilledTemplate]:
    """The active templates of the case's line in the case's language (or ``language``), filled
    in from the case and the official asking."""
    case = load_case(actor=actor, case_id=case_id)
    chosen = language or case_language(case)
    official = db.session.get(Official, actor.id) if actor.is_official else None
    values = _values(case, official, now=now or utcnow(), zone=ZoneInfo(time_zone))
    templates = db.session.scalars(
        select(ReplyTemplate).where(ReplyTemplate.service_line_id == case.service_line_id,
                                    ReplyTemplate.language == chosen, ReplyTemplate.active.is_(True))
        .order_by(ReplyTemplate.title, ReplyTemplate.id))
    filled = []
    for template in templates:
        used = variables_in(template.body)
        missing = sorted({name for name in used if not values[name]})
        body = template.body.format(**{name: value or "" for name, value in values.items()})
        filled.append(FilledTemplate(id=template.id, title=template.title, language=template.language,
                                     body=body, missing=missing))
    return filled
