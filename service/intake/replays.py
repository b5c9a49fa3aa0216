"""Remembering the keys of signed provider requests, so a captured request cannot be replayed.

A signature proves who made a request, not that it is made for the first time: Mailgun's covers
a timestamp and a token but not the body, and Twilio's has no time in it at all. Each such
request names a key that is unique per request; the first use of a key is remembered here
(in the database, so it holds across processes and machines) and a second use refused.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from ..db_types import utcnow
from ..extensions import db
from .models import UsedRequestKey


def first_use(key: str, *, digest: str | None = None, expires_at: datetime | None = None) -> bool:
    """Remember ``key``; False when it was presented before (with another ``digest``, when one
    is given: the same request sent again is the provider retrying, not a replay). Commits, so
    the key stays used whatever becomes of the request."""
    now = utcnow()
    db.session.execute(delete(UsedRequestKey).where(UsedRequestKey.expires_at < now))
    try:
        with db.session.begin_nested():
            db.session.add(UsedRequestKey(key=key, digest=digest, expires_at=expires_at))
    except IntegrityError:
        earlier = db.session.scalar(select(UsedRequestKey.digest).where(UsedRequestKey.key == key))
        db.session.commit()
        return digest is not None and earlier == digest
    db.session.commit()
    return True
