"""The periods of the privacy side tables, run by the retention purge.

What this must never delete:
- an open data-subject request, however old: the person is still owed an answer;
- an answered request's row itself: only its personal fields (whom it was about, their words,
  the items withheld and the reasons written about them) go; the type and dates stay as the
  record that a request was received and answered, and when;
- the old value of a correction younger than the case period while its customer exists.
What goes, in batches of one transaction each (a rerun carries on where an interrupted one
stopped):
- the personal fields of a request answered (any status but open) PRIVACY_REQUEST_RETENTION_DAYS
  before ``as_of``;
- the old values of corrections made CASE_RETENTION_DAYS before ``as_of``: they were part of the
  customer's case data and are kept no longer than it. An old value also goes with its customer
  when the purge deletes the customer (service/retention/deletion.py), whichever comes first.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from ..customers.models import RectificationHistory
from ..db_types import utcnow
from ..extensions import db
from .models import OPEN, PrivacyRequest

BATCH_SIZE = 1000


def _expired_requests(cutoff: datetime):
    return select(PrivacyRequest.id).where(PrivacyRequest.status != OPEN, PrivacyRequest.completed_at.is_not(None),
                                           PrivacyRequest.completed_at <= cutoff,
                                           PrivacyRequest.personal_data_deleted_at.is_(None))


def _expired_history(cutoff: datetime):
    return select(RectificationHistory.id).where(RectificationHistory.corrected_at <= cutoff)


def purge_expired_privacy_records(*, as_of: datetime, request_days: int, case_days: int, dry_run: bool = False,
                                  batch_size: int = BATCH_SIZE) -> dict[str, int]:
    """Delete what is past its period as of ``as_of``; returns the counts (``privacy_requests``
    cleared, ``rectification_history`` rows deleted), or what would be with ``dry_run``. The
    periods are the settings PRIVACY_REQUEST_RETENTION_DAYS and CASE_RETENTION_DAYS."""
    request_cutoff = as_of - timedelta(days=request_days)
    history_cutoff = as_of - timedelta(days=case_days)
    if dry_run:
        return {name: db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
                for name, query in (("privacy_requests", _expired_requests(request_cutoff)),
                                    ("rectification_history", _expired_history(history_cutoff)))}
    return {"privacy_requests": _in_batches(_expired_requests(request_cutoff), _clear_requests, batch_size),
            "rectification_history": _in_batches(_expired_history(history_cutoff), _delete_history, batch_size)}


def _in_batches(expired, act, batch_size: int) -> int:
    done = 0
    while True:
        ids = list(db.session.scalars(expired.order_by(expired.selected_columns[0]).limit(batch_size)
                                      .with_for_update(skip_locked=True)))
        if ids:
            act(ids)
            db.session.commit()
        done += len(ids)
        if len(ids) < batch_size:
            return done


def _clear_requests(ids: list[int]) -> None:
    db.session.execute(update(PrivacyRequest).where(PrivacyRequest.id.in_(ids)).values(
        subject={}, details=None, withheld=None, extension_reason=None, answer_reason=None,
        personal_data_deleted_at=utcnow()), execution_options={"synchronize_session": False})


def _delete_history(ids: list[int]) -> None:
    db.session.execute(delete(RectificationHistory).where(RectificationHistory.id.in_(ids)),
                       execution_options={"synchronize_session": False})
