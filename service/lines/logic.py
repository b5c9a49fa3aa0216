"""Service lines: their addresses, and which line an inbound contact belongs to."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import events
from ..audit.logic import record
from ..auth.permissions import Principal
from ..customers.normalise import InvalidContactDetail, normalise_email, normalise_phone
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..pagination import paginate
from .models import ServiceLine, ServiceLineAddress, service_line_member

DEFAULT_LINE_NAME = "General customer service"

# Which address book an inbound channel's `to` is looked up in.
CHANNEL_ADDRESS_KIND = {"sms": "phone", "phone": "phone", "email": "email",
                        "chat": "chat_widget", "webform": "chat_widget"}


def get_line(line_id: int) -> ServiceLine:
    line = db.session.get(ServiceLine, line_id)
    if line is None:
        raise NotFound(f"Service line {line_id} does not exist.")
    return line


def list_lines(*, page: int, page_size: int, active: bool | None = None):
    query = select(ServiceLine).order_by(ServiceLine.name)
    if active is not None:
        query = query.where(ServiceLine.active == active)
    return paginate(query, page=page, page_size=page_size)


def _normalised_addresses(data: dict, region: str) -> list[tuple[str, str]]:
    addresses, errors = [], {}
    for field, kind in (("phone_numbers", "phone"), ("email_addresses", "email"),
                        ("chat_widget_ids", "chat_widget")):
        for index, raw in enumerate(data.get(field) or []):
            try:
                if kind == "phone":
                    value = normalise_phone(raw, region)
                elif kind == "email":
                    value = normalise_email(raw)
                else:
                    value = raw.strip()
            except InvalidContactDetail as exc:
                errors.setdefault(field, {})[index] = [f"{exc}."]
                continue
            if (kind, value) not in addresses:
                addresses.append((kind, value))
    if errors:
        raise ValidationFailed("Some addresses are not valid.", errors=errors)
    return addresses


def _apply(line: ServiceLine, data: dict, region: str) -> None:
    simple = ("name", "description", "default_language", "active", "case_retention_days",
              "recording_retention_days", "recording_policy", "recording_share", "privacy_notice_url",
              "merge_across_lines")
    for name in simple:
        if name in data:
            setattr(line, name, data[name])
    if any(k in data for k in ("phone_numbers", "email_addresses", "chat_widget_ids")):
        wanted = _normalised_addresses(
            {k: data.get(k, line.addresses_of(kind)) for k, kind in
             (("phone_numbers", "phone"), ("email_addresses", "email"), ("chat_widget_ids", "chat_widget"))},
            region,
        )
        existing = {(a.kind, a.address): a for a in line.addresses}
        line.addresses = [existing.get(pair) or ServiceLineAddress(kind=pair[0], address=pair[1])
                          for pair in wanted]
    if line.recording_policy == "random" and line.recording_share is None:
        raise ValidationFailed("A random recording policy needs a share.",
                               errors={"recording_share": ["Give the share of calls to record."]})
    if data.get("is_default"):
        # Clear the old default first: the unique index allows one default at a time.
        db.session.execute(update(ServiceLine).where(ServiceLine.is_default.is_(True))
                           .values(is_default=False))
        line.is_default = True
    elif data.get("is_default") is False:
        line.is_default = False


def _commit_or_conflict() -> None:
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Another service line already has this name or one of these addresses.") from None


def create_line(*, actor: Principal, data: dict, region: str) -> ServiceLine:
    line = ServiceLine()
    db.session.add(line)
    _apply(line, data, region)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Another service line already has this name or one of these addresses.") from None
    record("service_line.created", actor=actor, object_type="service_line", object_id=line.id)
    _commit_or_conflict()
    return line


def update_line(*, actor: Principal, line_id: int, data: dict, region: str) -> ServiceLine:
    line = get_line(line_id)
    before = (line.case_retention_days, line.recording_retention_days)
    _apply(line, data, region)
    if (line.case_retention_days, line.recording_retention_days) != before:
        events.retention_policy_changed.send(line)
    record("service_line.updated", actor=actor, object_type="service_line", object_id=line.id,
           details={"fields": sorted(data)})
    _commit_or_conflict()
    return line


def default_line() -> ServiceLine:
    """The line for contacts whose address matches none; created on first need."""
    line = db.session.scalar(select(ServiceLine).where(ServiceLine.is_default.is_(True)))
    if line is not None:
        return line
    try:
        with db.session.begin_nested():
            line = ServiceLine(name=DEFAULT_LINE_NAME, is_default=True, default_language="fi")
            db.session.add(line)
    except IntegrityError:
        # Another request created it at the same moment, or an admin already made a
        # non-default line of that name: adopt it.
        line = db.session.scalar(select(ServiceLine).where(ServiceLine.is_default.is_(True)))
        if line is None:
            line = db.session.scalar(select(ServiceLine).where(ServiceLine.name == DEFAULT_LINE_NAME))
            line.is_default = True
    return line


def line_for_address(channel: str, to: str | None, region: str) -> ServiceLine:
    """The active line owning ``to``; otherwise the default line, so that nothing a customer
    sends to a retired or unknown address is lost."""
    kind = CHANNEL_ADDRESS_KIND.get(channel)
    if to and kind:
        try:
            if kind == "phone":
                key = normalise_phone(to, region)
            elif kind == "email":
                key = normalise_email(to)
            else:
                key = to.strip()
        except InvalidContactDetail:
            key = None
        if key:
            line = db.session.scalar(
                select(ServiceLine).join(ServiceLineAddress)
                .where(ServiceLineAddress.kind == kind, ServiceLineAddress.address == key,
                       ServiceLine.active.is_(True))
            )
            if line is not None:
                return line
    return default_line()


def line_scope(*, role: str | None, limited_to_lines: bool, member_of: set[int]) -> set[int] | None:
    """The one rule for which lines an official works on; None means every line.

    - adviser: their lines when they are members of some, otherwise every line;
    - supervisor: every line, unless an administrator limited them to their lines;
    - inspector: their lines only, always (no lines: nothing);
    - admin, privacy officer: every line (the privacy officer answers for all registers).
    """
    from ..auth.permissions import ADVISER, INSPECTOR, SUPERVISOR

    if role == INSPECTOR or (role == SUPERVISOR and limited_to_lines):
        return set(member_of)
    if role == ADVISER:
        return set(member_of) or None
    return None


def _limited_by_membership(principal: Principal) -> bool:
    from ..auth.permissions import ADVISER, INSPECTOR, SUPERVISOR

    return (principal.role in (ADVISER, INSPECTOR)
            or (principal.role == SUPERVISOR and principal.limited_to_lines))


def visible_line_ids(principal: Principal) -> set[int] | None:
    """The lines whose cases (and recordings, chats, customers) this caller may see; None means
    every line. An empty set means none."""
    if not _limited_by_membership(principal):
        return None  # no query for those who oversee the whole service
    # The membership rows alone: loading the official again would cost a query on every read.
    ids = set(db.session.scalars(select(service_line_member.c.service_line_id)
                                 .where(service_line_member.c.official_id == principal.id)))
    return line_scope(role=principal.role, limited_to_lines=principal.limited_to_lines, member_of=ids)


def official_line_scope(official) -> set[int] | None:
    """``line_scope`` of an official row (e.g. a case's would-be assignee)."""
    return line_scope(role=official.role, limited_to_lines=official.limited_to_lines,
                      member_of={line.id for line in official.service_lines})


def records_call(line: ServiceLine, draw: float) -> bool:
    """Whether the line's policy records a call; ``draw`` is uniform in [0, 1)."""
    if line.recording_policy == "all":
        return True
    if line.recording_policy == "random":
        return draw < (line.recording_share or 0.0)
    return False
