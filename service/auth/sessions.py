"""An official's sessions: the bearer tokens they hold, which they can see and end."""

from __future__ import annotations

from sqlalchemy import select, update

from ..audit.logic import record
from ..db_types import utcnow
from ..errors import NotFound
from ..extensions import db
from ..pagination import paginate
from .models import AuthToken
from .permissions import Principal


def _active(official_id: int):
    return (AuthToken.official_id == official_id, AuthToken.revoked_at.is_(None), AuthToken.expires_at > utcnow())


def list_sessions(*, principal: Principal, page: int, page_size: int):
    query = select(AuthToken).where(*_active(principal.id)).order_by(AuthToken.created_at.desc(), AuthToken.id.desc())
    result = paginate(query, page=page, page_size=page_size)
    for token in result.items:
        token.current = token.id == principal.token_id  # transient, for the response only
    return result


def revoke_one(*, principal: Principal, session_id: int) -> None:
    token = db.session.get(AuthToken, session_id)
    # Another official's session answers as one that does not exist.
    if token is None or token.official_id != principal.id or token.revoked_at is not None:
        raise NotFound(f"Session {session_id} does not exist.")
    token.revoked_at = utcnow()
    record("auth.session_revoked", actor=principal, object_type="official", object_id=principal.id,
           details={"session_id": token.id})
    db.session.commit()


def revoke_all_of(official_id: int) -> int:
    """End every session of an official (the caller commits)."""
    return db.session.execute(update(AuthToken).where(AuthToken.official_id == official_id,
                                                      AuthToken.revoked_at.is_(None))
                              .values(revoked_at=utcnow())).rowcount


def revoke_all(*, actor: Principal, official_id: int) -> int:
    ended = revoke_all_of(official_id)
    record("auth.sessions_revoked", actor=actor, object_type="official", object_id=official_id,
           details={"count": ended})
    db.session.commit()
    return ended
