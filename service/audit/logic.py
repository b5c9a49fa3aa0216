"""Writing and reading the audit log. Writers only add to the session; the caller commits."""

from __future__ import annotations

from datetime import datetime

from flask import g, has_request_context
from sqlalchemy import select

from ..auth.permissions import Principal
from ..extensions import db
from .actions import ACTIONS
from .models import AuditEntry


def record(action: str, *, actor: Principal | None, object_type: str | None = None,
           object_id: int | None = None, details: dict | None = None,
           purpose: str | None = None) -> AuditEntry:
    if action not in ACTIONS:
        raise ValueError(f"unregistered audit action {action!r}")
    request_id = g.get("request_id") if has_request_context() else None
    if purpose is None and has_request_context():
        purpose = g.get("purpose")
    entry = AuditEntry(
        actor_type=actor.kind if actor else "system",
        actor_id=actor.id if actor else None,
        actor_role=actor.label if actor else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        request_id=request_id,
        purpose=purpose,
        details=details or None,
    )
    db.session.add(entry)
    return entry


def commit_read() -> None:
    """Commit a read's audit entry without expiring what was read.

    The rows are about to be serialised; expired, each one and its relations would be loaded
    again one query at a time (fifty queries for a page of the case list)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


def list_entries(*, actor: Principal, page: int, page_size: int, action: str | None = None,
                 object_type: str | None = None, object_id: int | None = None,
                 actor_type: str | None = None, actor_id: int | None = None,
                 request_id: str | None = None,
                 at_from: datetime | None = None, at_to: datetime | None = None):
    from ..pagination import paginate

    query = select(AuditEntry)
    filters = {
        AuditEntry.action: action, AuditEntry.object_type: object_type,
        AuditEntry.object_id: object_id, AuditEntry.actor_type: actor_type,
        AuditEntry.actor_id: actor_id, AuditEntry.request_id: request_id,
    }
    for column, value in filters.items():
        if value is not None:
            query = query.where(column == value)
    if at_from is not None:
        query = query.where(AuditEntry.at >= at_from)
    if at_to is not None:
        query = query.where(AuditEntry.at < at_to)
    query = query.order_by(AuditEntry.id.desc())
    result = paginate(query, page=page, page_size=page_size)
    # Reading the audit log is itself recorded: who looked at whose traces matters too.
    record("audit.read", actor=actor, details={"page": page, "count": len(result.items)})
    commit_read()
    return result
