"""Managing officials: the people who sign in, their roles and their service lines."""

from __future__ import annotations

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..audit.logic import record
from ..db_types import utcnow
from ..errors import Conflict, NotFound, ValidationFailed
from ..extensions import db
from ..lines.models import ServiceLine
from ..pagination import paginate
from ..sql import contains
from .logic import NO_PASSWORD, clear_login_throttle, hash_password
from .passwords import check_password
from .models import AuthToken, Official
from .permissions import ADMIN, GRANTABLE, INSPECTOR, ROLES, SUPERVISOR, Principal

_PROFILE_FIELDS = ("role", "name", "title", "organisation", "organisation_email", "organisation_phone",
                   "organisation_address", "active", "limited_to_lines", "may_link_customers", "oidc_subject")


def get_official(official_id: int) -> Official:
    official = db.session.get(Official, official_id)
    if official is None:
        raise NotFound(f"Official {official_id} does not exist.")
    return official


def read_official(*, actor: Principal, official_id: int) -> Official:
    official = get_official(official_id)
    record("official.read", actor=actor, object_type="official", object_id=official.id)
    db.session.commit()
    return official


def _lines(ids: list[int]) -> list[ServiceLine]:
    lines = list(db.session.scalars(select(ServiceLine).where(ServiceLine.id.in_(ids)))) if ids else []
    missing = sorted(set(ids) - {line.id for line in lines})
    if missing:
        raise ValidationFailed("Unknown service lines.",
                               errors={"service_line_ids": [f"No service line {i}." for i in missing]})
    return lines


def _check_line_scope(official: Official, data: dict) -> None:
    """An inspector, and a supervisor limited to lines, must have lines: without any they would
    see nothing, which is never what an administrator means."""
    if official.role != SUPERVISOR:
        if data.get("limited_to_lines"):
            raise ValidationFailed("Only a supervisor is limited to lines by this flag.", errors={
                "limited_to_lines": ["Advisers are limited by their lines, inspectors always; "
                                     "admins and privacy officers never."]})
        # A supervisor moved to another role leaves the flag behind; that role has its own rule.
        official.limited_to_lines = False
    if (official.role == INSPECTOR or official.limited_to_lines) and not official.service_lines:
        who = "An inspector" if official.role == INSPECTOR else "A supervisor limited to lines"
        raise ValidationFailed(f"{who} needs at least one service line.",
                               errors={"service_line_ids": ["Give at least one service line."]})


def _check_grant(official: Official, data: dict) -> None:
    """Linking customer records is granted to advisers and supervisors only: the privacy officer
    and administrators hold it by role, and an inspector sees no customers at all."""
    if official.role in GRANTABLE["customers.link"]:
        return
    if data.get("may_link_customers"):
        raise ValidationFailed("Only an adviser or a supervisor is granted linking customer records.", errors={
            "may_link_customers": ["Privacy officers and admins link by their role; inspectors never."]})
    # An adviser given another role leaves the grant behind: it must not come back unseen if the
    # role is changed back.
    official.may_link_customers = False


def _grant_details(official: Official, data: dict) -> dict:
    """The grant's new value in the audit entry when it was given: who was trusted with linking,
    and when."""
    return {"may_link_customers": official.may_link_customers} if "may_link_customers" in data else {}


def create_official(*, actor: Principal | None, data: dict) -> Official:
    if data["role"] not in ROLES:
        raise ValidationFailed("Unknown role.", errors={"role": [f"Choose from: {', '.join(ROLES)}."]})
    if data.get("oidc_subject") and not data.get("password"):
        # Signs in at the OpenID provider only: no password matches this.
        password_hash = NO_PASSWORD
    else:
        check_password(data.get("password") or "", username=data["username"])
        password_hash = hash_password(data.get("password") or "")
    official = Official(username=data["username"], password_hash=password_hash)
    for name in _PROFILE_FIELDS:
        if name in data:
            setattr(official, name, data[name])
    official.service_lines = _lines(data.get("service_line_ids") or [])
    _check_line_scope(official, data)
    _check_grant(official, data)
    db.session.add(official)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict(f"The username {data['username']!r} or the OIDC subject is taken.") from None
    record("official.created", actor=actor, object_type="official", object_id=official.id,
           details={"role": official.role, **({"may_link_customers": True} if official.may_link_customers else {})})
    db.session.commit()
    return official


def update_official(*, actor: Principal, official_id: int, data: dict) -> Official:
    official = get_official(official_id)
    if "password" in data:
        check_password(data["password"], username=official.username)
    if data.get("active") is False and official.id == actor.id and actor.is_official:
        # The same rule as deactivate_official: PATCH must not be a way round it.
        raise Conflict("You cannot deactivate your own account.")
    if official.role == ADMIN and (data.get("role", ADMIN) != ADMIN or data.get("active") is False):
        _keep_an_admin(official)
    for name in _PROFILE_FIELDS:
        if name in data:
            setattr(official, name, data[name])
    if "password" in data:
        official.password_hash = hash_password(data["password"])
        clear_login_throttle(official.username)
    if "service_line_ids" in data:
        official.service_lines = _lines(data["service_line_ids"])
    _check_line_scope(official, data)
    _check_grant(official, data)
    if "password" in data or data.get("active") is False:
        _revoke_tokens(official.id)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("Another official has this OIDC subject.") from None
    record("official.updated", actor=actor, object_type="official", object_id=official.id,
           details={"fields": sorted(k for k in data if k != "password")
                    + (["password"] if "password" in data else []),
                    **_grant_details(official, data)})
    db.session.commit()
    return official


def deactivate_official(*, actor: Principal, official_id: int) -> None:
    """Officials are never deleted: cases, notes and the audit log keep naming them."""
    official = get_official(official_id)
    if official.id == actor.id:
        raise Conflict("You cannot deactivate your own account.")
    if official.role == ADMIN:
        _keep_an_admin(official)
    official.active = False
    _revoke_tokens(official.id)
    record("official.deactivated", actor=actor, object_type="official", object_id=official.id)
    db.session.commit()


def _keep_an_admin(leaving: Official) -> None:
    """Nobody could manage officials any more if the last active admin went."""
    others = db.session.scalar(select(func.count()).select_from(Official).where(
        Official.role == ADMIN, Official.active.is_(True), Official.id != leaving.id))
    if not others:
        raise Conflict("This is the last active admin; make another admin first.")


def _revoke_tokens(official_id: int) -> None:
    db.session.execute(update(AuthToken)
                       .where(AuthToken.official_id == official_id, AuthToken.revoked_at.is_(None))
                       .values(revoked_at=utcnow()))


def list_officials(*, actor: Principal, page: int, page_size: int, role: str | None = None,
                   active: bool | None = None, q: str | None = None):
    query = select(Official).order_by(Official.name, Official.id)
    if role:
        query = query.where(Official.role == role)
    if active is not None:
        query = query.where(Official.active == active)
    if q:
        pattern = contains(q)
        query = query.where(or_(Official.username.ilike(pattern, escape="\\"),
                                Official.name.ilike(pattern, escape="\\")))
    result = paginate(query, page=page, page_size=page_size)
    record("official.listed", actor=actor, object_type="official",
           details={"count": len(result.items), "page": page})
    db.session.commit()
    return result
