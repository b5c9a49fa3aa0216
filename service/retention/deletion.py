"""Deleting a batch of expired cases with every row that belongs to them, one statement per table.

The schema's ``ON DELETE CASCADE`` alone would do it, but PostgreSQL enforces a foreign key
with a trigger that runs once per deleted row: 8 for each case and 4 for each contact. They
were most of the purge's time (README, Benchmarks, Purge). So,
where the database role may set ``session_replication_role`` (a superuser, or from
PostgreSQL 15 a role granted ``SET ON PARAMETER session_replication_role``), the batch's
transaction switches those triggers off and this module deletes, table by table, what they
would have. Anywhere else (SQLite, or a role without that grant) the triggers stay on: the
cases' DELETE cascades as before and the statements after it find nothing left.

Why nothing is left pointing at a deleted row with the triggers off:

- The purge holds a ``FOR UPDATE`` lock on every case of the batch before this runs. Each
  table deleted from by case id refers to the case itself, and writing a row that refers to a
  case takes a ``KEY SHARE`` lock on it, so no new row for these cases can commit until the batch has;
  then its own foreign-key check (its triggers are on) finds the case gone and fails.
- A row that refers to a contact, a chat or an outbox message of a case also refers to that
  case (attachments, recordings, chats and outbox messages are written with both ids, and a
  contact moves to another case only with all of them: service/cases/merging.py), so
  deleting by case finds them all.
- Recordings are not deleted with their case but on their own clock: before the case goes,
  those past their date are deleted and the others detached (both ids set to NULL), by case
  id, so none is left pointing at the case or its contact.
- Chat messages refer to their chat only. A chat goes before its messages, which are found by
  the ids its DELETE returned: a message written meanwhile either committed before that next
  statement, which then sees it, or waits on the deleted chat's lock and then fails.
- A customer is deleted when no case refers to them any more. The customers are locked first,
  and only then is that checked again, in a statement of its own that sees every case committed
  before the lock; a case opened for them after it waits on the lock and then fails its check,
  as it would with the triggers on.

``REFERENCES`` is every foreign key into a table deleted from here, and what happens to it;
a test compares it with the schema, so a new table that refers to a case must be added.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete, exists, or_, select, text, update

from ..cases.models import Attachment, Case, CaseMerge, Contact, Note, SearchEntry
from ..chats.models import Chat, ChatMessage
from ..clocks.models import ClockEvent
from ..customers.models import Customer, RectificationHistory
from ..extensions import db
from ..feedback.models import FeedbackRequest
from ..forwarding.models import Disclosure
from ..outbox.models import OutboxMessage
from ..recordings.models import Recording
from ..sql import among

log = logging.getLogger(__name__)

DELETED_WITH_THE_CASE = "deleted with the case"
SET_TO_NULL = "set to null"
CUSTOMERS_CHECKED = "only a customer no case refers to is deleted"
DETACHED = "detached and kept on its own clock, or deleted when that has run out"
DELETED_WITH_THE_CUSTOMER = "deleted with the customer"
MERGED_CASES = "a case merged into another is deleted with that one"
DELETED_WITH_EITHER_CASE = "deleted with either of its cases"

REFERENCES = {
    ("contact", "case_id"): DELETED_WITH_THE_CASE,
    ("note", "case_id"): DELETED_WITH_THE_CASE,
    ("attachment", "case_id"): DELETED_WITH_THE_CASE,
    ("attachment", "contact_id"): DELETED_WITH_THE_CASE,
    ("recording", "case_id"): DETACHED,
    ("recording", "contact_id"): DETACHED,
    ("chat", "case_id"): DELETED_WITH_THE_CASE,
    ("chat", "contact_id"): DELETED_WITH_THE_CASE,
    ("chat_message", "chat_id"): "deleted with its chat",
    ("outbox_message", "case_id"): DELETED_WITH_THE_CASE,
    ("outbox_message", "contact_id"): DELETED_WITH_THE_CASE,
    ("feedback_request", "case_id"): DELETED_WITH_THE_CASE,
    ("feedback_request", "outbox_id"): SET_TO_NULL,
    ("disclosure", "case_id"): DELETED_WITH_THE_CASE,
    ("case_clock_event", "case_id"): DELETED_WITH_THE_CASE,
    # The search index: its triggers delete it with its rows, but not with the row triggers off.
    ("search_entry", "case_id"): DELETED_WITH_THE_CASE,
    ("disclosure", "outbox_id"): SET_TO_NULL,
    ("case", "customer_id"): CUSTOMERS_CHECKED,
    ("case", "linked_case_id"): SET_TO_NULL,
    ("case", "merged_into_id"): MERGED_CASES,
    ("case_merge", "source_id"): DELETED_WITH_EITHER_CASE,
    ("case_merge", "target_id"): DELETED_WITH_EITHER_CASE,
    ("feedback_request", "customer_id"): SET_TO_NULL,
    ("disclosure", "customer_id"): SET_TO_NULL,
    ("rectification_history", "customer_id"): DELETED_WITH_THE_CUSTOMER,
    ("customer", "merged_into_id"): SET_TO_NULL,
}

# Deleted by case id; whatever refers to their rows is deleted by case id too.
_BY_CASE = (Contact, Note, Attachment, FeedbackRequest, Disclosure, ClockEvent, SearchEntry)


def may_switch_off_row_triggers() -> bool:
    """Whether this database role may set ``session_replication_role``. Asked once per purge."""
    if db.session.get_bind().dialect.name != "postgresql":
        return False
    version = int(db.session.scalar(text("SELECT current_setting('server_version_num')")))
    if version >= 150000:
        allowed = db.session.scalar(text("SELECT has_parameter_privilege('session_replication_role', 'SET')"))
    else:
        allowed = db.session.scalar(text("SELECT current_setting('is_superuser') = 'on'"))
    if not allowed:
        log.info("the purge runs with foreign-key triggers on: this role may not set session_replication_role "
                 "(see the README, Operations, for the grant that makes it faster)")
    return bool(allowed)


def switch_off_row_triggers() -> None:
    """For the rest of the current transaction (the purge's batch)."""
    db.session.execute(text("SET LOCAL session_replication_role = replica"))


def delete_cases(ids: list[int]) -> None:
    """Delete the locked cases ``ids`` and every row that belongs to them, in the current
    transaction."""
    # The cases merged into these: only their references and service clock history are left
    # on them, and nothing is written to a merged case, so they need no lock of their own.
    ids = [*ids, *db.session.scalars(select(Case.id).where(among(Case.merged_into_id, ids)))]
    _execute(delete(CaseMerge).where(or_(among(CaseMerge.source_id, ids), among(CaseMerge.target_id, ids))))
    _execute(delete(Case).where(among(Case.id, ids)))
    # Kept cases linked to one of these (an email that named it) lose only the link.
    _execute(update(Case).where(among(Case.linked_case_id, ids)).values(linked_case_id=None))
    for model in _BY_CASE:
        _execute(delete(model).where(among(model.case_id, ids)))
    chat_ids = _returned_ids(delete(Chat).where(among(Chat.case_id, ids)).returning(Chat.id))
    if chat_ids:
        _execute(delete(ChatMessage).where(among(ChatMessage.chat_id, chat_ids)))
    outbox_ids = _returned_ids(delete(OutboxMessage).where(among(OutboxMessage.case_id, ids))
                               .returning(OutboxMessage.id))
    if outbox_ids:
        # Feedback and disclosures of other cases that pointed at one of these messages.
        for model in (FeedbackRequest, Disclosure):
            _execute(update(model).where(among(model.outbox_id, outbox_ids)).values(outbox_id=None))


def detach_or_delete_recordings(case_ids: list[int], as_of) -> tuple[list[tuple[str | None, str]], int]:
    """Before the locked cases ``case_ids`` go: delete their recordings whose own date has
    passed, and detach the others. Returns the deleted ones' (storage key, provider sid), and
    how many were detached."""
    past = or_(Recording.retention_until.is_(None), Recording.retention_until <= as_of)
    deleted = db.session.execute(delete(Recording).where(among(Recording.case_id, case_ids), past)
                                 .returning(Recording.storage_key, Recording.provider_sid),
                                 execution_options={"synchronize_session": False}).all()
    detached = db.session.execute(update(Recording).where(among(Recording.case_id, case_ids))
                                  .values(case_id=None, contact_id=None),
                                  execution_options={"synchronize_session": False}).rowcount or 0
    return [(key, sid) for key, sid in deleted], detached


def delete_customers_left_without_a_case(candidates: set[int]) -> int:
    """Delete those of ``candidates`` that no case refers to any more; returns how many."""
    # A first look, unlocked, so that customers who still have a case are not locked at all.
    orphaned = _without_a_case(candidates)
    if orphaned:
        # In id order, as every purge batch locks, so two purges cannot deadlock here.
        locked = list(db.session.scalars(select(Customer.id).where(among(Customer.id, orphaned))
                                         .order_by(Customer.id).with_for_update()))
        orphaned = _without_a_case(locked)
    if orphaned:
        _keep_people_whole(orphaned)
        _execute(delete(Customer).where(among(Customer.id, orphaned)))
        _execute(delete(RectificationHistory).where(among(RectificationHistory.customer_id, orphaned)))
        for model in (FeedbackRequest, Disclosure):
            _execute(update(model).where(among(model.customer_id, orphaned)).values(customer_id=None))
    return len(orphaned)


def _keep_people_whole(going: list[int]) -> None:
    """A person's main record going does not split the person: the first of their other records
    left becomes the main one and the rest point at it. Only what the purge deletes goes; the
    link an official confirmed stays for what remains."""
    staying = db.session.execute(select(Customer.id, Customer.merged_into_id).where(
        among(Customer.merged_into_id, going), ~among(Customer.id, going)).order_by(Customer.id)).all()
    new_main: dict[int, int] = {}
    for customer_id, main_id in staying:
        new_main.setdefault(main_id, customer_id)
    for main_id, first in new_main.items():
        _execute(update(Customer).where(Customer.id == first).values(merged_into_id=None))
        _execute(update(Customer).where(Customer.merged_into_id == main_id).values(merged_into_id=first))


def has_no_case():
    """The condition on a customer row that no case refers to it."""
    return ~exists().where(Case.customer_id == Customer.id)


def _without_a_case(customer_ids) -> list[int]:
    if not customer_ids:
        return []
    return list(db.session.scalars(select(Customer.id).where(among(Customer.id, customer_ids), has_no_case())))


def _execute(statement) -> None:
    db.session.execute(statement, execution_options={"synchronize_session": False})


def _returned_ids(statement) -> list[int]:
    return list(db.session.scalars(statement, execution_options={"synchronize_session": False}))
